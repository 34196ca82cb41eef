//! `SharePayload::from_bytes` in every field on arbitrary bytes: never panics, accepts only
//! canonical encodings, and every accepted explicit share has the expected dimension.
//!
//! The first input byte picks the field (low two bits) and the dimension (the rest, 0..=63); the
//! remaining bytes are the payload.
#![no_main]

use dsmpc_core::field::{Field, M31, M61, Ristretto};
use dsmpc_core::round2::SharePayload;
use dsmpc_core::sharing::ShareValue;
use libfuzzer_sys::fuzz_target;

fn check<F: Field>(bytes: &[u8], dim: usize) {
    if let Ok(payload) = SharePayload::<F>::from_bytes(bytes, dim) {
        assert_eq!(
            payload.to_secret_bytes().as_slice(),
            bytes,
            "decode → encode is not the identity"
        );
        if let ShareValue::Explicit(v) = &payload.share {
            assert_eq!(v.len(), dim, "accepted a share of the wrong dimension");
        }
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
