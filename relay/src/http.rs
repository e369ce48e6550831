//! The HTTP side of the relay: `/healthz`, `/metrics`, the admin API and the demo (`/ws` is
//! upgraded before these routes, in [`crate::listener`]).

use std::convert::Infallible;
use std::sync::Arc;

use serde::Deserialize;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::auth;
use crate::store::{model_key, Grantee, PermissionTarget, Permissions, StoreError, User};
use crate::Relay;

/// Every route of the relay.
pub fn routes(
    relay: Arc<Relay>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_relay = {
        let relay = relay.clone();
        warp::any().map(move || relay.clone())
    };
    let healthz = warp::path("healthz")
        .and(warp::path::end())
        .and(warp::get())
        .map(|| {
            warp::reply::json(
                &serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
            )
        });
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_relay.clone())
        .map(|relay: Arc<Relay>| {
            warp::reply::with_header(
                relay.metrics.render(),
                "content-type",
                "text/plain; version=0.0.4",
            )
        });
    let admin = warp::path("admin").and(admin_routes(relay.clone()));
    let www = warp::fs::dir(relay.config.www_dir.clone());
    healthz
        .or(metrics)
        .or(admin)
        .or(www)
        .recover(recover)
        .with(warp::log("tandem_relay::http"))
}

/// An admin API failure, as JSON with a code.
#[derive(Debug)]
struct AdminError(StatusCode, &'static str, String);

impl warp::reject::Reject for AdminError {}

fn admin_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Rejection {
    warp::reject::custom(AdminError(status, code, message.into()))
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Exists(_) => AdminError(StatusCode::CONFLICT, "exists", e.to_string()),
            StoreError::NotFound(_) => {
                AdminError(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            _ => AdminError(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string()),
        }
    }
}

async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let (status, code, message) =
        if let Some(AdminError(status, code, message)) = rejection.find::<AdminError>() {
            (*status, *code, message.clone())
        } else if rejection.is_not_found() {
            (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource".to_owned(),
            )
        } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
            (StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
        } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed".to_owned(),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("{rejection:?}"),
            )
        };
    let body = warp::reply::json(&serde_json::json!({"code": code, "message": message}));
    Ok(warp::reply::with_status(body, status).into_response())
}

/// Checks `Authorization: Bearer <admin key>` in constant time.
fn admin_key(relay: Arc<Relay>) -> impl Filter<Extract = (Arc<Relay>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let relay = relay.clone();
        async move {
            let Some(expected) = relay.config.admin_key.as_deref() else {
                return Err(admin_error(
                    StatusCode::FORBIDDEN,
                    "disabled",
                    "the admin API is off: set --admin-key",
                ));
            };
            let given = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or("");
            let same = given.len() == expected.len()
                && given
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if same {
                Ok(relay)
            } else {
                Err(admin_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "wrong or missing admin key",
                ))
            }
        }
    })
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    avatar_url: Option<String>,
    id: Option<String>,
}

/// Profile fields an admin changes; those left out stay, empty strings remove email and
/// picture.
#[derive(Deserialize)]
struct ProfileUpdate {
    display_name: Option<String>,
    email: Option<String>,
    avatar_url: Option<String>,
}

/// Up to which version a model's history may be compacted.
#[derive(Deserialize)]
struct Compaction {
    before: u64,
}

#[derive(Deserialize)]
struct NewGroup {
    id: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct NewCollection {
    id: String,
}

#[derive(Deserialize)]
struct PermissionEntry {
    collection: String,
    model: Option<String>,
    /// "world", "user:ID" or "group:ID".
    grantee: String,
    #[serde(default)]
    read: bool,
    #[serde(default)]
    write: bool,
    #[serde(default)]
    remove: bool,
    #[serde(default)]
    manage: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityGrant {
    /// The activity type.
    r#type: String,
    /// One activity of it, or all of them.
    id: Option<String>,
    /// "world", "user:ID" or "group:ID".
    grantee: String,
    #[serde(default)]
    join: bool,
    #[serde(default)]
    lurk: bool,
    #[serde(default)]
    view_state: bool,
    #[serde(default)]
    set_state: bool,
    #[serde(default)]
    manage: bool,
    /// Removes the entry instead.
    #[serde(default)]
    remove: bool,
}

/// Parses "world", "user:ID" or "group:ID".
fn parse_grantee(text: &str) -> Result<Grantee, Rejection> {
    match text.split_once(':') {
        None if text == "world" => Ok(Grantee::World),
        Some(("user", id)) if !id.is_empty() => Ok(Grantee::User(id.to_owned())),
        Some(("group", id)) if !id.is_empty() => Ok(Grantee::Group(id.to_owned())),
        _ => Err(admin_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grantee must be world, user:ID or group:ID",
        )),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    offset: u64,
    limit: Option<u64>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    direction: Option<String>,
}

/// A JSON body of at most 64 KiB.
fn json_body<T: serde::de::DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(64 * 1024).and(warp::body::json())
}

fn admin_routes(
    relay: Arc<Relay>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let key = admin_key(relay);
    let create_user = warp::path!("users")
        .and(warp::post())
        .and(key.clone())
        .and(json_body())
        .and_then(|relay: Arc<Relay>, body: NewUser| async move {
            if body.username.is_empty()
                || body.username.starts_with(crate::ids::ANONYMOUS_PREFIX)
                || body.username.len() > 100
            {
                return Err(admin_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "invalid username",
                ));
            }
            let password_hash = match body.password {
                Some(p) => Some(
                    tokio::task::spawn_blocking(move || auth::hash_password(&p))
                        .await
                        .map_err(|_| {
                            admin_error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "internal",
                                "hashing failed",
                            )
                        })?
                        .map_err(|_| {
                            admin_error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "internal",
                                "hashing failed",
                            )
                        })?,
                ),
                None => None,
            };
            let user = User {
                id: body.id.unwrap_or_else(crate::ids::random_id),
                display_name: body.display_name.unwrap_or_else(|| body.username.clone()),
                username: body.username,
                email: body.email,
                avatar_url: body.avatar_url,
                password_hash,
            };
            relay
                .store
                .create_user(&user)
                .await
                .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
            tracing::info!(user = %user.id, username = %user.username, "user created");
            let reply =
                warp::reply::json(&serde_json::json!({"id": user.id, "username": user.username}));
            Ok::<_, Rejection>(warp::reply::with_status(reply, StatusCode::CREATED))
        });
    let update_user = warp::path!("users" / String)
        .and(warp::put())
        .and(key.clone())
        .and(json_body())
        .and_then(
            |id: String, relay: Arc<Relay>, body: ProfileUpdate| async move {
                let bad = |message: String| {
                    admin_error(StatusCode::BAD_REQUEST, "invalid_request", message)
                };
                let store = &relay.store;
                let mut user = store
                    .user_by_id(&id)
                    .await
                    .map_err(|e| warp::reject::custom(AdminError::from(e)))?
                    .ok_or_else(|| {
                        admin_error(StatusCode::NOT_FOUND, "user_not_found", "no such user")
                    })?;
                if let Some(name) = body.display_name {
                    user.display_name = auth::check_display_name(&name)
                        .map_err(|e| bad(e.to_string()))?
                        .to_owned();
                }
                if let Some(email) = body.email {
                    user.email = Some(email).filter(|e| !e.is_empty());
                }
                if let Some(url) = body.avatar_url {
                    crate::requests::check_avatar_url(&url).map_err(|e| bad(e.to_string()))?;
                    user.avatar_url = Some(url).filter(|u| !u.is_empty());
                }
                store
                    .update_user(&user)
                    .await
                    .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
                Ok::<_, Rejection>(StatusCode::NO_CONTENT)
            },
        );
    let create_group = warp::path!("groups")
        .and(warp::post())
        .and(key.clone())
        .and(json_body())
        .and_then(|relay: Arc<Relay>, body: NewGroup| async move {
            relay
                .store
                .create_group(&body.id, &body.description)
                .await
                .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
            Ok::<_, Rejection>(warp::reply::with_status(
                warp::reply::json(&serde_json::json!({"id": body.id})),
                StatusCode::CREATED,
            ))
        });
    let add_member = warp::path!("groups" / String / "members" / String)
        .and(warp::put())
        .and(key.clone())
        .and_then(
            |group: String, user: String, relay: Arc<Relay>| async move {
                relay
                    .store
                    .add_group_member(&group, &user)
                    .await
                    .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
                relay.permissions_changed();
                Ok::<_, Rejection>(StatusCode::NO_CONTENT)
            },
        );
    let remove_member = warp::path!("groups" / String / "members" / String)
        .and(warp::delete())
        .and(key.clone())
        .and_then(
            |group: String, user: String, relay: Arc<Relay>| async move {
                relay
                    .store
                    .remove_group_member(&group, &user)
                    .await
                    .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
                relay.permissions_changed();
                Ok::<_, Rejection>(StatusCode::NO_CONTENT)
            },
        );
    let create_collection = warp::path!("collections")
        .and(warp::post())
        .and(key.clone())
        .and(json_body())
        .and_then(|relay: Arc<Relay>, body: NewCollection| async move {
            if body.id.is_empty() || body.id.len() > 200 {
                return Err(admin_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "a collection id must have 1 to 200 bytes",
                ));
            }
            relay
                .store
                .create_collection(&body.id)
                .await
                .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
            Ok::<_, Rejection>(warp::reply::with_status(
                warp::reply::json(&serde_json::json!({"id": body.id})),
                StatusCode::CREATED,
            ))
        });
    let set_permissions = warp::path!("permissions")
        .and(warp::put())
        .and(key.clone())
        .and(json_body())
        .and_then(|relay: Arc<Relay>, body: PermissionEntry| async move {
            let grantee = parse_grantee(&body.grantee)?;
            let store = &relay.store;
            let target = match body.model {
                Some(model) => {
                    match store
                        .model(&model_key(&body.collection, &model))
                        .await
                        .map_err(|e| warp::reject::custom(AdminError::from(e)))?
                    {
                        Some(meta) => PermissionTarget::Model(meta.id),
                        _ => {
                            return Err(admin_error(
                                StatusCode::NOT_FOUND,
                                "model_not_found",
                                "no such model in that collection",
                            ))
                        }
                    }
                }
                None => {
                    if !store
                        .collection_exists(&body.collection)
                        .await
                        .map_err(|e| warp::reject::custom(AdminError::from(e)))?
                    {
                        return Err(admin_error(
                            StatusCode::NOT_FOUND,
                            "collection_not_found",
                            "no such collection",
                        ));
                    }
                    PermissionTarget::Collection(body.collection)
                }
            };
            let granted = Permissions {
                read: body.read,
                write: body.write,
                remove: body.remove,
                manage: body.manage,
            };
            store
                .set_permissions(&target, &grantee, granted)
                .await
                .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
            relay.permissions_changed();
            Ok::<_, Rejection>(StatusCode::NO_CONTENT)
        });
    // Who may do what in activities: the way to name their first managers.
    let set_activity_permissions = warp::path!("activity-permissions")
        .and(warp::put())
        .and(key.clone())
        .and(json_body())
        .and_then(|relay: Arc<Relay>, body: ActivityGrant| async move {
            let grantee = parse_grantee(&body.grantee)?;
            let bad = |e: crate::error::RelayError| {
                admin_error(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
            };
            crate::activities::check_name("type", &body.r#type).map_err(bad)?;
            if let Some(id) = &body.id {
                crate::activities::check_name("id", id).map_err(bad)?;
            }
            let rights = tandem_core::protocol::ActivityRights {
                join: body.join,
                lurk: body.lurk,
                view_state: body.view_state,
                set_state: body.set_state,
                manage: body.manage,
            };
            let flags = (!body.remove).then(|| crate::activities::rights_to_flags(rights));
            let scope = crate::activities::activity_scope(&body.r#type, body.id.as_deref());
            relay
                .store
                .set_grant(&scope, &grantee, flags)
                .await
                .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
            relay.permissions_changed();
            Ok::<_, Rejection>(StatusCode::NO_CONTENT)
        });
    // Retention: drops a model's operations up to its newest snapshot at or before `before`.
    let compact_model = warp::path!("collections" / String / "models" / String / "compact")
        .and(warp::post())
        .and(key.clone())
        .and(json_body())
        .and_then(
            |collection: String, name: String, relay: Arc<Relay>, body: Compaction| async move {
                let id = model_key(&collection, &name);
                let floor =
                    relay
                        .store
                        .compact_model(&id, body.before)
                        .await
                        .map_err(|e| match e {
                            crate::store::StoreError::NotFound(_) => admin_error(
                                StatusCode::NOT_FOUND,
                                "model_not_found",
                                "no such model",
                            ),
                            e => warp::reject::custom(AdminError::from(e)),
                        })?;
                tracing::info!(model = %id, floor, "history compacted");
                Ok::<_, Rejection>(warp::reply::json(&serde_json::json!({ "floor": floor })))
            },
        );
    // Deletes a model for real (its operations, snapshots and permissions too); sessions that
    // have it open are told.
    let delete_model = warp::path!("collections" / String / "models" / String)
        .and(warp::delete())
        .and(key.clone())
        .and_then(
            |collection: String, name: String, relay: Arc<Relay>| async move {
                let id = model_key(&collection, &name);
                let missing =
                    || admin_error(StatusCode::NOT_FOUND, "model_not_found", "no such model");
                let known = relay
                    .store
                    .model(&id)
                    .await
                    .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
                if known.is_none() {
                    return Err(missing());
                }
                let (reply, done) = tokio::sync::oneshot::channel();
                relay
                    .registry
                    .send(&id, crate::registry::Command::Delete { reply })
                    .await
                    .map_err(|_| missing())?;
                match done.await {
                    Ok(Ok(())) => {
                        tracing::info!(model = %id, "model deleted");
                        Ok::<_, Rejection>(StatusCode::NO_CONTENT)
                    }
                    _ => Err(missing()),
                }
            },
        );
    let list_models = warp::path!("collections" / String / "models")
        .and(warp::get())
        .and(key)
        .and(warp::query::<ListQuery>())
        .and_then(|collection: String, relay: Arc<Relay>, query: ListQuery| async move {
            let order = match query.order.as_deref() {
                None | Some("created") => crate::store::ModelOrder::Created,
                Some("modified") => crate::store::ModelOrder::Modified,
                Some(_) => return Err(admin_error(StatusCode::BAD_REQUEST, "invalid_request", "order is created or modified")),
            };
            let descending = match query.direction.as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(_) => return Err(admin_error(StatusCode::BAD_REQUEST, "invalid_request", "direction is asc or desc")),
            };
            let limit = query.limit.unwrap_or(100).min(1_000);
            let models = relay
                .store
                .list_models(&collection, order, descending, query.offset, limit)
                .await
                .map_err(|e| warp::reject::custom(AdminError::from(e)))?;
            let models: Vec<_> = models
                .into_iter()
                .map(|m| serde_json::json!({"id": m.name, "collection": m.collection, "version": m.version, "created_ms": m.created_ms, "modified_ms": m.modified_ms}))
                .collect();
            Ok::<_, Rejection>(warp::reply::json(&serde_json::json!({"models": models})))
        });
    create_user
        .or(update_user)
        .or(create_group)
        .or(add_member)
        .or(remove_member)
        .or(create_collection)
        .or(set_permissions)
        .or(set_activity_permissions)
        .or(compact_model)
        .or(delete_model)
        .or(list_models)
}
