//! Decodes arbitrary bytes as a frame in both directions, with the default limits and with tight
//! ones. Decoding must never panic; whatever decodes must re-encode to exactly the same bytes
//! (the encoding is canonical) and decode again to an equal message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_core::protocol::{decode_client, decode_relay, encode_client, encode_relay, Limits};

fuzz_target!(|data: &[u8]| {
    let tight = Limits {
        max_depth: 4,
        max_items: 8,
        max_string_bytes: 16,
        ..Limits::default()
    };
    for limits in [Limits::default(), tight] {
        if let Ok(message) = decode_client(data, &limits) {
            let frame = encode_client(&message);
            assert_eq!(frame, data, "an accepted client frame is not canonical");
            assert_eq!(decode_client(&frame, &limits), Ok(message));
        }
        if let Ok(message) = decode_relay(data, &limits) {
            let frame = encode_relay(&message);
            assert_eq!(frame, data, "an accepted relay frame is not canonical");
            assert_eq!(decode_relay(&frame, &limits), Ok(message));
        }
    }
});
