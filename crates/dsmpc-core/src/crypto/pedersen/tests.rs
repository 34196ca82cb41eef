//! Pedersen commitments: honest shares verify alone and in batches, every kind of bad share is
//! caught and located, lengths are checked, and commitments are homomorphic.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::*;
use crate::field::Field;
use crate::sharing::VectorPolynomial;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn random_vec(d: usize, rng: &mut ChaCha20Rng) -> Vec<Ristretto> {
    (0..d).map(|_| Ristretto::random(rng)).collect()
}

/// A dealer's secret polynomial, blinding polynomial and public commitments.
struct Dealer {
    poly: VectorPolynomial<Ristretto>,
    blinding: Vec<Ristretto>,
    commitments: Vec<RistrettoPoint>,
}

impl Dealer {
    fn new(gens: &Generators, t: u32, rng: &mut ChaCha20Rng) -> Dealer {
        let secret = random_vec(gens.len(), rng);
        let poly = VectorPolynomial::random(&secret, t, rng);
        let blinding = random_vec(t as usize, rng);
        let commitments = commit_polynomial(gens, poly.coefficients(), &blinding).unwrap();
        Dealer {
            poly,
            blinding,
            commitments,
        }
    }

    /// Party `x`'s share vector and blinding share.
    fn share(&self, x: u64) -> (SecretVec<Ristretto>, Ristretto) {
        let xf = Ristretto::from_u64(x);
        let blind = self
            .blinding
            .iter()
            .rev()
            .fold(Ristretto::ZERO, |acc, &b| acc * xf + b);
        (self.poly.evaluate(xf), blind)
    }
}

fn dealers(gens: &Generators, count: usize, t: u32, rng: &mut ChaCha20Rng) -> Vec<Dealer> {
    (0..count).map(|_| Dealer::new(gens, t, rng)).collect()
}

fn items<'a>(
    dealers: &'a [Dealer],
    shares: &'a [(SecretVec<Ristretto>, Ristretto)],
) -> Vec<BatchItem<'a>> {
    dealers
        .iter()
        .zip(shares)
        .map(|(d, (s, b))| BatchItem {
            commitments: &d.commitments,
            share: s,
            blind: *b,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn honest_shares_verify_alone_and_in_batches(
        n in 1u32..=6,
        t_seed in any::<u32>(),
        d in 1usize..=4,
        seed in any::<u64>(),
    ) {
        let t = 1 + t_seed % n;
        let mut r = rng(seed);
        let gens = Generators::derive(d).unwrap();
        let dealers = dealers(&gens, 3, t, &mut r);
        for x in 1..=u64::from(n) {
            let shares: Vec<_> = dealers.iter().map(|dl| dl.share(x)).collect();
            for (dl, (s, b)) in dealers.iter().zip(&shares) {
                prop_assert!(verify_share(&gens, &dl.commitments, x, s, b).unwrap());
                prop_assert_eq!(share_commitment(&dl.commitments, x), commit(&gens, s, b).unwrap());
            }
            let batch = items(&dealers, &shares);
            prop_assert!(verify_batch(&gens, x, &batch, &mut r).unwrap());
            prop_assert!(find_invalid(&gens, x, &batch, &mut r).unwrap().is_empty());
        }
    }

    #[test]
    fn find_invalid_names_exactly_the_bad_items(
        bad in proptest::collection::btree_set(0usize..12, 0..4),
        seed in any::<u64>(),
    ) {
        let mut r = rng(seed);
        let gens = Generators::derive(2).unwrap();
        let dealers = dealers(&gens, 12, 2, &mut r);
        let x = 3;
        let mut shares: Vec<_> = dealers.iter().map(|dl| dl.share(x)).collect();
        for &i in &bad {
            shares[i].0.as_mut_slice()[i % 2] += Ristretto::ONE;
        }
        let batch = items(&dealers, &shares);
        prop_assert_eq!(verify_batch(&gens, x, &batch, &mut r).unwrap(), bad.is_empty());
        let found = find_invalid(&gens, x, &batch, &mut r).unwrap();
        prop_assert_eq!(found, bad.into_iter().collect::<Vec<_>>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The 512-bit lazy accumulation equals the field's linear combination, including for the
    /// largest weights and scalars and more vectors than one block's worth of elements.
    #[test]
    fn weighted_sum_matches_linear_combination(
        weights in proptest::collection::vec(any::<u128>(), 0..40),
        d in 0usize..300,
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut r = rng(seed);
        let vectors: Vec<Vec<Ristretto>> = weights
            .iter()
            .map(|_| {
                if extreme {
                    vec![-Ristretto::ONE; d]
                } else {
                    random_vec(d, &mut r)
                }
            })
            .collect();
        let weights: Vec<u128> = if extreme { vec![u128::MAX; weights.len()] } else { weights };
        let slices: Vec<&[Ristretto]> = vectors.iter().map(Vec::as_slice).collect();
        let field_weights: Vec<Ristretto> = weights.iter().map(|&w| Ristretto::from_u128(w)).collect();
        let mut expected = vec![Ristretto::ZERO; d];
        Ristretto::linear_combination(&field_weights, &slices, &mut expected);
        let got = weighted_sum(d, &weights, &slices);
        prop_assert_eq!(got.as_slice(), expected.as_slice());
    }
}

#[test]
fn every_kind_of_bad_share_fails_both_checks() {
    let mut r = rng(1);
    let gens = Generators::derive(3).unwrap();
    let dealer = Dealer::new(&gens, 3, &mut r);
    let x = 4;
    let (share, blind) = dealer.share(x);
    let honest = dealer.share(2);
    let mut changed: Vec<(SecretVec<Ristretto>, Ristretto)> = Vec::new();
    for j in 0..3 {
        let mut s = share.clone();
        s.as_mut_slice()[j] += Ristretto::ONE;
        changed.push((s, blind));
    }
    changed.push((share.clone(), blind + Ristretto::ONE));
    changed.push((share.clone(), Ristretto::ZERO));
    let wrong_x = dealer.share(x + 1);
    for (s, b) in &changed {
        assert!(!verify_share(&gens, &dealer.commitments, x, s, b).unwrap());
    }
    assert!(!verify_share(&gens, &dealer.commitments, x, &wrong_x.0, &wrong_x.1).unwrap());
    // The right share checked at the wrong x.
    assert!(!verify_share(&gens, &dealer.commitments, x + 1, &share, &blind).unwrap());
    assert!(!verify_share(&gens, &dealer.commitments, 0, &share, &blind).unwrap());
    // And in batches, alone or next to honest shares of other dealers.
    let others = dealers(&gens, 4, 3, &mut r);
    let other_shares: Vec<_> = others.iter().map(|o| o.share(x)).collect();
    for (s, b) in changed.iter().chain([&wrong_x]) {
        let single = [BatchItem {
            commitments: &dealer.commitments,
            share: s,
            blind: *b,
        }];
        assert!(!verify_batch(&gens, x, &single, &mut r).unwrap());
        let mut batch = items(&others, &other_shares);
        batch.insert(
            2,
            BatchItem {
                commitments: &dealer.commitments,
                share: s,
                blind: *b,
            },
        );
        assert!(!verify_batch(&gens, x, &batch, &mut r).unwrap());
        assert_eq!(find_invalid(&gens, x, &batch, &mut r).unwrap(), vec![2]);
    }
    // The honest share of party 2 verifies at 2 only.
    assert!(verify_share(&gens, &dealer.commitments, 2, &honest.0, &honest.1).unwrap());
    let at_x = [BatchItem {
        commitments: &dealer.commitments,
        share: &share,
        blind,
    }];
    assert!(!verify_batch(&gens, x + 1, &at_x, &mut r).unwrap());
    assert!(verify_batch(&gens, x, &at_x, &mut r).unwrap());
}

#[test]
fn one_or_two_bad_items_among_twenty() {
    let mut r = rng(2);
    let gens = Generators::derive(2).unwrap();
    let dealers = dealers(&gens, 20, 3, &mut r);
    let x = 5;
    let honest: Vec<_> = dealers.iter().map(|dl| dl.share(x)).collect();
    for bad in [
        vec![0],
        vec![13],
        vec![19],
        vec![6, 7],
        vec![0, 19],
        vec![3, 17],
    ] {
        let mut shares = honest.clone();
        for &i in &bad {
            shares[i].1 += Ristretto::ONE;
        }
        let batch = items(&dealers, &shares);
        assert!(!verify_batch(&gens, x, &batch, &mut r).unwrap());
        assert_eq!(find_invalid(&gens, x, &batch, &mut r).unwrap(), bad);
    }
    let batch = items(&dealers, &honest);
    assert!(verify_batch(&gens, x, &batch, &mut r).unwrap());
    assert!(find_invalid(&gens, x, &batch, &mut r).unwrap().is_empty());
}

#[test]
fn dealers_may_have_different_thresholds_and_empty_batches_pass() {
    let mut r = rng(3);
    let gens = Generators::derive(2).unwrap();
    let dealers: Vec<Dealer> = (1..=4).map(|t| Dealer::new(&gens, t, &mut r)).collect();
    let shares: Vec<_> = dealers.iter().map(|dl| dl.share(7)).collect();
    assert!(verify_batch(&gens, 7, &items(&dealers, &shares), &mut r).unwrap());
    assert!(verify_batch(&gens, 7, &[], &mut r).unwrap());
    assert!(find_invalid(&gens, 7, &[], &mut r).unwrap().is_empty());
}

fn mismatch<T>(expected: usize, got: usize) -> Result<T, CryptoError> {
    Err(CryptoError::LengthMismatch { expected, got })
}

#[test]
fn length_mismatches_are_errors() {
    let mut r = rng(4);
    let gens = Generators::derive(3).unwrap();
    let two = random_vec(2, &mut r);
    let three = random_vec(3, &mut r);
    assert_eq!(commit(&gens, &two, &Ristretto::ONE), mismatch(3, 2));
    let coefficients = vec![
        SecretVec::from_vec(three.clone()),
        SecretVec::from_vec(three.clone()),
    ];
    assert_eq!(
        commit_polynomial(&gens, &coefficients, &two[..1]),
        mismatch(2, 1)
    );
    let short = vec![
        SecretVec::from_vec(three.clone()),
        SecretVec::from_vec(two.clone()),
    ];
    assert_eq!(commit_polynomial(&gens, &short, &two), mismatch(3, 2));
    let commitments = commit_polynomial(&gens, &coefficients, &two).unwrap();
    assert_eq!(
        verify_share(&gens, &commitments, 1, &two, &Ristretto::ONE),
        mismatch(3, 2)
    );
    let batch = [
        BatchItem {
            commitments: &commitments,
            share: &three,
            blind: Ristretto::ONE,
        },
        BatchItem {
            commitments: &commitments,
            share: &two,
            blind: Ristretto::ONE,
        },
    ];
    assert_eq!(verify_batch(&gens, 1, &batch, &mut r), mismatch(3, 2));
    assert_eq!(find_invalid(&gens, 1, &batch, &mut r), mismatch(3, 2));
    let c: &[RistrettoPoint] = &commitments;
    assert_eq!(combine_commitments(&two, &[c]), mismatch(2, 1));
    assert_eq!(combine_commitments(&two, &[c, &c[..1]]), mismatch(2, 1));
    assert_eq!(
        Generators::derive(MAX_GENERATORS + 1),
        Err(CryptoError::TooManyGenerators {
            requested: MAX_GENERATORS + 1,
            max: MAX_GENERATORS
        })
    );
}

#[test]
fn generators_are_deterministic_distinct_and_prefix_closed() {
    let a = Generators::derive(40).unwrap();
    let b = Generators::derive(40).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 40);
    assert!(!a.is_empty());
    let short = Generators::derive(5).unwrap();
    assert_eq!(short.g(), &a.g()[..5]);
    assert_eq!(short.h(), a.h());
    let mut encodings: Vec<[u8; 32]> = a.g().iter().map(point_to_bytes).collect();
    encodings.push(point_to_bytes(a.h()));
    encodings.push(point_to_bytes(&RISTRETTO_BASEPOINT_POINT));
    encodings.push(point_to_bytes(&RistrettoPoint::identity()));
    let count = encodings.len();
    encodings.sort_unstable();
    encodings.dedup();
    assert_eq!(encodings.len(), count);
    // Pinned: G_0 and H are the hashes of their documented inputs.
    let mut g0_input = b"dsmpc/v1/pedersen/G".to_vec();
    g0_input.extend_from_slice(&0u64.to_le_bytes());
    assert_eq!(
        a.g()[0],
        RistrettoPoint::hash_from_bytes::<Sha512>(&g0_input)
    );
    assert_eq!(
        *a.h(),
        RistrettoPoint::hash_from_bytes::<Sha512>(b"dsmpc/v1/pedersen/H")
    );
    let empty = Generators::derive(0).unwrap();
    assert!(empty.is_empty());
    assert_eq!(format!("{empty:?}"), "Generators(d=0)");
}

#[test]
fn commitments_are_homomorphic_and_aggregated_shares_verify() {
    let mut r = rng(5);
    let gens = Generators::derive(3).unwrap();
    let (n, t) = (5u64, 3u32);
    let dealers = dealers(&gens, 6, t, &mut r);
    let weights = random_vec(dealers.len(), &mut r);
    let sets: Vec<&[RistrettoPoint]> = dealers.iter().map(|d| d.commitments.as_slice()).collect();
    let combined = combine_commitments(&weights, &sets).unwrap();
    assert_eq!(combined.len(), t as usize);
    // The combined commitments are the commitments to the weighted polynomial.
    let coefficient_sum: Vec<SecretVec<Ristretto>> = (0..t as usize)
        .map(|k| {
            let vectors: Vec<&[Ristretto]> = dealers
                .iter()
                .map(|d| d.poly.coefficients()[k].as_slice())
                .collect();
            let mut out = SecretVec::zeros(gens.len());
            Ristretto::linear_combination(&weights, &vectors, out.as_mut_slice());
            out
        })
        .collect();
    let blinding_sum: Vec<Ristretto> = (0..t as usize)
        .map(|k| {
            let b: Vec<Ristretto> = dealers.iter().map(|d| d.blinding[k]).collect();
            Ristretto::dot(&weights, &b)
        })
        .collect();
    assert_eq!(
        combined,
        commit_polynomial(&gens, &coefficient_sum, &blinding_sum).unwrap()
    );
    // A compute party's aggregated share verifies against them; a wrong aggregate does not.
    for x in 1..=n {
        let shares: Vec<_> = dealers.iter().map(|d| d.share(x)).collect();
        let vectors: Vec<&[Ristretto]> = shares.iter().map(|(s, _)| s.as_slice()).collect();
        let mut aggregate = SecretVec::zeros(gens.len());
        Ristretto::linear_combination(&weights, &vectors, aggregate.as_mut_slice());
        let blinds: Vec<Ristretto> = shares.iter().map(|(_, b)| *b).collect();
        let blind = Ristretto::dot(&weights, &blinds);
        assert!(verify_share(&gens, &combined, x, &aggregate, &blind).unwrap());
        aggregate.as_mut_slice()[0] += Ristretto::ONE;
        assert!(!verify_share(&gens, &combined, x, &aggregate, &blind).unwrap());
    }
    assert!(combine_commitments(&[], &[]).unwrap().is_empty());
}

#[test]
fn chunked_multiplications_match_single_ones() {
    let mut r = rng(6);
    let gens = Generators::derive(CT_CHUNK + 7).unwrap();
    let values = random_vec(gens.len(), &mut r);
    let blind = Ristretto::random(&mut r);
    let scalars: Vec<Scalar> = values.iter().chain([&blind]).map(|v| v.0).collect();
    let expected = RistrettoPoint::vartime_multiscalar_mul(&scalars, gens.all());
    assert_eq!(commit(&gens, &values, &blind).unwrap(), expected);
    assert_eq!(vartime_msm_chunked(&scalars, gens.all(), 5), expected);
    assert_eq!(vartime_msm(&scalars, gens.all()), expected);
}

/// Short vectors are multiplied on the caller's thread, long ones on rayon's: the commitments to
/// a polynomial are the same either way.
#[test]
fn polynomial_commitments_agree_on_both_sides_of_the_parallel_threshold() {
    let mut r = rng(7);
    for d in [1, 3, CT_CHUNK - 1, CT_CHUNK, CT_CHUNK + 1] {
        let gens = Generators::derive(d).unwrap();
        let coefficients: Vec<SecretVec<Ristretto>> = (0..3)
            .map(|_| SecretVec::from_vec(random_vec(d, &mut r)))
            .collect();
        let blinding: Vec<Ristretto> = (0..3).map(|_| Ristretto::random(&mut r)).collect();
        let got = commit_polynomial(&gens, &coefficients, &blinding).unwrap();
        for ((c, b), point) in coefficients.iter().zip(&blinding).zip(&got) {
            let scalars: Vec<Scalar> = c.as_slice().iter().chain([b]).map(|v| v.0).collect();
            let expected = RistrettoPoint::vartime_multiscalar_mul(&scalars, gens.all());
            assert_eq!(*point, expected, "d = {d}");
        }
    }
}

#[test]
fn point_encodings() {
    let identity = RistrettoPoint::identity();
    assert_eq!(point_from_bytes(&point_to_bytes(&identity)), Ok(identity));
    let p = Generators::derive(1).unwrap().g()[0];
    assert_eq!(point_from_bytes(&point_to_bytes(&p)), Ok(p));
    assert_eq!(
        point_from_bytes(&[0xff; 32]),
        Err(CryptoError::InvalidPoint)
    );
    let mut negative = point_to_bytes(&p);
    negative[0] ^= 1;
    assert_eq!(point_from_bytes(&negative), Err(CryptoError::InvalidPoint));
}

#[test]
fn batch_item_debug_is_redacted() {
    let share = [Ristretto::from_u64(0xabcdef)];
    let item = BatchItem {
        commitments: &[],
        share: &share,
        blind: Ristretto::from_u64(0x123456),
    };
    assert_eq!(format!("{item:?}"), "BatchItem(t=0, d=1, <redacted>)");
}

/// `count` random integers in `min..=max`.
fn values_in(min: i128, max: i128, count: usize, rng: &mut ChaCha20Rng) -> Vec<Ristretto> {
    let span = (max - min) as u128 + 1;
    (0..count)
        .map(|_| {
            let offset = (u128::from(rng.next_u64()) % span) as i128;
            Ristretto::from_i128(min + offset)
        })
        .collect()
}

/// Generators whose short-path multiples are not kept, as for vectors beyond
/// [`MAX_KEPT_MULTIPLES`].
fn generators_without_kept_multiples(d: usize) -> Generators {
    let gens = Generators::derive(d).unwrap();
    assert!(gens.multiples.set(multiples(gens.g(), 0)).is_ok());
    assert!(d == 0 || gens.kept_multiples().is_none());
    gens
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn committing_in_a_range_equals_committing(
        d in 0usize..6,
        bits in 0u32..=48,
        low in any::<u64>(),
        high in any::<u64>(),
        keep_multiples: bool,
        seed: u64,
    ) {
        let mut rng = rng(seed);
        let gens = if keep_multiples {
            Generators::derive(d).unwrap()
        } else {
            generators_without_kept_multiples(d)
        };
        let limit = (1i128 << bits) - 1;
        let (a, b) = (i128::from(low) % (limit + 1), i128::from(high) % (limit + 1));
        let (min, max) = (-a.min(b), a.max(b));
        let values = values_in(min, max, d, &mut rng);
        let range = ValueRange::of_integers(min, max).unwrap();
        prop_assert!(range.bits() <= bits);
        let blind = Ristretto::random(&mut rng);
        prop_assert_eq!(
            commit_in_range(&gens, &values, &range, &blind).unwrap(),
            commit(&gens, &values, &blind).unwrap()
        );
    }
}

#[test]
fn long_vectors_commit_in_a_range_on_both_sides_of_the_parallel_threshold() {
    let mut rng = rng(41);
    for d in [CT_CHUNK, CT_CHUNK + 1, 600] {
        let values = values_in(-1000, 1000, d, &mut rng);
        let range = ValueRange::of_integers(-1000, 1000).unwrap();
        let blind = Ristretto::random(&mut rng);
        let want = commit(&Generators::derive(d).unwrap(), &values, &blind).unwrap();
        for gens in [
            Generators::derive(d).unwrap(),
            generators_without_kept_multiples(d),
        ] {
            assert_eq!(
                commit_in_range(&gens, &values, &range, &blind).unwrap(),
                want,
                "d = {d}"
            );
        }
    }
}

#[test]
fn a_value_outside_its_declared_range_is_refused() {
    let gens = Generators::derive(3).unwrap();
    let range = ValueRange::of_integers(-8, 15).unwrap();
    assert_eq!(range.bits(), 4);
    let blind = Ristretto::from_u64(5);
    let inside = [-15i128, 0, 15].map(Ristretto::from_i128);
    assert!(commit_in_range(&gens, &inside, &range, &blind).is_ok());
    for outside in [-16i128, 16, i128::from(u64::MAX), -(1i128 << 100)] {
        let values = [0, outside, 0].map(Ristretto::from_i128);
        assert_eq!(
            commit_in_range(&gens, &values, &range, &blind),
            Err(CryptoError::OutOfRange { bits: 4 }),
            "value {outside}"
        );
    }
    assert_eq!(
        commit_in_range(&gens, &inside[..2], &range, &blind),
        Err(CryptoError::LengthMismatch {
            expected: 3,
            got: 2
        })
    );
}

#[test]
fn only_ranges_short_enough_to_pay_take_the_short_path() {
    let bits = |min, max| ValueRange::of_integers(min, max).map(|r| r.bits());
    assert_eq!(bits(0, 0), Some(0));
    assert_eq!(bits(-1000, 1000), Some(10));
    assert_eq!(bits(-1024, 3), Some(11));
    assert_eq!(bits(0, (1i128 << 48) - 1), Some(48));
    assert_eq!(bits(-(1i128 << 48) + 1, 0), Some(48));
    assert_eq!(bits(0, 1i128 << 48), None);
    assert_eq!(bits(1, 0), None);
    assert_eq!(bits(i128::MIN, i128::MAX), None);
}
