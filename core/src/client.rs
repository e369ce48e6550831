//! The client's concurrency control: a state machine with no I/O.
//!
//! Local operations apply at once (optimistic) and stay unacknowledged, several in flight at
//! once, each with its sequence number and the version it was made on. Remote operations are
//! transformed against everything unacknowledged before they apply, and the unacknowledged
//! operations against them. After a disconnect the client asks for the operations since its
//! version, recognises its own among them by origin and sequence number, and re-sends the rest
//! exactly once. Local and remote references are moved through every operation that applies.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::error::ModelError;
use crate::model::Model;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::transform::transform;

/// A local operation the relay has not acknowledged yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Unacked {
    /// This client's sequence number for it, unique per origin, increasing.
    pub seq: u64,
    /// The relay version it was last sent against (its "context").
    pub context_version: u64,
    /// The operation, transformed against every remote operation applied since it was made.
    pub op: Op,
}

/// An operation to send to the relay.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// The client's sequence number.
    pub seq: u64,
    /// The relay version the operation applies to, together with the earlier submissions.
    pub context_version: u64,
    /// The operation.
    pub op: Op,
}

/// A reference change to send to the relay.
#[derive(Clone, Debug, PartialEq)]
pub enum ReferenceUpdate {
    /// Publish or update a local reference, expressed at `context_version` plus this client's
    /// unacknowledged operations.
    Set {
        key: ReferenceKey,
        value: ReferenceValue,
        context_version: u64,
    },
    /// Stop publishing it (cleared, unshared or disposed).
    Unset { key: ReferenceKey },
}

/// What went wrong when feeding the client state machine.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// A local operation was invalid; nothing changed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An acknowledgement that does not match the oldest operation in flight.
    #[error("acknowledgement for sequence {got}, but {expected:?} is the oldest in flight")]
    UnexpectedAck { expected: Option<u64>, got: u64 },
    /// A remote operation that does not follow the current version.
    #[error("remote operation at version {got}, expected {expected}")]
    VersionGap { expected: u64, got: u64 },
    /// A remote operation failed to apply: the replica no longer matches the relay and must
    /// be reopened.
    #[error("remote operation could not be applied: {0}")]
    Diverged(ModelError),
}

impl ClientError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Model(e) => e.code(),
            ClientError::UnexpectedAck { .. } => "unexpected_ack",
            ClientError::VersionGap { .. } => "version_gap",
            ClientError::Diverged(_) => "diverged",
        }
    }
}

/// A reference owned by this client.
#[derive(Clone, Debug, PartialEq)]
struct LocalReference {
    value: Option<ReferenceValue>,
    shared: bool,
    /// A remote operation moved it while local operations were in flight. The relay moves its
    /// copy through the same operations in another order, and cursors at the same position
    /// as concurrently inserted text can end up on different sides of it; so once everything
    /// is acknowledged, the value is published again and all copies agree.
    diverged: bool,
}

impl LocalReference {
    fn new() -> Self {
        LocalReference {
            value: None,
            shared: false,
            diverged: false,
        }
    }
}

/// One replica of one model on a client.
#[derive(Clone, Debug)]
pub struct ClientModel {
    /// The local data: the relay's state at `version` plus every unacknowledged operation.
    model: Model,
    /// The last relay version applied here.
    version: u64,
    /// This client's identity in the operation log, kept across reconnects so that it can
    /// recognise its own operations when they are replayed.
    origin: u64,
    /// The sequence number of the next local operation.
    next_seq: u64,
    /// Local operations not yet acknowledged, oldest first.
    unacked: VecDeque<Unacked>,
    /// Whether submissions go out at once; false between a disconnect and the end of a resync.
    online: bool,
    /// This client's references.
    local_refs: FxHashMap<ReferenceKey, LocalReference>,
    /// Other sessions' shared references, by session, as the relay holds them at `version`.
    /// They move only through operations in the relay's order (remote ones as received, own ones
    /// when acknowledged), exactly as the relay's copy does, and are shown moved through the
    /// unacknowledged operations. Moving them through the local order instead could leave a
    /// cursor on the other side of concurrently inserted text than everyone else sees it.
    remote_refs: FxHashMap<(String, ReferenceKey), ReferenceValue>,
}

impl ClientModel {
    /// A replica opened at `version` with `model`, for the client whose operations carry
    /// `origin`. It starts online.
    pub fn new(model: Model, version: u64, origin: u64) -> Self {
        ClientModel {
            model,
            version,
            origin,
            next_seq: 1,
            unacked: VecDeque::new(),
            online: true,
            local_refs: FxHashMap::default(),
            remote_refs: FxHashMap::default(),
        }
    }

    /// Restores a replica from a cache: its data, version and unacknowledged operations (which
    /// the data already includes). It starts offline; call [`ClientModel::resync_from`].
    pub fn restore(model: Model, version: u64, origin: u64, unacked: Vec<Unacked>) -> Self {
        let next_seq = unacked.last().map_or(1, |u| u.seq + 1);
        ClientModel {
            next_seq,
            unacked: unacked.into(),
            online: false,
            ..ClientModel::new(model, version, origin)
        }
    }

    /// The local data.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The last relay version applied.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// This client's origin.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// The unacknowledged local operations, oldest first.
    pub fn unacked(&self) -> impl ExactSizeIterator<Item = &Unacked> {
        self.unacked.iter()
    }

    /// Whether every local operation has been acknowledged.
    pub fn is_settled(&self) -> bool {
        self.unacked.is_empty()
    }

    /// Applies a local operation at once and returns what to send (nothing while offline).
    /// An invalid operation changes nothing and returns the error.
    pub fn submit(&mut self, op: Op) -> Result<Option<Submission>, ClientError> {
        self.model.apply(&op)?;
        self.after_apply(&op);
        Ok(self.enqueue(op))
    }

    /// Like [`ClientModel::submit`], and also returns the operation that undoes it.
    pub fn submit_with_inverse(&mut self, op: Op) -> Result<(Option<Submission>, Op), ClientError> {
        let inverse = self.model.apply_with_inverse(&op)?;
        self.after_apply(&op);
        Ok((self.enqueue(op), inverse))
    }

    fn enqueue(&mut self, op: Op) -> Option<Submission> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let context_version = self.version;
        let submission = self.online.then(|| Submission {
            seq,
            context_version,
            op: op.clone(),
        });
        self.unacked.push_back(Unacked {
            seq,
            context_version,
            op,
        });
        submission
    }

    /// The relay acknowledged the oldest operation in flight as `version`. Returns the
    /// references to publish again now that everything is acknowledged (see `diverged`).
    pub fn on_ack(&mut self, seq: u64, version: u64) -> Result<Vec<ReferenceUpdate>, ClientError> {
        self.acknowledge(seq, version)?;
        if !self.unacked.is_empty() || !self.online {
            return Ok(Vec::new());
        }
        let version = self.version;
        Ok(self
            .local_refs
            .iter_mut()
            .filter_map(|(key, r)| {
                if !(r.shared && std::mem::take(&mut r.diverged)) {
                    return None;
                }
                Some(publish(key.clone(), r.value.clone()?, version))
            })
            .collect())
    }

    fn acknowledge(&mut self, seq: u64, version: u64) -> Result<(), ClientError> {
        let expected = self.unacked.front().map(|u| u.seq);
        if expected != Some(seq) {
            return Err(ClientError::UnexpectedAck { expected, got: seq });
        }
        if version != self.version + 1 {
            return Err(ClientError::VersionGap {
                expected: self.version + 1,
                got: version,
            });
        }
        if let Some(acked) = self.unacked.pop_front() {
            // What was in flight has been transformed against every operation the relay
            // sequenced before it: it is now exactly the relay's form.
            self.move_remote_refs(&acked.op);
        }
        self.version = version;
        Ok(())
    }

    /// An operation the relay sequenced as `version`. Operations of this client's own origin
    /// (replayed during a resync) count as acknowledgements. Returns the operation as applied
    /// here (transformed against the unacknowledged ones), for change events.
    pub fn on_remote(
        &mut self,
        version: u64,
        origin: u64,
        seq: u64,
        op: Op,
    ) -> Result<Op, ClientError> {
        if origin == self.origin {
            self.acknowledge(seq, version)?;
            return Ok(Op::noop());
        }
        if version != self.version + 1 {
            return Err(ClientError::VersionGap {
                expected: self.version + 1,
                got: version,
            });
        }
        self.move_remote_refs(&op);
        if !self.unacked.is_empty() {
            // The relay moves this client's references through the same operations in another
            // order; publish them again once settled (see `LocalReference::diverged`).
            let targets: Vec<_> = op
                .clone()
                .into_primitives()
                .iter()
                .filter_map(Op::target)
                .collect();
            for (key, local) in self.local_refs.iter_mut() {
                if !targets.is_empty() && key.element.is_none_or(|e| targets.contains(&e)) {
                    local.diverged = true;
                }
            }
        }
        let mut incoming = op;
        for pending in self.unacked.iter_mut() {
            let (pending_after, incoming_after) = transform(&pending.op, &incoming);
            pending.op = pending_after;
            incoming = incoming_after;
        }
        self.model.apply(&incoming).map_err(ClientError::Diverged)?;
        self.version = version;
        self.after_apply(&incoming);
        Ok(incoming)
    }

    /// Moves every reference through an operation that was just applied here.
    fn after_apply(&mut self, op: &Op) {
        for (key, local) in self.local_refs.iter_mut() {
            if let Some(value) = &mut local.value {
                value.transform(key.element, op);
                value.retain_attached(&self.model);
            }
        }
        if self.unacked.is_empty() {
            // Settled: the local data is the relay's, so references on elements gone for good
            // can be dropped.
            let model = &self.model;
            self.remote_refs.retain(|(_, key), value| {
                value.retain_attached(model);
                key.element.is_none_or(|e| model.contains(e))
            });
        }
    }

    /// Moves the relay-form remote references through an operation in the relay's order.
    fn move_remote_refs(&mut self, op: &Op) {
        for ((_, key), value) in self.remote_refs.iter_mut() {
            value.transform(key.element, op);
        }
    }

    /// The connection dropped: stop sending, forget other sessions' references (the relay
    /// sends them again on reopen).
    pub fn on_disconnect(&mut self) {
        self.online = false;
        self.remote_refs.clear();
    }

    /// Starts a resync: the version to ask the relay for operations after.
    pub fn resync_from(&self) -> u64 {
        self.version
    }

    /// Ends a resync once every missed operation was fed through [`ClientModel::on_remote`]:
    /// goes online and returns every operation still unacknowledged, to send again in order,
    /// followed by the shared references to publish again.
    pub fn on_resynced(&mut self) -> (Vec<Submission>, Vec<ReferenceUpdate>) {
        self.online = true;
        let version = self.version;
        let submissions = self
            .unacked
            .iter_mut()
            .map(|u| {
                u.context_version = version;
                Submission {
                    seq: u.seq,
                    context_version: version,
                    op: u.op.clone(),
                }
            })
            .collect();
        let refs = self
            .local_refs
            .iter_mut()
            .filter(|(_, r)| r.shared)
            .filter_map(|(key, r)| {
                r.diverged = false;
                Some(publish(key.clone(), r.value.clone()?, version))
            })
            .collect();
        (submissions, refs)
    }

    /// Sets a local reference's value; returns the update to send if it is shared.
    pub fn set_reference(
        &mut self,
        key: ReferenceKey,
        value: ReferenceValue,
    ) -> Option<ReferenceUpdate> {
        let entry = self
            .local_refs
            .entry(key.clone())
            .or_insert_with(LocalReference::new);
        entry.value = Some(value.clone());
        (entry.shared && self.online).then(|| publish(key, value, self.version))
    }

    /// Clears a local reference's value; it stays shared, with no value.
    pub fn clear_reference(&mut self, key: &ReferenceKey) -> Option<ReferenceUpdate> {
        let entry = self.local_refs.get_mut(key)?;
        entry.value = None;
        (entry.shared && self.online).then(|| ReferenceUpdate::Unset { key: key.clone() })
    }

    /// Starts publishing a local reference to other sessions.
    pub fn share_reference(&mut self, key: ReferenceKey) -> Option<ReferenceUpdate> {
        let entry = self
            .local_refs
            .entry(key.clone())
            .or_insert_with(LocalReference::new);
        entry.shared = true;
        let value = entry.value.clone()?;
        self.online.then(|| publish(key, value, self.version))
    }

    /// Stops publishing a local reference; it keeps its local value.
    pub fn unshare_reference(&mut self, key: &ReferenceKey) -> Option<ReferenceUpdate> {
        let entry = self.local_refs.get_mut(key)?;
        let was_shared = std::mem::replace(&mut entry.shared, false);
        (was_shared && self.online).then(|| ReferenceUpdate::Unset { key: key.clone() })
    }

    /// Forgets a local reference entirely.
    pub fn dispose_reference(&mut self, key: &ReferenceKey) -> Option<ReferenceUpdate> {
        let entry = self.local_refs.remove(key)?;
        (entry.shared && self.online).then(|| ReferenceUpdate::Unset { key: key.clone() })
    }

    /// The local references that are shared and have a value: what other sessions should see.
    pub fn shared_references(&self) -> impl Iterator<Item = (&ReferenceKey, &ReferenceValue)> {
        self.local_refs
            .iter()
            .filter(|(_, r)| r.shared)
            .filter_map(|(k, r)| Some((k, r.value.as_ref()?)))
    }

    /// The current value of a local reference.
    pub fn local_reference(&self, key: &ReferenceKey) -> Option<&ReferenceValue> {
        self.local_refs.get(key)?.value.as_ref()
    }

    /// Another session's reference (or its withdrawal), as the relay expressed it at this
    /// replica's version (messages arrive in order).
    pub fn on_remote_reference(
        &mut self,
        session: String,
        key: ReferenceKey,
        value: Option<ReferenceValue>,
    ) {
        match value {
            Some(value) => {
                self.remote_refs.insert((session, key), value);
            }
            None => {
                self.remote_refs.remove(&(session, key));
            }
        }
    }

    /// A relay-form reference as it applies to the local data: moved through the
    /// unacknowledged operations, without elements the local data lacks. `None` when the element
    /// it lives on is not in the local data.
    fn localise(&self, key: &ReferenceKey, value: &ReferenceValue) -> Option<ReferenceValue> {
        if key.element.is_some_and(|e| !self.model.contains(e)) {
            return None;
        }
        let mut value = value.clone();
        for pending in &self.unacked {
            value.transform(key.element, &pending.op);
        }
        value.retain_attached(&self.model);
        Some(value)
    }

    /// Forgets every reference of a session that closed the model or went away.
    pub fn on_session_left(&mut self, session: &str) {
        self.remote_refs.retain(|(s, _), _| s != session);
    }

    /// Another session's reference on the local data, if it has one.
    pub fn remote_reference(&self, session: &str, key: &ReferenceKey) -> Option<ReferenceValue> {
        let value = self.remote_refs.get(&(session.to_owned(), key.clone()))?;
        self.localise(key, value)
    }

    /// Every remote reference on the local data, by session and key.
    pub fn remote_references(&self) -> Vec<(&str, &ReferenceKey, ReferenceValue)> {
        self.remote_refs
            .iter()
            .filter_map(|((s, k), v)| Some((s.as_str(), k, self.localise(k, v)?)))
            .collect()
    }
}

/// The update that publishes `value`, made on `version` plus the unacknowledged operations.
fn publish(key: ReferenceKey, value: ReferenceValue, version: u64) -> ReferenceUpdate {
    ReferenceUpdate::Set {
        key,
        value,
        context_version: version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{insert, text_model, TEXT};

    fn client() -> ClientModel {
        ClientModel::new(text_model("abc"), 0, 7)
    }

    fn text(c: &ClientModel) -> String {
        c.model().string(TEXT).unwrap().to_string()
    }

    #[test]
    fn local_operations_apply_at_once_and_stay_in_flight_until_acknowledged() {
        let mut c = client();
        let first = c.submit(insert(3, "d")).unwrap().unwrap();
        let second = c.submit(insert(4, "e")).unwrap().unwrap();
        assert_eq!((first.seq, first.context_version, second.seq), (1, 0, 2));
        assert_eq!(text(&c), "abcde");
        assert_eq!(
            c.on_ack(2, 1),
            Err(ClientError::UnexpectedAck {
                expected: Some(1),
                got: 2
            })
        );
        c.on_ack(1, 1).unwrap();
        assert_eq!(
            c.on_ack(2, 5),
            Err(ClientError::VersionGap {
                expected: 2,
                got: 5
            })
        );
        c.on_ack(2, 2).unwrap();
        assert!(c.is_settled());
        assert_eq!(
            c.submit(insert(9, "x")),
            Err(ClientError::Model(ModelError::IndexOutOfRange {
                index: 9,
                len: 5
            }))
        );
    }

    #[test]
    fn remote_operations_are_transformed_against_those_in_flight() {
        let mut c = client();
        c.submit(insert(0, "X")).unwrap();
        let applied = c.on_remote(1, 99, 1, insert(3, "Z")).unwrap();
        assert_eq!(applied, insert(4, "Z"));
        assert_eq!(text(&c), "XabcZ");
        assert_eq!(c.unacked().next().unwrap().op, insert(0, "X"));
        assert_eq!(
            c.on_remote(5, 99, 2, insert(0, "Q")),
            Err(ClientError::VersionGap {
                expected: 2,
                got: 5
            })
        );
    }

    #[test]
    fn after_a_disconnect_own_replayed_operations_count_as_acks_and_the_rest_is_resent() {
        let mut c = client();
        c.submit(insert(0, "1")).unwrap();
        c.submit(insert(1, "2")).unwrap();
        c.on_disconnect();
        assert_eq!(
            c.submit(insert(2, "3")).unwrap(),
            None,
            "offline: nothing goes out"
        );
        // The relay had sequenced the first one before the connection dropped.
        assert_eq!(c.resync_from(), 0);
        c.on_remote(1, 7, 1, insert(0, "1")).unwrap();
        c.on_remote(2, 99, 1, insert(0, "R")).unwrap();
        let (resend, _) = c.on_resynced();
        assert_eq!(
            resend
                .iter()
                .map(|s| (s.seq, s.context_version))
                .collect::<Vec<_>>(),
            [(2, 2), (3, 2)]
        );
        assert_eq!(text(&c), "R123abc");
    }

    #[test]
    fn references_are_published_only_while_shared() {
        let mut c = client();
        let key = ReferenceKey {
            element: Some(TEXT),
            key: "cursor".into(),
        };
        assert_eq!(
            c.set_reference(key.clone(), ReferenceValue::Index(vec![1])),
            None
        );
        let shared = c.share_reference(key.clone()).unwrap();
        assert_eq!(
            shared,
            ReferenceUpdate::Set {
                key: key.clone(),
                value: ReferenceValue::Index(vec![1]),
                context_version: 0
            }
        );
        c.submit(insert(0, "xy")).unwrap();
        assert_eq!(
            c.local_reference(&key),
            Some(&ReferenceValue::Index(vec![3]))
        );
        assert_eq!(
            c.unshare_reference(&key),
            Some(ReferenceUpdate::Unset { key: key.clone() })
        );
        assert_eq!(
            c.set_reference(key.clone(), ReferenceValue::Index(vec![0])),
            None
        );
        assert_eq!(c.dispose_reference(&key), None);
        assert_eq!(c.local_reference(&key), None);
    }

    #[test]
    fn remote_references_are_shown_through_local_unacknowledged_operations() {
        let mut c = client();
        let key = ReferenceKey {
            element: Some(TEXT),
            key: "cursor".into(),
        };
        c.submit(insert(0, "xy")).unwrap();
        c.on_remote_reference(
            "s2".into(),
            key.clone(),
            Some(ReferenceValue::Index(vec![2])),
        );
        assert_eq!(
            c.remote_reference("s2", &key),
            Some(ReferenceValue::Index(vec![4]))
        );
        c.on_session_left("s2");
        assert_eq!(c.remote_reference("s2", &key), None);
    }

    #[test]
    fn a_restored_replica_resends_its_cached_operations() {
        let mut c = client();
        c.submit(insert(0, "q")).unwrap();
        let cached: Vec<Unacked> = c.unacked().cloned().collect();
        let mut restored = ClientModel::restore(c.model().clone(), c.version(), c.origin(), cached);
        assert_eq!(restored.submit(insert(0, "r")).unwrap(), None);
        let (resend, _) = restored.on_resynced();
        assert_eq!(resend.len(), 2);
        assert_eq!(text(&restored), "rqabc");
    }
}
