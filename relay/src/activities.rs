//! Activities: sessions join an activity ("document 42", "page /pricing") to see who else is
//! there and what each participant is doing (cursor colour, "typing", the viewport), as
//! per-session state. A lurker sees the participants without being listed. Everything lives in
//! memory: an activity exists while someone is in it, and a session that goes leaves every
//! activity at once.
//!
//! Each activity has one number on this relay, which every session in it uses as its handle,
//! so that an event is encoded once for everyone. Relays in a cluster tell each other who
//! joined (listed, not lurking), left or changed their state, so an activity is one across
//! relays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tandem_core::protocol::{
    encode_relay, ActivityEvent, ActivityHandle, ActivityParticipant, ActivityRights, RelayMessage,
    StateEntries, UserInfo,
};

use crate::cluster::{self, Cluster, PeerBody};
use crate::error::RelayError;
use crate::presence::{check_keys, check_state, merge_state};
use crate::registry::{user_info, Member};
use crate::store::GrantScope;

/// The longest activity type or id, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The most activities one session may be in at once.
pub const MAX_JOINED: usize = 100;
/// The most sessions one activity holds.
pub const MAX_PARTICIPANTS: usize = 10_000;

/// The store's scope for activities of a type, or for one activity.
pub fn activity_scope(activity_type: &str, activity_id: Option<&str>) -> GrantScope {
    match activity_id {
        Some(id) => GrantScope::Activity {
            activity_type: activity_type.to_owned(),
            activity_id: id.to_owned(),
        },
        None => GrantScope::ActivityType(activity_type.to_owned()),
    }
}

/// Activity rights as the store's flags (bit 0 join, 1 lurk, 2 view state, 3 set state,
/// 4 manage).
pub fn rights_to_flags(rights: ActivityRights) -> u32 {
    u32::from(rights.join)
        | u32::from(rights.lurk) << 1
        | u32::from(rights.view_state) << 2
        | u32::from(rights.set_state) << 3
        | u32::from(rights.manage) << 4
}

/// The inverse of [`rights_to_flags`] (unknown bits are ignored).
pub fn flags_to_rights(flags: u32) -> ActivityRights {
    ActivityRights {
        join: flags & 1 != 0,
        lurk: flags & 2 != 0,
        view_state: flags & 4 != 0,
        set_state: flags & 8 != 0,
        manage: flags & 16 != 0,
    }
}

/// A session in an activity.
struct Participant {
    /// The session's id, as the others see it.
    session_id: String,
    /// Its user.
    user: UserInfo,
    /// Where the session is connected.
    place: Place,
    /// Not listed, and has no state.
    lurking: bool,
    /// Whether it may see the others' state (decided when it joined).
    view_state: bool,
    /// Its state in the activity, in the order keys were first set.
    state: StateEntries,
}

/// Where a participant's session is connected.
enum Place {
    /// Here: its member, for its outbox.
    Local(Member),
    /// On another relay, by id, which tells its sessions itself.
    Remote(u64),
}

impl Participant {
    fn listed(&self) -> ActivityParticipant {
        ActivityParticipant {
            session_id: self.session_id.clone(),
            user: self.user.clone(),
            state: self.state.clone(),
        }
    }

    /// Its member, when the session is connected here.
    fn local(&self) -> Option<&Member> {
        match &self.place {
            Place::Local(member) => Some(member),
            Place::Remote(_) => None,
        }
    }
}

/// One activity and who is in it.
struct Activity {
    /// Its type and id, to drop it from the index when it empties.
    name: (String, String),
    /// Everyone in it, in the order they joined.
    participants: Vec<Participant>,
}

impl Activity {
    fn position(&self, key: u64) -> Option<usize> {
        self.participants
            .iter()
            .position(|p| p.local().is_some_and(|m| m.key == key))
    }

    /// Sends an event to everyone connected here in the activity but `except` (to viewers of
    /// state only when `state_only`); a session whose queue is full is too slow and is told so.
    fn tell(&self, event: ActivityEvent, except: u64, state_only: bool) {
        let frame = Bytes::from(encode_relay(&RelayMessage::Activity(event)));
        for p in &self.participants {
            let Some(member) = p.local() else { continue };
            if member.key != except
                && (p.view_state || !state_only)
                && member.outbox.try_send(frame.clone()).is_err()
            {
                member.too_slow.notify_one();
            }
        }
    }

    /// Tells everyone connected here that `joined` joined (with its state to viewers only).
    fn tell_joined(&self, number: ActivityHandle, joined: ActivityParticipant) {
        let stateless = ActivityParticipant {
            state: Vec::new(),
            ..joined.clone()
        };
        let viewers = RelayMessage::Activity(ActivityEvent::Joined {
            activity: number,
            participant: joined,
        });
        let others = RelayMessage::Activity(ActivityEvent::Joined {
            activity: number,
            participant: stateless,
        });
        let (viewers, others) = (
            Bytes::from(encode_relay(&viewers)),
            Bytes::from(encode_relay(&others)),
        );
        for p in &self.participants {
            let Some(member) = p.local() else { continue };
            let frame = if p.view_state { &viewers } else { &others };
            if member.outbox.try_send(frame.clone()).is_err() {
                member.too_slow.notify_one();
            }
        }
    }
}

/// Every activity with someone in it.
#[derive(Default)]
pub struct ActivityHub {
    inner: Mutex<Activities>,
    /// The other relays, told of every join, leave and state change here.
    cluster: Option<Arc<Cluster>>,
}

#[derive(Default)]
struct Activities {
    /// By number.
    by_number: HashMap<ActivityHandle, Activity>,
    /// Numbers by type and id.
    by_name: HashMap<(String, String), ActivityHandle>,
    /// The next number to hand out.
    next: ActivityHandle,
}

impl Activities {
    /// The number of the activity with this type and id, made if there is none.
    fn number_of(&mut self, name: (String, String)) -> ActivityHandle {
        if let Some(&number) = self.by_name.get(&name) {
            return number;
        }
        // Numbers wrap after 2^32 activities; skip any still in use.
        while self.by_number.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let number = self.next;
        self.next = self.next.wrapping_add(1);
        self.by_name.insert(name.clone(), number);
        self.by_number.insert(
            number,
            Activity {
                name,
                participants: Vec::new(),
            },
        );
        number
    }

    /// Forgets an activity nobody is in any more.
    fn drop_if_empty(&mut self, number: ActivityHandle) {
        if let Some(activity) = self.by_number.get(&number) {
            if activity.participants.is_empty() {
                let name = activity.name.clone();
                self.by_number.remove(&number);
                self.by_name.remove(&name);
            }
        }
    }
}

/// Refuses empty or overlong activity types and ids.
pub fn check_name(what: &str, name: &str) -> Result<(), RelayError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(RelayError::InvalidRequest(format!(
            "an activity {what} must have 1 to {MAX_NAME_BYTES} bytes"
        )));
    }
    Ok(())
}

impl ActivityHub {
    /// A hub that tells the relays of `cluster` (if any) of every change.
    pub fn new(cluster: Option<Arc<Cluster>>) -> Self {
        ActivityHub {
            cluster,
            ..ActivityHub::default()
        }
    }

    /// `member` joins the activity `activity_type`/`activity_id` (listed unless `lurk`), with
    /// `rights` already checked by the caller; returns its number and the participants as this
    /// session may see them. Everyone already there hears of it unless it lurks.
    pub fn join(
        &self,
        member: &Member,
        activity_type: String,
        activity_id: String,
        lurk: bool,
        rights: ActivityRights,
        state: StateEntries,
    ) -> Result<(ActivityHandle, Vec<ActivityParticipant>), RelayError> {
        check_name("type", &activity_type)?;
        check_name("id", &activity_id)?;
        if lurk && !state.is_empty() {
            return Err(RelayError::InvalidRequest(
                "a lurker has no state in the activity".into(),
            ));
        }
        check_keys(state.iter().map(|(k, _)| k))?;
        let mut own = StateEntries::new();
        merge_state(&mut own, state);
        check_state(&own)?;
        let mut all = self.inner.lock().expect("activities lock");
        let name = (activity_type, activity_id);
        let number = all.number_of(name);
        let activity = all.by_number.get_mut(&number).expect("indexed");
        if activity.position(member.key).is_some() {
            return Err(RelayError::InvalidRequest(
                "this session is already in the activity".into(),
            ));
        }
        if activity.participants.len() >= MAX_PARTICIPANTS {
            return Err(RelayError::InvalidRequest("the activity is full".into()));
        }
        let participant = Participant {
            session_id: member.session_id.to_string(),
            user: user_info(&member.identity),
            place: Place::Local(member.clone()),
            lurking: lurk,
            view_state: rights.view_state,
            state: own,
        };
        if !lurk {
            let joined = participant.listed();
            cluster::publish(&self.cluster, || PeerBody::ActivityJoined {
                activity_type: activity.name.0.clone(),
                activity_id: activity.name.1.clone(),
                participant: joined.clone(),
            });
            activity.tell_joined(number, joined);
        }
        activity.participants.push(participant);
        let listed = activity
            .participants
            .iter()
            .filter(|p| !p.lurking)
            .map(|p| {
                let mut listed = p.listed();
                if !rights.view_state && p.session_id != *member.session_id {
                    listed.state.clear();
                }
                listed
            })
            .collect();
        Ok((number, listed))
    }

    /// `member` leaves activity `number`; the others hear of it unless it lurked. Returns
    /// whether it was in it.
    pub fn leave(&self, member: &Member, number: ActivityHandle) -> bool {
        let mut all = self.inner.lock().expect("activities lock");
        let Some(activity) = all.by_number.get_mut(&number) else {
            return false;
        };
        let Some(at) = activity.position(member.key) else {
            return false;
        };
        let gone = activity.participants.remove(at);
        if !gone.lurking {
            let left = ActivityEvent::Left {
                activity: number,
                session_id: member.session_id.to_string(),
            };
            cluster::publish(&self.cluster, || PeerBody::ActivityChanged {
                activity_type: activity.name.0.clone(),
                activity_id: activity.name.1.clone(),
                event: left.clone(),
            });
            activity.tell(left, member.key, false);
        }
        all.drop_if_empty(number);
        true
    }

    /// Sets entries of `member`'s state in activity `number` (checked against the limits
    /// first: a refused change changes nothing); viewers hear of it.
    pub fn set_state(
        &self,
        member: &Member,
        number: ActivityHandle,
        entries: StateEntries,
    ) -> Result<(), RelayError> {
        check_keys(entries.iter().map(|(k, _)| k))?;
        self.with_own_state(member, number, |activity, at| {
            let mut state = activity.participants[at].state.clone();
            merge_state(&mut state, entries.clone());
            check_state(&state)?;
            activity.participants[at].state = state;
            Ok(ActivityEvent::StateSet {
                activity: number,
                session_id: member.session_id.to_string(),
                state: entries,
            })
        })
    }

    /// Removes entries of `member`'s state in activity `number`.
    pub fn remove_state(
        &self,
        member: &Member,
        number: ActivityHandle,
        keys: Vec<String>,
    ) -> Result<(), RelayError> {
        self.with_own_state(member, number, |activity, at| {
            activity.participants[at]
                .state
                .retain(|(k, _)| !keys.contains(k));
            Ok(ActivityEvent::StateRemoved {
                activity: number,
                session_id: member.session_id.to_string(),
                keys,
            })
        })
    }

    /// Removes every entry of `member`'s state in activity `number`.
    pub fn clear_state(&self, member: &Member, number: ActivityHandle) -> Result<(), RelayError> {
        self.with_own_state(member, number, |activity, at| {
            activity.participants[at].state.clear();
            Ok(ActivityEvent::StateCleared {
                activity: number,
                session_id: member.session_id.to_string(),
            })
        })
    }

    /// Runs a change of `member`'s own state and tells the viewers what it returns.
    fn with_own_state(
        &self,
        member: &Member,
        number: ActivityHandle,
        change: impl FnOnce(&mut Activity, usize) -> Result<ActivityEvent, RelayError>,
    ) -> Result<(), RelayError> {
        let mut all = self.inner.lock().expect("activities lock");
        let not_in = || {
            RelayError::ActivityNotFound(format!("activity {number} is not joined by this session"))
        };
        let activity = all.by_number.get_mut(&number).ok_or_else(not_in)?;
        let at = activity.position(member.key).ok_or_else(not_in)?;
        if activity.participants[at].lurking {
            return Err(RelayError::InvalidRequest(
                "a lurker has no state in the activity".into(),
            ));
        }
        let event = change(activity, at)?;
        cluster::publish(&self.cluster, || PeerBody::ActivityChanged {
            activity_type: activity.name.0.clone(),
            activity_id: activity.name.1.clone(),
            event: event.clone(),
        });
        activity.tell(event, member.key, true);
        Ok(())
    }

    /// A session on relay `relay` joined an activity, listed.
    pub fn remote_joined(
        &self,
        relay: u64,
        activity_type: String,
        activity_id: String,
        joined: ActivityParticipant,
    ) {
        let mut all = self.inner.lock().expect("activities lock");
        let number = all.number_of((activity_type, activity_id));
        let activity = all.by_number.get_mut(&number).expect("indexed");
        if activity
            .participants
            .iter()
            .any(|p| p.session_id == joined.session_id)
        {
            return;
        }
        activity.tell_joined(number, joined.clone());
        activity.participants.push(Participant {
            session_id: joined.session_id,
            user: joined.user,
            place: Place::Remote(relay),
            lurking: false,
            view_state: false,
            state: joined.state,
        });
    }

    /// A session on another relay left an activity or changed its state there.
    pub fn remote_changed(&self, activity_type: &str, activity_id: &str, event: ActivityEvent) {
        let mut all = self.inner.lock().expect("activities lock");
        let name = (activity_type.to_owned(), activity_id.to_owned());
        let Some(&number) = all.by_name.get(&name) else {
            return;
        };
        let activity = all.by_number.get_mut(&number).expect("indexed");
        let (session_id, event) = match event {
            ActivityEvent::Joined { .. } => return,
            ActivityEvent::Left { session_id, .. } => (
                session_id.clone(),
                ActivityEvent::Left {
                    activity: number,
                    session_id,
                },
            ),
            ActivityEvent::StateSet {
                session_id, state, ..
            } => (
                session_id.clone(),
                ActivityEvent::StateSet {
                    activity: number,
                    session_id,
                    state,
                },
            ),
            ActivityEvent::StateRemoved {
                session_id, keys, ..
            } => (
                session_id.clone(),
                ActivityEvent::StateRemoved {
                    activity: number,
                    session_id,
                    keys,
                },
            ),
            ActivityEvent::StateCleared { session_id, .. } => (
                session_id.clone(),
                ActivityEvent::StateCleared {
                    activity: number,
                    session_id,
                },
            ),
        };
        let Some(at) = activity
            .participants
            .iter()
            .position(|p| p.session_id == session_id && p.local().is_none())
        else {
            return;
        };
        let participant = &mut activity.participants[at];
        match &event {
            ActivityEvent::Left { .. } => {
                activity.participants.remove(at);
                activity.tell(event, 0, false);
            }
            ActivityEvent::StateSet { state, .. } => {
                merge_state(&mut participant.state, state.clone());
                activity.tell(event, 0, true);
            }
            ActivityEvent::StateRemoved { keys, .. } => {
                participant.state.retain(|(k, _)| !keys.contains(k));
                activity.tell(event, 0, true);
            }
            _ => {
                participant.state.clear();
                activity.tell(event, 0, true);
            }
        }
        all.drop_if_empty(number);
    }

    /// Drops every participant relay `relay` announced; the sessions here hear that they left.
    pub fn peer_gone(&self, relay: u64) {
        let mut all = self.inner.lock().expect("activities lock");
        let numbers: Vec<ActivityHandle> = all.by_number.keys().copied().collect();
        for number in numbers {
            let activity = all.by_number.get_mut(&number).expect("indexed");
            let gone: Vec<String> = activity
                .participants
                .iter()
                .filter(|p| matches!(p.place, Place::Remote(r) if r == relay))
                .map(|p| p.session_id.clone())
                .collect();
            activity
                .participants
                .retain(|p| !matches!(p.place, Place::Remote(r) if r == relay));
            for session_id in gone {
                activity.tell(
                    ActivityEvent::Left {
                        activity: number,
                        session_id,
                    },
                    0,
                    false,
                );
            }
            all.drop_if_empty(number);
        }
    }

    /// What the other relays need to know: every listed participant connected here.
    pub fn announce(&self) -> Vec<PeerBody> {
        let all = self.inner.lock().expect("activities lock");
        all.by_number
            .values()
            .flat_map(|activity| {
                activity
                    .participants
                    .iter()
                    .filter(|p| !p.lurking && p.local().is_some())
                    .map(|p| PeerBody::ActivityJoined {
                        activity_type: activity.name.0.clone(),
                        activity_id: activity.name.1.clone(),
                        participant: p.listed(),
                    })
            })
            .collect()
    }

    /// Applies new rights to `member` in activity `number` (whether it sees state from now on).
    pub fn update_rights(&self, member: &Member, number: ActivityHandle, rights: ActivityRights) {
        let mut all = self.inner.lock().expect("activities lock");
        if let Some(activity) = all.by_number.get_mut(&number) {
            if let Some(at) = activity.position(member.key) {
                activity.participants[at].view_state = rights.view_state;
            }
        }
    }

    /// How many sessions are in activity `number` (for tests and metrics).
    pub fn participants(&self, number: ActivityHandle) -> usize {
        let all = self.inner.lock().expect("activities lock");
        all.by_number
            .get(&number)
            .map_or(0, |a| a.participants.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_survive_the_store_flags() {
        for flags in 0..32 {
            assert_eq!(rights_to_flags(flags_to_rights(flags)), flags);
        }
        assert_eq!(
            flags_to_rights(rights_to_flags(ActivityRights::OPEN)),
            ActivityRights::OPEN
        );
    }
}
