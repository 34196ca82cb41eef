use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use curve25519_dalek::ristretto::RistrettoPoint;

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
            1,
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
    let verdicts = verify_batch(&gens, &bound, 1, &claims);
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
        verify_batch(
            &gens,
            &narrow,
            1,
            &[claim(&gens, 500, &blind, &proof, b"b")]
        ),
        vec![false]
    );
    assert_eq!(
        verify_batch(&gens, &wide, 1, &[claim(&gens, 500, &blind, &proof, b"b")]),
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
        prop_assert_eq!(verify_batch(&gens, &bound, 1, &[claim(&gens, x, &blind, &proof, b"p")]), vec![true]);
        let outside = min + width + 1;
        prop_assert_eq!(verify_batch(&gens, &bound, 1, &[claim(&gens, outside, &blind, &proof, b"p")]), vec![false]);
    }
}

/// `C_0 = Σ x_j·G_j + b0·H`, the vector commitment the CPs check shares against.
fn vector_commitment(gens: &Generators, xs: &[i128], b0: &Scalar) -> RistrettoPoint {
    xs.iter()
        .zip(gens.g())
        .map(|(&x, g)| scalar_of(x) * g)
        .sum::<RistrettoPoint>()
        + b0 * gens.h()
}

fn vector_claim<'a>(
    gens: &Generators,
    xs: &[i128],
    b0: &Scalar,
    proof: &'a [u8],
) -> RangeClaim<'a> {
    RangeClaim {
        commitment: vector_commitment(gens, xs, b0),
        proof,
        binding: b"task|dpv".to_vec(),
    }
}

/// Vectors (d = 3, 5: padded to 4, 8 statements): an honest vector proof verifies, in a batch
/// with others; it is about `64·d` bytes plus one aggregated proof.
#[test]
fn honest_vectors_verify_alone_and_in_a_batch() {
    let gens = Generators::derive(5).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let bound = RangeBound::new(-100, 100).unwrap();
    let b0 = Scalar::from(77u64);
    let a = [-100, 0, 100, 5, -7];
    let b = [1, 2, 3, 4, 5];
    let pa = prove_vector(&gens, &bound, &a, &b0, b"task|dpv", &mut rng).unwrap();
    let pb = prove_vector(&gens, &bound, &b, &b0, b"task|dpv", &mut rng).unwrap();
    assert!(pa.len() <= 64 * 5 + 128 + 1024, "{} bytes", pa.len());
    let claims = [
        vector_claim(&gens, &a, &b0, &pa),
        vector_claim(&gens, &b, &b0, &pb),
    ];
    assert_eq!(verify_batch(&gens, &bound, 5, &claims), vec![true, true]);
    let short = prove_vector(&gens, &bound, &a[..3], &b0, b"task|dpv", &mut rng).unwrap();
    let claim = vector_claim(&gens, &a[..3], &b0, &short);
    assert_eq!(verify_batch(&gens, &bound, 3, &[claim]), vec![true]);
    let err = prove_vector(&gens, &bound, &[1, 101], &b0, b"x", &mut rng).unwrap_err();
    assert!(matches!(err, CryptoError::OutOfRange { .. }), "{err}");
}

/// A vector with one element out of range: per-element commitments to the clipped values (whose
/// range proof is valid) do not link to `C_0`; a proof of the true values has an invalid range
/// part; a proof for another DP's vector, another binding, a flipped byte of the link, swapped
/// per-element commitments or a truncated proof all fail; the honest claim beside them passes.
#[test]
fn forged_vector_proofs_are_refused() {
    let gens = Generators::derive(4).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let bound = RangeBound::new(0, 1000).unwrap();
    let b0 = Scalar::from(9u64);
    let bad = [10, 2000, 30, 40];
    let clipped = [10, 1000, 30, 40];
    let binding = b"task|dpv";
    let clip =
        prove_vector_claiming(&gens, &bound, &bad, &clipped, &b0, binding, &mut rng).unwrap();
    let truth = prove_vector_claiming(&gens, &bound, &bad, &bad, &b0, binding, &mut rng).unwrap();
    let good = [10, 20, 30, 40];
    let honest = prove_vector(&gens, &bound, &good, &b0, binding, &mut rng).unwrap();
    let mut flipped = honest.clone();
    flipped[32 * 4 + 70] ^= 1; // inside the link proof's first response
    let mut swapped = honest.clone();
    let (first, second) = swapped.split_at_mut(32);
    first.swap_with_slice(&mut second[..32]);
    let truncated = honest[..honest.len() - 10].to_vec();
    let mut claims: Vec<RangeClaim<'_>> = [&clip, &truth, &honest, &flipped, &swapped, &truncated]
        .into_iter()
        .map(|p| vector_claim(&gens, &bad, &b0, p))
        .collect();
    claims[2] = vector_claim(&gens, &good, &b0, &honest);
    claims[3] = vector_claim(&gens, &good, &b0, &flipped);
    claims[4] = vector_claim(&gens, &good, &b0, &swapped);
    claims[5] = vector_claim(&gens, &good, &b0, &truncated);
    let mut rebound = vector_claim(&gens, &good, &b0, &honest);
    rebound.binding = b"task|other".to_vec();
    claims.push(rebound);
    claims.push(vector_claim(&gens, &[10, 20, 30, 41], &b0, &honest)); // another vector
    assert_eq!(
        verify_batch(&gens, &bound, 4, &claims),
        vec![false, false, true, false, false, false, false, false]
    );
}
