//! `ResultPayload::from_bytes` (what the edge decrypts from a CP's result share) in every field
//! on arbitrary bytes: never panics, accepts only canonical encodings, and every accepted sum has
//! the expected dimension.
//!
//! The first input byte picks the field (low two bits) and the dimension (the rest, 0..=63); the
//! remaining bytes are the payload.
#![no_main]

use dsmpc_core::field::{Field, M31, M61, Ristretto};
use dsmpc_core::round4::ResultPayload;
use libfuzzer_sys::fuzz_target;

fn check<F: Field>(bytes: &[u8], dim: usize) {
    if let Ok(payload) = ResultPayload::<F>::from_bytes(bytes, dim) {
        assert_eq!(
            payload.to_secret_bytes().as_slice(),
            bytes,
            "decode → encode is not the identity"
        );
        assert_eq!(payload.sum.len(), dim, "accepted a sum of the wrong dimension");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let dim = usize::from(selector >> 2);
    match selector & 3 {
        0 => check::<M31>(bytes, dim),
        1 => check::<M61>(bytes, dim),
        _ => check::<Ristretto>(bytes, dim),
    }
});
