//! Field laws (proptest), agreement of the Mersenne fields with a `u128 % p` reference model, the
//! lazily reduced bulk operations against naive loops, canonical encoding and PRG uniformity.

use proptest::prelude::*;

use super::*;
use crate::prg::Seed;

fn element<F: Field>() -> impl Strategy<Value = F> {
    prop_oneof![
        any::<u128>().prop_map(F::from_u128),
        any::<i128>().prop_map(F::from_i128),
        Just(F::ZERO),
        Just(F::ONE),
        Just(-F::ONE),
    ]
}

fn vector<F: Field>(max_len: usize) -> impl Strategy<Value = Vec<F>> {
    prop::collection::vec(element::<F>(), 0..max_len)
}

/// The field axioms and the bulk operations, instantiated once per field.
macro_rules! field_laws {
    ($name:ident, $f:ty) => {
        mod $name {
            use super::*;
            type F = $f;

            proptest! {
                #[test]
                fn addition_is_a_group(a in element::<F>(), b in element::<F>(), c in element::<F>()) {
                    prop_assert_eq!(a + b, b + a);
                    prop_assert_eq!((a + b) + c, a + (b + c));
                    prop_assert_eq!(a + F::ZERO, a);
                    prop_assert_eq!(a + (-a), F::ZERO);
                    prop_assert_eq!(a - b, a + (-b));
                }

                #[test]
                fn multiplication_is_a_group_on_nonzero(a in element::<F>(), b in element::<F>(), c in element::<F>()) {
                    prop_assert_eq!(a * b, b * a);
                    prop_assert_eq!((a * b) * c, a * (b * c));
                    prop_assert_eq!(a * F::ONE, a);
                    prop_assert_eq!(a * (b + c), a * b + a * c);
                    match a.invert() {
                        Some(inv) => prop_assert_eq!(a * inv, F::ONE),
                        None => prop_assert_eq!(a, F::ZERO),
                    }
                }

                #[test]
                fn encoding_round_trips(a in element::<F>()) {
                    let mut bytes = vec![0u8; F::ENCODED_LEN];
                    a.write_bytes(&mut bytes);
                    prop_assert_eq!(F::read_bytes(&bytes).unwrap(), a);
                    prop_assert!(F::read_bytes(&bytes[1..]).is_err());
                    bytes.push(0);
                    prop_assert!(F::read_bytes(&bytes).is_err());
                }

                #[test]
                fn centered_inverts_from_i128(v in any::<i128>()) {
                    let cap = F::CAPACITY as i128;
                    let v = v % cap.saturating_add(1);
                    prop_assert_eq!(F::from_i128(v).centered(), Some(v));
                }

                #[test]
                fn dot_and_sum_match_naive(a in vector::<F>(300), seed in any::<[u8; 32]>()) {
                    let b = Seed::from_bytes(seed).expand::<F>(b"test", a.len());
                    let naive = a.iter().zip(b.iter()).fold(F::ZERO, |acc, (&x, &y)| acc + x * y);
                    prop_assert_eq!(F::dot(&a, &b), naive);
                    prop_assert_eq!(F::sum(&a), a.iter().fold(F::ZERO, |acc, &x| acc + x));
                }

                #[test]
                fn linear_combination_matches_naive(coeffs in vector::<F>(80), len in 0usize..20) {
                    let vectors: Vec<Vec<F>> = (0..coeffs.len())
                        .map(|i| Seed::from_bytes([i as u8; 32]).expand::<F>(b"lc", len).to_vec())
                        .collect();
                    let refs: Vec<&[F]> = vectors.iter().map(Vec::as_slice).collect();
                    let mut out = vec![F::ONE; len];
                    F::linear_combination(&coeffs, &refs, &mut out);
                    for (j, &o) in out.iter().enumerate() {
                        let naive = coeffs.iter().zip(&vectors).fold(F::ZERO, |acc, (&c, v)| acc + c * v[j]);
                        prop_assert_eq!(o, naive);
                    }
                }
            }

            #[test]
            fn bulk_operations_survive_maximal_values() {
                // (p-1)^2 summed many times is where an accumulator would overflow.
                let top = -F::ONE;
                let a = vec![top; 1000];
                let expected = F::from_u64(1000) * top * top;
                assert_eq!(F::dot(&a, &a), expected);
                assert_eq!(F::sum(&a), F::from_u64(1000) * top);
            }

            #[test]
            fn modulus_encoding_is_refused() {
                let mut bytes = vec![0xffu8; F::ENCODED_LEN];
                assert!(matches!(
                    F::read_bytes(&bytes),
                    Err(Error::InvalidFieldElement { field, .. }) if field == F::ID
                ));
                bytes.clear();
                assert!(F::read_bytes(&bytes).is_err());
            }

            #[test]
            fn field_id_round_trips() {
                assert_eq!(F::ID.name().parse::<FieldId>().unwrap(), F::ID);
                assert_eq!(FieldId::from_code(F::ID.code()), Some(F::ID));
                assert_eq!(F::ID.capacity(), F::CAPACITY);
                assert_eq!(F::ID.element_len(), F::ENCODED_LEN);
            }
        }
    };
}

field_laws!(m31_laws, M31);
field_laws!(m61_laws, M61);
field_laws!(ristretto_laws, Ristretto);

/// The Mersenne fields against the obvious `u128 % p` model.
macro_rules! mersenne_model {
    ($name:ident, $f:ty) => {
        mod $name {
            use super::*;
            type F = $f;
            const P: u128 = <$f>::P as u128;

            proptest! {
                #[test]
                fn arithmetic_matches_reference(a in any::<u128>(), b in any::<u128>()) {
                    let (x, y) = (F::from_u128(a), F::from_u128(b));
                    prop_assert_eq!(u128::from(x.value()), a % P);
                    prop_assert_eq!(u128::from((x * y).value()), (a % P) * (b % P) % P);
                    prop_assert_eq!(u128::from((x + y).value()), (a % P + b % P) % P);
                    prop_assert_eq!(u128::from((x - y).value()), (a % P + P - b % P) % P);
                }

                #[test]
                fn wide_reduction_matches_reference(w in any::<u128>()) {
                    prop_assert_eq!(u128::from(F::reduce_wide(w).value()), w % P);
                }
            }

            #[test]
            fn extremes_reduce_correctly() {
                for w in [0, 1, P - 1, P, P + 1, 2 * P, u128::MAX, u128::MAX - 1] {
                    assert_eq!(u128::from(F::reduce_wide(w).value()), w % P, "w = {w}");
                }
                assert_eq!(F::from_u128(P), F::ZERO);
                assert_eq!(-F::ZERO, F::ZERO);
            }

            #[test]
            fn only_values_below_the_modulus_decode() {
                let bytes = |v: u128| v.to_le_bytes()[..F::ENCODED_LEN].to_vec();
                assert_eq!(F::read_bytes(&bytes(P - 1)).unwrap(), -F::ONE);
                assert!(F::read_bytes(&bytes(P)).is_err());
                assert!(F::read_bytes(&bytes(P + 1)).is_err());
            }
        }
    };
}

mersenne_model!(m31_model, M31);
mersenne_model!(m61_model, M61);

#[test]
fn unknown_field_name_is_refused() {
    let err = "p256".parse::<FieldId>().unwrap_err();
    assert!(err.to_string().contains("p256"), "{err}");
}

#[test]
fn ristretto_refuses_the_group_order() {
    // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let mut ell = [0u8; 32];
    ell[..16].copy_from_slice(&0x14def9dea2f79cd65812631a5cf5d3edu128.to_le_bytes());
    ell[31] = 0x10;
    assert!(Ristretto::read_bytes(&ell).is_err());
    ell[0] -= 1;
    assert_eq!(Ristretto::read_bytes(&ell).unwrap(), -Ristretto::ONE);
}

#[test]
fn ristretto_centered_spans_i128() {
    assert_eq!(Ristretto::from_i128(i128::MAX).centered(), Some(i128::MAX));
    assert_eq!(
        Ristretto::from_i128(-i128::MAX).centered(),
        Some(-i128::MAX)
    );
    // 2^127 is representable in the field but not as an i128.
    let two_127 = Ristretto::from_u128(1 << 127);
    assert_eq!(two_127.centered(), None);
    assert_eq!(two_127.to_u128(), Some(1 << 127));
}

/// Chi-square statistic of `samples` bucketed into `bins` equal ranges of `0..p`.
fn chi_square(samples: &[u128], p: u128, bins: usize) -> f64 {
    let mut counts = vec![0u64; bins];
    for &s in samples {
        counts[(s * bins as u128 / p) as usize] += 1;
    }
    let expected = samples.len() as f64 / bins as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

fn expansion<F: Field>(len: usize) -> Vec<u128> {
    Seed::from_bytes([42; 32])
        .expand::<F>(b"uniformity", len)
        .iter()
        .map(|x| x.to_u128().unwrap_or(0))
        .collect()
}

#[test]
fn prg_expansion_is_uniform() {
    // 64 bins, 63 degrees of freedom: the 1e-6 critical value is about 120. A modulo-biased or
    // truncated expansion (say, values below 2^60 only) lands in the thousands.
    const N: usize = 200_000;
    let m31 = chi_square(&expansion::<M31>(N), u128::from(M31::P), 64);
    let m61 = chi_square(&expansion::<M61>(N), u128::from(M61::P), 64);
    assert!(m31 < 120.0, "M31 chi-square {m31}");
    assert!(m61 < 120.0, "M61 chi-square {m61}");
    // Ristretto: the low 64 bits of each element should be uniform too.
    let low: Vec<u128> = Seed::from_bytes([3; 32])
        .expand::<Ristretto>(b"uniformity", N)
        .iter()
        .map(|x| u128::from(u64::from_le_bytes(x.0.as_bytes()[..8].try_into().unwrap())))
        .collect();
    let r = chi_square(&low, 1u128 << 64, 64);
    assert!(r < 120.0, "ristretto chi-square {r}");
    // And a biased sample must fail the same test, or the test proves nothing.
    let biased: Vec<u128> = expansion::<M61>(N).iter().map(|x| x % (1 << 59)).collect();
    assert!(chi_square(&biased, u128::from(M61::P), 64) > 1000.0);
}

/// The lazily reduced accumulator agrees with eager arithmetic across many flushes.
fn accumulator_matches_eager<F: Field>() {
    let dim = 5;
    let mut acc = super::Accumulator::<F>::new(dim);
    let mut eager = vec![F::ZERO; dim];
    let top = -F::ONE;
    // (p-1)·(p-1) is the largest product: a missed flush overflows the wide sums.
    for k in 0..300u64 {
        let w = if k < 200 { top } else { F::from_u64(k) };
        let x = vec![top; dim];
        acc.add_scaled(w, &x);
        for e in &mut eager {
            *e += w * top;
        }
    }
    assert_eq!(acc.sums(), eager.as_slice());
    acc.add_scaled(F::ONE, &[F::ONE; 5]);
    let more: Vec<F> = eager.iter().map(|&e| e + F::ONE).collect();
    assert_eq!(acc.sums(), more.as_slice());
}

#[test]
fn accumulators_match_eager_arithmetic() {
    accumulator_matches_eager::<M31>();
    accumulator_matches_eager::<M61>();
    accumulator_matches_eager::<Ristretto>();
}

/// The fast canonical check of ristretto255 scalars agrees with curve25519-dalek's at the edges
/// and on random inputs.
mod ristretto_canonical {
    use curve25519_dalek::Scalar;
    use proptest::prelude::*;

    use super::super::ristretto::canonical_scalar;

    fn agrees(bytes: [u8; 32]) {
        let ours: Option<Scalar> = canonical_scalar(bytes).into();
        let theirs: Option<Scalar> = Scalar::from_canonical_bytes(bytes).into();
        assert_eq!(ours, theirs, "{bytes:02x?}");
        if let Some(s) = ours {
            assert_eq!(s.to_bytes(), bytes);
        }
    }

    /// `ℓ + delta` as 32 little-endian bytes (delta in -2..=2).
    fn order_plus(delta: i64) -> [u8; 32] {
        let ell = (-Scalar::ONE).to_bytes(); // ℓ − 1
        let mut v = [0u64; 4];
        for (i, limb) in v.iter_mut().enumerate() {
            *limb = u64::from_le_bytes(ell[8 * i..8 * i + 8].try_into().unwrap());
        }
        // ℓ − 1 has a low limb far from 0 and from 2^64, so no carry leaves it.
        v[0] = v[0].wrapping_add_signed(delta + 1);
        let mut out = [0u8; 32];
        for (i, limb) in v.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    #[test]
    fn edges() {
        for delta in -2..=2 {
            agrees(order_plus(delta));
        }
        agrees([0; 32]);
        agrees([0xff; 32]);
        let mut high = [0u8; 32];
        high[31] = 0x80;
        agrees(high);
        high[31] = 0x10;
        agrees(high);
        high[31] = 0x0f;
        agrees(high);
    }

    proptest! {
        #[test]
        fn random(bytes in any::<[u8; 32]>(), top in 0u8..0x20) {
            agrees(bytes);
            let mut near = bytes;
            near[31] = top;
            agrees(near);
        }
    }
}

/// `Accumulator::add_scaled_all` (elements split across threads, several flushes) gives the sums
/// of `add_scaled` one term at a time.
mod accumulate_all {
    use rand_core::SeedableRng;

    use super::*;

    fn agrees<F: Field>(dim: usize, terms: usize, seed: u64) {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(seed);
        let weights: Vec<F> = (0..terms).map(|_| F::random(&mut rng)).collect();
        let vectors: Vec<Vec<F>> = (0..terms)
            .map(|_| (0..dim).map(|_| F::random(&mut rng)).collect())
            .collect();
        let mut one = Accumulator::<F>::new(dim);
        let mut all = Accumulator::<F>::new(dim);
        // A first term alone, so that the batch starts with a partly filled accumulator.
        one.add_scaled(weights[0], &vectors[0]);
        all.add_scaled(weights[0], &vectors[0]);
        for (w, v) in weights.iter().zip(&vectors).skip(1) {
            one.add_scaled(*w, v);
        }
        let batch: Vec<(F, &[F])> = weights
            .iter()
            .zip(&vectors)
            .skip(1)
            .map(|(w, v)| (*w, v.as_slice()))
            .collect();
        all.add_scaled_all(&batch);
        assert_eq!(one.sums(), all.sums());
    }

    #[test]
    fn m61_across_flushes_and_chunks() {
        agrees::<M61>(600, 200, 1);
        agrees::<M61>(1, 70, 2);
    }

    #[test]
    fn ristretto_across_flushes_and_chunks() {
        agrees::<Ristretto>(300, 130, 3);
    }

    #[test]
    fn m31_and_empty_batches() {
        agrees::<M31>(257, 5, 4);
        agrees::<M31>(3, 1, 5);
    }
}
