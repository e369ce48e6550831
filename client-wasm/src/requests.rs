//! Requests from JavaScript (JSON with a `type`) and the relay's responses back to JSON.

use crate::json;
use crate::json::{json_value, value_json, Json};
use tandem_core::protocol::{
    ChatKind, ModelOrder, PermissionTarget, Request, Response, SortDirection,
};
use tandem_core::{ElementId, IdGenerator, Value};

use crate::error::{EngineError, Result};
use crate::interop::{
    chat_event_json, chat_event_kind, chat_info_json, chat_rights_from_json, chat_rights_json,
    group_json, historic_op_json, participant_json, presence_json, rights_from_json, rights_json,
    state_from_json, user_json,
};

fn text(json: &Json, key: &str) -> Result<String> {
    json[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| EngineError::invalid(format!("the request needs `{key}` (text)")))
}

fn number(json: &Json, key: &str) -> Result<u64> {
    json[key]
        .as_f64()
        .filter(|n| *n >= 0.0 && n.fract() == 0.0)
        .map(|n| n as u64)
        .ok_or_else(|| EngineError::invalid(format!("the request needs `{key}` (a whole number)")))
}

fn strings(json: &Json, key: &str) -> Result<Vec<String>> {
    json[key]
        .as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| EngineError::invalid(format!("the request needs `{key}` (a list of text)")))
}

fn data(json: &Json, ids: &mut IdGenerator) -> Result<tandem_core::Node> {
    let value = match &json["data"] {
        Json::Null => Value::Object(Vec::new()),
        data => json_value(data)?,
    };
    if !matches!(value, Value::Object(_)) {
        return Err(EngineError::invalid("a model's data is an object"));
    }
    let mut node = value.into_node(ids);
    node.id = ElementId::ROOT;
    Ok(node)
}

/// Whom a permission entry is for: `{type: 'world'}`, `{type: 'user', id}` or
/// `{type: 'group', id}`.
fn target(json: &Json) -> Result<PermissionTarget> {
    match json["type"].as_str() {
        Some("world") => Ok(PermissionTarget::World),
        Some("user") => Ok(PermissionTarget::User {
            user_id: text(json, "id")?,
        }),
        Some("group") => Ok(PermissionTarget::Group {
            group_id: text(json, "id")?,
        }),
        _ => Err(EngineError::invalid(
            "a target is {type: 'world'}, {type: 'user', id} or {type: 'group', id}",
        )),
    }
}

/// The request a JSON request from the package stands for.
pub fn parse_request(json: &Json, ids: &mut IdGenerator) -> Result<Request> {
    Ok(match json["type"].as_str().unwrap_or_default() {
        "create_model" => Request::CreateModel {
            collection: text(json, "collection")?,
            id: json["id"].as_str().map(str::to_owned),
            data: data(json, ids)?,
        },
        "open_model" => Request::OpenModel {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            known_version: None,
        },
        "open_or_create_model" => Request::OpenOrCreateModel {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            data: data(json, ids)?,
        },
        "close_model" => Request::CloseModel {
            model: number(json, "handle")? as u32,
        },
        "delete_model" => Request::DeleteModel {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
        },
        "list_models" => Request::ListModels {
            collection: text(json, "collection")?,
            offset: json["offset"].as_u64().unwrap_or(0),
            limit: json["limit"]
                .as_u64()
                .unwrap_or(100)
                .min(u64::from(u32::MAX)) as u32,
            order_by: if json["orderBy"] == "created" {
                ModelOrder::Created
            } else {
                ModelOrder::Modified
            },
            direction: if json["direction"] == "ascending" {
                SortDirection::Ascending
            } else {
                SortDirection::Descending
            },
        },
        "get_model_at_version" => Request::GetModelAtVersion {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            version: number(json, "version")?,
        },
        "get_model_at_time" => Request::GetModelAtTime {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            time_ms: number(json, "time")? as i64,
        },
        "get_operations" => Request::GetOperations {
            collection: text(json, "collection")?,
            id: text(json, "id")?,
            from_version: number(json, "from")?,
            to_version: number(json, "to")?,
        },
        "get_users_by_id" => Request::GetUsersById {
            user_ids: strings(json, "userIds")?,
        },
        "get_users_by_username" => Request::GetUsersByUsername {
            usernames: strings(json, "usernames")?,
        },
        "search_users" => Request::SearchUsers {
            query: text(json, "query")?,
            offset: json["offset"].as_u64().unwrap_or(0),
            limit: json["limit"]
                .as_u64()
                .unwrap_or(50)
                .min(u64::from(u32::MAX)) as u32,
        },
        "get_groups" => Request::GetGroups,
        "get_user_groups" => Request::GetUserGroups {
            user_id: text(json, "userId")?,
        },
        "set_profile" => Request::SetProfile {
            display_name: json["displayName"].as_str().map(str::to_owned),
            email: json["email"].as_str().map(str::to_owned),
            avatar_url: json["avatarUrl"].as_str().map(str::to_owned),
        },
        "subscribe_presence" => Request::SubscribePresence {
            user_ids: strings(json, "userIds")?,
        },
        "unsubscribe_presence" => Request::UnsubscribePresence {
            user_ids: strings(json, "userIds")?,
        },
        "get_presence" => Request::GetPresence {
            user_ids: strings(json, "userIds")?,
        },
        "set_presence_state" => Request::SetPresenceState {
            state: state_from_json(&json["state"])?,
        },
        "remove_presence_state" => Request::RemovePresenceState {
            keys: strings(json, "keys")?,
        },
        "clear_presence_state" => Request::ClearPresenceState,
        "join_activity" => Request::JoinActivity {
            activity_type: text(json, "activityType")?,
            activity_id: text(json, "activityId")?,
            lurk: json["lurk"] == Json::Bool(true),
            state: match &json["state"] {
                Json::Null => Vec::new(),
                state => state_from_json(state)?,
            },
        },
        "leave_activity" => Request::LeaveActivity {
            activity: number(json, "activity")? as u32,
        },
        "set_activity_state" => Request::SetActivityState {
            activity: number(json, "activity")? as u32,
            state: state_from_json(&json["state"])?,
        },
        "remove_activity_state" => Request::RemoveActivityState {
            activity: number(json, "activity")? as u32,
            keys: strings(json, "keys")?,
        },
        "clear_activity_state" => Request::ClearActivityState {
            activity: number(json, "activity")? as u32,
        },
        "get_activity_permissions" => Request::GetActivityPermissions {
            activity_type: text(json, "activityType")?,
            activity_id: json["activityId"].as_str().map(str::to_owned),
        },
        "set_activity_permissions" => Request::SetActivityPermissions {
            activity_type: text(json, "activityType")?,
            activity_id: json["activityId"].as_str().map(str::to_owned),
            target: target(&json["target"])?,
            rights: match &json["rights"] {
                Json::Null => None,
                rights => Some(rights_from_json(rights)),
            },
        },
        "create_chat" => Request::CreateChat {
            kind: if json["kind"] == "channel" {
                ChatKind::Channel
            } else {
                ChatKind::Room
            },
            chat_id: json["id"].as_str().map(str::to_owned),
            name: json["name"].as_str().unwrap_or_default().to_owned(),
            topic: json["topic"].as_str().unwrap_or_default().to_owned(),
            members: match &json["members"] {
                Json::Null => Vec::new(),
                _ => strings(json, "members")?,
            },
        },
        "get_direct_chat" => Request::GetDirectChat {
            user_ids: strings(json, "userIds")?,
        },
        "get_chat" => Request::GetChat {
            chat_id: text(json, "chatId")?,
        },
        "get_joined_chats" => Request::GetJoinedChats,
        "join_chat" => Request::JoinChat {
            chat_id: text(json, "chatId")?,
        },
        "leave_chat" => Request::LeaveChat {
            chat_id: text(json, "chatId")?,
        },
        "send_chat_message" => Request::SendChatMessage {
            chat_id: text(json, "chatId")?,
            text: text(json, "text")?,
        },
        "set_chat_name" => Request::SetChatName {
            chat_id: text(json, "chatId")?,
            name: text(json, "name")?,
        },
        "set_chat_topic" => Request::SetChatTopic {
            chat_id: text(json, "chatId")?,
            topic: text(json, "topic")?,
        },
        "add_chat_member" => Request::AddChatMember {
            chat_id: text(json, "chatId")?,
            user_id: text(json, "userId")?,
        },
        "remove_chat_member" => Request::RemoveChatMember {
            chat_id: text(json, "chatId")?,
            user_id: text(json, "userId")?,
        },
        "remove_chat" => Request::RemoveChat {
            chat_id: text(json, "chatId")?,
        },
        "get_chat_history" => Request::GetChatHistory {
            chat_id: text(json, "chatId")?,
            start_event: json["start"].as_u64(),
            direction: if json["direction"] == "forward" {
                SortDirection::Ascending
            } else {
                SortDirection::Descending
            },
            limit: json["limit"]
                .as_u64()
                .unwrap_or(50)
                .min(u64::from(u32::MAX)) as u32,
            event_kinds: match &json["types"] {
                Json::Null => Vec::new(),
                _ => strings(json, "types")?
                    .iter()
                    .map(|t| {
                        chat_event_kind(t).ok_or_else(|| {
                            EngineError::invalid(format!("unknown chat event type `{t}`"))
                        })
                    })
                    .collect::<Result<_>>()?,
            },
        },
        "mark_chat_seen" => Request::MarkChatSeen {
            chat_id: text(json, "chatId")?,
            event_number: number(json, "eventNumber")?,
        },
        "get_unread_counts" => Request::GetUnreadCounts,
        "get_chat_permissions" => Request::GetChatPermissions {
            chat_id: text(json, "chatId")?,
        },
        "set_chat_permissions" => Request::SetChatPermissions {
            chat_id: text(json, "chatId")?,
            target: target(&json["target"])?,
            rights: match &json["rights"] {
                Json::Null => None,
                rights => Some(chat_rights_from_json(rights)),
            },
        },
        other => {
            return Err(EngineError::invalid(format!(
                "unknown request type `{other}`"
            )))
        }
    })
}

/// Entries granting rights (on activities or a chat) as JavaScript sees them.
fn grants_json<R>(
    kind: &str,
    world: &Option<R>,
    users: &[(String, R)],
    groups: &[(String, R)],
    rights: fn(&R) -> Json,
) -> Json {
    let users: Vec<Json> = users
        .iter()
        .map(|(id, r)| json!({"userId": id, "rights": rights(r)}))
        .collect();
    let groups: Vec<Json> = groups
        .iter()
        .map(|(id, r)| json!({"groupId": id, "rights": rights(r)}))
        .collect();
    json!({
        "kind": kind, "world": world.as_ref().map(rights), "users": users, "groups": groups,
    })
}

/// A response as JSON with a `kind`.
pub fn response_json(response: &Response) -> Json {
    match response {
        Response::Done => json!({"kind": "done"}),
        Response::ModelCreated { collection, id } => {
            json!({"kind": "model_created", "collection": collection, "id": id})
        }
        Response::ModelList { models, total } => {
            let models: Vec<Json> = models
                .iter()
                .map(|m| {
                    json!({
                        "collection": m.collection, "id": m.id, "version": m.version,
                        "createdTime": m.created_ms, "modifiedTime": m.modified_ms,
                    })
                })
                .collect();
            json!({"kind": "model_list", "models": models, "total": total})
        }
        Response::HistoricModel {
            version,
            timestamp_ms,
            data,
        } => json!({
            "kind": "historic_model", "version": version, "timestamp": timestamp_ms,
            "data": value_json(&data.to_value()),
        }),
        Response::Operations { ops } => {
            let ops: Vec<Json> = ops.iter().map(historic_op_json).collect();
            json!({"kind": "operations", "ops": ops})
        }
        Response::Users { users } => {
            let users: Vec<Json> = users.iter().map(user_json).collect();
            json!({"kind": "users", "users": users})
        }
        Response::User(user) => json!({"kind": "user", "user": user_json(user)}),
        Response::UserPage { users, total } => {
            let users: Vec<Json> = users.iter().map(user_json).collect();
            json!({"kind": "user_page", "users": users, "total": total})
        }
        Response::Groups { groups } => {
            let groups: Vec<Json> = groups.iter().map(group_json).collect();
            json!({"kind": "groups", "groups": groups})
        }
        Response::ActivityJoined {
            activity,
            participants,
            rights,
        } => {
            let participants: Vec<Json> = participants.iter().map(participant_json).collect();
            json!({
                "kind": "activity_joined", "activity": activity,
                "participants": participants, "rights": rights_json(rights),
            })
        }
        Response::ActivityPermissions {
            world,
            users,
            groups,
        } => grants_json("activity_permissions", world, users, groups, rights_json),
        Response::Chat(info) => json!({"kind": "chat", "chat": chat_info_json(info)}),
        Response::Chats { chats } => {
            let chats: Vec<Json> = chats.iter().map(chat_info_json).collect();
            json!({"kind": "chats", "chats": chats})
        }
        Response::ChatMessageSent {
            event_number,
            timestamp_ms,
        } => json!({
            "kind": "chat_message_sent", "eventNumber": event_number, "timestamp": timestamp_ms,
        }),
        Response::ChatEvents { events } => {
            let events: Vec<Json> = events.iter().map(chat_event_json).collect();
            json!({"kind": "chat_events", "events": events})
        }
        Response::UnreadCounts { counts } => json!({
            "kind": "unread_counts",
            "counts": Json::Object(counts.iter().map(|(id, n)| (id.clone(), json!(n))).collect()),
        }),
        Response::ChatPermissions {
            world,
            users,
            groups,
        } => grants_json("chat_permissions", world, users, groups, chat_rights_json),
        Response::Presence { users } => {
            let users: Vec<Json> = users.iter().map(presence_json).collect();
            json!({"kind": "presence", "users": users})
        }
        _ => json!({"kind": "unsupported"}),
    }
}
