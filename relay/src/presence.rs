//! Presence: which users are available (at least one session connected) and the state their
//! sessions publish ("status": "in a meeting", anything the app wants), fanned out to the
//! sessions that follow them.
//!
//! Presence lives in memory: a relay that restarts has no sessions, so nobody is available and
//! there is no state to keep. A user's state is cleared when their last session goes. Relays in
//! a cluster tell each other which sessions each user has and every state change, so a user
//! is available while they have a session on any relay.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tandem_core::protocol::{
    encode_relay, PresenceEvent, RelayMessage, StateEntries, UserPresence,
};

use crate::cluster::{self, Cluster, PeerBody};
use crate::error::RelayError;
use crate::registry::Member;

/// The most entries one user's state may hold.
pub const MAX_STATE_ENTRIES: usize = 64;
/// The most bytes one user's state (or one session's activity state) may take on the wire.
pub const MAX_STATE_BYTES: usize = 16 * 1024;
/// The longest state key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The most users one session may follow.
pub const MAX_FOLLOWED: usize = 10_000;

/// One user as presence sees them.
#[derive(Default)]
struct UserEntry {
    /// The connected sessions (their keys): the user is available while there is one here or
    /// on another relay.
    sessions: HashSet<u64>,
    /// The user's sessions on other relays, as (relay, session key).
    remote: HashSet<(u64, u64)>,
    /// The published state, in the order keys were first set.
    state: StateEntries,
    /// The sessions following this user, by key.
    followers: HashMap<u64, Member>,
}

impl UserEntry {
    fn is_unused(&self) -> bool {
        !self.available() && self.followers.is_empty()
    }

    fn available(&self) -> bool {
        !self.sessions.is_empty() || !self.remote.is_empty()
    }

    fn snapshot(&self, user_id: &str) -> UserPresence {
        UserPresence {
            user_id: user_id.to_owned(),
            available: self.available(),
            state: self.state.clone(),
        }
    }

    /// Tells followers that the user became available or unavailable, if `was` differs from
    /// now; an unavailable user's state is cleared.
    fn availability_changed(&mut self, user_id: &str, was: bool) {
        match (was, self.available()) {
            (false, true) => self.tell_followers(PresenceEvent::Available {
                user_id: user_id.to_owned(),
            }),
            (true, false) => {
                self.state.clear();
                self.tell_followers(PresenceEvent::Unavailable {
                    user_id: user_id.to_owned(),
                });
            }
            _ => {}
        }
    }

    /// Sends an event to every follower; one whose queue is full is too slow and is told so
    /// (its session closes, and its client reconnects and asks again).
    fn tell_followers(&self, event: PresenceEvent) {
        if self.followers.is_empty() {
            return;
        }
        let frame = Bytes::from(encode_relay(&RelayMessage::Presence(event)));
        for member in self.followers.values() {
            if member.outbox.try_send(frame.clone()).is_err() {
                member.too_slow.notify_one();
            }
        }
    }
}

/// Every user's presence on this relay, and who follows whom.
#[derive(Default)]
pub struct PresenceHub {
    /// The other relays, told of every change here.
    cluster: Option<Arc<Cluster>>,
    /// Users with a connected session or a follower.
    users: Mutex<HashMap<String, UserEntry>>,
    /// The users each session follows, by session key (to stop following when it goes).
    follows: Mutex<HashMap<u64, HashSet<String>>>,
}

impl PresenceHub {
    /// A hub that tells the relays of `cluster` (if any) of every change.
    pub fn new(cluster: Option<Arc<Cluster>>) -> Self {
        PresenceHub {
            cluster,
            ..PresenceHub::default()
        }
    }

    /// A session of `member`'s user connected; the user becomes available with their first.
    pub fn connected(&self, member: &Member) {
        let user_id = &member.identity.user_id;
        let mut users = self.users.lock().expect("presence lock");
        let entry = users.entry(user_id.clone()).or_default();
        let was = entry.available();
        entry.sessions.insert(member.key);
        entry.availability_changed(user_id, was);
        cluster::publish(&self.cluster, || PeerBody::UserSession {
            user_id: user_id.clone(),
            key: member.key,
            up: true,
        });
    }

    /// A session went (closed, cut or timed out): it stops following anyone, and its user
    /// becomes unavailable, with their state cleared, when it was their last.
    pub fn disconnected(&self, member: &Member) {
        let followed = self
            .follows
            .lock()
            .expect("presence lock")
            .remove(&member.key)
            .unwrap_or_default();
        let mut users = self.users.lock().expect("presence lock");
        for user_id in followed {
            if let Some(entry) = users.get_mut(&user_id) {
                entry.followers.remove(&member.key);
                if entry.is_unused() {
                    users.remove(&user_id);
                }
            }
        }
        let user_id = &member.identity.user_id;
        cluster::publish(&self.cluster, || PeerBody::UserSession {
            user_id: user_id.clone(),
            key: member.key,
            up: false,
        });
        let Some(entry) = users.get_mut(user_id) else {
            return;
        };
        let was = entry.available();
        entry.sessions.remove(&member.key);
        entry.availability_changed(user_id, was);
        if entry.is_unused() {
            users.remove(user_id);
        }
    }

    /// A session of `user_id` on relay `relay` connected (`up`) or went.
    pub fn remote_session(&self, relay: u64, user_id: &str, key: u64, up: bool) {
        let mut users = self.users.lock().expect("presence lock");
        let entry = users.entry(user_id.to_owned()).or_default();
        let was = entry.available();
        if up {
            entry.remote.insert((relay, key));
        } else {
            entry.remote.remove(&(relay, key));
        }
        entry.availability_changed(user_id, was);
        if entry.is_unused() {
            users.remove(user_id);
        }
    }

    /// A user's state changed through another relay (checked there).
    pub fn remote_state(&self, event: PresenceEvent) {
        let mut users = self.users.lock().expect("presence lock");
        let user_id = match &event {
            PresenceEvent::StateSet { user_id, .. }
            | PresenceEvent::StateRemoved { user_id, .. }
            | PresenceEvent::StateCleared { user_id } => user_id,
            PresenceEvent::Available { .. } | PresenceEvent::Unavailable { .. } => return,
        };
        let Some(entry) = users.get_mut(user_id) else {
            return;
        };
        match &event {
            PresenceEvent::StateSet { state, .. } => merge_state(&mut entry.state, state.clone()),
            PresenceEvent::StateRemoved { keys, .. } => {
                entry.state.retain(|(k, _)| !keys.contains(k))
            }
            _ => entry.state.clear(),
        }
        entry.tell_followers(event);
    }

    /// Drops every session relay `relay` announced.
    pub fn peer_gone(&self, relay: u64) {
        let mut users = self.users.lock().expect("presence lock");
        for (user_id, entry) in users.iter_mut() {
            let was = entry.available();
            entry.remote.retain(|(r, _)| *r != relay);
            entry.availability_changed(user_id, was);
        }
        users.retain(|_, entry| !entry.is_unused());
    }

    /// What the other relays need to know of this one's users: their sessions here, and the
    /// states of those with one.
    pub fn announce(&self) -> Vec<PeerBody> {
        let users = self.users.lock().expect("presence lock");
        let mut news = Vec::new();
        for (user_id, entry) in users.iter() {
            for key in &entry.sessions {
                news.push(PeerBody::UserSession {
                    user_id: user_id.clone(),
                    key: *key,
                    up: true,
                });
            }
            if !entry.sessions.is_empty() && !entry.state.is_empty() {
                news.push(PeerBody::UserState(PresenceEvent::StateSet {
                    user_id: user_id.clone(),
                    state: entry.state.clone(),
                }));
            }
        }
        news
    }

    /// The current presence of each of `user_ids` (unknown ones are simply unavailable).
    pub fn get(&self, user_ids: &[String]) -> Vec<UserPresence> {
        let users = self.users.lock().expect("presence lock");
        user_ids
            .iter()
            .map(|id| match users.get(id) {
                Some(entry) => entry.snapshot(id),
                None => UserPresence {
                    user_id: id.clone(),
                    available: false,
                    state: Vec::new(),
                },
            })
            .collect()
    }

    /// `member` follows `user_ids` from now on; returns their current presence, so that the
    /// events that follow apply to a known starting point.
    pub fn subscribe(
        &self,
        member: &Member,
        user_ids: &[String],
    ) -> Result<Vec<UserPresence>, RelayError> {
        let mut follows = self.follows.lock().expect("presence lock");
        let mut users = self.users.lock().expect("presence lock");
        let followed = follows.entry(member.key).or_default();
        let new = user_ids.iter().filter(|id| !followed.contains(*id)).count();
        if followed.len() + new > MAX_FOLLOWED {
            return Err(RelayError::InvalidRequest(format!(
                "a session follows at most {MAX_FOLLOWED} users"
            )));
        }
        Ok(user_ids
            .iter()
            .map(|id| {
                let entry = users.entry(id.clone()).or_default();
                entry.followers.insert(member.key, member.clone());
                followed.insert(id.clone());
                entry.snapshot(id)
            })
            .collect())
    }

    /// `member` stops following `user_ids`.
    pub fn unsubscribe(&self, member: &Member, user_ids: &[String]) {
        let mut follows = self.follows.lock().expect("presence lock");
        let mut users = self.users.lock().expect("presence lock");
        if let Some(followed) = follows.get_mut(&member.key) {
            for id in user_ids {
                followed.remove(id);
            }
        }
        for id in user_ids {
            if let Some(entry) = users.get_mut(id) {
                entry.followers.remove(&member.key);
                if entry.is_unused() {
                    users.remove(id);
                }
            }
        }
    }

    /// Sets entries of `member`'s user's state (replacing keys already set), checked against
    /// the limits first: a refused change changes nothing.
    pub fn set_state(&self, member: &Member, entries: StateEntries) -> Result<(), RelayError> {
        check_keys(entries.iter().map(|(k, _)| k))?;
        let user_id = &member.identity.user_id;
        let mut users = self.users.lock().expect("presence lock");
        let entry = users.entry(user_id.clone()).or_default();
        let mut state = entry.state.clone();
        merge_state(&mut state, entries.clone());
        check_state(&state)?;
        entry.state = state;
        let event = PresenceEvent::StateSet {
            user_id: user_id.clone(),
            state: entries,
        };
        cluster::publish(&self.cluster, || PeerBody::UserState(event.clone()));
        entry.tell_followers(event);
        Ok(())
    }

    /// Removes entries of `member`'s user's state.
    pub fn remove_state(&self, member: &Member, keys: Vec<String>) {
        let user_id = &member.identity.user_id;
        let mut users = self.users.lock().expect("presence lock");
        if let Some(entry) = users.get_mut(user_id) {
            entry.state.retain(|(k, _)| !keys.contains(k));
            let event = PresenceEvent::StateRemoved {
                user_id: user_id.clone(),
                keys,
            };
            cluster::publish(&self.cluster, || PeerBody::UserState(event.clone()));
            entry.tell_followers(event);
        }
    }

    /// Removes every entry of `member`'s user's state.
    pub fn clear_state(&self, member: &Member) {
        let user_id = &member.identity.user_id;
        let mut users = self.users.lock().expect("presence lock");
        if let Some(entry) = users.get_mut(user_id) {
            entry.state.clear();
            let event = PresenceEvent::StateCleared {
                user_id: user_id.clone(),
            };
            cluster::publish(&self.cluster, || PeerBody::UserState(event.clone()));
            entry.tell_followers(event);
        }
    }
}

/// Sets `entries` in `state`: keys already there keep their place and take the new value.
pub fn merge_state(state: &mut StateEntries, entries: StateEntries) {
    for (key, value) in entries {
        match state.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => state.push((key, value)),
        }
    }
}

/// Refuses empty or overlong keys.
pub fn check_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Result<(), RelayError> {
    for key in keys {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(RelayError::InvalidRequest(format!(
                "a state key must have 1 to {MAX_KEY_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// Refuses a state over the limits (entries and encoded size).
pub fn check_state(state: &StateEntries) -> Result<(), RelayError> {
    if state.len() > MAX_STATE_ENTRIES {
        return Err(RelayError::InvalidRequest(format!(
            "a state holds at most {MAX_STATE_ENTRIES} entries"
        )));
    }
    let mut bytes = Vec::new();
    tandem_core::protocol::Encode::encode(state, &mut bytes);
    if bytes.len() > MAX_STATE_BYTES {
        return Err(RelayError::InvalidRequest(format!(
            "a state takes at most {MAX_STATE_BYTES} bytes ({} given)",
            bytes.len()
        )));
    }
    Ok(())
}
