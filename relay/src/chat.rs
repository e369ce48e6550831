//! Chat: rooms (members are whoever is in them now), channels (persistent members, public or
//! private through their rights) and direct chats (a fixed set of users; asking twice for the
//! same users gives the same chat). Every event is stored with a number before it is pushed
//! to the sessions concerned, so history pages from any event and unread counts survive
//! restarts, sessions and devices.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tandem_core::protocol::{
    encode_relay, ChatEvent, ChatEventBody, ChatInfo, ChatKind, ChatRights, RelayMessage, Request,
    Response, SortDirection,
};

use crate::cluster::{self, Cluster, PeerBody};
use crate::error::RelayError;
use crate::permissions::{grantee_of, split_grants, Identity};
use crate::registry::Member;
use crate::session::Session;
use crate::store::{ChatRecord, GrantScope, Store, StoreError, StoreResult};
use crate::time::now_ms;

/// The longest chat id or name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The longest topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = 1024;
/// The longest message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// The most members a channel is created with, or users a direct chat has.
pub const MAX_MEMBERS: usize = 1_000;
/// The largest history page.
pub const MAX_PAGE: u32 = 1_000;

/// Who is where, for pushing events: every connected session by user, and the sessions in
/// each room.
#[derive(Default)]
pub struct ChatHub {
    inner: Mutex<Presence>,
    /// The other relays, which push every event to their own sessions.
    cluster: Option<Arc<Cluster>>,
}

#[derive(Default)]
struct Presence {
    /// Connected sessions by user id, then session key.
    sessions: HashMap<String, HashMap<u64, Member>>,
    /// The sessions in each room, by chat id, then session key.
    rooms: HashMap<String, HashMap<u64, Member>>,
}

impl ChatHub {
    /// A hub that has the relays of `cluster` (if any) push every event to their sessions too.
    pub fn new(cluster: Option<Arc<Cluster>>) -> Self {
        ChatHub {
            cluster,
            ..ChatHub::default()
        }
    }

    /// A session connected: events for its user reach it from now on.
    pub fn connected(&self, member: &Member) {
        let mut inner = self.inner.lock().expect("chat lock");
        inner
            .sessions
            .entry(member.identity.user_id.clone())
            .or_default()
            .insert(member.key, member.clone());
    }

    /// A session went: it leaves its rooms. Returns the rooms its user is no longer in.
    pub fn disconnected(&self, member: &Member) -> Vec<String> {
        let mut inner = self.inner.lock().expect("chat lock");
        let user_id = &member.identity.user_id;
        if let Some(sessions) = inner.sessions.get_mut(user_id) {
            sessions.remove(&member.key);
            if sessions.is_empty() {
                inner.sessions.remove(user_id);
            }
        }
        let mut left = Vec::new();
        inner.rooms.retain(|chat, sessions| {
            if sessions.remove(&member.key).is_some()
                && !sessions.values().any(|m| m.identity.user_id == *user_id)
            {
                left.push(chat.clone());
            }
            !sessions.is_empty()
        });
        left
    }

    /// The session enters a room; whether its user was not in it before.
    fn enter_room(&self, chat: &str, member: &Member) -> bool {
        let mut inner = self.inner.lock().expect("chat lock");
        let sessions = inner.rooms.entry(chat.to_owned()).or_default();
        let new_user = !sessions
            .values()
            .any(|m| m.identity.user_id == member.identity.user_id);
        sessions.insert(member.key, member.clone());
        new_user
    }

    /// The session leaves a room; whether its user is no longer in it (`None`: it was not in).
    fn exit_room(&self, chat: &str, member: &Member) -> Option<bool> {
        let mut inner = self.inner.lock().expect("chat lock");
        let sessions = inner.rooms.get_mut(chat)?;
        sessions.remove(&member.key)?;
        let gone = !sessions
            .values()
            .any(|m| m.identity.user_id == member.identity.user_id);
        if sessions.is_empty() {
            inner.rooms.remove(chat);
        }
        Some(gone)
    }

    /// The users in a room now, ordered.
    fn room_users(&self, chat: &str) -> Vec<String> {
        let inner = self.inner.lock().expect("chat lock");
        let users: BTreeSet<String> = inner
            .rooms
            .get(chat)
            .map(|s| s.values().map(|m| m.identity.user_id.clone()).collect())
            .unwrap_or_default();
        users.into_iter().collect()
    }

    /// The rooms a user is in now.
    fn rooms_of(&self, user_id: &str) -> Vec<String> {
        let inner = self.inner.lock().expect("chat lock");
        inner
            .rooms
            .iter()
            .filter(|(_, s)| s.values().any(|m| m.identity.user_id == user_id))
            .map(|(chat, _)| chat.clone())
            .collect()
    }

    /// Pushes an event to every session of `users` and every session in the chat's room, on
    /// this relay and on the others.
    fn deliver(&self, event: ChatEvent, users: &[String]) {
        cluster::publish(&self.cluster, || PeerBody::ChatDelivered {
            event: event.clone(),
            users: users.to_vec(),
        });
        self.deliver_here(event, users);
    }

    /// Pushes an event another relay stored to the sessions here that it concerns.
    pub fn deliver_from_peer(&self, event: ChatEvent, users: &[String]) {
        let removed = matches!(event.body, ChatEventBody::Removed);
        let chat = event.chat_id.clone();
        self.deliver_here(event, users);
        if removed {
            self.forget(&chat);
        }
    }

    /// Pushes an event to the sessions of `users` and the sessions in the chat's room that
    /// are connected here; a session whose queue is full is too slow and is told so.
    fn deliver_here(&self, event: ChatEvent, users: &[String]) {
        let chat = event.chat_id.clone();
        let frame = Bytes::from(encode_relay(&RelayMessage::Chat(event)));
        let inner = self.inner.lock().expect("chat lock");
        let mut sent = BTreeSet::new();
        let by_user = users
            .iter()
            .filter_map(|u| inner.sessions.get(u))
            .flat_map(HashMap::values);
        let in_room = inner.rooms.get(&chat).into_iter().flat_map(HashMap::values);
        for member in by_user.chain(in_room) {
            if sent.insert(member.key) && member.outbox.try_send(frame.clone()).is_err() {
                member.too_slow.notify_one();
            }
        }
    }

    /// Forgets a deleted room.
    fn forget(&self, chat: &str) {
        self.inner.lock().expect("chat lock").rooms.remove(chat);
    }
}

/// Chat rights as the store's flags (bits: join, leave, send, manage members, set name and
/// topic, remove, manage).
pub fn rights_to_flags(r: ChatRights) -> u32 {
    [
        r.join,
        r.leave,
        r.send,
        r.manage_members,
        r.set_name_topic,
        r.remove,
        r.manage,
    ]
    .iter()
    .enumerate()
    .fold(0, |flags, (bit, on)| flags | (u32::from(*on) << bit))
}

/// The inverse of [`rights_to_flags`].
pub fn flags_to_rights(flags: u32) -> ChatRights {
    let on = |bit: u32| flags & (1 << bit) != 0;
    ChatRights {
        join: on(0),
        leave: on(1),
        send: on(2),
        manage_members: on(3),
        set_name_topic: on(4),
        remove: on(5),
        manage: on(6),
    }
}

/// What `who` may do in `chat`: everything for its creator; otherwise the chat's entries if
/// it has any, else its kind's defaults (rooms and channels: join, leave and send; direct
/// chats: send and rename, for their members).
pub async fn chat_rights(
    store: &dyn Store,
    who: &Identity,
    chat: &ChatRecord,
) -> StoreResult<ChatRights> {
    if who.user_id == chat.creator {
        return Ok(ChatRights::ALL);
    }
    let entries = store.grants(&GrantScope::Chat(chat.id.clone())).await?;
    if !entries.is_empty() {
        return Ok(entries
            .iter()
            .filter(|(grantee, _)| crate::permissions::applies(grantee, who))
            .fold(ChatRights::default(), |acc, (_, flags)| {
                acc.union(flags_to_rights(*flags))
            }));
    }
    Ok(match chat.kind {
        ChatKind::Room | ChatKind::Channel => ChatRights {
            join: true,
            leave: true,
            send: true,
            ..ChatRights::default()
        },
        ChatKind::Direct => ChatRights {
            send: true,
            set_name_topic: true,
            ..ChatRights::default()
        },
    })
}

fn check_len(what: &str, text: &str, max: usize, allow_empty: bool) -> Result<(), RelayError> {
    if (!allow_empty && text.is_empty()) || text.len() > max {
        let least = if allow_empty { 0 } else { 1 };
        return Err(RelayError::InvalidRequest(format!(
            "a chat {what} must have {least} to {max} bytes"
        )));
    }
    Ok(())
}

fn require(allowed: bool, what: &str, chat: &str) -> Result<(), RelayError> {
    if allowed {
        Ok(())
    } else {
        Err(RelayError::PermissionDenied(format!(
            "no {what} permission in chat {chat}"
        )))
    }
}

/// One chat as a session works on it.
struct Context<'a> {
    session: &'a Session,
    chat: ChatRecord,
    rights: ChatRights,
    /// Whether the session's user is in it (a member, or in the room).
    inside: bool,
}

impl<'a> Context<'a> {
    async fn load(session: &'a Session, chat_id: &str) -> Result<Context<'a>, RelayError> {
        let store = session.relay.store.as_ref();
        let chat = store
            .chat(chat_id)
            .await?
            .ok_or_else(|| RelayError::ChatNotFound(chat_id.to_owned()))?;
        let rights = chat_rights(store, &session.member.identity, &chat).await?;
        let me = &session.member.identity.user_id;
        let inside = match chat.kind {
            ChatKind::Room => session.relay.chat.room_users(&chat.id).contains(me),
            _ => store.chat_members(&chat.id).await?.contains(me),
        };
        Ok(Context {
            session,
            chat,
            rights,
            inside,
        })
    }

    /// Refuses sessions that may not see the chat: those outside it that may not join it.
    fn visible(&self) -> Result<(), RelayError> {
        if self.inside || (self.rights.join && self.chat.kind != ChatKind::Direct) {
            Ok(())
        } else {
            Err(RelayError::PermissionDenied(format!(
                "chat {} is not visible to this user",
                self.chat.id
            )))
        }
    }

    /// Stores an event by the session's user and pushes it to the chat's members (and `also`).
    async fn post(&self, body: ChatEventBody, also: &[String]) -> Result<ChatEvent, RelayError> {
        let relay = &self.session.relay;
        let user_id = self.session.member.identity.user_id.clone();
        let timestamp_ms = now_ms();
        let event_number = relay
            .store
            .append_chat_event(&self.chat.id, &user_id, timestamp_ms, &body)
            .await?;
        let event = ChatEvent {
            chat_id: self.chat.id.clone(),
            event_number,
            timestamp_ms,
            user_id,
            body,
        };
        let mut users = match self.chat.kind {
            ChatKind::Room => Vec::new(),
            _ => relay.store.chat_members(&self.chat.id).await?,
        };
        users.extend_from_slice(also);
        relay.chat.deliver(event.clone(), &users);
        Ok(event)
    }

    async fn info(&self) -> Result<ChatInfo, RelayError> {
        info(self.session, &self.chat.id).await
    }
}

/// What a session is told about a chat.
async fn info(session: &Session, chat_id: &str) -> Result<ChatInfo, RelayError> {
    let store = session.relay.store.as_ref();
    let chat = store
        .chat(chat_id)
        .await?
        .ok_or_else(|| RelayError::ChatNotFound(chat_id.to_owned()))?;
    let me = &session.member.identity.user_id;
    let members = match chat.kind {
        ChatKind::Room => session.relay.chat.room_users(&chat.id),
        _ => store.chat_members(&chat.id).await?,
    };
    Ok(ChatInfo {
        joined: members.contains(me),
        max_seen_event: store.chat_seen(&chat.id, me).await?,
        members,
        chat_id: chat.id,
        kind: chat.kind,
        name: chat.name,
        topic: chat.topic,
        created_ms: chat.created_ms,
        last_event_number: chat.last_event,
        last_event_ms: chat.last_event_ms,
    })
}

/// A session left (or was cut): it leaves its rooms, and the rooms its user is no longer in
/// hear of it.
pub async fn session_gone(relay: &crate::Relay, member: &Member) {
    for chat in relay.chat.disconnected(member) {
        let body = ChatEventBody::UserLeft {
            user_id: member.identity.user_id.clone(),
        };
        let timestamp_ms = now_ms();
        match relay
            .store
            .append_chat_event(&chat, &member.identity.user_id, timestamp_ms, &body)
            .await
        {
            Ok(event_number) => relay.chat.deliver(
                ChatEvent {
                    chat_id: chat,
                    event_number,
                    timestamp_ms,
                    user_id: member.identity.user_id.clone(),
                    body,
                },
                &[],
            ),
            Err(e) => tracing::warn!(error = %e, chat = %chat, "storing a room leave failed"),
        }
    }
}

/// Answers a chat request.
pub async fn handle(session: &mut Session, request: Request) -> Result<Response, RelayError> {
    let me = session.member.identity.user_id.clone();
    match request {
        Request::CreateChat {
            kind,
            chat_id,
            name,
            topic,
            members,
        } => {
            if kind == ChatKind::Direct {
                return Err(RelayError::InvalidRequest(
                    "direct chats come from GetDirectChat".into(),
                ));
            }
            let chat_id = chat_id.unwrap_or_else(crate::ids::random_id);
            check_len("id", &chat_id, MAX_NAME_BYTES, false)?;
            check_len("name", &name, MAX_NAME_BYTES, true)?;
            check_len("topic", &topic, MAX_TOPIC_BYTES, true)?;
            let members = if kind == ChatKind::Channel {
                let mut all: BTreeSet<String> = members.into_iter().collect();
                all.insert(me.clone());
                known_users(session, all).await?
            } else {
                Vec::new()
            };
            let created_ms = now_ms();
            let record = ChatRecord {
                id: chat_id.clone(),
                kind,
                name: name.clone(),
                topic: topic.clone(),
                creator: me.clone(),
                created_ms,
                last_event: 1,
                last_event_ms: created_ms,
            };
            match session
                .relay
                .store
                .create_chat(&record, None, &members)
                .await
            {
                Err(StoreError::Exists(_)) => return Err(RelayError::ChatExists(chat_id)),
                other => other?,
            }
            let created = ChatEvent {
                chat_id: chat_id.clone(),
                event_number: 1,
                timestamp_ms: created_ms,
                user_id: me,
                body: ChatEventBody::Created {
                    kind,
                    name,
                    topic,
                    members: members.clone(),
                },
            };
            session.relay.chat.deliver(created, &members);
            Ok(Response::Chat(info(session, &chat_id).await?))
        }
        Request::GetDirectChat { user_ids } => {
            let mut all: BTreeSet<String> = user_ids.into_iter().collect();
            all.insert(me.clone());
            if all.len() < 2 || all.len() > MAX_MEMBERS {
                return Err(RelayError::InvalidRequest(format!(
                    "a direct chat is between 2 and {MAX_MEMBERS} users"
                )));
            }
            let members = known_users(session, all).await?;
            let key = members.join("\u{1f}");
            let store = &session.relay.store;
            if let Some(chat) = store.direct_chat(&key).await? {
                return Ok(Response::Chat(info(session, &chat.id).await?));
            }
            let created_ms = now_ms();
            let record = ChatRecord {
                id: format!("direct-{}", crate::ids::random_id()),
                kind: ChatKind::Direct,
                name: String::new(),
                topic: String::new(),
                creator: me,
                created_ms,
                last_event: 1,
                last_event_ms: created_ms,
            };
            let id = match store.create_chat(&record, Some(&key), &members).await {
                Ok(()) => record.id,
                // Someone asked for the same users at the same moment: theirs it is.
                Err(StoreError::Exists(_)) => {
                    store
                        .direct_chat(&key)
                        .await?
                        .ok_or_else(|| RelayError::ChatNotFound(key.clone()))?
                        .id
                }
                Err(e) => return Err(e.into()),
            };
            Ok(Response::Chat(info(session, &id).await?))
        }
        Request::GetChat { chat_id } => {
            let chat = Context::load(session, &chat_id).await?;
            chat.visible()?;
            Ok(Response::Chat(chat.info().await?))
        }
        Request::GetJoinedChats => {
            let ids = chats_in(session, &me).await?;
            let mut chats = Vec::with_capacity(ids.len());
            for id in ids {
                chats.push(info(session, &id).await?);
            }
            Ok(Response::Chats { chats })
        }
        Request::JoinChat { chat_id } => {
            let chat = Context::load(session, &chat_id).await?;
            if chat.chat.kind == ChatKind::Direct {
                return Err(RelayError::InvalidRequest(
                    "a direct chat has a fixed set of users".into(),
                ));
            }
            require(chat.rights.join, "join", &chat_id)?;
            match chat.chat.kind {
                ChatKind::Direct => {}
                ChatKind::Room => {
                    if session.relay.chat.enter_room(&chat_id, &session.member) {
                        chat.post(ChatEventBody::UserJoined { user_id: me }, &[])
                            .await?;
                    }
                }
                ChatKind::Channel => {
                    if !chat.inside {
                        chat.post(ChatEventBody::UserJoined { user_id: me }, &[])
                            .await?;
                    }
                }
            }
            Ok(Response::Chat(chat.info().await?))
        }
        Request::LeaveChat { chat_id } => {
            let chat = Context::load(session, &chat_id).await?;
            match chat.chat.kind {
                ChatKind::Direct => {
                    return Err(RelayError::InvalidRequest(
                        "a direct chat has a fixed set of users".into(),
                    ))
                }
                ChatKind::Room => match session.relay.chat.exit_room(&chat_id, &session.member) {
                    None => return Err(not_in(&chat_id)),
                    Some(true) => {
                        chat.post(
                            ChatEventBody::UserLeft {
                                user_id: me.clone(),
                            },
                            &[me],
                        )
                        .await?;
                    }
                    Some(false) => {}
                },
                ChatKind::Channel => {
                    require(chat.rights.leave, "leave", &chat_id)?;
                    if !chat.inside {
                        return Err(not_in(&chat_id));
                    }
                    chat.post(
                        ChatEventBody::UserLeft {
                            user_id: me.clone(),
                        },
                        &[me],
                    )
                    .await?;
                }
            }
            Ok(Response::Done)
        }
        Request::SendChatMessage { chat_id, text } => {
            check_len("message", &text, MAX_MESSAGE_BYTES, false)?;
            let chat = Context::load(session, &chat_id).await?;
            require(chat.rights.send, "send", &chat_id)?;
            if !chat.inside {
                return Err(not_in(&chat_id));
            }
            let event = chat.post(ChatEventBody::Message { text }, &[]).await?;
            Ok(Response::ChatMessageSent {
                event_number: event.event_number,
                timestamp_ms: event.timestamp_ms,
            })
        }
        Request::SetChatName { chat_id, name } => {
            check_len("name", &name, MAX_NAME_BYTES, true)?;
            let chat = Context::load(session, &chat_id).await?;
            may_rename(&chat)?;
            chat.post(ChatEventBody::NameChanged { name }, &[]).await?;
            Ok(Response::Done)
        }
        Request::SetChatTopic { chat_id, topic } => {
            check_len("topic", &topic, MAX_TOPIC_BYTES, true)?;
            let chat = Context::load(session, &chat_id).await?;
            may_rename(&chat)?;
            chat.post(ChatEventBody::TopicChanged { topic }, &[])
                .await?;
            Ok(Response::Done)
        }
        Request::AddChatMember { chat_id, user_id } => {
            let chat = Context::load(session, &chat_id).await?;
            members_managed(&chat)?;
            let added = known_users(session, BTreeSet::from([user_id])).await?;
            if !session
                .relay
                .store
                .chat_members(&chat_id)
                .await?
                .contains(&added[0])
            {
                chat.post(
                    ChatEventBody::UserAdded {
                        user_id: added[0].clone(),
                    },
                    &[],
                )
                .await?;
            }
            Ok(Response::Done)
        }
        Request::RemoveChatMember { chat_id, user_id } => {
            let chat = Context::load(session, &chat_id).await?;
            members_managed(&chat)?;
            if !session
                .relay
                .store
                .chat_members(&chat_id)
                .await?
                .contains(&user_id)
            {
                return Err(RelayError::UserNotFound(format!(
                    "{user_id} is not a member of chat {chat_id}"
                )));
            }
            chat.post(
                ChatEventBody::UserRemoved {
                    user_id: user_id.clone(),
                },
                &[user_id],
            )
            .await?;
            Ok(Response::Done)
        }
        Request::RemoveChat { chat_id } => {
            let chat = Context::load(session, &chat_id).await?;
            require(chat.rights.remove, "remove", &chat_id)?;
            let relay = &session.relay;
            let members = match chat.chat.kind {
                ChatKind::Room => Vec::new(),
                _ => relay.store.chat_members(&chat_id).await?,
            };
            let removed = ChatEvent {
                chat_id: chat_id.clone(),
                event_number: chat.chat.last_event + 1,
                timestamp_ms: now_ms(),
                user_id: me,
                body: ChatEventBody::Removed,
            };
            relay.store.delete_chat(&chat_id).await?;
            relay.chat.deliver(removed, &members);
            relay.chat.forget(&chat_id);
            Ok(Response::Done)
        }
        Request::GetChatHistory {
            chat_id,
            start_event,
            direction,
            limit,
            event_kinds,
        } => {
            let chat = Context::load(session, &chat_id).await?;
            chat.visible()?;
            let events = session
                .relay
                .store
                .chat_events(
                    &chat_id,
                    start_event,
                    direction == SortDirection::Descending,
                    u64::from(limit.min(MAX_PAGE)),
                    &event_kinds,
                )
                .await?;
            Ok(Response::ChatEvents { events })
        }
        Request::MarkChatSeen {
            chat_id,
            event_number,
        } => {
            let chat = Context::load(session, &chat_id).await?;
            chat.visible()?;
            let seen = event_number.min(chat.chat.last_event);
            session
                .relay
                .store
                .mark_chat_seen(&chat_id, &me, seen)
                .await?;
            Ok(Response::Done)
        }
        Request::GetUnreadCounts => {
            let ids = chats_in(session, &me).await?;
            let counts = session.relay.store.unread_counts(&me, &ids).await?;
            Ok(Response::UnreadCounts {
                counts: counts.into_iter().filter(|(_, n)| *n > 0).collect(),
            })
        }
        Request::GetChatPermissions { chat_id } => {
            let chat = Context::load(session, &chat_id).await?;
            require(chat.rights.manage, "manage", &chat_id)?;
            let (world, users, groups) = split_grants(
                session
                    .relay
                    .store
                    .grants(&GrantScope::Chat(chat_id))
                    .await?,
                flags_to_rights,
            );
            Ok(Response::ChatPermissions {
                world,
                users,
                groups,
            })
        }
        Request::SetChatPermissions {
            chat_id,
            target,
            rights,
        } => {
            let chat = Context::load(session, &chat_id).await?;
            require(chat.rights.manage, "manage", &chat_id)?;
            let grantee = grantee_of(target);
            session
                .relay
                .store
                .set_grant(
                    &GrantScope::Chat(chat_id),
                    &grantee,
                    rights.map(rights_to_flags),
                )
                .await?;
            Ok(Response::Done)
        }
        other => Err(crate::session::unsupported(&other)),
    }
}

/// The chats a user is in: stored memberships and the rooms they are in now, ordered.
async fn chats_in(session: &Session, user_id: &str) -> Result<Vec<String>, RelayError> {
    let mut ids: BTreeSet<String> = session
        .relay
        .store
        .chats_of_member(user_id)
        .await?
        .into_iter()
        .collect();
    ids.extend(session.relay.chat.rooms_of(user_id));
    Ok(ids.into_iter().collect())
}

fn not_in(chat_id: &str) -> RelayError {
    RelayError::InvalidRequest(format!("this user is not in chat {chat_id}"))
}

/// Renaming needs the right, and for a direct chat being one of its users.
fn may_rename(chat: &Context<'_>) -> Result<(), RelayError> {
    require(
        chat.rights.set_name_topic,
        "set-name-and-topic",
        &chat.chat.id,
    )?;
    if chat.chat.kind == ChatKind::Direct && !chat.inside {
        return Err(not_in(&chat.chat.id));
    }
    Ok(())
}

/// Only channels have members to manage, and only with the right.
fn members_managed(chat: &Context<'_>) -> Result<(), RelayError> {
    if chat.chat.kind != ChatKind::Channel {
        return Err(RelayError::InvalidRequest(
            "only channels have members to add and remove".into(),
        ));
    }
    require(chat.rights.manage_members, "manage-members", &chat.chat.id)
}

/// The users, checked to exist (at most [`MAX_MEMBERS`]), ordered.
async fn known_users(
    session: &Session,
    users: BTreeSet<String>,
) -> Result<Vec<String>, RelayError> {
    if users.len() > MAX_MEMBERS {
        return Err(RelayError::InvalidRequest(format!(
            "at most {MAX_MEMBERS} users"
        )));
    }
    for user in &users {
        if session.relay.store.user_by_id(user).await?.is_none() {
            return Err(RelayError::UserNotFound(user.clone()));
        }
    }
    Ok(users.into_iter().collect())
}
