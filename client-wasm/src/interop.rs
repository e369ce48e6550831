//! Conversions between the core's types and what crosses into JavaScript: JSON text for
//! structured values (`{"$date": ms}` stands for a date, as everywhere in Tandem), element
//! handles for element ids, plain numbers for positions.

use crate::json;
use crate::json::{json_value, value_json, Json};
use tandem_core::op::Op;
use tandem_core::protocol::{Collaborator, HistoricOp, UserInfo};
use tandem_core::{ElementId, ElementKind, Node, ReferenceValue, Value};

use crate::error::{EngineError, Result};

/// Parses JSON text from JavaScript into a model value.
pub fn value_from_json(text: &str) -> Result<Value> {
    json_value(&Json::parse(text)?)
}

/// A position or length from JavaScript: a whole number that is not negative.
pub fn index(n: f64) -> Result<usize> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 {
        Ok(n as usize)
    } else {
        // (Not formatting `n`: float formatting would add kilobytes to the module.)
        Err(EngineError::invalid(
            "an index or length must be a whole number, 0 or more",
        ))
    }
}

/// The name JavaScript uses for an element kind.
pub fn kind_name(kind: ElementKind) -> &'static str {
    match kind {
        ElementKind::Object => "object",
        ElementKind::Array => "array",
        ElementKind::String => "string",
        ElementKind::Number => "number",
        ElementKind::Boolean => "boolean",
        ElementKind::Null => "null",
        ElementKind::Date => "date",
    }
}

/// A user as JavaScript sees it.
pub fn user_json(user: &UserInfo) -> Json {
    json!({
        "userId": user.user_id,
        "username": user.username,
        "displayName": user.display_name,
        "email": user.email,
        "anonymous": user.anonymous,
        "avatarUrl": user.avatar_url,
    })
}

/// A collaborator (another session with the model open).
pub fn collaborator_json(c: &Collaborator) -> Json {
    json!({ "sessionId": c.session_id, "user": user_json(&c.user) })
}

/// A stored operation for history views: who, when, and what (in the same form as change events,
/// with element ids as text since a history view has no handles).
pub fn historic_op_json(op: &HistoricOp) -> Json {
    let changes: Vec<Json> = op
        .op
        .clone()
        .into_primitives()
        .iter()
        .map(|p| {
            let mut change = op_json(p);
            if let Some(target) = p.target() {
                change.insert("elementId", json!(target.to_string()));
            }
            change
        })
        .collect();
    json!({
        "version": op.version,
        "userId": op.user_id,
        "sessionId": op.session_id,
        "timestamp": op.timestamp_ms,
        "changes": changes,
    })
}

fn node_json(node: &Node) -> Json {
    value_json(&node.to_value())
}

/// A primitive operation as a change description (`kind` plus its fields).
pub fn op_json(op: &Op) -> Json {
    match op {
        Op::StringInsert { index, text, .. } => {
            json!({"kind": "string_insert", "index": index, "value": text})
        }
        Op::StringRemove { index, len, .. } => {
            json!({"kind": "string_remove", "index": index, "length": len})
        }
        Op::StringSplice {
            index,
            remove,
            text,
            ..
        } => json!({"kind": "string_splice", "index": index, "length": remove, "value": text}),
        Op::StringSet { value, .. } => json!({"kind": "string_set", "value": value}),
        Op::ArrayInsert { index, value, .. } => {
            json!({"kind": "array_insert", "index": index, "value": node_json(value)})
        }
        Op::ArrayRemove { index, .. } => json!({"kind": "array_remove", "index": index}),
        Op::ArrayReplace { index, value, .. } => {
            json!({"kind": "array_replace", "index": index, "value": node_json(value)})
        }
        Op::ArrayMove { from, to, .. } => json!({"kind": "array_move", "from": from, "to": to}),
        Op::ArraySet { value, .. } => {
            let items: Vec<Json> = value.iter().map(node_json).collect();
            json!({"kind": "array_set", "value": items})
        }
        Op::ObjectAdd { key, value, .. } | Op::ObjectSet { key, value, .. } => {
            json!({"kind": "object_set", "key": key, "value": node_json(value)})
        }
        Op::ObjectRemove { key, .. } => json!({"kind": "object_remove", "key": key}),
        Op::ObjectSetAll { value, .. } => {
            let props = value
                .iter()
                .map(|(k, v)| (k.clone(), node_json(v)))
                .collect();
            json!({"kind": "object_set_all", "value": Json::Object(props)})
        }
        Op::NumberAdd { delta, .. } => json!({"kind": "number_add", "delta": delta}),
        Op::NumberSet { value, .. } => json!({"kind": "number_set", "value": value}),
        Op::BooleanSet { value, .. } => json!({"kind": "boolean_set", "value": value}),
        Op::DateSet { value, .. } => json!({"kind": "date_set", "value": value}),
        Op::Compound(_) => json!({"kind": "batch"}),
    }
}

/// A reference value as JavaScript sees it; element ids go through `handle`.
pub fn reference_json(value: &ReferenceValue, mut handle: impl FnMut(ElementId) -> u32) -> Json {
    match value {
        ReferenceValue::Index(v) => json!({"type": "index", "values": v}),
        ReferenceValue::Range(v) => {
            let ranges: Vec<[usize; 2]> = v.iter().map(|(a, f)| [*a, *f]).collect();
            json!({"type": "range", "values": ranges})
        }
        ReferenceValue::Element(v) => {
            let handles: Vec<u32> = v.iter().map(|id| handle(*id)).collect();
            json!({"type": "element", "values": handles})
        }
        ReferenceValue::Property(v) => json!({"type": "property", "values": v}),
    }
}

/// Parses a reference value from JavaScript; element handles go through `element`.
pub fn reference_from_json(
    text: &str,
    mut element: impl FnMut(u32) -> Result<ElementId>,
) -> Result<ReferenceValue> {
    let json = Json::parse(text)?;
    let values = json["values"]
        .as_array()
        .ok_or_else(|| EngineError::invalid("a reference value needs `values`"))?;
    let number = |v: &Json| {
        v.as_f64()
            .ok_or_else(|| EngineError::invalid("a reference index must be a number"))
            .and_then(index)
    };
    Ok(match json["type"].as_str() {
        Some("index") => ReferenceValue::Index(values.iter().map(number).collect::<Result<_>>()?),
        Some("range") => ReferenceValue::Range(
            values
                .iter()
                .map(|r| match r.as_array().map(Vec::as_slice) {
                    Some([a, f]) => Ok((number(a)?, number(f)?)),
                    _ => Err(EngineError::invalid("a range is [anchor, focus]")),
                })
                .collect::<Result<_>>()?,
        ),
        Some("element") => ReferenceValue::Element(
            values
                .iter()
                .map(|h| {
                    let h = h
                        .as_u64()
                        .and_then(|h| u32::try_from(h).ok())
                        .ok_or_else(|| {
                            EngineError::invalid("an element reference needs elements")
                        })?;
                    element(h)
                })
                .collect::<Result<_>>()?,
        ),
        Some("property") => ReferenceValue::Property(
            values
                .iter()
                .map(|k| {
                    k.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| EngineError::invalid("a property reference needs names"))
                })
                .collect::<Result<_>>()?,
        ),
        _ => return Err(EngineError::invalid("unknown reference type")),
    })
}
