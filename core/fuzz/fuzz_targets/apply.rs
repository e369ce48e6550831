//! Decodes arbitrary bytes as an operation and applies it to a small document holding every
//! element type: never a panic, refusals change nothing, inverses restore exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tandem_core::testing::check_apply_bytes(data));
