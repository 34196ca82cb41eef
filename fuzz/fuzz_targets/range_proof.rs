//! A DP's range proof (the bytes in its signed bundle core, parsed by every CP and the cloud) on
//! arbitrary bytes: `range::verify_batch` never panics and never accepts — arbitrary bytes are
//! not a proof for a commitment no one opened.
#![no_main]

use std::sync::OnceLock;

use curve25519_dalek::RistrettoPoint;
use dsmpc_core::crypto::pedersen::Generators;
use dsmpc_core::crypto::range::{RangeBound, RangeClaim, verify_batch};
use libfuzzer_sys::fuzz_target;

fn gens() -> &'static Generators {
    static GENS: OnceLock<Generators> = OnceLock::new();
    GENS.get_or_init(|| Generators::derive(1).expect("one generator"))
}

fuzz_target!(|data: &[u8]| {
    let gens = gens();
    let bound = RangeBound::new(-1000, 1000).expect("a 16-bit range");
    let commitment: RistrettoPoint = gens.g()[0] * curve25519_dalek::Scalar::from(7u64) + gens.h();
    let claim = RangeClaim {
        commitment,
        proof: data,
        binding: b"fuzz".to_vec(),
    };
    assert_eq!(verify_batch(gens, &bound, 1, &[claim]), vec![false]);
});
