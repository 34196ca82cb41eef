use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::*;

fn gens() -> Generators {
    Generators::derive(1).unwrap()
}

fn claim<'a>(
    gens: &Generators,
    x: i128,
    blind: &Scalar,
    proof: &'a [u8],
    binding: &[u8],
) -> RangeClaim<'a> {
    RangeClaim {
        commitment: scalar_of(x) * gens.g()[0] + blind * gens.h(),
        proof,
        binding: binding.to_vec(),
    }
}

#[test]
fn bounds_choose_the_smallest_power_of_two_bits() {
    assert_eq!(RangeBound::new(0, 0).unwrap().bits(), 1);
    assert_eq!(RangeBound::new(0, 1).unwrap().bits(), 1);
    assert_eq!(RangeBound::new(-1000, 1000).unwrap().bits(), 16);
    assert_eq!(RangeBound::new(0, 65_535).unwrap().bits(), 16);
    assert_eq!(RangeBound::new(0, 65_536).unwrap().bits(), 32);
    assert_eq!(
        RangeBound::new(i128::from(i64::MIN), i128::from(i64::MAX))
            .unwrap()
            .bits(),
        64
    );
    let wide = RangeBound::new(0, i128::from(u64::MAX) + 1).unwrap_err();
    assert!(wide.to_string().contains("wider than 2^64"), "{wide}");
    assert!(RangeBound::new(5, 4).is_err());
}

#[test]
fn in_range_inputs_verify_at_both_ends_and_an_honest_dp_will_not_prove_outside() {
    let gens = gens();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let bound = RangeBound::new(-1000, 1000).unwrap();
    let blind = Scalar::from(99u64);
    for x in [-1000, -1, 0, 1, 999, 1000] {
        let proof = prove(&gens, &bound, x, &blind, b"task|dp1", &mut rng).unwrap();
        assert!(proof.len() <= 700, "{} bytes", proof.len());
        let verdict = verify_batch(
            &gens,
            &bound,
            &[claim(&gens, x, &blind, &proof, b"task|dp1")],
        );
        assert_eq!(verdict, vec![true], "x = {x}");
    }
    for x in [-1001, 1001, i128::from(i64::MAX)] {
        let err = prove(&gens, &bound, x, &blind, b"task|dp1", &mut rng).unwrap_err();
        assert!(matches!(err, CryptoError::OutOfRange { .. }), "{err}");
    }
}

/// The forgeries an out-of-range DP can make: a proof for another (in-range) value, for the
/// clipped value, for the out-of-range value itself (shifted past the range's end), another DP's
/// proof, a proof bound to another DP, a truncated or empty proof. None verifies against the
/// commitment to the real input, and a batch holding them still accepts the honest claims.
#[test]
fn forged_replayed_truncated_and_mismatched_proofs_are_refused() {
    let gens = gens();
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let bound = RangeBound::new(0, 100).unwrap();
    let blind = Scalar::from(5u64);
    let x = 150; // out of range
    let c0 = scalar_of(x) * gens.g()[0] + blind * gens.h();
    let binding = b"task|dp2".to_vec();
    let other_value = prove_shifted(
        &gens,
        &bound,
        &c0,
        shifted_value(&bound, 42),
        &blind,
        &binding,
        &mut rng,
    );
    let clipped = prove_shifted(
        &gens,
        &bound,
        &c0,
        shifted_value(&bound, 100),
        &blind,
        &binding,
        &mut rng,
    );
    let itself = prove_shifted(
        &gens,
        &bound,
        &c0,
        shifted_value(&bound, 150),
        &blind,
        &binding,
        &mut rng,
    );
    let honest_proof = prove(&gens, &bound, 42, &blind, &binding, &mut rng).unwrap();
    let honest_other = prove(&gens, &bound, 7, &blind, b"task|dp3", &mut rng).unwrap();
    let bound_to_dp3 = prove(&gens, &bound, 42, &blind, b"task|dp3", &mut rng).unwrap();

    let mut forgeries: Vec<Vec<u8>> = Vec::new();
    // The prover may refuse to make a proof of a false statement; what it makes must not verify.
    forgeries.extend(other_value.ok());
    forgeries.extend(clipped.ok());
    forgeries.extend(itself.ok());
    forgeries.push(honest_proof.clone()); // a valid proof, for the commitment to 42
    forgeries.push(honest_other.clone()); // another DP's proof, replayed
    forgeries.push(honest_proof[..honest_proof.len() - 1].to_vec());
    forgeries.push(Vec::new());
    forgeries.push(vec![0xff; MAX_PROOF_LEN + 1]);
    let mut claims: Vec<RangeClaim<'_>> = forgeries
        .iter()
        .map(|p| RangeClaim {
            commitment: c0,
            proof: p,
            binding: binding.clone(),
        })
        .collect();
    let forged = claims.len();
    claims.push(claim(&gens, 42, &blind, &honest_proof, &binding));
    claims.push(claim(&gens, 7, &blind, &honest_other, b"task|dp3"));
    claims.push(claim(&gens, 42, &blind, &bound_to_dp3, b"task|dp2")); // bound to another DP
    let verdicts = verify_batch(&gens, &bound, &claims);
    assert!(verdicts[..forged].iter().all(|v| !v), "{verdicts:?}");
    assert_eq!(verdicts[forged..], [true, true, false]);
}

#[test]
fn a_proof_for_the_range_of_another_task_is_refused() {
    let gens = gens();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let wide = RangeBound::new(0, 1000).unwrap();
    let narrow = RangeBound::new(0, 100).unwrap();
    let blind = Scalar::from(3u64);
    let proof = prove(&gens, &wide, 500, &blind, b"b", &mut rng).unwrap();
    assert_eq!(
        verify_batch(&gens, &narrow, &[claim(&gens, 500, &blind, &proof, b"b")]),
        vec![false]
    );
    assert_eq!(
        verify_batch(&gens, &wide, &[claim(&gens, 500, &blind, &proof, b"b")]),
        vec![true]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any input inside any range proves and verifies; the same proof against the commitment to
    /// an input just outside the range does not.
    #[test]
    fn inputs_in_any_range_verify(min in -1_000_000i128..1_000_000, width in 0i128..100_000, pick in 0.0f64..=1.0, seed: u64) {
        let gens = gens();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let bound = RangeBound::new(min, min + width).unwrap();
        let x = min + (width as f64 * pick) as i128;
        let blind = Scalar::from(seed);
        let proof = prove(&gens, &bound, x, &blind, b"p", &mut rng).unwrap();
        prop_assert_eq!(verify_batch(&gens, &bound, &[claim(&gens, x, &blind, &proof, b"p")]), vec![true]);
        let outside = min + width + 1;
        prop_assert_eq!(verify_batch(&gens, &bound, &[claim(&gens, outside, &blind, &proof, b"p")]), vec![false]);
    }
}
