//! Round trips of every message, and hostile-input tests of the decoder.

use super::*;
use crate::error::ModelError;
use crate::id::ElementId;
use crate::op::Op;
use crate::value::ElementKind;
use std::collections::BTreeSet;

use super::samples::*;
use super::shape::Shaped;

/// Every client message variant, by a match without a wildcard: adding a variant breaks the
/// build here until it is listed (and the coverage test then demands a sample of it).
fn client_variant(message: &ClientMessage) -> &'static str {
    match message {
        ClientMessage::Hello(_) => "Hello",
        ClientMessage::Request { .. } => "Request",
        ClientMessage::SubmitOp { .. } => "SubmitOp",
        ClientMessage::ResyncRequest { .. } => "ResyncRequest",
        ClientMessage::ShareReference { .. } => "ShareReference",
        ClientMessage::SetReference { .. } => "SetReference",
        ClientMessage::ClearReference { .. } => "ClearReference",
        ClientMessage::UnshareReference { .. } => "UnshareReference",
        ClientMessage::Ping { .. } => "Ping",
        ClientMessage::Pong { .. } => "Pong",
        ClientMessage::SubmitOps { .. } => "SubmitOps",
    }
}

/// Every relay message variant, by a match without a wildcard (see [`client_variant`]).
fn relay_variant(message: &RelayMessage) -> &'static str {
    match message {
        RelayMessage::Welcome(_) => "Welcome",
        RelayMessage::Response { .. } => "Response",
        RelayMessage::Error { .. } => "Error",
        RelayMessage::OpAck { .. } => "OpAck",
        RelayMessage::OpRejected { .. } => "OpRejected",
        RelayMessage::RemoteOp { .. } => "RemoteOp",
        RelayMessage::ResyncOps { .. } => "ResyncOps",
        RelayMessage::ResyncComplete { .. } => "ResyncComplete",
        RelayMessage::ModelDeleted { .. } => "ModelDeleted",
        RelayMessage::ModelForceClosed { .. } => "ModelForceClosed",
        RelayMessage::CollaboratorOpened { .. } => "CollaboratorOpened",
        RelayMessage::CollaboratorClosed { .. } => "CollaboratorClosed",
        RelayMessage::RemoteReference(_) => "RemoteReference",
        RelayMessage::Presence(_) => "Presence",
        RelayMessage::Activity(_) => "Activity",
        RelayMessage::Chat(_) => "Chat",
        RelayMessage::Ping { .. } => "Ping",
        RelayMessage::Pong { .. } => "Pong",
        RelayMessage::OpsAcked { .. } => "OpsAcked",
        RelayMessage::RemoteOps { .. } => "RemoteOps",
    }
}

/// Asserts that `samples` hold every variant of `T` the codec knows.
fn assert_covers<T: WireEnum>(samples: &[T]) {
    let seen: BTreeSet<&str> = samples.iter().map(WireEnum::variant_name).collect();
    let all: BTreeSet<&str> = T::VARIANTS.iter().map(|(_, name)| *name).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "{} samples miss {missing:?}",
        T::TYPE_NAME
    );
    let tags: BTreeSet<u64> = T::VARIANTS.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(
        tags.len(),
        T::VARIANTS.len(),
        "{} has duplicate tags",
        T::TYPE_NAME
    );
}

fn all_frames() -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = client_samples().iter().map(encode_client).collect();
    frames.extend(relay_samples().iter().map(encode_relay));
    frames
}

/// Decodes `frame` both ways; whatever decodes must re-encode to exactly `frame`.
fn decode_both(
    frame: &[u8],
    limits: &Limits,
) -> (
    Result<ClientMessage, DecodeError>,
    Result<RelayMessage, DecodeError>,
) {
    let client = decode_client(frame, limits);
    if let Ok(message) = &client {
        assert_eq!(
            encode_client(message),
            frame,
            "client frame is not canonical"
        );
    }
    let relay = decode_relay(frame, limits);
    if let Ok(message) = &relay {
        assert_eq!(encode_relay(message), frame, "relay frame is not canonical");
    }
    (client, relay)
}

/// A tiny deterministic random generator, so the tests need no extra crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn every_client_message_round_trips() {
    let limits = Limits::default();
    let samples = client_samples();
    let seen: BTreeSet<&str> = samples.iter().map(client_variant).collect();
    assert_eq!(
        seen.len(),
        ClientMessage::VARIANTS.len(),
        "a client variant has no sample"
    );
    for message in &samples {
        assert_eq!(client_variant(message), message.variant_name());
        let frame = encode_client(message);
        assert_eq!(frame[0], FORMAT_VERSION);
        assert_eq!(&decode_client(&frame, &limits).unwrap(), message);
    }
}

#[test]
fn every_relay_message_round_trips() {
    let limits = Limits::default();
    let samples = relay_samples();
    let seen: BTreeSet<&str> = samples.iter().map(relay_variant).collect();
    assert_eq!(
        seen.len(),
        RelayMessage::VARIANTS.len(),
        "a relay variant has no sample"
    );
    for message in &samples {
        assert_eq!(relay_variant(message), message.variant_name());
        let frame = encode_relay(message);
        assert_eq!(&decode_relay(&frame, &limits).unwrap(), message);
    }
}

#[test]
fn samples_cover_every_variant_of_every_enum() {
    assert_covers(&client_samples());
    assert_covers(&relay_samples());
    assert_covers(&requests());
    assert_covers(&responses());
    assert_covers(&auths());
    assert_covers(&ops());
    assert_covers(&values());
    assert_covers(&node_values());
    assert_covers(&reference_values());
    assert_covers(&model_contents());
    assert_covers(&model_orders());
    assert_covers(&sort_directions());
    assert_covers(&remote_references());
    assert_covers(&presence_events());
    assert_covers(&activity_events());
    assert_covers(&chat_kinds());
    assert_covers(&chat_event_bodies());
    assert_covers(&chat_event_kinds());
    assert_covers(&permission_scopes());
    assert_covers(&permission_targets());
}

#[test]
fn every_error_code_round_trips() {
    let limits = Limits::default();
    for &code in ErrorCode::ALL {
        let message = RelayMessage::Error {
            request_id: Some(1),
            code,
            message: code.to_string(),
        };
        assert_eq!(
            decode_relay(&encode_relay(&message), &limits).unwrap(),
            message
        );
    }
}

#[test]
fn integer_extremes_round_trip() {
    let limits = Limits::default();
    for n in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::MAX / 2,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let message = ClientMessage::Ping { nonce: n };
        assert_eq!(
            decode_client(&encode_client(&message), &limits).unwrap(),
            message
        );
    }
    for t in [0, 1, -1, 63, -64, 64, -65, i64::MAX, i64::MIN, i64::MIN + 1] {
        let message = RelayMessage::OpAck {
            model: u32::MAX,
            seq: 0,
            version: 0,
            timestamp_ms: t,
        };
        assert_eq!(
            decode_relay(&encode_relay(&message), &limits).unwrap(),
            message
        );
    }
}

#[test]
fn error_codes_are_stable_and_unique() {
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let numbers: BTreeSet<u16> = ErrorCode::ALL.iter().map(|c| c.as_u16()).collect();
    assert_eq!(names.len(), ErrorCode::ALL.len());
    assert_eq!(numbers.len(), ErrorCode::ALL.len());
    for &code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_u16(code.as_u16()), Some(code));
        assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        assert!(code
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_'));
    }
    assert_eq!(ErrorCode::from_u16(0), None);
    // Pinned values: changing any of these breaks deployed clients.
    assert_eq!(ErrorCode::UnsupportedProtocolVersion.as_u16(), 1);
    assert_eq!(ErrorCode::InvalidOperation.as_str(), "invalid_operation");
    assert_eq!(ErrorCode::GoingAway.as_u16(), 29);
}

#[test]
fn model_errors_map_to_their_codes() {
    let id = ElementId::ROOT;
    let errors = [
        ModelError::WrongType {
            id,
            expected: ElementKind::String,
            actual: ElementKind::Null,
        },
        ModelError::IndexOutOfRange { index: 3, len: 2 },
        ModelError::SplitsSurrogatePair { index: 1 },
        ModelError::PropertyExists {
            key: "k".to_owned(),
        },
        ModelError::NoSuchProperty {
            key: "k".to_owned(),
        },
        ModelError::NonFiniteNumber,
        ModelError::DuplicateId(id),
        ModelError::NoSuchPath("x".to_owned()),
        ModelError::TooDeep(100),
    ];
    for err in &errors {
        assert_eq!(ErrorCode::from(err).as_str(), err.code());
    }
}

#[test]
fn decode_errors_map_to_relay_error_codes() {
    let limits = Limits {
        max_frame_bytes: 4,
        ..Limits::default()
    };
    let err = decode_client(&[FORMAT_VERSION, 8, 0, 0, 0], &limits).unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::FrameTooLarge);
    let err = decode_client(&[FORMAT_VERSION, 99], &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "unknown_tag");
    assert_eq!(ErrorCode::from(&err), ErrorCode::UnknownMessage);
    let err = decode_client(&[FORMAT_VERSION, 1, 0, 99], &Limits::default()).unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::UnknownMessage);
    let err = decode_client(&[2, 8, 0], &Limits::default()).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedFormat(2));
    assert_eq!(ErrorCode::from(&err), ErrorCode::UnsupportedProtocolVersion);
    let err = decode_client(&[FORMAT_VERSION, 8], &Limits::default()).unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::MalformedMessage);
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

#[test]
fn truncation_at_every_offset_is_an_error() {
    let limits = Limits::default();
    for frame in all_frames() {
        for len in 0..frame.len() {
            let (client, relay) = decode_both(&frame[..len], &limits);
            // A prefix of a frame can decode as a shorter message of the other direction, but
            // never as the whole message in its own direction.
            assert!(
                client.is_err() || relay.is_err(),
                "both directions decoded a truncated frame"
            );
        }
    }
    for message in client_samples() {
        let frame = encode_client(&message);
        for len in 0..frame.len() {
            assert!(decode_client(&frame[..len], &limits).is_err());
        }
    }
    for message in relay_samples() {
        let frame = encode_relay(&message);
        for len in 0..frame.len() {
            assert!(decode_relay(&frame[..len], &limits).is_err());
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let limits = Limits::default();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut buf = Vec::new();
    for i in 0..200_000 {
        buf.clear();
        let len = rng.below(if i % 10 == 0 { 512 } else { 48 });
        buf.extend((0..len).map(|_| rng.byte()));
        // Most inputs get a valid format byte, or nothing past byte 0 would be exercised.
        if i % 8 != 0 && !buf.is_empty() {
            buf[0] = FORMAT_VERSION;
        }
        // Small tags reach more variants.
        if i % 2 == 0 && buf.len() > 1 {
            buf[1] %= 20;
        }
        let _ = decode_both(&buf, &limits);
    }
}

#[test]
fn mutated_frames_never_panic() {
    let limits = Limits::default();
    let tight = Limits {
        max_depth: 3,
        max_items: 4,
        max_string_bytes: 8,
        ..Limits::default()
    };
    let frames = all_frames();
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let mut decoded = 0usize;
    for _ in 0..60_000 {
        let mut frame = frames[rng.below(frames.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(frame.len());
            match rng.below(6) {
                0 => frame[at] = rng.byte(),
                1 => frame[at] ^= 1 << rng.below(8),
                2 => frame.insert(at, rng.byte()),
                3 => {
                    frame.remove(at);
                    if frame.is_empty() {
                        frame.push(FORMAT_VERSION);
                    }
                }
                4 => frame[at] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)],
                _ => {
                    let end = (at + 1 + rng.below(8)).min(frame.len());
                    let chunk = frame[at..end].to_vec();
                    frame.splice(at..at, chunk);
                }
            }
        }
        let (client, relay) = decode_both(&frame, &limits);
        decoded += usize::from(client.is_ok() || relay.is_ok());
        let _ = decode_both(&frame, &tight);
    }
    // Many mutations (a changed character, number or flag) still decode: the success path and
    // its canonical re-encoding are exercised too, not only the first error.
    assert!(decoded > 1_000, "only {decoded} mutated frames decoded");
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut frame = encode_client(&ClientMessage::Ping { nonce: 3 });
    frame.push(0);
    assert_eq!(
        decode_client(&frame, &Limits::default()),
        Err(DecodeError::TrailingBytes { count: 1 })
    );
}

#[test]
fn empty_and_foreign_frames_are_errors() {
    let limits = Limits::default();
    assert_eq!(
        decode_client(&[], &limits),
        Err(DecodeError::Truncated { at: 0 })
    );
    assert_eq!(
        decode_relay(&[0], &limits),
        Err(DecodeError::UnsupportedFormat(0))
    );
    assert_eq!(
        decode_relay(&[FORMAT_VERSION], &limits),
        Err(DecodeError::Truncated { at: 1 })
    );
}

#[test]
fn frame_larger_than_the_limit_is_refused() {
    let message = ClientMessage::Request {
        request_id: 1,
        request: Request::SendChatMessage {
            chat_id: "c".to_owned(),
            text: "x".repeat(100),
        },
    };
    let frame = encode_client(&message);
    let limits = Limits {
        max_frame_bytes: frame.len() - 1,
        ..Limits::default()
    };
    let err = decode_client(&frame, &limits).unwrap_err();
    assert_eq!(err.code(), "frame_too_large");
    let limits = Limits {
        max_frame_bytes: frame.len(),
        ..Limits::default()
    };
    assert_eq!(decode_client(&frame, &limits).unwrap(), message);
}

#[test]
fn bad_varints_are_errors() {
    let limits = Limits::default();
    // Overlong: 0x80 0x00 encodes zero in two bytes.
    assert_eq!(
        decode_client(&[FORMAT_VERSION, 8, 0x80, 0x00], &limits),
        Err(DecodeError::BadVarint { at: 2 })
    );
    // More than 64 bits.
    let mut frame = vec![FORMAT_VERSION, 8];
    frame.extend([0xff; 9]);
    frame.push(0x02);
    assert_eq!(
        decode_client(&frame, &limits),
        Err(DecodeError::BadVarint { at: 2 })
    );
    // Eleven bytes.
    let mut frame = vec![FORMAT_VERSION, 8];
    frame.extend([0xff; 10]);
    frame.push(0x00);
    assert_eq!(
        decode_client(&frame, &limits),
        Err(DecodeError::BadVarint { at: 2 })
    );
    // u64::MAX is fine as a u64, but not as a u32 handle.
    let mut frame = vec![FORMAT_VERSION, 3];
    frame.extend([0xff; 9]);
    frame.extend([0x01, 0x00]);
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "integer_out_of_range"
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    // Ping carries no string; use SendChatMessage { chat_id: "\xff", text: "" }.
    let frame = [FORMAT_VERSION, 1, 0, 26, 1, 0xff, 0];
    assert_eq!(
        decode_client(&frame, &Limits::default())
            .unwrap_err()
            .code(),
        "invalid_utf8"
    );
    let frame = [FORMAT_VERSION, 1, 0, 26, 1, b'c', 0];
    assert!(decode_client(&frame, &Limits::default()).is_ok());
}

#[test]
fn non_finite_numbers_are_errors() {
    let limits = Limits::default();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let op = Op::NumberSet {
            id: ElementId::ROOT,
            value: bad,
        };
        let frame = encode_client(&ClientMessage::SubmitOp {
            model: 0,
            origin: 0,
            seq: 0,
            context_version: 0,
            op,
        });
        assert_eq!(
            decode_client(&frame, &limits).unwrap_err().code(),
            "non_finite_number"
        );
    }
}

#[test]
fn invalid_bools_and_option_tags_are_errors() {
    let limits = Limits::default();
    let message = ClientMessage::Request {
        request_id: 0,
        request: Request::SetProfile {
            display_name: None,
            email: None,
            avatar_url: None,
        },
    };
    let mut frame = encode_client(&message);
    *frame.last_mut().unwrap() = 2;
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "unknown_tag"
    );
    let op = Op::BooleanSet {
        id: ElementId::ROOT,
        value: true,
    };
    let mut frame = encode_client(&ClientMessage::SubmitOp {
        model: 0,
        origin: 0,
        seq: 0,
        context_version: 0,
        op,
    });
    *frame.last_mut().unwrap() = 2;
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "invalid_bool"
    );
}

#[test]
fn oversized_lengths_are_refused_before_allocating() {
    let limits = Limits::default();
    // SendChatMessage whose chat id claims u64::MAX / 2 bytes, then 2^40 bytes, then just more
    // than is left: each is refused from the prefix alone.
    for claim in [u64::MAX / 2, 1 << 40, 3] {
        let mut frame = vec![FORMAT_VERSION, 1, 0, 26];
        write_varint(&mut frame, claim);
        frame.extend(b"ab");
        let err = decode_client(&frame, &limits).unwrap_err();
        assert!(
            matches!(err.code(), "too_long" | "length_exceeds_input"),
            "{err}"
        );
    }
    // A list (the users of GetPresence) claiming more items than the limit.
    let mut frame = vec![FORMAT_VERSION, 1, 0, 11];
    write_varint(&mut frame, (limits.max_items + 1) as u64);
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "too_long"
    );
    // A list claiming more items than bytes are left.
    let mut frame = vec![FORMAT_VERSION, 1, 0, 11];
    write_varint(&mut frame, 1000);
    frame.extend([0; 999]);
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "length_exceeds_input"
    );
    // Strings and lists at the configured limits and one past them.
    let tight = Limits {
        max_string_bytes: 4,
        max_items: 2,
        ..Limits::default()
    };
    let chat = |text: &str| ClientMessage::Request {
        request_id: 0,
        request: Request::SendChatMessage {
            chat_id: "c".to_owned(),
            text: text.to_owned(),
        },
    };
    assert!(decode_client(&encode_client(&chat("abcd")), &tight).is_ok());
    assert_eq!(
        decode_client(&encode_client(&chat("abcde")), &tight)
            .unwrap_err()
            .code(),
        "too_long"
    );
    let presence = |n: usize| ClientMessage::Request {
        request_id: 0,
        request: Request::GetPresence {
            user_ids: vec![String::new(); n],
        },
    };
    assert!(decode_client(&encode_client(&presence(2)), &tight).is_ok());
    assert_eq!(
        decode_client(&encode_client(&presence(3)), &tight)
            .unwrap_err()
            .code(),
        "too_long"
    );
}

// ---------------------------------------------------------------------------------------------
// Nesting
// ---------------------------------------------------------------------------------------------

/// `SetPresenceState { state: [("", v)] }` where `v` is `levels` nested one-item arrays.
fn nested_value_frame(levels: usize) -> Vec<u8> {
    let mut frame = vec![FORMAT_VERSION, 1, 0, 12, 1, 0];
    frame.reserve(levels * 2 + 1);
    for _ in 0..levels {
        frame.extend([5, 1]);
    }
    frame.push(0);
    frame
}

/// `SubmitOp` (model, origin, seq and context all 0) of `levels` nested one-item compounds
/// around an empty compound.
fn nested_op_frame(levels: usize) -> Vec<u8> {
    let mut frame = vec![FORMAT_VERSION, 2, 0, 0, 0, 0];
    frame.reserve(levels * 2 + 2);
    for _ in 0..levels {
        frame.extend([17, 1]);
    }
    frame.extend([17, 0]);
    frame
}

/// `CreateModel` whose data is `levels` nested one-item arrays of nodes.
fn nested_node_frame(levels: usize) -> Vec<u8> {
    let mut frame = vec![FORMAT_VERSION, 1, 0, 0, 0, 0];
    frame.reserve(levels * 4 + 3);
    for _ in 0..levels {
        frame.extend([0, 0, 5, 1]);
    }
    frame.extend([0, 0, 0]);
    frame
}

#[test]
fn nesting_bombs_are_too_deep() {
    let limits = Limits::default();
    for frame in [
        nested_value_frame(500),
        nested_op_frame(500),
        nested_node_frame(500),
    ] {
        let err = decode_client(&frame, &limits).unwrap_err();
        assert_eq!(err.code(), "too_deep", "{err}");
        assert_eq!(ErrorCode::from(&err), ErrorCode::TooDeep);
    }
}

#[test]
fn nesting_up_to_the_limit_decodes() {
    let limits = Limits::default();
    let depth = limits.max_depth;
    // A value of `depth` levels: the outermost array and `depth - 1` more, the last being null.
    assert!(decode_client(&nested_value_frame(depth - 1), &limits).is_ok());
    assert_eq!(
        decode_client(&nested_value_frame(depth), &limits)
            .unwrap_err()
            .code(),
        "too_deep"
    );
    assert!(decode_client(&nested_op_frame(depth - 1), &limits).is_ok());
    assert_eq!(
        decode_client(&nested_op_frame(depth), &limits)
            .unwrap_err()
            .code(),
        "too_deep"
    );
    assert!(decode_client(&nested_node_frame(depth - 1), &limits).is_ok());
    assert_eq!(
        decode_client(&nested_node_frame(depth), &limits)
            .unwrap_err()
            .code(),
        "too_deep"
    );
    // The deepest model the data model allows still fits in an operation by default.
    assert!(crate::model::MAX_DEPTH + 2 <= depth);
}

#[test]
fn a_million_levels_of_nesting_do_not_overflow_the_stack() {
    let limits = Limits::default();
    let unbounded = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    for frame in [
        nested_value_frame(1_000_000),
        nested_op_frame(1_000_000),
        nested_node_frame(1_000_000),
    ] {
        assert_eq!(
            decode_client(&frame, &limits).unwrap_err().code(),
            "too_deep"
        );
        let err = decode_client(&frame, &unbounded).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooDeep {
                at: err_at(&err),
                limit: MAX_DEPTH_CAP
            }
        );
    }
}

fn err_at(err: &DecodeError) -> usize {
    match err {
        DecodeError::TooDeep { at, .. } => *at,
        other => panic!("expected too_deep, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/// Reads one value of `shape`, as a converter that knows only the shape would.
fn walk(r: &mut Reader<'_>, shape: &shape::Shape) -> Result<(), Failed> {
    use shape::Shape;
    match shape {
        Shape::U32 => u32::decode(r).map(drop),
        Shape::U64 => u64::decode(r).map(drop),
        Shape::I64 => i64::decode(r).map(drop),
        Shape::Bool => bool::decode(r).map(drop),
        Shape::F64 => f64::decode(r).map(drop),
        Shape::Str => String::decode(r).map(drop),
        Shape::Value => crate::value::Value::decode(r).map(drop),
        Shape::ErrorCode => ErrorCode::decode(r).map(drop),
        Shape::Model(skip) => skip(r),
        Shape::Option(inner) => match r.read_u8()? {
            0 => Ok(()),
            _ => walk(r, inner()),
        },
        Shape::List(item) => {
            for _ in 0..r.read_len(usize::MAX)? {
                r.nested(|r| walk(r, item()))?;
            }
            Ok(())
        }
        Shape::Pair(a, b) => {
            walk(r, a())?;
            walk(r, b())
        }
        Shape::Struct(fields) => fields.iter().try_for_each(|f| walk(r, (f.shape)())),
        Shape::Enum(variants) => {
            let tag = r.read_varint()?;
            let variant = variants.iter().find(|v| v.tag == tag).expect("a known tag");
            variant.fields.iter().try_for_each(|f| walk(r, (f.shape)()))
        }
    }
}

/// Every message's frame read by its shape alone: the shapes describe exactly what the codec
/// writes, for every variant of every type.
#[test]
fn shapes_describe_every_frame() {
    let limits = Limits::default();
    let client = client_samples();
    let relay = relay_samples();
    let frames = client
        .iter()
        .map(|m| (encode_client(m), ClientMessage::shape()))
        .chain(
            relay
                .iter()
                .map(|m| (encode_relay(m), RelayMessage::shape())),
        );
    for (frame, shape) in frames {
        let mut r = Reader::new(&frame, &limits);
        assert_eq!(r.read_u8(), Ok(FORMAT_VERSION));
        walk(&mut r, shape).unwrap();
        assert_eq!(r.remaining(), 0, "{frame:?}");
    }
}

/// Field and variant names in the shapes are the Rust ones.
#[test]
fn shapes_carry_rust_names() {
    let shape::Shape::Struct(fields) = UserInfo::shape() else {
        panic!("a struct")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "user_id",
            "username",
            "display_name",
            "email",
            "anonymous",
            "avatar_url"
        ]
    );
    let shape::Shape::Enum(variants) = Response::shape() else {
        panic!("an enum")
    };
    assert_eq!(variants[8].name, "Chat");
    assert_eq!(variants[8].fields[0].name, "chat");
    assert!(matches!(
        (variants[8].fields[0].shape)(),
        shape::Shape::Struct(_)
    ));
}
