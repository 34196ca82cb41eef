//! `Response::from_bytes` on arbitrary bytes: never panics, and accepts only canonical encodings.
#![no_main]

use dsmpc_core::codec::Encode;
use dsmpc_net::rpc::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = Response::from_bytes(data) {
        assert_eq!(
            response.to_bytes(),
            data,
            "decode → encode is not the identity"
        );
    }
});
