//! Randomness for dsmpc: only the operating system's CSPRNG, or a ChaCha20 stream seeded from it.
//!
//! No code in dsmpc draws secrets from anything else; the `*_with_rng` style of the API lets tests
//! pass a seeded generator to make test vectors reproducible.

use rand::rngs::{ChaCha20Rng, SysRng};
use rand_core::{SeedableRng, UnwrapErr};

/// The operating system's CSPRNG (`getrandom`). Panics only if the OS cannot supply randomness at
/// all, which no caller could recover from.
pub fn os_rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

/// A ChaCha20 stream keyed with 32 bytes from the OS CSPRNG: the fast generator for bulk sharing.
pub fn fast_rng() -> ChaCha20Rng {
    let mut seed = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut os_rng(), &mut seed);
    let rng = ChaCha20Rng::from_seed(seed);
    zeroize::Zeroize::zeroize(&mut seed);
    rng
}
