//! Sharing round trips for random committees and subsets, seed compression against the explicit
//! form, and every refusal reconstruction makes.

use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand::seq::SliceRandom;
use rand_core::SeedableRng;

use super::*;
use crate::field::{M31, M61, Ristretto};

fn secret<F: Field>(values: &[i64]) -> Vec<F> {
    values
        .iter()
        .map(|&v| F::from_i128(i128::from(v)))
        .collect()
}

/// A scheme with 1 ≤ t ≤ n ≤ 12, Shamir or additive.
fn scheme() -> impl Strategy<Value = Scheme> {
    (1u32..=12, any::<u32>(), any::<bool>()).prop_map(|(n, t, additive)| {
        if additive {
            Scheme::additive(n).unwrap()
        } else {
            Scheme::shamir(n, 1 + t % n).unwrap()
        }
    })
}

fn check_round_trip<F: Field>(
    values: &[i64],
    scheme: Scheme,
    compressed: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x = secret::<F>(values);
    let mut shares = share(&x, scheme, compressed, &mut rng).unwrap();
    prop_assert_eq!(shares.len(), scheme.n() as usize);
    let seeded = shares
        .iter()
        .filter(|s| matches!(s.value, ShareValue::Seeded(_)))
        .count();
    prop_assert_eq!(
        seeded,
        if compressed {
            scheme.seeded_count() as usize
        } else {
            0
        }
    );
    // A random subset of exactly t shares, in random order.
    shares.shuffle(&mut rng);
    shares.truncate(scheme.threshold() as usize);
    let got = reconstruct(&shares, scheme, x.len()).unwrap();
    prop_assert_eq!(got.as_slice(), x.as_slice());
    // One share fewer must not reconstruct.
    shares.pop();
    let err = reconstruct(&shares, scheme, x.len()).unwrap_err();
    prop_assert_eq!(
        err,
        Error::NotEnoughShares {
            needed: scheme.threshold(),
            got: scheme.threshold() - 1
        }
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn reconstruct_inverts_share_m31(v in prop::collection::vec(any::<i64>(), 1..20), s in scheme(), c in any::<bool>(), seed in any::<u64>()) {
        check_round_trip::<M31>(&v, s, c, seed)?;
    }

    #[test]
    fn reconstruct_inverts_share_m61(v in prop::collection::vec(any::<i64>(), 1..20), s in scheme(), c in any::<bool>(), seed in any::<u64>()) {
        check_round_trip::<M61>(&v, s, c, seed)?;
    }

    #[test]
    fn reconstruct_inverts_share_ristretto(v in prop::collection::vec(any::<i64>(), 1..8), s in scheme(), c in any::<bool>(), seed in any::<u64>()) {
        check_round_trip::<Ristretto>(&v, s, c, seed)?;
    }

    /// Seed-compressed Shamir shares, once expanded, lie on one polynomial of degree t-1 through
    /// the secret — exactly what explicit shares are — so every t-subset agrees.
    #[test]
    fn expanded_seeded_shares_are_explicit_shares(n in 2u32..9, t in any::<u32>(), seed in any::<u64>()) {
        let t = 1 + t % n;
        let scheme = Scheme::shamir(n, t).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let x = secret::<M61>(&[3, -1, 4, -1, 5]);
        let shares = share(&x, scheme, true, &mut rng).unwrap();
        let expanded: Vec<Share<M61>> = shares
            .iter()
            .map(|s| Share { id: s.id, value: ShareValue::Explicit(s.expand(x.len()).unwrap()) })
            .collect();
        prop_assert!(expanded.iter().all(|s| matches!(s.value, ShareValue::Explicit(_))));
        for window in expanded.windows(t as usize) {
            let got = reconstruct(window, scheme, x.len()).unwrap();
            prop_assert_eq!(got.as_slice(), x.as_slice());
        }
        // Interpolating the first t and evaluating elsewhere gives the other shares.
        let first: Vec<&[M61]> = expanded[..t as usize]
            .iter()
            .map(|s| match &s.value { ShareValue::Explicit(v) => v.as_slice(), _ => unreachable!() })
            .collect();
        let nodes: Vec<M61> = (1..=t).map(|i| M61::from_u64(u64::from(i))).collect();
        for other in &expanded[t as usize..] {
            let lambdas = lagrange_coefficients(&nodes, M61::from_u64(u64::from(other.id))).unwrap();
            let mut predicted = vec![M61::ZERO; x.len()];
            M61::linear_combination(&lambdas, &first, &mut predicted);
            let expanded_other = other.expand(x.len()).unwrap();
            prop_assert_eq!(expanded_other.as_slice(), predicted.as_slice());
        }
    }
}

#[test]
fn seeded_shares_are_the_seed_expansion() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let x = secret::<M61>(&[10, 20, 30]);
    let shares = share(&x, Scheme::additive(4).unwrap(), true, &mut rng).unwrap();
    let ShareValue::Seeded(seed) = &shares[0].value else {
        panic!("share 1 of an additive compressed sharing must be a seed");
    };
    assert_eq!(
        shares[0].expand(3).unwrap().as_slice(),
        seed.expand::<M61>(SHARE_LABEL, 3).as_slice()
    );
    let total = shares
        .iter()
        .map(|s| s.expand(3).unwrap())
        .fold(vec![M61::ZERO; 3], |acc, v| {
            acc.iter().zip(v.iter()).map(|(&a, &b)| a + b).collect()
        });
    assert_eq!(total, x);
}

#[test]
fn individual_shares_do_not_equal_the_secret() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let x = secret::<M61>(&[1234; 16]);
    for compressed in [false, true] {
        for s in share(&x, Scheme::shamir(5, 3).unwrap(), compressed, &mut rng).unwrap() {
            assert_ne!(s.expand(16).unwrap().as_slice(), x.as_slice());
        }
    }
}

#[test]
fn dimension_limits_are_enforced() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let scheme = Scheme::shamir(3, 2).unwrap();
    let err = share::<M61, _>(&[], scheme, false, &mut rng).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidDimension {
            dim: 0,
            max: MAX_DIM
        }
    );
    let too_long = vec![M61::ONE; MAX_DIM + 1];
    assert!(matches!(
        share(&too_long, scheme, false, &mut rng),
        Err(Error::InvalidDimension { .. })
    ));
}

#[test]
fn bad_parameters_are_refused() {
    assert!(matches!(
        Scheme::shamir(3, 4),
        Err(Error::InvalidParameters { .. })
    ));
    assert!(matches!(
        Scheme::shamir(3, 0),
        Err(Error::InvalidParameters { .. })
    ));
    assert!(matches!(
        Scheme::additive(0),
        Err(Error::InvalidParameters { .. })
    ));
    assert!(matches!(
        Scheme::additive(MAX_PARTIES + 1),
        Err(Error::InvalidParameters { .. })
    ));
    let msg = Scheme::shamir(3, 4).unwrap_err().to_string();
    assert!(msg.contains("t = 4") && msg.contains("1..=n (3)"), "{msg}");
}

fn explicit_shares(scheme: Scheme) -> Vec<Share<M61>> {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    share(&secret::<M61>(&[1, 2]), scheme, false, &mut rng).unwrap()
}

#[test]
fn duplicate_share_ids_are_refused() {
    let scheme = Scheme::shamir(5, 3).unwrap();
    let s = explicit_shares(scheme);
    let dup = [s[0].clone(), s[1].clone(), s[0].clone()];
    assert_eq!(
        reconstruct(&dup, scheme, 2).unwrap_err(),
        Error::DuplicateShareId { id: 1 }
    );
}

#[test]
fn out_of_range_ids_are_refused() {
    let scheme = Scheme::shamir(5, 3).unwrap();
    let mut s = explicit_shares(scheme);
    s[2].id = 0;
    assert_eq!(
        reconstruct(&s[..3], scheme, 2).unwrap_err(),
        Error::ShareIdOutOfRange { id: 0, n: 5 }
    );
    s[2].id = 6;
    assert_eq!(
        reconstruct(&s[..3], scheme, 2).unwrap_err(),
        Error::ShareIdOutOfRange { id: 6, n: 5 }
    );
}

#[test]
fn wrong_share_length_is_refused() {
    let scheme = Scheme::shamir(5, 3).unwrap();
    let s = explicit_shares(scheme);
    assert_eq!(
        reconstruct(&s[..3], scheme, 3).unwrap_err(),
        Error::ShareLengthMismatch {
            id: 1,
            expected: 3,
            got: 2
        }
    );
}

#[test]
fn additive_sharing_needs_every_share() {
    let scheme = Scheme::additive(4).unwrap();
    let s = explicit_shares(scheme);
    assert_eq!(
        reconstruct(&s[..3], scheme, 2).unwrap_err(),
        Error::NotEnoughShares { needed: 4, got: 3 }
    );
    assert_eq!(
        reconstruct(&s, scheme, 2).unwrap().as_slice(),
        secret::<M61>(&[1, 2])
    );
}

#[test]
fn interpolation_checks_its_inputs() {
    let v = [M61::ONE];
    assert!(matches!(
        interpolate_at_zero::<M61>(&[1, 2], &[&v]),
        Err(Error::InvalidParameters { .. })
    ));
    let w = [M61::ONE, M61::ONE];
    assert_eq!(
        interpolate_at_zero::<M61>(&[1, 2], &[&v, &w]).unwrap_err(),
        Error::ShareLengthMismatch {
            id: 2,
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn secrets_are_redacted_in_debug() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let x = secret::<M61>(&[987_654_321]);
    let shares = share(&x, Scheme::shamir(3, 2).unwrap(), true, &mut rng).unwrap();
    let shown = format!("{shares:?} {:?}", SecretVec::from_vec(x.clone()));
    assert!(shown.contains("<redacted>"));
    assert!(!shown.contains("987654321"), "{shown}");
    for s in &shares {
        let value = s.expand(1).unwrap()[0].value().to_string();
        assert!(!shown.contains(&value), "share value leaked: {shown}");
    }
}

fn evaluations_match_the_sum_of_powers<F: Field>(d: usize, t: u32, x: u64, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let secret: Vec<F> = (0..d).map(|_| F::random(&mut rng)).collect();
    let poly = VectorPolynomial::random(&secret, t, &mut rng);
    let x = F::from_u64(x);
    let got = poly.evaluate(x);
    for (j, value) in got.iter().enumerate() {
        let mut power = F::ONE;
        let mut want = F::ZERO;
        for coefficients in poly.coefficients() {
            want += power * coefficients[j];
            power *= x;
        }
        assert_eq!(*value, want, "element {j}");
    }
}

proptest! {
    #[test]
    fn horner_evaluation_equals_the_sum_of_powers(
        d in 0usize..20,
        t in 1u32..6,
        x in 0u64..1000,
        seed: u64,
    ) {
        evaluations_match_the_sum_of_powers::<M31>(d, t, x, seed);
        evaluations_match_the_sum_of_powers::<M61>(d, t, x, seed);
        evaluations_match_the_sum_of_powers::<Ristretto>(d, t, x, seed);
    }
}
