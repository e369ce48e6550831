//! Messages the engine only passes along, converted by their shapes: frames to JSON for
//! JavaScript and JSON from JavaScript to frames (`tandem_core::protocol::shape`).
//!
//! That covers the requests and answers of presence, activities, chat, identity and the model
//! list, and the pushes of presence, activities and chat: one converter instead of a decoder, an
//! encoder and a JSON conversion per type. The JSON follows the Rust types: fields in camel case
//! (`chat_id` is `chatId`), an enum as `{"type": "snake_case_variant", ...fields}` (or the bare name
//! when no variant has fields), a list of `(text, value)` pairs as an object, a
//! [`Value`](tandem_core::Value) as plain JSON. The npm package turns that into its public types.

use tandem_core::protocol::shape::{Field, Shape, Variant};
use tandem_core::protocol::{write_varint, Decode, DecodeError, Encode, ErrorCode, Failed, Reader};
use tandem_core::Value;

use crate::error::{EngineError, Result};
use crate::json::{json_value, value_json, Json};

/// A field's name as JavaScript spells it: `user_id` is `userId`.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A variant's name as JavaScript spells it: `SendChatMessage` is `send_chat_message`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Whether no variant of an enum has fields: then it travels as its bare name.
fn is_plain(variants: &[Variant]) -> bool {
    variants.iter().all(|v| v.fields.is_empty())
}

/// Whether a list of this item shape is a list of `(text, value)` pairs, shown as an object.
fn keyed_item(item: &Shape) -> Option<&'static Shape> {
    match item {
        Shape::Pair(key, value) if matches!(key(), Shape::Str) => Some(value()),
        _ => None,
    }
}

/// Reads one value of `shape` as JSON.
pub fn to_json(r: &mut Reader<'_>, shape: &Shape) -> Result<Json, Failed> {
    Ok(match shape {
        Shape::U32 => Json::Int(i64::from(u32::decode(r)?)),
        Shape::U64 => {
            let n = u64::decode(r)?;
            i64::try_from(n).map_or(Json::Float(n as f64), Json::Int)
        }
        Shape::I64 => Json::Int(i64::decode(r)?),
        Shape::Bool => Json::Bool(bool::decode(r)?),
        Shape::F64 => Json::Float(f64::decode(r)?),
        Shape::Str => Json::String(String::decode(r)?),
        Shape::Value => value_json(&Value::decode(r)?),
        Shape::ErrorCode => Json::String(ErrorCode::decode(r)?.as_str().to_owned()),
        // The engine reads messages with these itself (see `incoming`).
        Shape::Model(_) => {
            let at = r.position();
            return Err(r.fail(DecodeError::UnknownTag {
                type_name: "model type",
                tag: 0,
                at,
            }));
        }
        // The presence byte, 0 or 1.
        Shape::Option(inner) => match bool::decode(r)? {
            false => Json::Null,
            true => to_json(r, inner())?,
        },
        Shape::List(item) => {
            let len = r.read_len(r.limits().max_items)?;
            let keyed = keyed_item(item());
            let mut items = Vec::new();
            let mut props = Vec::new();
            for _ in 0..len {
                r.nested(|r| {
                    match keyed {
                        Some(value) => props.push((String::decode(r)?, to_json(r, value)?)),
                        None => items.push(to_json(r, item())?),
                    }
                    Ok(())
                })?;
            }
            match keyed {
                Some(_) => Json::Object(props),
                None => Json::Array(items),
            }
        }
        Shape::Pair(a, b) => Json::Array(vec![to_json(r, a())?, to_json(r, b())?]),
        Shape::Struct(fields) => r.nested(|r| fields_json(r, fields, Vec::new()))?,
        Shape::Enum(variants) => {
            let at = r.position();
            let tag = r.read_varint()?;
            variant_json(r, variants, tag, at)?
        }
    })
}

/// Reads the fields of the variant of `variants` that `tag` (read at `at`) names, as JSON: its
/// name alone when no variant has fields, else an object with `type`.
pub fn variant_json(
    r: &mut Reader<'_>,
    variants: &[Variant],
    tag: u64,
    at: usize,
) -> Result<Json, Failed> {
    let Some(variant) = variants.iter().find(|v| v.tag == tag) else {
        return Err(r.fail(DecodeError::UnknownTag {
            type_name: "enum",
            tag,
            at,
        }));
    };
    let name = Json::String(snake_case(variant.name));
    if is_plain(variants) {
        Ok(name)
    } else {
        r.nested(|r| fields_json(r, variant.fields, vec![("type".to_owned(), name)]))
    }
}

/// Reads `fields` into the object `props` begins.
fn fields_json(
    r: &mut Reader<'_>,
    fields: &[Field],
    mut props: Vec<(String, Json)>,
) -> Result<Json, Failed> {
    for field in fields {
        props.push((camel_case(field.name), to_json(r, (field.shape)())?));
    }
    Ok(Json::Object(props))
}

/// What a JSON value must be, for the error when it is not.
fn expected(key: &str, what: &str) -> EngineError {
    EngineError::invalid(format!("`{key}` must be {what}"))
}

/// A whole number of at most `max` (exact when JavaScript sent an integer).
fn whole(json: &Json, key: &str, max: u64) -> Result<u64> {
    json.as_u64()
        .or_else(|| {
            json.as_f64()
                .filter(|n| *n >= 0.0 && n.fract() == 0.0)
                .map(|n| n as u64)
        })
        .filter(|n| *n <= max)
        .ok_or_else(|| expected(key, "a whole number"))
}

/// Appends the wire form of `json` as a value of `shape`; `key` names it in errors. A missing
/// (null) option is `None`, a missing list is empty and a missing flag is `false`; anything else
/// missing is an error.
pub fn from_json(json: &Json, shape: &Shape, key: &str, out: &mut Vec<u8>) -> Result<()> {
    match shape {
        Shape::U32 => write_varint(out, whole(json, key, u64::from(u32::MAX))?),
        Shape::U64 => write_varint(out, whole(json, key, u64::MAX)?),
        Shape::I64 => json
            .as_i64()
            .or_else(|| {
                json.as_f64()
                    .filter(|n| n.fract() == 0.0 && n.abs() < 9.2e18)
                    .map(|n| n as i64)
            })
            .ok_or_else(|| expected(key, "a whole number"))?
            .encode(out),
        Shape::Bool => match json {
            Json::Null => false.encode(out),
            Json::Bool(b) => b.encode(out),
            _ => return Err(expected(key, "true or false")),
        },
        Shape::F64 => json
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or_else(|| expected(key, "a number"))?
            .encode(out),
        Shape::Str => json
            .as_str()
            .ok_or_else(|| expected(key, "text"))?
            .encode(out),
        Shape::Value => json_value(json)?.encode(out),
        Shape::ErrorCode | Shape::Model(_) => {
            return Err(expected(key, "something the engine sends itself"))
        }
        Shape::Option(inner) => match json {
            Json::Null => out.push(0),
            json => {
                out.push(1);
                from_json(json, inner(), key, out)?;
            }
        },
        Shape::List(item) => match (json, keyed_item(item())) {
            (Json::Null, _) => write_varint(out, 0),
            (Json::Object(props), Some(value)) => {
                write_varint(out, props.len() as u64);
                for (k, v) in props {
                    k.encode(out);
                    from_json(v, value, k, out)?;
                }
            }
            (Json::Array(items), None) => {
                write_varint(out, items.len() as u64);
                for item_json in items {
                    from_json(item_json, item(), key, out)?;
                }
            }
            (_, Some(_)) => return Err(expected(key, "an object")),
            (_, None) => return Err(expected(key, "a list")),
        },
        Shape::Pair(a, b) => match json.as_array().map(Vec::as_slice) {
            Some([x, y]) => {
                from_json(x, a(), key, out)?;
                from_json(y, b(), key, out)?;
            }
            _ => return Err(expected(key, "a pair")),
        },
        Shape::Struct(fields) => fields_from_json(json, fields, out)?,
        Shape::Enum(variants) => {
            let name = if is_plain(variants) {
                json.as_str()
            } else {
                json["type"].as_str()
            };
            let variant = name
                .and_then(|name| variants.iter().find(|v| snake_case(v.name) == name))
                .ok_or_else(|| {
                    let names: Vec<String> = variants.iter().map(|v| snake_case(v.name)).collect();
                    expected(key, &format!("one of {}", names.join(", ")))
                })?;
            write_varint(out, variant.tag);
            fields_from_json(json, variant.fields, out)?;
        }
    }
    Ok(())
}

/// Appends `fields`, each from the JSON object's member of its camel-case name.
fn fields_from_json(json: &Json, fields: &[Field], out: &mut Vec<u8>) -> Result<()> {
    for field in fields {
        let key = camel_case(field.name);
        from_json(&json[key.as_str()], (field.shape)(), &key, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_core::protocol::samples;
    use tandem_core::protocol::shape::Shaped;
    use tandem_core::protocol::{ChatEvent, Limits, Request, WireEnum};

    /// `value` encoded, read as JSON by its shape, then written back from that JSON.
    fn round_trip<T: Encode + Shaped>(value: &T) -> (Json, Vec<u8>, Vec<u8>) {
        let mut wire = Vec::new();
        value.encode(&mut wire);
        let limits = Limits::default();
        let mut r = Reader::new(&wire, &limits);
        let json = to_json(&mut r, T::shape()).expect("reads by its shape");
        assert_eq!(r.remaining(), 0);
        let mut back = Vec::new();
        from_json(&json, T::shape(), "value", &mut back).expect("writes by its shape");
        (json, wire, back)
    }

    /// Every request, answer and push the engine passes along survives the trip to JSON and back
    /// byte for byte (so the names it reads are the names it writes).
    #[test]
    fn every_sample_round_trips_through_json() {
        fn check<T: Encode + Shaped>(values: Vec<T>) {
            for value in &values {
                let (json, wire, back) = round_trip(value);
                assert_eq!(back, wire, "{json}");
            }
        }
        // The engine builds and reads the ones holding model data itself.
        const TYPED: [&str; 6] = [
            "CreateModel",
            "OpenModel",
            "OpenOrCreateModel",
            "ModelOpened",
            "HistoricModel",
            "Operations",
        ];
        let passed = |name: &str| !TYPED.contains(&name);
        check(
            samples::requests()
                .into_iter()
                .filter(|r| passed(r.variant_name()))
                .collect(),
        );
        check(
            samples::responses()
                .into_iter()
                .filter(|r| passed(r.variant_name()))
                .collect(),
        );
        check(samples::presence_events());
        check(samples::activity_events());
        check(samples::chat_events());
    }

    #[test]
    fn json_follows_the_rust_types_in_javascript_spelling() {
        let event = &samples::chat_events()[1];
        let (json, _, _) = round_trip::<ChatEvent>(event);
        let keys: Vec<&str> = match &json {
            Json::Object(props) => props.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("an object"),
        };
        assert_eq!(
            keys,
            ["chatId", "eventNumber", "timestampMs", "userId", "body"]
        );
        assert_eq!(json["body"]["type"], "message");
        assert_eq!(camel_case("set_name_topic"), "setNameTopic");
        assert_eq!(snake_case("GetUsersById"), "get_users_by_id");
    }

    /// What the package sends is the request the relay expects.
    #[test]
    fn requests_from_javascript_encode_as_the_typed_ones() {
        let cases = [
            (
                r#"{"type": "send_chat_message", "chatId": "c1", "text": "hi"}"#,
                Request::SendChatMessage {
                    chat_id: "c1".into(),
                    text: "hi".into(),
                },
            ),
            (
                r#"{"type": "join_activity", "activityType": "page", "activityId": "/a"}"#,
                Request::JoinActivity {
                    activity_type: "page".into(),
                    activity_id: "/a".into(),
                    lurk: false,
                    state: Vec::new(),
                },
            ),
            (
                r#"{"type": "set_presence_state", "state": {"mood": "ok", "at": {"$date": 5}}}"#,
                Request::SetPresenceState {
                    state: vec![
                        ("mood".into(), Value::String("ok".into())),
                        ("at".into(), Value::Date(5)),
                    ],
                },
            ),
            (r#"{"type": "get_groups"}"#, Request::GetGroups),
        ];
        for (text, request) in cases {
            let mut out = Vec::new();
            from_json(
                &Json::parse(text).unwrap(),
                Request::shape(),
                "request",
                &mut out,
            )
            .unwrap();
            let mut expected = Vec::new();
            request.encode(&mut expected);
            assert_eq!(out, expected, "{text}");
        }
    }

    #[test]
    fn wrong_requests_are_refused_with_the_field_named() {
        let refused = |text: &str| {
            let mut out = Vec::new();
            let json = Json::parse(text).unwrap();
            match from_json(&json, Request::shape(), "request", &mut out) {
                Err(e) if e.code() == "invalid_argument" => e.to_string(),
                other => panic!("{text}: {:?}", other.map(|()| out)),
            }
        };
        assert_eq!(
            refused(r#"{"type": "send_chat_message", "text": "hi"}"#),
            "`chatId` must be text"
        );
        assert!(refused(r#"{"type": "no_such_request"}"#).contains("send_chat_message"));
        assert_eq!(
            refused(r#"{"type": "leave_activity", "activity": -1}"#),
            "`activity` must be a whole number"
        );
        assert_eq!(
            refused(r#"{"type": "leave_activity", "activity": 4294967296}"#),
            "`activity` must be a whole number"
        );
        assert_eq!(
            refused(r#"{"type": "remove_presence_state", "keys": "a"}"#),
            "`keys` must be a list"
        );
    }

    /// Hostile frames fail to read without panicking.
    #[test]
    fn truncated_and_garbage_input_is_an_error() {
        let limits = Limits::default();
        for event in samples::chat_events() {
            let mut wire = Vec::new();
            event.encode(&mut wire);
            for cut in 0..wire.len() {
                let mut r = Reader::new(&wire[..cut], &limits);
                assert!(to_json(&mut r, ChatEvent::shape()).is_err());
            }
        }
        let garbage = [0xff_u8; 64];
        let mut r = Reader::new(&garbage, &limits);
        assert!(to_json(&mut r, Request::shape()).is_err());
    }
}
