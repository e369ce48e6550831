//! What relays tell each other about what lives only in their memory, and its encoding: the
//! core's binary codec, several messages to one notification.

use tandem_core::protocol::{
    decode_frame, encode_frame, write_varint, ActivityEvent, ActivityParticipant, ChatEvent,
    Collaborator, Decode, DecodeError, Encode, Failed, Limits, PresenceEvent, Reader,
};
use tandem_core::{ReferenceKey, ReferenceValue};

/// One relay's news for the others.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerMessage {
    /// The sending relay's id (random per process), so a relay ignores its own news and
    /// knows whose entries to drop when a relay goes.
    pub from: u64,
    /// The news.
    pub body: PeerBody,
}

/// The kinds of news.
#[derive(Clone, Debug, PartialEq)]
pub enum PeerBody {
    /// The sender is alive; one that stays silent too long is taken for dead.
    Heartbeat,
    /// The sender started or lost its connection: every relay tells it everything it holds.
    Hello,
    /// The sender is shutting down: drop everything of its.
    Gone,
    /// The sender stored a model's operations up to `version`: relays with the model in
    /// memory read them and pass them on.
    OpsStored {
        /// The model's id.
        model: String,
        /// Its newest stored version.
        version: u64,
    },
    /// A session of the sender opened (`open`) or closed a model.
    ModelMember {
        /// The model's id.
        model: String,
        /// The session and its user.
        collaborator: Collaborator,
        /// Opened or closed.
        open: bool,
    },
    /// A session of the sender set (`value`), cleared or unshared a reference, as it stands at
    /// the sender's `version` of the model.
    ModelReference {
        /// The model's id.
        model: String,
        /// The session.
        session_id: String,
        /// Which reference.
        key: ReferenceKey,
        /// Its value, or `None` when cleared or unshared.
        value: Option<ReferenceValue>,
        /// Cleared (still shared) rather than unshared.
        cleared: bool,
        /// The sender's version of the model when it moved.
        version: u64,
    },
    /// The sender loaded a model: relays with sessions on it announce them.
    ModelLoaded {
        /// The model's id.
        model: String,
    },
    /// A session of a user connected to the sender (`up`) or went.
    UserSession {
        /// The user.
        user_id: String,
        /// The session's number on the sender.
        key: u64,
        /// Connected or gone.
        up: bool,
    },
    /// A user's presence state changed through the sender.
    UserState(PresenceEvent),
    /// A session of the sender joined an activity, listed, with its state.
    ActivityJoined {
        /// The activity's type.
        activity_type: String,
        /// The activity's id.
        activity_id: String,
        /// Who joined.
        participant: ActivityParticipant,
    },
    /// A session of the sender left an activity or changed its state there (the event's
    /// activity number is the sender's and means nothing elsewhere).
    ActivityChanged {
        /// The activity's type.
        activity_type: String,
        /// The activity's id.
        activity_id: String,
        /// What happened.
        event: ActivityEvent,
    },
    /// The sender stored a chat event (or removed a chat): the sessions of `users`, and
    /// those in the chat's room, are to get it.
    ChatDelivered {
        /// The event.
        event: ChatEvent,
        /// Whose sessions get it (besides the room's).
        users: Vec<String>,
    },
}

impl Encode for PeerMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.from.encode(out);
        match &self.body {
            PeerBody::Heartbeat => write_varint(out, 0),
            PeerBody::Hello => write_varint(out, 1),
            PeerBody::Gone => write_varint(out, 2),
            PeerBody::ModelMember {
                model,
                collaborator,
                open,
            } => {
                write_varint(out, 3);
                model.encode(out);
                collaborator.encode(out);
                open.encode(out);
            }
            PeerBody::ModelReference {
                model,
                session_id,
                key,
                value,
                cleared,
                version,
            } => {
                write_varint(out, 4);
                model.encode(out);
                session_id.encode(out);
                key.encode(out);
                value.encode(out);
                cleared.encode(out);
                version.encode(out);
            }
            PeerBody::ModelLoaded { model } => {
                write_varint(out, 5);
                model.encode(out);
            }
            PeerBody::UserSession { user_id, key, up } => {
                write_varint(out, 6);
                user_id.encode(out);
                key.encode(out);
                up.encode(out);
            }
            PeerBody::UserState(event) => {
                write_varint(out, 7);
                event.encode(out);
            }
            PeerBody::ActivityJoined {
                activity_type,
                activity_id,
                participant,
            } => {
                write_varint(out, 8);
                activity_type.encode(out);
                activity_id.encode(out);
                participant.encode(out);
            }
            PeerBody::ActivityChanged {
                activity_type,
                activity_id,
                event,
            } => {
                write_varint(out, 9);
                activity_type.encode(out);
                activity_id.encode(out);
                event.encode(out);
            }
            PeerBody::ChatDelivered { event, users } => {
                write_varint(out, 10);
                event.encode(out);
                users.encode(out);
            }
            PeerBody::OpsStored { model, version } => {
                write_varint(out, 11);
                model.encode(out);
                version.encode(out);
            }
        }
    }
}

impl Decode for PeerMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, Failed> {
        let from = u64::decode(r)?;
        let at = r.position();
        let body = match r.read_varint()? {
            0 => PeerBody::Heartbeat,
            1 => PeerBody::Hello,
            2 => PeerBody::Gone,
            3 => PeerBody::ModelMember {
                model: Decode::decode(r)?,
                collaborator: Decode::decode(r)?,
                open: Decode::decode(r)?,
            },
            4 => PeerBody::ModelReference {
                model: Decode::decode(r)?,
                session_id: Decode::decode(r)?,
                key: Decode::decode(r)?,
                value: Decode::decode(r)?,
                cleared: Decode::decode(r)?,
                version: Decode::decode(r)?,
            },
            5 => PeerBody::ModelLoaded {
                model: Decode::decode(r)?,
            },
            6 => PeerBody::UserSession {
                user_id: Decode::decode(r)?,
                key: Decode::decode(r)?,
                up: Decode::decode(r)?,
            },
            7 => PeerBody::UserState(Decode::decode(r)?),
            8 => PeerBody::ActivityJoined {
                activity_type: Decode::decode(r)?,
                activity_id: Decode::decode(r)?,
                participant: Decode::decode(r)?,
            },
            9 => PeerBody::ActivityChanged {
                activity_type: Decode::decode(r)?,
                activity_id: Decode::decode(r)?,
                event: Decode::decode(r)?,
            },
            10 => PeerBody::ChatDelivered {
                event: Decode::decode(r)?,
                users: Decode::decode(r)?,
            },
            11 => PeerBody::OpsStored {
                model: Decode::decode(r)?,
                version: Decode::decode(r)?,
            },
            tag => {
                return Err(r.fail(DecodeError::UnknownTag {
                    type_name: "PeerMessage",
                    tag,
                    at,
                }))
            }
        };
        Ok(PeerMessage { from, body })
    }
}

/// Limits for decoding news from other relays: as generous as any client frame can need
/// (a relay only forwards what it accepted from its clients).
pub fn peer_limits() -> Limits {
    Limits {
        max_frame_bytes: 64 << 20,
        ..Limits::default()
    }
}

/// Encodes messages as one batch.
pub fn encode_batch(messages: &[PeerMessage]) -> Vec<u8> {
    encode_frame(&messages.to_vec())
}

/// Decodes a batch.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<PeerMessage>, DecodeError> {
    decode_frame::<Vec<PeerMessage>>(bytes, &peer_limits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_core::protocol::UserInfo;

    #[test]
    fn every_kind_of_news_survives_its_encoding() {
        let user = UserInfo {
            user_id: "u1".into(),
            username: "ada".into(),
            display_name: Some("Ada".into()),
            email: None,
            anonymous: false,
            avatar_url: None,
        };
        let bodies = vec![
            PeerBody::Heartbeat,
            PeerBody::Hello,
            PeerBody::Gone,
            PeerBody::OpsStored {
                model: "m".into(),
                version: 12,
            },
            PeerBody::ModelMember {
                model: "m".into(),
                collaborator: Collaborator {
                    session_id: "s".into(),
                    user: user.clone(),
                },
                open: true,
            },
            PeerBody::ModelReference {
                model: "m".into(),
                session_id: "s".into(),
                key: ReferenceKey {
                    element: None,
                    key: "cursor".into(),
                },
                value: Some(ReferenceValue::Index(vec![3])),
                cleared: false,
                version: 7,
            },
            PeerBody::ModelLoaded { model: "m".into() },
            PeerBody::UserSession {
                user_id: "u1".into(),
                key: 4,
                up: false,
            },
            PeerBody::UserState(PresenceEvent::StateCleared {
                user_id: "u1".into(),
            }),
            PeerBody::ActivityJoined {
                activity_type: "doc".into(),
                activity_id: "d1".into(),
                participant: ActivityParticipant {
                    session_id: "s".into(),
                    user,
                    state: vec![("typing".into(), tandem_core::Value::Bool(true))],
                },
            },
            PeerBody::ActivityChanged {
                activity_type: "doc".into(),
                activity_id: "d1".into(),
                event: ActivityEvent::Left {
                    activity: 0,
                    session_id: "s".into(),
                },
            },
            PeerBody::ChatDelivered {
                event: tandem_core::protocol::ChatEvent {
                    chat_id: "c".into(),
                    event_number: 3,
                    timestamp_ms: 17,
                    user_id: "u1".into(),
                    body: tandem_core::protocol::ChatEventBody::Message { text: "hi".into() },
                },
                users: vec!["u1".into(), "u2".into()],
            },
        ];
        let messages: Vec<PeerMessage> = bodies
            .into_iter()
            .map(|body| PeerMessage { from: 42, body })
            .collect();
        assert_eq!(decode_batch(&encode_batch(&messages)).unwrap(), messages);
        assert!(
            decode_batch(&[1, 1, 42, 99]).is_err(),
            "an unknown kind is refused"
        );
    }
}
