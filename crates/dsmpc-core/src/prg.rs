//! Seeds and their expansion into pseudorandom field vectors.
//!
//! A share that may be pseudorandom (n-1 of n additive shares, t-1 of n Shamir shares) travels as a
//! 32-byte [`Seed`]. Both ends expand it the same way: the ChaCha20 key is
//! `SHA-256("dsmpc/v1/prg" ‖ field code ‖ len(label) ‖ label ‖ seed)`, and elements are drawn from
//! the stream by rejection sampling ([`Field::random`]), so the expansion is uniform in the field
//! with no modulo bias. The label separates uses of seeds (sharing, blinding, batch weights) so that
//! one seed never yields correlated streams in two places.

use std::fmt;

use rand::rngs::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::field::Field;
use crate::sharing::SecretVec;

/// Length of a seed in bytes.
pub const SEED_LEN: usize = 32;

/// Domain-separation prefix of every PRG key; the version is part of it.
const PRG_DOMAIN: &[u8] = b"dsmpc/v1/prg";

/// A 32-byte secret seed. Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; SEED_LEN]);

impl Seed {
    /// A fresh seed from `rng`.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Seed {
        let mut bytes = [0u8; SEED_LEN];
        rng.fill_bytes(&mut bytes);
        Seed(bytes)
    }

    /// The seed with these bytes.
    pub fn from_bytes(bytes: [u8; SEED_LEN]) -> Seed {
        Seed(bytes)
    }

    /// The seed's bytes (for encryption to its recipient only).
    pub fn as_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// The ChaCha20 stream for this seed, field and label.
    pub fn stream<F: Field>(&self, label: &[u8]) -> ChaCha20Rng {
        let mut hash = Sha256::new();
        hash.update(PRG_DOMAIN);
        hash.update([F::ID.code()]);
        hash.update((label.len() as u64).to_le_bytes());
        hash.update(label);
        hash.update(self.0);
        let mut key: [u8; 32] = hash.finalize().into();
        let rng = ChaCha20Rng::from_seed(key);
        key.zeroize();
        rng
    }

    /// Expands the seed into `dim` uniform elements of `F`.
    pub fn expand<F: Field>(&self, label: &[u8], dim: usize) -> SecretVec<F> {
        let mut rng = self.stream::<F>(label);
        SecretVec::from_vec((0..dim).map(|_| F::random(&mut rng)).collect())
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{M31, M61};

    #[test]
    fn expansion_is_deterministic_and_label_separated() {
        let seed = Seed::from_bytes([7; 32]);
        let a = seed.expand::<M61>(b"share", 100);
        let b = seed.expand::<M61>(b"share", 100);
        let c = seed.expand::<M61>(b"blind", 100);
        assert_eq!(a.as_slice(), b.as_slice());
        assert_ne!(a.as_slice(), c.as_slice());
        // A prefix of a longer expansion is the shorter expansion.
        let long = seed.expand::<M61>(b"share", 150);
        assert_eq!(&long.as_slice()[..100], a.as_slice());
    }

    #[test]
    fn fields_get_independent_streams() {
        let seed = Seed::from_bytes([9; 32]);
        let m31 = seed.expand::<M31>(b"x", 4);
        let m61 = seed.expand::<M61>(b"x", 4);
        let m31_values: Vec<u64> = m31.as_slice().iter().map(|x| x.value()).collect();
        let m61_low: Vec<u64> = m61.as_slice().iter().map(|x| x.value() & M31::P).collect();
        assert_ne!(m31_values, m61_low);
    }

    #[test]
    fn debug_does_not_print_the_seed() {
        let seed = Seed::from_bytes([0xab; 32]);
        let shown = format!("{seed:?}");
        assert_eq!(shown, "Seed(<redacted>)");
        assert!(!shown.to_lowercase().contains("ab"));
    }
}
