//! `Envelope::from_bytes` on arbitrary bytes: never panics, and accepts only canonical encodings.
#![no_main]

use dsmpc_core::codec::Encode;
use dsmpc_core::wire::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::from_bytes(data) {
        assert_eq!(
            envelope.to_bytes(),
            data,
            "decode → encode is not the identity"
        );
    }
});
