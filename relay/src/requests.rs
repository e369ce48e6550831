//! Answers to the requests a session makes: models, history, identity and permissions.

use tandem_core::protocol::{
    self as wire, ActivityHandle, ActivityRights, GroupInfo, ModelSummary, PermissionScope,
    PermissionSet, Request, Response, SortDirection,
};
use tandem_core::{ElementId, Model, Node, NodeValue};
use tokio::sync::oneshot;

use crate::activities;
use crate::error::RelayError;
use crate::permissions::{activity_rights, effective, grantee_of, split_grants};
use crate::registry::{user_info, Command};
use crate::session::{unsupported, OpenModel, Session};
use crate::store::{
    model_key, Grantee, ModelMeta, ModelOrder, PermissionTarget, Permissions, StoreError,
};
use crate::time::now_ms;

/// The largest page a listing or history request returns.
const MAX_PAGE: u64 = 1_000;
/// The most operations one `GetOperations` returns.
const MAX_OPS: u64 = 10_000;

/// How a request was answered.
pub enum Reply {
    /// This response is to be sent.
    Send(Response),
    /// The answer was already queued (opening a model: by the model's task, in order with
    /// the operations that follow).
    Sent,
}

/// Handles one request of `session`.
pub async fn handle(
    session: &mut Session,
    request_id: u64,
    request: Request,
) -> Result<Reply, RelayError> {
    match request {
        Request::OpenModel {
            collection,
            id,
            known_version,
        } => open(session, request_id, &collection, &id, known_version, false)
            .await
            .map(|_| Reply::Sent),
        Request::OpenOrCreateModel {
            collection,
            id,
            data,
        } => {
            let created = match create(session, &collection, &id, data).await {
                Ok(()) => true,
                Err(RelayError::ModelExists(_)) => false,
                Err(e) => return Err(e),
            };
            open(session, request_id, &collection, &id, None, created)
                .await
                .map(|_| Reply::Sent)
        }
        other => answer(session, other).await.map(Reply::Send),
    }
}

/// Handles the requests answered with a plain response.
async fn answer(session: &mut Session, request: Request) -> Result<Response, RelayError> {
    match request {
        Request::CreateModel {
            collection,
            id,
            data,
        } => {
            let id = id.unwrap_or_else(crate::ids::random_id);
            create(session, &collection, &id, data).await?;
            Ok(Response::ModelCreated { collection, id })
        }
        Request::CloseModel { model } => {
            let open = session
                .open
                .remove(&model)
                .ok_or(RelayError::NotOpen(model))?;
            let _ = open
                .tx
                .send(Command::Close {
                    key: session.member.key,
                })
                .await;
            Ok(Response::Done)
        }
        Request::DeleteModel { collection, id } => {
            let meta = model_in(session, &collection, &id).await?;
            require(
                permissions(session, &meta.collection, Some(&meta.id))
                    .await?
                    .remove,
                "remove",
                &id,
            )?;
            let (reply, done) = oneshot::channel();
            session
                .relay
                .registry
                .send(&meta.id, Command::Delete { reply })
                .await?;
            done.await.map_err(|_| RelayError::GoingAway)??;
            session.open.retain(|_, open| open.id != meta.id);
            Ok(Response::Done)
        }
        Request::ListModels {
            collection,
            offset,
            limit,
            order_by,
            direction,
        } => {
            require(
                permissions(session, &collection, None).await?.read,
                "read",
                &collection,
            )?;
            let order = match order_by {
                wire::ModelOrder::Created => ModelOrder::Created,
                wire::ModelOrder::Modified => ModelOrder::Modified,
            };
            let descending = direction == SortDirection::Descending;
            let limit = u64::from(limit).min(MAX_PAGE);
            let page = session
                .relay
                .store
                .list_models(&collection, order, descending, offset, limit)
                .await?;
            let mut models = Vec::with_capacity(page.len());
            for meta in page {
                // Models with permissions of their own may hide themselves.
                if permissions(session, &meta.collection, Some(&meta.id))
                    .await?
                    .read
                {
                    models.push(summary(meta));
                }
            }
            let total = session.relay.store.count_models(&collection).await?;
            Ok(Response::ModelList { models, total })
        }
        Request::GetModelAtVersion {
            collection,
            id,
            version,
        } => historic(session, &collection, &id, version).await,
        Request::GetModelAtTime {
            collection,
            id,
            time_ms,
        } => {
            let meta = readable(session, &collection, &id).await?;
            let version = session
                .relay
                .store
                .version_at_time(&meta.id, time_ms)
                .await?;
            historic(session, &collection, &id, version).await
        }
        Request::GetOperations {
            collection,
            id,
            from_version,
            to_version,
        } => {
            let meta = readable(session, &collection, &id).await?;
            let floor = session.relay.store.history_floor(&meta.id).await?;
            if from_version < floor {
                return Err(compacted(floor));
            }
            let to = to_version
                .min(meta.version)
                .min(from_version.saturating_add(MAX_OPS));
            let ops = session
                .relay
                .store
                .ops(&meta.id, from_version, to, MAX_OPS)
                .await?;
            let wanted = to_version.min(meta.version);
            let more = ops.last().map_or(from_version, |op| op.version) < wanted;
            Ok(Response::Operations {
                ops: ops.into_iter().map(crate::registry::historic).collect(),
                more,
            })
        }
        Request::GetUsersById { user_ids } => {
            let mut users = Vec::new();
            for id in user_ids.iter().take(MAX_PAGE as usize) {
                if let Some(user) = session.relay.store.user_by_id(id).await? {
                    users.push(wire_user(&user));
                }
            }
            Ok(Response::Users { users })
        }
        Request::GetUsersByUsername { usernames } => {
            let mut users = Vec::new();
            for name in usernames.iter().take(MAX_PAGE as usize) {
                if let Some(user) = session.relay.store.user_by_username(name).await? {
                    users.push(wire_user(&user));
                }
            }
            Ok(Response::Users { users })
        }
        Request::SearchUsers {
            query,
            offset,
            limit,
        } => {
            let limit = u64::from(limit).min(MAX_PAGE);
            let found = session
                .relay
                .store
                .search_users(&query, offset, limit)
                .await?;
            let users: Vec<_> = found.iter().map(wire_user).collect();
            let total = session.relay.store.count_users_matching(&query).await?;
            Ok(Response::UserPage { users, total })
        }
        Request::GetGroups => {
            let groups = session.relay.store.groups().await?;
            let mut listed = Vec::with_capacity(groups.len());
            for (id, description) in groups {
                listed.push(GroupInfo {
                    members: session.relay.store.group_members(&id).await?,
                    group_id: id,
                    description,
                });
            }
            Ok(Response::Groups { groups: listed })
        }
        Request::GetUserGroups { user_id } => {
            let ids = session.relay.store.groups_of_user(&user_id).await?;
            let descriptions: std::collections::HashMap<String, String> =
                session.relay.store.groups().await?.into_iter().collect();
            let mut listed = Vec::with_capacity(ids.len());
            for id in ids {
                listed.push(GroupInfo {
                    members: session.relay.store.group_members(&id).await?,
                    description: descriptions.get(&id).cloned().unwrap_or_default(),
                    group_id: id,
                });
            }
            Ok(Response::Groups { groups: listed })
        }
        Request::SetProfile {
            display_name,
            email,
            avatar_url,
        } => {
            let store = &session.relay.store;
            let mut user = store
                .user_by_id(&session.member.identity.user_id)
                .await?
                .ok_or_else(|| {
                    RelayError::InvalidRequest("this session's user is not stored".into())
                })?;
            if let Some(name) = display_name {
                user.display_name = crate::auth::check_display_name(&name)?.to_owned();
            }
            if let Some(email) = email {
                user.email = Some(email).filter(|e| !e.is_empty());
            }
            if let Some(url) = avatar_url {
                check_avatar_url(&url)?;
                user.avatar_url = Some(url).filter(|u| !u.is_empty());
            }
            store.update_user(&user).await?;
            Ok(Response::User(wire_user(&user)))
        }
        Request::GetPermissions { scope } => {
            let (collection, model) = scope_of(&scope);
            let key = model.map(|id| model_key(collection, id));
            require(
                permissions(session, collection, key.as_deref())
                    .await?
                    .manage,
                "manage",
                model.unwrap_or(collection),
            )?;
            let entries = session.relay.store.permissions(&target_of(&scope)).await?;
            Ok(Response::Permissions(permission_set(entries)))
        }
        Request::SetPermissions {
            scope,
            target,
            permissions: granted,
        } => {
            let (collection, model) = scope_of(&scope);
            if let Some(id) = model {
                model_in(session, collection, id).await?;
            } else if !session.relay.store.collection_exists(collection).await? {
                return Err(RelayError::CollectionNotFound(collection.to_owned()));
            }
            let key = model.map(|id| model_key(collection, id));
            require(
                permissions(session, collection, key.as_deref())
                    .await?
                    .manage,
                "manage",
                model.unwrap_or(collection),
            )?;
            let grantee = grantee_of(target);
            let granted = granted.unwrap_or_default();
            session
                .relay
                .store
                .set_permissions(&target_of(&scope), &grantee, granted)
                .await?;
            session.relay.permissions_changed();
            Ok(Response::Done)
        }
        Request::GetMyPermissions { scope } => {
            let (collection, model) = scope_of(&scope);
            let key = model.map(|id| model_key(collection, id));
            Ok(Response::MyPermissions(
                permissions(session, collection, key.as_deref()).await?,
            ))
        }
        Request::SubscribePresence { user_ids } => Ok(Response::Presence {
            users: session
                .relay
                .presence
                .subscribe(&session.member, &user_ids)?,
        }),
        Request::UnsubscribePresence { user_ids } => {
            session
                .relay
                .presence
                .unsubscribe(&session.member, &user_ids);
            Ok(Response::Done)
        }
        Request::GetPresence { user_ids } => Ok(Response::Presence {
            users: session.relay.presence.get(&user_ids),
        }),
        Request::SetPresenceState { state } => {
            session.relay.presence.set_state(&session.member, state)?;
            Ok(Response::Done)
        }
        Request::RemovePresenceState { keys } => {
            session.relay.presence.remove_state(&session.member, keys);
            Ok(Response::Done)
        }
        Request::ClearPresenceState => {
            session.relay.presence.clear_state(&session.member);
            Ok(Response::Done)
        }
        chat @ (Request::CreateChat { .. }
        | Request::GetDirectChat { .. }
        | Request::GetChat { .. }
        | Request::GetJoinedChats
        | Request::JoinChat { .. }
        | Request::LeaveChat { .. }
        | Request::SendChatMessage { .. }
        | Request::SetChatName { .. }
        | Request::SetChatTopic { .. }
        | Request::AddChatMember { .. }
        | Request::RemoveChatMember { .. }
        | Request::RemoveChat { .. }
        | Request::GetChatHistory { .. }
        | Request::MarkChatSeen { .. }
        | Request::GetUnreadCounts
        | Request::GetChatPermissions { .. }
        | Request::SetChatPermissions { .. }) => crate::chat::handle(session, chat).await,
        Request::JoinActivity {
            activity_type,
            activity_id,
            lurk,
            state,
        } => {
            if session.activities.len() >= activities::MAX_JOINED {
                return Err(RelayError::InvalidRequest(format!(
                    "a session is in at most {} activities",
                    activities::MAX_JOINED
                )));
            }
            activities::check_name("type", &activity_type)?;
            activities::check_name("id", &activity_id)?;
            let rights = activity_rights(
                session.relay.store.as_ref(),
                &session.member.identity,
                &activity_type,
                Some(&activity_id),
            )
            .await?;
            let on = format!("activity {activity_type}/{activity_id}");
            if lurk {
                require(rights.lurk, "lurk", &on)?;
            } else {
                require(rights.join, "join", &on)?;
            }
            if !state.is_empty() {
                require(rights.set_state, "set-state", &on)?;
            }
            let (joined_type, joined_id) = (activity_type.clone(), activity_id.clone());
            let (number, participants) = session.relay.activities.join(
                &session.member,
                activity_type,
                activity_id,
                lurk,
                rights,
                state,
            )?;
            session.activities.insert(
                number,
                crate::session::JoinedActivity {
                    activity_type: joined_type,
                    activity_id: joined_id,
                    lurking: lurk,
                    rights,
                },
            );
            Ok(Response::ActivityJoined {
                activity: number,
                participants,
                rights,
            })
        }
        Request::LeaveActivity { activity } => {
            joined(session, activity)?;
            session.activities.remove(&activity);
            session.relay.activities.leave(&session.member, activity);
            Ok(Response::Done)
        }
        Request::SetActivityState { activity, state } => {
            may_set_state(session, activity)?;
            session
                .relay
                .activities
                .set_state(&session.member, activity, state)?;
            Ok(Response::Done)
        }
        Request::RemoveActivityState { activity, keys } => {
            may_set_state(session, activity)?;
            session
                .relay
                .activities
                .remove_state(&session.member, activity, keys)?;
            Ok(Response::Done)
        }
        Request::ClearActivityState { activity } => {
            may_set_state(session, activity)?;
            session
                .relay
                .activities
                .clear_state(&session.member, activity)?;
            Ok(Response::Done)
        }
        Request::GetActivityPermissions {
            activity_type,
            activity_id,
        } => {
            may_manage_activity(session, &activity_type, activity_id.as_deref()).await?;
            let scope = activities::activity_scope(&activity_type, activity_id.as_deref());
            let (world, users, groups) = split_grants(
                session.relay.store.grants(&scope).await?,
                activities::flags_to_rights,
            );
            Ok(Response::ActivityPermissions {
                world,
                users,
                groups,
            })
        }
        Request::SetActivityPermissions {
            activity_type,
            activity_id,
            target,
            rights,
        } => {
            activities::check_name("type", &activity_type)?;
            if let Some(id) = &activity_id {
                activities::check_name("id", id)?;
            }
            may_manage_activity(session, &activity_type, activity_id.as_deref()).await?;
            let scope = activities::activity_scope(&activity_type, activity_id.as_deref());
            let grantee = grantee_of(target);
            session
                .relay
                .store
                .set_grant(&scope, &grantee, rights.map(activities::rights_to_flags))
                .await?;
            session.relay.permissions_changed();
            Ok(Response::Done)
        }
        other => Err(unsupported(&other)),
    }
}

/// The rights this session joined `activity` with, or `activity_not_found`.
fn joined(session: &Session, activity: ActivityHandle) -> Result<ActivityRights, RelayError> {
    session
        .activities
        .get(&activity)
        .map(|a| a.rights)
        .ok_or_else(|| {
            RelayError::ActivityNotFound(format!(
                "activity {activity} is not joined by this session"
            ))
        })
}

/// Refuses a state change in `activity` to a session that may not set state there.
fn may_set_state(session: &Session, activity: ActivityHandle) -> Result<(), RelayError> {
    require(
        joined(session, activity)?.set_state,
        "set-state",
        &format!("activity {activity}"),
    )
}

/// Refuses to show or change the rights on activities of a type (or one activity) to a session
/// that may not manage them.
async fn may_manage_activity(
    session: &Session,
    activity_type: &str,
    activity_id: Option<&str>,
) -> Result<(), RelayError> {
    let rights = activity_rights(
        session.relay.store.as_ref(),
        &session.member.identity,
        activity_type,
        activity_id,
    )
    .await?;
    let on = match activity_id {
        Some(id) => format!("activity {activity_type}/{id}"),
        None => format!("activities of type {activity_type}"),
    };
    require(rights.manage, "manage", &on)
}

/// The error for history that compaction removed.
fn compacted(floor: u64) -> RelayError {
    RelayError::InvalidRequest(format!(
        "the history before version {floor} was compacted away"
    ))
}

fn require(allowed: bool, what: &str, on: &str) -> Result<(), RelayError> {
    if allowed {
        Ok(())
    } else {
        Err(RelayError::PermissionDenied(format!(
            "no {what} permission on {on}"
        )))
    }
}

/// The session's permissions on a collection or one of its models.
async fn permissions(
    session: &Session,
    collection: &str,
    model: Option<&str>,
) -> Result<Permissions, RelayError> {
    Ok(effective(
        session.relay.store.as_ref(),
        &session.member.identity,
        collection,
        model,
    )
    .await?)
}

/// The metadata of model `id` of `collection` (one id in two collections is two models).
async fn model_in(session: &Session, collection: &str, id: &str) -> Result<ModelMeta, RelayError> {
    match session
        .relay
        .store
        .model(&model_key(collection, id))
        .await?
    {
        Some(meta) => Ok(meta),
        _ => Err(RelayError::ModelNotFound(format!("{collection}/{id}"))),
    }
}

/// Like [`model_in`], and the session must be allowed to read it.
async fn readable(session: &Session, collection: &str, id: &str) -> Result<ModelMeta, RelayError> {
    readable_with(session, collection, id)
        .await
        .map(|(meta, _)| meta)
}

/// Like [`readable`], also returning the session's permissions on the model (read once).
async fn readable_with(
    session: &Session,
    collection: &str,
    id: &str,
) -> Result<(ModelMeta, Permissions), RelayError> {
    let meta = model_in(session, collection, id).await?;
    let granted = permissions(session, &meta.collection, Some(&meta.id)).await?;
    require(granted.read, "read", id)?;
    Ok((meta, granted))
}

/// Makes sure a collection exists, creating it if the relay is configured to. Creation and the
/// world's grant happen under one lock (taken for every check, creations being rare), so a
/// concurrent first use never sees the collection without its permissions.
async fn ensure_collection(session: &Session, collection: &str) -> Result<(), RelayError> {
    let store = &session.relay.store;
    let _creating = session.relay.creating_collections.lock().await;
    if store.collection_exists(collection).await? {
        return Ok(());
    }
    if !session.relay.config.auto_create_collections
        || collection.is_empty()
        || collection.len() > 200
    {
        return Err(RelayError::CollectionNotFound(collection.to_owned()));
    }
    match store.create_collection(collection).await {
        Ok(()) | Err(StoreError::Exists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let world = Permissions {
        read: true,
        write: true,
        remove: true,
        manage: false,
    };
    store
        .set_permissions(
            &PermissionTarget::Collection(collection.to_owned()),
            &Grantee::World,
            world,
        )
        .await?;
    Ok(())
}

async fn create(
    session: &Session,
    collection: &str,
    id: &str,
    data: Node,
) -> Result<(), RelayError> {
    if id.is_empty() || id.len() > 200 {
        return Err(RelayError::InvalidRequest(
            "a model id must have 1 to 200 bytes".into(),
        ));
    }
    if data.id != ElementId::ROOT || !matches!(data.value, NodeValue::Object(_)) {
        return Err(RelayError::InvalidRequest(
            "a model's data must be an object with the root id".into(),
        ));
    }
    Model::new(data.clone())
        .map_err(|e| RelayError::InvalidRequest(format!("invalid initial data: {e}")))?;
    ensure_collection(session, collection).await?;
    require(
        permissions(session, collection, None).await?.write,
        "write",
        collection,
    )?;
    let meta = ModelMeta::new(collection, id, now_ms());
    match session.relay.store.create_model(&meta, &data).await {
        Ok(()) => Ok(()),
        Err(StoreError::Exists(_)) => Err(RelayError::ModelExists(id.to_owned())),
        Err(e) => Err(e.into()),
    }
}

async fn open(
    session: &mut Session,
    request_id: u64,
    collection: &str,
    id: &str,
    known_version: Option<u64>,
    created: bool,
) -> Result<(), RelayError> {
    let (meta, granted) = readable_with(session, collection, id).await?;
    // A model may unload between finding its task and the task receiving the request: retry.
    for _ in 0..3 {
        let (handle, tx) = session.relay.registry.get(&meta.id).await?;
        let (reply, answer) = oneshot::channel();
        let command = Command::Open {
            member: session.member.clone(),
            known_version,
            request_id,
            created,
            reply,
        };
        if tx.send(command).await.is_err() {
            continue;
        }
        let Ok(opened) = answer.await else { continue };
        opened?;
        let epoch = session.relay.permission_epoch();
        session.open.insert(
            handle,
            OpenModel {
                id: meta.id.clone(),
                collection: meta.collection.clone(),
                tx,
                permissions: granted,
                epoch,
            },
        );
        return Ok(());
    }
    Err(RelayError::GoingAway)
}

/// The model at `version`: the newest snapshot before it, plus the operations up to it.
async fn historic(
    session: &Session,
    collection: &str,
    id: &str,
    version: u64,
) -> Result<Response, RelayError> {
    let meta = readable(session, collection, id).await?;
    if version > meta.version {
        return Err(RelayError::InvalidRequest(format!(
            "version {version} is beyond the model's {}",
            meta.version
        )));
    }
    let store = &session.relay.store;
    let floor = store.history_floor(&meta.id).await?;
    if version < floor {
        return Err(compacted(floor));
    }
    let (mut at, node) = store
        .snapshot_at_or_before(&meta.id, version)
        .await?
        .ok_or_else(|| RelayError::ModelNotFound(id.to_owned()))?;
    let mut model = Model::new(node)
        .map_err(|e| RelayError::InvalidRequest(format!("stored snapshot: {e}")))?;
    let mut timestamp_ms = meta.created_ms;
    while at < version {
        let page = store.ops(&meta.id, at, version, MAX_PAGE).await?;
        let Some(last) = page.last() else { break };
        at = last.version;
        timestamp_ms = last.timestamp_ms;
        for op in &page {
            model.apply(&op.op).map_err(|e| {
                RelayError::InvalidRequest(format!("stored op {}: {e}", op.version))
            })?;
        }
    }
    if at == version && version > 0 && timestamp_ms == meta.created_ms {
        if let Some(op) = store.ops(&meta.id, version - 1, version, 1).await?.pop() {
            timestamp_ms = op.timestamp_ms;
        }
    }
    Ok(Response::HistoricModel {
        version,
        timestamp_ms,
        data: model.to_node(),
    })
}

fn summary(meta: ModelMeta) -> ModelSummary {
    ModelSummary {
        collection: meta.collection,
        id: meta.name,
        version: meta.version,
        created_ms: meta.created_ms,
        modified_ms: meta.modified_ms,
    }
}

/// Refuses picture URLs that are too long or not http(s) (empty removes the picture).
pub fn check_avatar_url(url: &str) -> Result<(), RelayError> {
    if url.is_empty()
        || (url.len() <= 2048 && (url.starts_with("https://") || url.starts_with("http://")))
    {
        Ok(())
    } else {
        Err(RelayError::InvalidRequest(
            "an avatar URL is an http(s) URL of at most 2048 bytes".into(),
        ))
    }
}

fn wire_user(user: &crate::store::User) -> wire::UserInfo {
    let identity = crate::permissions::Identity {
        user_id: user.id.clone(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        avatar_url: user.avatar_url.clone(),
        groups: Vec::new(),
        anonymous: user.id.starts_with(crate::ids::ANONYMOUS_PREFIX),
    };
    user_info(&identity)
}

fn scope_of(scope: &PermissionScope) -> (&str, Option<&str>) {
    match scope {
        PermissionScope::Collection { collection } => (collection, None),
        PermissionScope::Model { collection, id } => (collection, Some(id)),
    }
}

fn target_of(scope: &PermissionScope) -> PermissionTarget {
    match scope {
        PermissionScope::Collection { collection } => {
            PermissionTarget::Collection(collection.clone())
        }
        PermissionScope::Model { collection, id } => {
            PermissionTarget::Model(model_key(collection, id))
        }
    }
}

fn permission_set(entries: Vec<(Grantee, Permissions)>) -> PermissionSet {
    let mut set = PermissionSet {
        world: wire::Permissions::default(),
        users: Vec::new(),
        groups: Vec::new(),
    };
    for (grantee, p) in entries {
        match grantee {
            Grantee::World => set.world = p,
            Grantee::User(id) => set.users.push((id, p)),
            Grantee::Group(id) => set.groups.push((id, p)),
        }
    }
    set
}
