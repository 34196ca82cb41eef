//! Crypto benchmarks: KEM seal/open of 8 KiB, KEM boxes to 5 recipients sealed and opened one by
//! one against `seal_batch` / `open_batch`, DLEQ prove/verify, Ed25519 signatures checked alone
//! and in batches of n (time per batch; divide by n for the cost per signature), and Pedersen
//! commitments — one dealer's `commit_polynomial`, and one party's `verify_batch` over N = 1000
//! dealers for (t = 3, d = 1) and (t = 2, d = 1000).
//!
//! The `curve` group prices the single operations every role is made of (fixed- and variable-base
//! multiplication, encoding and decoding a point, X25519 as the Noise channel computes it, an
//! Ed25519 signature, a two-point constant-time commitment, a variable-time multiscalar
//! multiplication per point): `docs/architecture.md` ("What a DP costs in curve operations")
//! multiplies them by the operations each scenario needs per DP.
//!
//! `cargo bench -p dsmpc-core --bench crypto`
//!
//! To keep setup short, the N dealers of a batch share one random base polynomial, dealer u's
//! being `α_u` times it (so its commitments are `α_u·C_k` and its shares `α_u·s`). Every item is
//! still an honest, distinct sharing, and the verifier's work — the weighted share combination and
//! one multiscalar multiplication over `d + 1 + N·t` points — does not depend on how they were made.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::{MultiscalarMul, VartimeMultiscalarMul};
use curve25519_dalek::{RistrettoPoint, Scalar};
use dsmpc_core::crypto::pedersen::{
    BatchItem, Generators, commit_polynomial, find_invalid, verify_batch, verify_share,
};
use dsmpc_core::crypto::range;
use dsmpc_core::crypto::signature::{self, SignatureCheck};
use dsmpc_core::crypto::{dleq, kem};
use dsmpc_core::field::{Field, Ristretto};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::sharing::{SecretVec, VectorPolynomial};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const CONTEXT: &[u8] = b"dsmpc bench: task 1, dealer 1 -> party 1";

fn bench_kem(c: &mut Criterion) {
    let mut rng = fast_rng();
    let sk = kem::KemSecretKey::generate(&mut rng);
    let pk = sk.public_key();
    let plaintext = vec![0x5a; 8 * 1024];
    let mut group = c.benchmark_group("kem 8 KiB");
    group.bench_function("seal", |b| {
        b.iter(|| kem::seal(&pk, CONTEXT, black_box(&plaintext), &mut rng))
    });
    let sealed = kem::seal(&pk, CONTEXT, &plaintext, &mut rng);
    group.bench_function("open", |b| {
        b.iter(|| kem::open(&sk, CONTEXT, black_box(&sealed)).unwrap())
    });
    group.bench_function("seal+open", |b| {
        b.iter(|| {
            let sealed = kem::seal(&pk, CONTEXT, black_box(&plaintext), &mut rng);
            kem::open(&sk, CONTEXT, &sealed).unwrap()
        })
    });
    group.finish();
}

/// A DP's five shares of p1 (5 CPs, 64-byte payloads): sealed one by one or together; and one
/// CP's page of five boxes opened one by one or together.
fn bench_kem_batches(c: &mut Criterion) {
    const N: usize = 5;
    let mut rng = fast_rng();
    let secrets: Vec<kem::KemSecretKey> = (0..N)
        .map(|_| kem::KemSecretKey::generate(&mut rng))
        .collect();
    let publics: Vec<kem::KemPublicKey> = secrets.iter().map(|s| s.public_key()).collect();
    let plaintext = [0x5a; 64];
    let messages: Vec<kem::Message<'_>> = publics
        .iter()
        .map(|recipient| kem::Message {
            recipient,
            context: CONTEXT,
            plaintext: &plaintext,
        })
        .collect();
    let mut group = c.benchmark_group("kem 5 boxes of 64 B");
    group.bench_function("seal_with one by one", |b| {
        b.iter(|| {
            for m in &messages {
                let e = kem::Ephemeral::generate(&mut rng);
                black_box(kem::seal_with(m.recipient, m.context, m.plaintext, e));
            }
        })
    });
    group.bench_function("seal_batch", |b| {
        b.iter(|| {
            let ephemerals = (0..N).map(|_| kem::Ephemeral::generate(&mut rng)).collect();
            black_box(kem::seal_batch(&messages, ephemerals))
        })
    });
    let boxes: Vec<kem::SealedBox> = (0..N)
        .map(|_| kem::seal(&publics[0], CONTEXT, &plaintext, &mut rng))
        .collect();
    let page: Vec<(&[u8], &kem::SealedBox)> = boxes.iter().map(|b| (CONTEXT, b)).collect();
    group.bench_function("seal_to_all (one ephemeral)", |b| {
        b.iter(|| black_box(kem::seal_to_all(&messages, &mut rng)))
    });
    group.bench_function("open one by one", |b| {
        b.iter(|| {
            for (context, sealed) in &page {
                black_box(kem::open(&secrets[0], context, sealed).unwrap());
            }
        })
    });
    group.bench_function("open_batch", |b| {
        b.iter(|| black_box(kem::open_batch(&secrets[0], &page)))
    });
    group.finish();
}

fn bench_dleq(c: &mut Criterion) {
    let mut rng = fast_rng();
    let sk = kem::KemSecretKey::generate(&mut rng);
    let pk = sk.public_key();
    let sealed = kem::seal(&pk, CONTEXT, b"share", &mut rng);
    let mut group = c.benchmark_group("dleq");
    group.bench_function("prove", |b| {
        b.iter(|| dleq::prove(&sk, black_box(&sealed.ephemeral), CONTEXT, &mut rng).unwrap())
    });
    let (shared, proof) = dleq::prove(&sk, &sealed.ephemeral, CONTEXT, &mut rng).unwrap();
    group.bench_function("verify", |b| {
        b.iter(|| {
            dleq::verify(&pk, &sealed.ephemeral, &shared, black_box(&proof), CONTEXT).unwrap()
        })
    });
    group.finish();
}

/// Bulletproofs+ range proofs of a scalar input in a 16-bit range (issue 20): one DP's proof,
/// and the verification of 1000 DPs' proofs in one batch (divide by 1000 for the cost per DP).
fn bench_range(c: &mut Criterion) {
    let mut rng = fast_rng();
    let gens = Generators::derive(1).unwrap();
    let bound = range::RangeBound::new(0, 65_535).unwrap();
    let blind = Scalar::from(12_345u64);
    let mut group = c.benchmark_group("range");
    group.bench_function("prove 16-bit", |b| {
        b.iter(|| {
            range::prove(&gens, &bound, black_box(40_000), &blind, b"t|dp", &mut rng).unwrap()
        })
    });
    let n = 1000;
    let proofs: Vec<(i128, Vec<u8>, Vec<u8>)> = (0..n)
        .map(|i| {
            let binding = format!("t|dp{i}").into_bytes();
            let proof = range::prove(&gens, &bound, i, &blind, &binding, &mut rng).unwrap();
            (i, proof, binding)
        })
        .collect();
    let claims: Vec<range::RangeClaim<'_>> = proofs
        .iter()
        .map(|(x, proof, binding)| range::RangeClaim {
            commitment: Scalar::from(*x as u64) * gens.g()[0] + blind * gens.h(),
            proof,
            binding: binding.clone(),
        })
        .collect();
    group.bench_function("verify one 16-bit", |b| {
        b.iter(|| assert!(range::verify_batch(&gens, &bound, 1, black_box(&claims[..1]))[0]))
    });
    group.sample_size(10);
    for d in [16usize, 256] {
        let gens = Generators::derive(d).unwrap();
        let xs: Vec<i128> = (0..d as i128).collect();
        group.bench_function(BenchmarkId::new("prove_vector 16-bit", d), |b| {
            b.iter(|| {
                range::prove_vector(&gens, &bound, black_box(&xs), &blind, b"t|dp", &mut rng)
                    .unwrap()
            })
        });
        let proof = range::prove_vector(&gens, &bound, &xs, &blind, b"t|dp", &mut rng).unwrap();
        let c0: RistrettoPoint = xs
            .iter()
            .zip(gens.g())
            .map(|(&x, g)| Scalar::from(x as u64) * g)
            .sum::<RistrettoPoint>()
            + blind * gens.h();
        let claim = [range::RangeClaim {
            commitment: c0,
            proof: &proof,
            binding: b"t|dp".to_vec(),
        }];
        group.bench_function(BenchmarkId::new("verify one vector 16-bit", d), |b| {
            b.iter(|| assert!(range::verify_batch(&gens, &bound, d, black_box(&claim))[0]))
        });
    }
    group.bench_function("verify_batch of 1000 16-bit", |b| {
        b.iter(|| {
            assert!(
                range::verify_batch(&gens, &bound, 1, black_box(&claims))
                    .iter()
                    .all(|v| *v)
            )
        })
    });
    group.finish();
}

/// N dealers' commitments and party `X`'s shares from each.
struct Batch {
    commitments: Vec<Vec<RistrettoPoint>>,
    shares: Vec<(SecretVec<Ristretto>, Ristretto)>,
}

const X: u64 = 3;

fn bench_signatures(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..1024u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let vks: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    let messages: Vec<[u8; 100]> = (0..1024u32).map(|i| [i as u8; 100]).collect();
    let sigs: Vec<Signature> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let checks: Vec<SignatureCheck<'_>> = (0..1024)
        .map(|i| SignatureCheck {
            key: &vks[i],
            message: &messages[i],
            signature: &sigs[i],
        })
        .collect();
    let mut group = c.benchmark_group("ed25519");
    group.bench_function("verify_strict (dalek)", |b| {
        b.iter(|| vks[0].verify_strict(&messages[0], &sigs[0]).is_ok())
    });
    group.bench_function("signature::verify", |b| {
        b.iter(|| signature::verify(black_box(&checks[0])))
    });
    let mut rng = fast_rng();
    for n in [1usize, 4, 16, 64, 256, 1024] {
        group.bench_function(BenchmarkId::new("signature::verify_batch", n), |b| {
            b.iter(|| signature::verify_batch(black_box(&checks[..n]), &mut rng))
        });
    }
    group.finish();
}

fn random_vec(d: usize) -> Vec<Ristretto> {
    let mut rng = fast_rng();
    (0..d).map(|_| Ristretto::random(&mut rng)).collect()
}

fn batch(gens: &Generators, n: usize, t: u32) -> Batch {
    let mut rng = fast_rng();
    let poly = VectorPolynomial::random(&random_vec(gens.len()), t, &mut rng);
    let blinding = random_vec(t as usize);
    let base = commit_polynomial(gens, poly.coefficients(), &blinding).unwrap();
    let x = Ristretto::from_u64(X);
    let share = poly.evaluate(x);
    let blind = blinding
        .iter()
        .rev()
        .fold(Ristretto::ZERO, |acc, &b| acc * x + b);
    let alphas = random_vec(n);
    Batch {
        commitments: alphas
            .iter()
            .map(|a| base.iter().map(|c| a.0 * c).collect())
            .collect(),
        shares: alphas
            .iter()
            .map(|&a| {
                let s = share.iter().map(|&v| a * v).collect();
                (SecretVec::from_vec(s), a * blind)
            })
            .collect(),
    }
}

fn batch_items(batch: &Batch) -> Vec<BatchItem<'_>> {
    batch
        .commitments
        .iter()
        .zip(&batch.shares)
        .map(|(c, (s, b))| BatchItem {
            commitments: c,
            share: s,
            blind: *b,
        })
        .collect()
}

fn bench_pedersen(c: &mut Criterion) {
    let mut group = c.benchmark_group("pedersen");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("Generators::derive d=1000", |b| {
        b.iter(|| Generators::derive(black_box(1000)).unwrap())
    });
    for (n, t, d) in [(1000usize, 3u32, 1usize), (1000, 2, 1000)] {
        let label = format!("N={n} t={t} d={d}");
        let gens = Generators::derive(d).unwrap();
        let mut rng = fast_rng();
        let poly = VectorPolynomial::random(&random_vec(d), t, &mut rng);
        let blinding = random_vec(t as usize);
        group.bench_function(
            BenchmarkId::new("commit_polynomial (one dealer)", &label),
            |b| {
                b.iter(|| {
                    commit_polynomial(&gens, black_box(poly.coefficients()), &blinding).unwrap()
                })
            },
        );
        let batch = batch(&gens, n, t);
        let items = batch_items(&batch);
        assert!(verify_batch(&gens, X, &items, &mut rng).unwrap());
        group.bench_function(BenchmarkId::new("verify_share (one dealer)", &label), |b| {
            b.iter(|| {
                let (s, r) = &batch.shares[0];
                verify_share(&gens, &batch.commitments[0], X, black_box(s), r).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("verify_batch", &label), |b| {
            b.iter(|| verify_batch(&gens, X, black_box(&items), &mut rng).unwrap())
        });
        let mut bad = batch.shares.clone();
        bad[n / 3].1 += Ristretto::ONE;
        let bad_batch = Batch {
            commitments: batch.commitments.clone(),
            shares: bad,
        };
        let bad_items = batch_items(&bad_batch);
        group.bench_function(BenchmarkId::new("find_invalid (1 bad)", &label), |b| {
            b.iter(|| find_invalid(&gens, X, black_box(&bad_items), &mut rng).unwrap())
        });
    }
    group.finish();
}

/// Scalars and points for the `curve` group.
fn random_points(n: usize) -> (Vec<Scalar>, Vec<RistrettoPoint>) {
    let scalars: Vec<Scalar> = random_vec(n).iter().map(|s| s.0).collect();
    let points = scalars.iter().map(RistrettoPoint::mul_base).collect();
    (scalars, points)
}

fn bench_curve(c: &mut Criterion) {
    let (scalars, points) = random_points(4096);
    let (s, p) = (scalars[0], points[1]);
    let encoded = p.compress();
    let mut group = c.benchmark_group("curve");
    group.bench_function("ristretto fixed-base mul", |b| {
        b.iter(|| RistrettoPoint::mul_base(black_box(&s)))
    });
    group.bench_function("ristretto variable-base mul", |b| {
        b.iter(|| black_box(s) * black_box(p))
    });
    group.bench_function("ristretto compress", |b| b.iter(|| black_box(p).compress()));
    group.bench_function("ristretto decompress", |b| {
        b.iter(|| black_box(encoded).decompress())
    });
    let secret = s.to_bytes();
    let public = MontgomeryPoint::mul_base_clamped([7; 32]);
    group.bench_function("x25519 key generation", |b| {
        b.iter(|| MontgomeryPoint::mul_base_clamped(black_box(secret)))
    });
    group.bench_function("x25519 through the Edwards form", |b| {
        b.iter(|| {
            black_box(public)
                .to_edwards(0)
                .map(|e| e.mul_clamped(secret).to_montgomery())
        })
    });
    let key = SigningKey::from_bytes(&[3; 32]);
    group.bench_function("ed25519 sign (300 B)", |b| {
        b.iter(|| key.sign(black_box(&[5u8; 300])))
    });
    group.bench_function("constant-time multiscalar, 2 points", |b| {
        b.iter(|| RistrettoPoint::multiscalar_mul(black_box(&scalars[..2]), &points[..2]))
    });
    group.bench_function("variable-time multiscalar, 4096 points", |b| {
        b.iter(|| RistrettoPoint::vartime_multiscalar_mul(black_box(&scalars), &points))
    });
    group.finish();
}

criterion_group!(
    crypto,
    bench_curve,
    bench_kem,
    bench_kem_batches,
    bench_dleq,
    bench_signatures,
    bench_pedersen,
    bench_range
);
criterion_main!(crypto);
