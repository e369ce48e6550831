//! Requests from JavaScript (JSON with a `type`) and the relay's responses back to JSON.

use crate::json;
use crate::json::{json_value, value_json, Json};
use tandem_core::protocol::{ModelOrder, PermissionTarget, Request, Response, SortDirection};
use tandem_core::{ElementId, IdGenerator, Value};

use crate::error::{EngineError, Result};
use crate::interop::{
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
        "set_activity_permissions" => {
            Request::SetActivityPermissions {
                activity_type: text(json, "activityType")?,
                activity_id: json["activityId"].as_str().map(str::to_owned),
                target: match json["target"]["type"].as_str() {
                    Some("world") => PermissionTarget::World,
                    Some("user") => PermissionTarget::User {
                        user_id: text(&json["target"], "id")?,
                    },
                    Some("group") => PermissionTarget::Group {
                        group_id: text(&json["target"], "id")?,
                    },
                    _ => return Err(EngineError::invalid(
                        "a target is {type: 'world'}, {type: 'user', id} or {type: 'group', id}",
                    )),
                },
                rights: match &json["rights"] {
                    Json::Null => None,
                    rights => Some(rights_from_json(rights)),
                },
            }
        }
        other => {
            return Err(EngineError::invalid(format!(
                "unknown request type `{other}`"
            )))
        }
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
        } => {
            let users: Vec<Json> = users
                .iter()
                .map(|(id, r)| json!({"userId": id, "rights": rights_json(r)}))
                .collect();
            let groups: Vec<Json> = groups
                .iter()
                .map(|(id, r)| json!({"groupId": id, "rights": rights_json(r)}))
                .collect();
            json!({
                "kind": "activity_permissions",
                "world": world.as_ref().map(rights_json),
                "users": users, "groups": groups,
            })
        }
        Response::Presence { users } => {
            let users: Vec<Json> = users.iter().map(presence_json).collect();
            json!({"kind": "presence", "users": users})
        }
        _ => json!({"kind": "unsupported"}),
    }
}
