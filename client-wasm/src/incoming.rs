//! Frames from the relay: the messages the engine acts on decoded to their types, the rest
//! converted to JSON by their shapes (`transcode`), so that the module holds no typed decoder
//! for them.

use tandem_core::protocol::shape::{Shape, Shaped};
use tandem_core::protocol::{
    variant_tag, ActivityEvent, ChatEvent, Decode, DecodeError, Failed, Limits, PresenceEvent,
    Reader, RelayMessage, Response, VariantDecoder, FORMAT_VERSION,
};

use crate::json::Json;
use crate::transcode::{to_json, variant_json};

/// A frame from the relay, as the engine takes it.
pub enum Incoming {
    /// A message the engine acts on.
    Typed(RelayMessage),
    /// An answer the engine passes on: the request's id and the response as JSON.
    Answer { request_id: u64, result: Json },
    /// A push of presence, activities or chat, as JSON: `type` (`presence`, `activity` or
    /// `chat`), `event` (the variant, for presence and activities) and the event's fields.
    Push(Json),
}

/// A variant's tag and its decoder, found by name when the module is built.
const fn typed<T: tandem_core::protocol::WireEnum>(
    name: &str,
    decoder: VariantDecoder<T>,
) -> (u64, VariantDecoder<T>) {
    (variant_tag::<T>(name), decoder)
}

/// The relay messages the engine acts on (all but answers and pushes).
const TYPED: [(u64, VariantDecoder<RelayMessage>); 16] = {
    macro_rules! typed {
        ($($name:literal),*) => {
            [$(typed::<RelayMessage>($name, RelayMessage::variant_decoder($name))),*]
        };
    }
    typed!(
        "Welcome",
        "Error",
        "OpAck",
        "OpRejected",
        "RemoteOp",
        "ResyncOps",
        "ResyncComplete",
        "ModelDeleted",
        "ModelForceClosed",
        "CollaboratorOpened",
        "CollaboratorClosed",
        "RemoteReference",
        "Ping",
        "Pong",
        "OpsAcked",
        "RemoteOps"
    )
};

/// The answers the engine acts on: an opened model, and those holding model data or operations,
/// which become change events.
const TYPED_ANSWERS: [(u64, VariantDecoder<Response>); 3] = [
    typed::<Response>("ModelOpened", Response::variant_decoder("ModelOpened")),
    typed::<Response>("HistoricModel", Response::variant_decoder("HistoricModel")),
    typed::<Response>("Operations", Response::variant_decoder("Operations")),
];

/// Decodes one frame, enforcing `limits`.
pub fn decode(frame: &[u8], limits: &Limits) -> Result<Incoming, DecodeError> {
    if frame.len() > limits.max_frame_bytes {
        return Err(DecodeError::FrameTooLarge {
            size: frame.len(),
            limit: limits.max_frame_bytes,
        });
    }
    let mut r = Reader::new(frame, limits);
    match read(&mut r).and_then(|message| r.finish().map(|()| message)) {
        Ok(message) => Ok(message),
        Err(Failed) => Err(r.take_error()),
    }
}

fn read(r: &mut Reader<'_>) -> Result<Incoming, Failed> {
    let format = r.read_u8()?;
    if format != FORMAT_VERSION {
        return Err(r.fail(DecodeError::UnsupportedFormat(format)));
    }
    let at = r.position();
    let tag = r.read_varint()?;
    if let Some((_, decode)) = TYPED.iter().find(|(t, _)| *t == tag) {
        return decode(r).map(Incoming::Typed);
    }
    if tag == variant_tag::<RelayMessage>("Response") {
        let request_id = u64::decode(r)?;
        let at = r.position();
        let tag = r.read_varint()?;
        if let Some((_, decode)) = TYPED_ANSWERS.iter().find(|(t, _)| *t == tag) {
            let response = decode(r)?;
            return Ok(Incoming::Typed(RelayMessage::Response {
                request_id,
                response,
            }));
        }
        let result = variant_json(r, enum_variants(Response::shape()), tag, at)?;
        return Ok(Incoming::Answer { request_id, result });
    }
    // A push: the event, by its own shape.
    let (service, shape) = match tag {
        t if t == variant_tag::<RelayMessage>("Presence") => ("presence", PresenceEvent::shape()),
        t if t == variant_tag::<RelayMessage>("Activity") => ("activity", ActivityEvent::shape()),
        t if t == variant_tag::<RelayMessage>("Chat") => ("chat", ChatEvent::shape()),
        _ => {
            return Err(r.fail(DecodeError::UnknownTag {
                type_name: "RelayMessage",
                tag,
                at,
            }))
        }
    };
    let mut props = vec![("type".to_owned(), Json::String(service.to_owned()))];
    if let Json::Object(fields) = to_json(r, shape)? {
        // An enum event's variant is the event.
        props.extend(fields.into_iter().map(|(key, value)| {
            let key = if key == "type" {
                "event".to_owned()
            } else {
                key
            };
            (key, value)
        }));
    }
    Ok(Incoming::Push(Json::Object(props)))
}

/// The variants of an enum's shape.
fn enum_variants(shape: &'static Shape) -> &'static [tandem_core::protocol::shape::Variant] {
    match shape {
        Shape::Enum(variants) => variants,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_core::protocol::{encode_relay, samples, ChatEvent, PresenceEvent};

    /// Every relay message: the engine's own ones decode exactly as the core decodes them, the
    /// others become answers or pushes; nothing is left unread.
    #[test]
    fn every_relay_message_is_read() {
        let limits = Limits::default();
        for message in samples::relay_samples() {
            let frame = encode_relay(&message);
            match (decode(&frame, &limits).unwrap(), &message) {
                (Incoming::Typed(typed), _) => assert_eq!(&typed, &message),
                (
                    Incoming::Answer { request_id, .. },
                    RelayMessage::Response {
                        request_id: id,
                        response,
                    },
                ) => {
                    assert_eq!(request_id, *id);
                    assert!(!matches!(
                        response,
                        Response::ModelOpened(_) | Response::Operations { .. }
                    ));
                }
                (Incoming::Push(json), RelayMessage::Presence(_)) => {
                    assert_eq!(json["type"], "presence")
                }
                (Incoming::Push(json), RelayMessage::Activity(_)) => {
                    assert_eq!(json["type"], "activity")
                }
                (Incoming::Push(json), RelayMessage::Chat(_)) => assert_eq!(json["type"], "chat"),
                (_, message) => panic!("{message:?} read wrongly"),
            }
        }
    }

    #[test]
    fn pushes_name_their_service_and_event() {
        let limits = Limits::default();
        let state_set = samples::presence_events()
            .into_iter()
            .find(|e| matches!(e, PresenceEvent::StateSet { .. }))
            .unwrap();
        let Incoming::Push(json) =
            decode(&encode_relay(&RelayMessage::Presence(state_set)), &limits).unwrap()
        else {
            panic!("a push")
        };
        assert_eq!(json["type"], "presence");
        assert_eq!(json["event"], "state_set");
        assert!(json["userId"].as_str().is_some());
        assert!(matches!(json["state"], Json::Object(_)));

        let chat: ChatEvent = samples::chat_events().remove(0);
        let Incoming::Push(json) =
            decode(&encode_relay(&RelayMessage::Chat(chat.clone())), &limits).unwrap()
        else {
            panic!("a push")
        };
        assert_eq!(json["type"], "chat");
        assert_eq!(json["chatId"], chat.chat_id.as_str());
        assert!(matches!(json["body"]["type"], Json::String(_)));
    }

    #[test]
    fn bad_frames_are_refused() {
        let limits = Limits::default();
        let frame = encode_relay(&samples::relay_samples().remove(0));
        assert!(matches!(
            decode(&[], &limits),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&[9, 0], &limits),
            Err(DecodeError::UnsupportedFormat(9))
        ));
        assert!(matches!(
            decode(&[FORMAT_VERSION, 99], &limits),
            Err(DecodeError::UnknownTag { .. })
        ));
        let mut trailing = frame.clone();
        trailing.push(0);
        assert!(matches!(
            decode(&trailing, &limits),
            Err(DecodeError::TrailingBytes { .. })
        ));
        for cut in 1..frame.len() {
            assert!(decode(&frame[..cut], &limits).is_err());
        }
        let small = Limits {
            max_frame_bytes: 2,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&frame, &small),
            Err(DecodeError::FrameTooLarge { .. })
        ));
    }
}
