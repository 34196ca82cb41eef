//! The public-key primitives of verifiable mode, all over the ristretto255 group.
//!
//! * [`kem`]: per-recipient encryption — a Diffie–Hellman KEM on ristretto255, HKDF-SHA256 and
//!   AES-256-GCM. A recipient can reveal the Diffie–Hellman value of one message (and only that
//!   message) so that an auditor can decrypt it;
//! * [`dleq`]: a Chaum–Pedersen proof that such a revealed value is honest, i.e. that it was
//!   computed with the secret key behind the recipient's public key. Together these make
//!   complaints verifiable: a party that received a bad share proves what it received;
//! * [`pedersen`]: Pedersen vector commitments to the coefficient vectors of a Shamir sharing, so
//!   that every party can check its share against the dealer's public commitments, one at a time
//!   or many dealers at once with a single multiscalar multiplication;
//! * [`signature`]: Ed25519 verification with one acceptance rule for single and batch checks.
//!
//! Points travel as 32-byte compressed ristretto255 encodings and scalars as 32-byte canonical
//! little-endian encodings; decoding refuses anything non-canonical. Every domain-separation
//! string starts with `dsmpc/v1/`.

pub mod dleq;
pub mod flp;
pub mod kem;
pub mod pedersen;
pub mod range;
pub mod signature;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;

/// Everything that can go wrong in [`crate::crypto`]. Variants never carry secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Bytes that should encode a group element are not a canonical ristretto255 encoding, or
    /// encode the identity where it is not allowed.
    #[error(
        "invalid point: not a canonical ristretto255 encoding, or the identity where forbidden"
    )]
    InvalidPoint,
    /// Bytes that should encode a scalar are not below the group order (or are zero where a
    /// secret key is expected).
    #[error("invalid scalar: not a canonical encoding below the group order, or zero")]
    InvalidScalar,
    /// Authenticated decryption failed: wrong key, wrong context, or tampered or truncated data.
    #[error("decryption failed: wrong key or context, or the ciphertext was modified")]
    DecryptionFailed,
    /// A discrete-log-equality proof did not verify.
    #[error("the discrete-log-equality proof does not verify")]
    InvalidProof,
    /// Two lengths that must agree do not.
    #[error("length mismatch: expected {expected}, got {got}")]
    LengthMismatch {
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A value to be committed on the short path lies outside the range it was declared in.
    #[error("a committed value lies outside its declared range of {bits} bits")]
    OutOfRange {
        /// The width of the declared range.
        bits: u32,
    },
    /// An input range no range proof can cover.
    #[error(
        "the input range [{min}, {max}] cannot be proven: it must not be empty or wider than 2^64"
    )]
    RangeTooWide {
        /// The smallest value.
        min: i128,
        /// The largest value.
        max: i128,
    },
    /// More Pedersen generators were requested than dsmpc supports.
    #[error("{requested} generators requested, at most {max} are supported")]
    TooManyGenerators {
        /// The number requested.
        requested: usize,
        /// [`pedersen::MAX_GENERATORS`].
        max: usize,
    },
}

/// Decodes a canonical compressed point; `None` if the bytes are not one.
fn decompress(bytes: &[u8; 32]) -> Option<RistrettoPoint> {
    CompressedRistretto(*bytes).decompress()
}

/// Decodes a canonical compressed point that is not the identity.
fn decompress_non_identity(bytes: &[u8; 32]) -> Result<RistrettoPoint, CryptoError> {
    decompress(bytes)
        .filter(|p| !p.is_identity())
        .ok_or(CryptoError::InvalidPoint)
}

/// Decodes a canonical scalar.
fn canonical_scalar(bytes: &[u8; 32]) -> Result<Scalar, CryptoError> {
    Option::from(Scalar::from_canonical_bytes(*bytes)).ok_or(CryptoError::InvalidScalar)
}

/// A uniformly random nonzero scalar (a zero draw has probability about 2^-252 and is redrawn).
fn random_nonzero_scalar<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    loop {
        let s = Scalar::random(rng);
        if s != Scalar::ZERO {
            return s;
        }
    }
}

/// Lower-case hex of `bytes`, for `Debug` of public values.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
