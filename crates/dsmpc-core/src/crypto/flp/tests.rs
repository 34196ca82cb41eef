use proptest::prelude::*;

use super::*;
use crate::field::{M61, Ristretto};
use crate::sharing::{self, Scheme, Share, ShareValue};

fn seed(byte: u8) -> Seed {
    Seed::from_bytes([byte; 32])
}

/// Shares `input` and `proof` under `scheme`, has every party query its shares, and
/// reconstructs the verifier from the first `take` parties' verifier shares.
fn verify_shared<F: Field>(
    circuit: &RangeCircuit,
    input: &[F],
    proof: &[F],
    scheme: Scheme,
    take: usize,
) -> bool {
    let joint = circuit.joint_rand::<F>(&seed(1));
    let query = circuit.query_rand::<F>(&seed(2));
    let mut rng = rand::rng();
    let inputs = sharing::share(input, scheme, true, &mut rng).unwrap();
    let proofs = sharing::share(proof, scheme, true, &mut rng).unwrap();
    let verifiers: Vec<Share<F>> = inputs
        .iter()
        .zip(&proofs)
        .take(take)
        .map(|(i, p)| {
            let one = match scheme {
                Scheme::Additive { .. } if i.id != 1 => F::ZERO,
                _ => F::ONE,
            };
            let i_share = i.expand(circuit.input_len()).unwrap();
            let p_share = p.expand(circuit.proof_len()).unwrap();
            let v = circuit
                .query(&i_share, &p_share, &joint, &query, one)
                .unwrap();
            Share {
                id: i.id,
                value: ShareValue::Explicit(crate::sharing::SecretVec::from_vec(v)),
            }
        })
        .collect();
    let verifier = sharing::reconstruct(&verifiers, scheme, circuit.verifier_len()).unwrap();
    circuit.decide(&verifier, &joint)
}

fn prove<F: Field>(circuit: &RangeCircuit, input: &[F]) -> Vec<F> {
    let joint = circuit.joint_rand::<F>(&seed(1));
    circuit.prove(input, &joint, &mut rand::rng())
}

fn shamir() -> Scheme {
    Scheme::shamir(5, 3).unwrap()
}

#[test]
fn a_valid_input_passes_shared_shamir_and_additive() {
    // Width 1000 is not 2^n − 1: two decompositions and the relation.
    let circuit = RangeCircuit::new::<M61>(4, 1000).unwrap();
    assert_eq!(circuit.bits, 10);
    assert_eq!(circuit.offset, Some(23));
    let input = circuit.encode::<M61>(&[0, 1, 999, 1000]);
    let proof = prove(&circuit, &input);
    assert!(verify_shared(&circuit, &input, &proof, shamir(), 3));
    assert!(verify_shared(&circuit, &input, &proof, shamir(), 5));
    let additive = Scheme::additive(3).unwrap();
    assert!(verify_shared(&circuit, &input, &proof, additive, 3));
}

#[test]
fn decode_gives_the_value_above_the_minimum() {
    let circuit = RangeCircuit::new::<M61>(3, 65_535).unwrap();
    assert_eq!(circuit.offset, None);
    let input = circuit.encode::<M61>(&[0, 12_345, 65_535]);
    let values = circuit.decode(&input);
    assert_eq!(
        values,
        vec![M61::ZERO, M61::from_u64(12_345), M61::from_u64(65_535)]
    );
}

#[test]
fn a_value_that_is_not_a_bit_fails() {
    let circuit = RangeCircuit::new::<M61>(2, 255).unwrap();
    let mut input = circuit.encode::<M61>(&[3, 200]);
    // 300 in the lowest bit of the first element: y = 302, beyond 255.
    input[0] = M61::from_u64(300);
    let proof = prove(&circuit, &input);
    assert!(!verify_shared(&circuit, &input, &proof, shamir(), 3));
}

#[test]
fn a_second_decomposition_that_does_not_match_fails() {
    // Width 5: y = 6 has valid 3-bit first decomposition (110), but y + 2 = 8 has none; the
    // cheater puts any valid bits there instead.
    let circuit = RangeCircuit::new::<M61>(1, 5).unwrap();
    assert_eq!(circuit.offset, Some(2));
    let mut input = circuit.encode::<M61>(&[5]);
    input[..3].copy_from_slice(&[M61::ZERO, M61::ONE, M61::ONE]);
    let proof = prove(&circuit, &input);
    assert!(!verify_shared(&circuit, &input, &proof, shamir(), 3));
}

#[test]
fn a_proof_for_other_bits_fails() {
    let circuit = RangeCircuit::new::<M61>(3, 1023).unwrap();
    let valid = circuit.encode::<M61>(&[1, 2, 3]);
    let proof = prove(&circuit, &valid);
    let mut cheat = valid.clone();
    cheat[5] = M61::from_u64(7);
    assert!(!verify_shared(&circuit, &cheat, &proof, shamir(), 3));
    // And a proof of valid bits with one value changed (still bits) also fails: the proof's
    // gadget values do not match the new wires.
    let mut other = valid;
    other[0] += M61::ONE;
    other[1] = M61::ZERO;
    assert!(!verify_shared(&circuit, &other, &proof, shamir(), 3));
}

#[test]
fn a_tampered_or_truncated_proof_fails() {
    let circuit = RangeCircuit::new::<M61>(2, 1023).unwrap();
    let input = circuit.encode::<M61>(&[5, 6]);
    let proof = prove(&circuit, &input);
    for position in [0, proof.len() / 2, proof.len() - 1] {
        let mut bad = proof.clone();
        bad[position] += M61::ONE;
        assert!(
            !verify_shared(&circuit, &input, &bad, shamir(), 3),
            "altered at {position}"
        );
    }
    let joint = circuit.joint_rand::<M61>(&seed(1));
    let query = circuit.query_rand::<M61>(&seed(2));
    let short = &proof[..proof.len() - 1];
    assert!(
        circuit
            .query(&input, short, &joint, &query, M61::ONE)
            .is_none()
    );
    assert!(!circuit.decide(&[M61::ZERO], &joint));
}

#[test]
fn the_zero_proof_fails() {
    let circuit = RangeCircuit::new::<M61>(1, 255).unwrap();
    let mut input = circuit.encode::<M61>(&[0]);
    input[7] = M61::from_u64(2);
    let proof = vec![M61::ZERO; circuit.proof_len()];
    assert!(!verify_shared(&circuit, &input, &proof, shamir(), 3));
}

#[test]
fn ristretto_uses_one_query_point_and_m61_two() {
    let m61 = RangeCircuit::new::<M61>(1000, 65_535).unwrap();
    let big = RangeCircuit::new::<Ristretto>(1000, 65_535).unwrap();
    assert_eq!(m61.input_len(), 16_000);
    assert_eq!(m61.verifier_len(), 1 + 2 * (m61.chunk + 1));
    assert_eq!(big.verifier_len(), 1 + big.chunk + 1);
    let input = big.encode::<Ristretto>(&[7; 1000]);
    let proof = prove(&big, &input);
    assert!(verify_shared(
        &big,
        &input,
        &proof,
        Scheme::shamir(3, 2).unwrap(),
        2
    ));
}

#[test]
fn consecutive_basis_interpolates() {
    let coeffs = [M61::from_u64(3), M61::from_u64(5), M61::from_u64(11)];
    let f = |x: M61| crate::polynomial::horner(&coeffs, x);
    let values: Vec<M61> = (0..=2).map(|i| f(M61::from_u64(i))).collect();
    for x in [
        M61::from_u64(1),
        M61::from_u64(9),
        M61::from_u64(123_456_789),
    ] {
        let basis = consecutive_basis(2, x);
        assert_eq!(M61::dot(&basis, &values), f(x));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_input_in_range_passes(
        width in 1u128..100_000,
        raw in prop::collection::vec(any::<u64>(), 1..6),
    ) {
        let circuit = RangeCircuit::new::<M61>(raw.len(), width).unwrap();
        let values: Vec<u128> = raw.iter().map(|&v| u128::from(v) % (width + 1)).collect();
        let input = circuit.encode::<M61>(&values);
        let decoded = circuit.decode(&input);
        let expected: Vec<M61> = values.iter().map(|&v| M61::from_u128(v)).collect();
        prop_assert_eq!(decoded, expected);
        let proof = prove(&circuit, &input);
        prop_assert!(verify_shared(&circuit, &input, &proof, shamir(), 3));
    }

    #[test]
    fn any_non_bit_fails(
        width in 1u128..100_000,
        dim in 1usize..5,
        position in any::<prop::sample::Index>(),
        value in 2u64..1_000_000,
    ) {
        let circuit = RangeCircuit::new::<M61>(dim, width).unwrap();
        let mut input = circuit.encode::<M61>(&vec![0; dim]);
        let at = position.index(input.len());
        input[at] = M61::from_u64(value);
        let proof = prove(&circuit, &input);
        prop_assert!(!verify_shared(&circuit, &input, &proof, shamir(), 3));
    }
}
