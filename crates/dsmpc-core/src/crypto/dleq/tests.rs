//! DLEQ proofs: honest proofs verify and open the box; every changed part of the statement or
//! the proof is refused.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::crypto::kem::{self, SealedBox};

const CONTEXT: &[u8] = b"complaint: task 7, dealer 3, party 2";

struct Setup {
    sk: KemSecretKey,
    pk: KemPublicKey,
    sealed: SealedBox,
    shared: SharedSecret,
    proof: DleqProof,
}

fn setup(seed: u64) -> Setup {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let sk = KemSecretKey::generate(&mut rng);
    let pk = sk.public_key();
    let sealed = kem::seal(&pk, CONTEXT, b"the share I received", &mut rng);
    let (shared, proof) = prove(&sk, &sealed.ephemeral, CONTEXT, &mut rng).unwrap();
    Setup {
        sk,
        pk,
        sealed,
        shared,
        proof,
    }
}

#[test]
fn honest_proof_verifies_and_opens_the_box() {
    let s = setup(1);
    verify(&s.pk, &s.sealed.ephemeral, &s.shared, &s.proof, CONTEXT).unwrap();
    assert_eq!(
        s.shared,
        kem::shared_secret(&s.sk, &s.sealed.ephemeral).unwrap()
    );
    // What an auditor does with a complaint: decode, verify, open.
    let shared = SharedSecret::from_bytes(&s.shared.to_bytes()).unwrap();
    let proof = DleqProof::from_bytes(&s.proof.to_bytes()).unwrap();
    verify(&s.pk, &s.sealed.ephemeral, &shared, &proof, CONTEXT).unwrap();
    let opened = kem::open_with_shared_secret(&shared, &s.pk, CONTEXT, &s.sealed).unwrap();
    assert_eq!(opened.as_slice(), b"the share I received");
}

#[test]
fn different_shared_secret_fails() {
    let s = setup(2);
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let random = SharedSecret::from_point(RistrettoPoint::random(&mut rng));
    assert_eq!(
        verify(&s.pk, &s.sealed.ephemeral, &random, &s.proof, CONTEXT),
        Err(CryptoError::InvalidProof)
    );
    // The shared secret another key would have computed, with the proof for the right one.
    let other = KemSecretKey::generate(&mut rng);
    let wrong = kem::shared_secret(&other, &s.sealed.ephemeral).unwrap();
    assert_eq!(
        verify(&s.pk, &s.sealed.ephemeral, &wrong, &s.proof, CONTEXT),
        Err(CryptoError::InvalidProof)
    );
    // Another key's own honest proof does not verify under this public key.
    let (z, proof) = prove(&other, &s.sealed.ephemeral, CONTEXT, &mut rng).unwrap();
    assert_eq!(
        verify(&s.pk, &s.sealed.ephemeral, &z, &proof, CONTEXT),
        Err(CryptoError::InvalidProof)
    );
}

#[test]
fn wrong_context_fails() {
    let s = setup(3);
    for context in [&b""[..], b"complaint: task 7, dealer 3, party 3", b"x"] {
        assert_eq!(
            verify(&s.pk, &s.sealed.ephemeral, &s.shared, &s.proof, context),
            Err(CryptoError::InvalidProof)
        );
    }
}

#[test]
fn wrong_public_key_or_ephemeral_fails() {
    let s = setup(4);
    let other = setup(5);
    assert_eq!(
        verify(&other.pk, &s.sealed.ephemeral, &s.shared, &s.proof, CONTEXT),
        Err(CryptoError::InvalidProof)
    );
    assert_eq!(
        verify(&s.pk, &other.sealed.ephemeral, &s.shared, &s.proof, CONTEXT),
        Err(CryptoError::InvalidProof)
    );
    let basepoint = RISTRETTO_BASEPOINT_POINT.compress().to_bytes();
    assert_eq!(
        verify(&s.pk, &basepoint, &s.shared, &s.proof, CONTEXT),
        Err(CryptoError::InvalidProof)
    );
    assert_eq!(
        verify(&s.pk, &[0; 32], &s.shared, &s.proof, CONTEXT),
        Err(CryptoError::InvalidPoint)
    );
    assert_eq!(
        prove(&s.sk, &[0; 32], CONTEXT, &mut ChaCha20Rng::seed_from_u64(6)).unwrap_err(),
        CryptoError::InvalidPoint
    );
}

#[test]
fn tampered_proof_fails() {
    let s = setup(7);
    let tweaks = [
        DleqProof {
            challenge: s.proof.challenge + Scalar::ONE,
            ..s.proof
        },
        DleqProof {
            response: s.proof.response + Scalar::ONE,
            ..s.proof
        },
        DleqProof {
            challenge: s.proof.response,
            response: s.proof.challenge,
        },
        DleqProof {
            challenge: Scalar::ZERO,
            response: Scalar::ZERO,
        },
    ];
    for proof in tweaks {
        assert_eq!(
            verify(&s.pk, &s.sealed.ephemeral, &s.shared, &proof, CONTEXT),
            Err(CryptoError::InvalidProof)
        );
    }
    let bytes = s.proof.to_bytes();
    for i in [0, 31, 32, 63] {
        let mut bad = bytes;
        bad[i] ^= 1;
        // Either non-canonical or a different, failing proof.
        let verdict = DleqProof::from_bytes(&bad)
            .and_then(|p| verify(&s.pk, &s.sealed.ephemeral, &s.shared, &p, CONTEXT));
        assert!(verdict.is_err(), "byte {i}");
    }
}

#[test]
fn proof_bytes_round_trip_and_refuse_non_canonical_scalars() {
    let s = setup(8);
    let bytes = s.proof.to_bytes();
    assert_eq!(&bytes[..32], s.proof.challenge.as_bytes());
    assert_eq!(&bytes[32..], s.proof.response.as_bytes());
    assert_eq!(DleqProof::from_bytes(&bytes).unwrap(), s.proof);
    let mut bad = bytes;
    bad[..32].fill(0xff);
    assert_eq!(DleqProof::from_bytes(&bad), Err(CryptoError::InvalidScalar));
    let mut bad = bytes;
    bad[32..].fill(0xff);
    assert_eq!(DleqProof::from_bytes(&bad), Err(CryptoError::InvalidScalar));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn proofs_verify_for_random_keys_and_contexts(
        seed in any::<u64>(),
        context in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let sk = KemSecretKey::generate(&mut rng);
        let sealed = kem::seal(&sk.public_key(), &context, b"m", &mut rng);
        let (z, proof) = prove(&sk, &sealed.ephemeral, &context, &mut rng).unwrap();
        prop_assert_eq!(verify(&sk.public_key(), &sealed.ephemeral, &z, &proof, &context), Ok(()));
        let mut other = context.clone();
        other.push(0);
        prop_assert_eq!(
            verify(&sk.public_key(), &sealed.ephemeral, &z, &proof, &other),
            Err(CryptoError::InvalidProof)
        );
    }
}
