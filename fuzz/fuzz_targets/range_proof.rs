//! A DP's range proof (the bytes in its signed bundle core, parsed by every CP and the cloud) on
//! arbitrary bytes, for scalars and vectors: `range::verify_batch` never panics and never
//! accepts — arbitrary bytes are not a proof for a commitment no one opened.
//!
//! The first input byte picks the vector length (1..=4); the rest is the proof.
#![no_main]

use std::sync::OnceLock;

use curve25519_dalek::{RistrettoPoint, Scalar};
use dsmpc_core::crypto::pedersen::Generators;
use dsmpc_core::crypto::range::{RangeBound, RangeClaim, verify_batch};
use libfuzzer_sys::fuzz_target;

fn gens() -> &'static Generators {
    static GENS: OnceLock<Generators> = OnceLock::new();
    GENS.get_or_init(|| Generators::derive(4).expect("four generators"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, proof)) = data.split_first() else {
        return;
    };
    let d = usize::from(selector % 4) + 1;
    let gens = gens();
    let bound = RangeBound::new(-1000, 1000).expect("a 16-bit range");
    let commitment: RistrettoPoint =
        gens.g().iter().take(d).sum::<RistrettoPoint>() * Scalar::from(7u64) + gens.h();
    let claim = RangeClaim {
        commitment,
        proof,
        binding: b"fuzz".to_vec(),
    };
    assert_eq!(verify_batch(gens, &bound, d, &[claim]), vec![false]);
});
