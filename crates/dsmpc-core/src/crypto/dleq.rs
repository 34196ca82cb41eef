//! A Chaum–Pedersen proof of discrete-log equality, for verifiable complaints.
//!
//! A recipient with key pair `(sk, PK = sk·B)` that received a sealed box with ephemeral key `E`
//! can reveal the box's shared secret `Z = sk·E` and prove that `log_B PK = log_E Z` without
//! revealing `sk`. Anyone can then open that one box with
//! [`crate::crypto::kem::open_with_shared_secret`] and see what the recipient was sent.
//!
//! The proof is non-interactive (Fiat–Shamir). The prover draws a nonce `k`, computes
//! `A1 = k·B`, `A2 = k·E`, the challenge
//!
//! ```text
//! c = SHA-512("dsmpc/v1/dleq" ‖ len(context) as u64 LE ‖ context ‖ B ‖ PK ‖ E ‖ Z ‖ A1 ‖ A2) mod ℓ
//! ```
//!
//! (points as 32-byte compressed encodings) and the response `s = k + c·sk`. The verifier
//! recomputes `A1 = s·B − c·PK`, `A2 = s·E − c·Z` and accepts if the challenge matches. The proof
//! is `c ‖ s`, 64 bytes. The context should name the task, the sender and the recipient, so that a
//! proof cannot be replayed for another complaint.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use zeroize::Zeroize;

use super::kem::{KemPublicKey, KemSecretKey, SharedSecret};
use super::{CryptoError, canonical_scalar, decompress_non_identity, random_nonzero_scalar};

/// Domain-separation prefix of the challenge hash; the version is part of it.
const DLEQ_DOMAIN: &[u8] = b"dsmpc/v1/dleq";
/// Length of an encoded proof.
pub const PROOF_LEN: usize = 64;

/// A proof that a revealed shared secret is `sk·E` for the `sk` behind a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DleqProof {
    /// The Fiat–Shamir challenge `c`.
    pub challenge: Scalar,
    /// The response `s = k + c·sk`.
    pub response: Scalar,
}

impl DleqProof {
    /// The encoding `c ‖ s`, each a canonical 32-byte little-endian scalar.
    pub fn to_bytes(&self) -> [u8; PROOF_LEN] {
        let mut out = [0u8; PROOF_LEN];
        out[..32].copy_from_slice(self.challenge.as_bytes());
        out[32..].copy_from_slice(self.response.as_bytes());
        out
    }

    /// Decodes `c ‖ s`; refuses non-canonical scalars.
    pub fn from_bytes(bytes: &[u8; PROOF_LEN]) -> Result<Self, CryptoError> {
        let (c, s) = bytes.split_at(32);
        Ok(DleqProof {
            challenge: canonical_scalar(&to_array(c))?,
            response: canonical_scalar(&to_array(s))?,
        })
    }
}

fn to_array(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

/// Computes the shared secret `sk·E` of the box with ephemeral key `ephemeral` and proves it
/// honest under `context`. Refuses an invalid or identity ephemeral key.
pub fn prove<R: CryptoRng + ?Sized>(
    sk: &KemSecretKey,
    ephemeral: &[u8; 32],
    context: &[u8],
    rng: &mut R,
) -> Result<(SharedSecret, DleqProof), CryptoError> {
    let e = decompress_non_identity(ephemeral)?;
    let x = sk.scalar();
    let shared = SharedSecret::from_point(x * e);
    let public = sk.public_key();
    let mut k = random_nonzero_scalar(rng);
    let a1 = RistrettoPoint::mul_base(&k);
    let a2 = k * e;
    let challenge = challenge(context, &public, ephemeral, shared.point(), &a1, &a2);
    let response = k + challenge * x;
    k.zeroize();
    Ok((
        shared,
        DleqProof {
            challenge,
            response,
        },
    ))
}

/// Checks that `shared` is `sk·E` for the `sk` behind `public`, where `E` is `ephemeral`.
/// Returns [`CryptoError::InvalidPoint`] for a bad ephemeral key and [`CryptoError::InvalidProof`]
/// when the proof does not verify. Runs in variable time: every input is public.
pub fn verify(
    public: &KemPublicKey,
    ephemeral: &[u8; 32],
    shared: &SharedSecret,
    proof: &DleqProof,
    context: &[u8],
) -> Result<(), CryptoError> {
    let e = decompress_non_identity(ephemeral)?;
    let (c, s) = (proof.challenge, proof.response);
    let a1 = RistrettoPoint::vartime_double_scalar_mul_basepoint(&-c, public.point(), &s);
    let a2 = RistrettoPoint::vartime_multiscalar_mul([s, -c], [e, *shared.point()]);
    if challenge(context, public, ephemeral, shared.point(), &a1, &a2) == c {
        Ok(())
    } else {
        Err(CryptoError::InvalidProof)
    }
}

/// The Fiat–Shamir challenge over the whole statement and the commitments.
fn challenge(
    context: &[u8],
    public: &KemPublicKey,
    ephemeral: &[u8; 32],
    shared: &RistrettoPoint,
    a1: &RistrettoPoint,
    a2: &RistrettoPoint,
) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(DLEQ_DOMAIN);
    hash.update((context.len() as u64).to_le_bytes());
    hash.update(context);
    hash.update(RISTRETTO_BASEPOINT_COMPRESSED.as_bytes());
    hash.update(public.to_bytes());
    hash.update(ephemeral);
    hash.update(shared.compress().as_bytes());
    hash.update(a1.compress().as_bytes());
    hash.update(a2.compress().as_bytes());
    Scalar::from_hash(hash)
}

#[cfg(test)]
mod tests;
