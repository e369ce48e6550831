//! Conversions between the core's types and what crosses into JavaScript: JSON text for
//! structured values (`{"$date": ms}` stands for a date, as everywhere in Tandem), element
//! handles for element ids, plain numbers for positions.

use crate::json;
use crate::json::{json_value, value_json, Json};
use tandem_core::op::Op;
use tandem_core::protocol::{
    ActivityEvent, ActivityParticipant, ActivityRights, ChatEvent, ChatEventBody, ChatEventKind,
    ChatInfo, ChatKind, ChatRights, Collaborator, GroupInfo, HistoricOp, PresenceEvent, UserInfo,
    UserPresence,
};
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

/// Named state entries (presence or activity state) as a JSON object, in their order.
pub fn state_json(state: &[(String, Value)]) -> Json {
    Json::Object(
        state
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

/// Named state entries from a JSON object.
pub fn state_from_json(json: &Json) -> Result<Vec<(String, Value)>> {
    match json {
        Json::Object(props) => props
            .iter()
            .map(|(k, v)| Ok((k.clone(), json_value(v)?)))
            .collect(),
        _ => Err(EngineError::invalid("a state is an object")),
    }
}

/// A user's presence as JavaScript sees it.
pub fn presence_json(presence: &UserPresence) -> Json {
    json!({
        "userId": presence.user_id,
        "available": presence.available,
        "state": state_json(&presence.state),
    })
}

/// A presence event from the relay.
pub fn presence_event_json(event: &PresenceEvent) -> Json {
    match event {
        PresenceEvent::Available { user_id } => {
            json!({"type": "presence", "event": "available", "userId": user_id})
        }
        PresenceEvent::Unavailable { user_id } => {
            json!({"type": "presence", "event": "unavailable", "userId": user_id})
        }
        PresenceEvent::StateSet { user_id, state } => json!({
            "type": "presence", "event": "state_set", "userId": user_id,
            "state": state_json(state),
        }),
        PresenceEvent::StateRemoved { user_id, keys } => json!({
            "type": "presence", "event": "state_removed", "userId": user_id, "keys": keys,
        }),
        PresenceEvent::StateCleared { user_id } => {
            json!({"type": "presence", "event": "state_cleared", "userId": user_id})
        }
    }
}

/// A participant of an activity as JavaScript sees it.
pub fn participant_json(p: &ActivityParticipant) -> Json {
    json!({
        "sessionId": p.session_id,
        "user": user_json(&p.user),
        "state": state_json(&p.state),
    })
}

/// Activity rights as JavaScript sees them.
pub fn rights_json(r: &ActivityRights) -> Json {
    json!({
        "join": r.join, "lurk": r.lurk, "viewState": r.view_state,
        "setState": r.set_state, "manage": r.manage,
    })
}

/// Activity rights from JavaScript (missing flags are not granted).
pub fn rights_from_json(json: &Json) -> ActivityRights {
    let flag = |key: &str| json[key] == Json::Bool(true);
    ActivityRights {
        join: flag("join"),
        lurk: flag("lurk"),
        view_state: flag("viewState"),
        set_state: flag("setState"),
        manage: flag("manage"),
    }
}

/// An activity event from the relay.
pub fn activity_event_json(event: &ActivityEvent) -> Json {
    match event {
        ActivityEvent::Joined {
            activity,
            participant,
        } => json!({
            "type": "activity", "event": "joined", "activity": activity,
            "sessionId": participant.session_id, "participant": participant_json(participant),
        }),
        ActivityEvent::Left {
            activity,
            session_id,
        } => json!({
            "type": "activity", "event": "left", "activity": activity, "sessionId": session_id,
        }),
        ActivityEvent::StateSet {
            activity,
            session_id,
            state,
        } => json!({
            "type": "activity", "event": "state_set", "activity": activity,
            "sessionId": session_id, "state": state_json(state),
        }),
        ActivityEvent::StateRemoved {
            activity,
            session_id,
            keys,
        } => json!({
            "type": "activity", "event": "state_removed", "activity": activity,
            "sessionId": session_id, "keys": keys,
        }),
        ActivityEvent::StateCleared {
            activity,
            session_id,
        } => json!({
            "type": "activity", "event": "state_cleared", "activity": activity,
            "sessionId": session_id,
        }),
    }
}

fn chat_kind_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Room => "room",
        ChatKind::Channel => "channel",
        ChatKind::Direct => "direct",
    }
}

/// A chat as JavaScript sees it.
pub fn chat_info_json(c: &ChatInfo) -> Json {
    json!({
        "chatId": c.chat_id, "kind": chat_kind_name(c.kind), "name": c.name, "topic": c.topic,
        "members": c.members, "createdTime": c.created_ms, "lastEventNumber": c.last_event_number,
        "lastEventTime": c.last_event_ms, "maxSeenEvent": c.max_seen_event, "joined": c.joined,
    })
}

/// A chat event as JavaScript sees it: `type` and the fields of its kind.
pub fn chat_event_json(e: &ChatEvent) -> Json {
    let mut json = json!({
        "chatId": e.chat_id, "eventNumber": e.event_number, "timestamp": e.timestamp_ms,
        "userId": e.user_id,
    });
    let (kind, fields): (&str, Vec<(&str, Json)>) = match &e.body {
        ChatEventBody::Created {
            kind,
            name,
            topic,
            members,
        } => (
            "created",
            vec![
                ("kind", json!(chat_kind_name(*kind))),
                ("name", json!(name)),
                ("topic", json!(topic)),
                ("members", json!(members)),
            ],
        ),
        ChatEventBody::Message { text } => ("message", vec![("text", json!(text))]),
        ChatEventBody::UserJoined { user_id } => ("user_joined", vec![("member", json!(user_id))]),
        ChatEventBody::UserLeft { user_id } => ("user_left", vec![("member", json!(user_id))]),
        ChatEventBody::UserAdded { user_id } => ("user_added", vec![("member", json!(user_id))]),
        ChatEventBody::UserRemoved { user_id } => {
            ("user_removed", vec![("member", json!(user_id))])
        }
        ChatEventBody::NameChanged { name } => ("name_changed", vec![("name", json!(name))]),
        ChatEventBody::TopicChanged { topic } => ("topic_changed", vec![("topic", json!(topic))]),
        ChatEventBody::Removed => ("removed", vec![]),
    };
    json.insert("type", json!(kind));
    for (key, value) in fields {
        json.insert(key, value);
    }
    json
}

/// Chat rights as JavaScript sees them.
pub fn chat_rights_json(r: &ChatRights) -> Json {
    json!({
        "join": r.join, "leave": r.leave, "send": r.send, "manageMembers": r.manage_members,
        "setNameAndTopic": r.set_name_topic, "remove": r.remove, "manage": r.manage,
    })
}

/// Chat rights from JavaScript (missing flags are not granted).
pub fn chat_rights_from_json(json: &Json) -> ChatRights {
    let flag = |key: &str| json[key] == Json::Bool(true);
    ChatRights {
        join: flag("join"),
        leave: flag("leave"),
        send: flag("send"),
        manage_members: flag("manageMembers"),
        set_name_topic: flag("setNameAndTopic"),
        remove: flag("remove"),
        manage: flag("manage"),
    }
}

/// A chat event kind from its JavaScript name.
pub fn chat_event_kind(name: &str) -> Option<ChatEventKind> {
    Some(match name {
        "created" => ChatEventKind::Created,
        "message" => ChatEventKind::Message,
        "user_joined" => ChatEventKind::UserJoined,
        "user_left" => ChatEventKind::UserLeft,
        "user_added" => ChatEventKind::UserAdded,
        "user_removed" => ChatEventKind::UserRemoved,
        "name_changed" => ChatEventKind::NameChanged,
        "topic_changed" => ChatEventKind::TopicChanged,
        "removed" => ChatEventKind::Removed,
        _ => return None,
    })
}

/// A group as JavaScript sees it.
pub fn group_json(group: &GroupInfo) -> Json {
    json!({
        "groupId": group.group_id,
        "description": group.description,
        "members": group.members,
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
