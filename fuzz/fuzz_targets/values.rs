//! `values::read_values` (a DP's `--values-file`: a `.npy` array or text) on arbitrary bytes:
//! never panics, and never returns more values than the input could hold.
//!
//! The first input byte picks the scale (0..=19); the remaining bytes are the file.
#![no_main]

use std::path::Path;

use dsmpc_net::values::read_values;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let scale = u32::from(selector % 20);
    if let Ok(values) = read_values(Path::new("fuzz-input"), bytes, scale) {
        // Every value takes at least one byte of text or of an .npy element.
        assert!(values.len() <= bytes.len(), "{} values from {} bytes", values.len(), bytes.len());
    }
});
