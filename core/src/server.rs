//! The relay's concurrency control for one model: a state machine with no I/O.
//!
//! The relay is the single sequencer of each model. An incoming operation was made on the
//! relay's state at its context version plus its sender's earlier operations; it is transformed
//! against every operation of other clients that its sender had not seen, validated by applying
//! it, and sequenced as the next version. To transform correctly while a client has several
//! operations in flight, the sequencer keeps, per client, a *bridge*: the other clients'
//! operations its sender has not seen yet, rewritten to follow the sender's own operations
//! (Jupiter's per-client state space, kept only as long as it differs from the plain history).

use std::collections::VecDeque;

use crate::maps::FastMap;

use crate::error::ModelError;
use crate::model::Model;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::transform::transform_mut;

/// An operation in the sequenced log.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequenced {
    /// The version this operation produced (the first operation makes version 1).
    pub version: u64,
    /// The submitting client's origin.
    pub origin: u64,
    /// The submitting client's sequence number.
    pub seq: u64,
    /// The operation as applied by the relay.
    pub op: Op,
}

/// The outcome of a submission.
#[derive(Clone, Debug, PartialEq)]
pub enum Accepted {
    /// Newly sequenced: acknowledge it to the sender and broadcast it to everyone else.
    Sequenced(Sequenced),
    /// Already sequenced earlier (a resend after a lost acknowledgement) as `version`:
    /// acknowledge again, change nothing. `None` if it is older than the history kept.
    Duplicate { version: Option<u64> },
}

/// Why the sequencer refused a submission or reference. Nothing changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SequenceError {
    /// The operation is invalid on the current state.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The context version is ahead of the model.
    #[error("context version {context} is ahead of the model's version {current}")]
    FutureContext { context: u64, current: u64 },
    /// The context version is older than the sender's previous one, or than the history kept.
    #[error("context version {context} is older than version {oldest} that can be used")]
    StaleContext { context: u64, oldest: u64 },
    /// The operation carries `before` placement lists, which only transformation may set.
    #[error("operations may not carry property placement; send ObjectAdd with an empty `before`")]
    PlacementNotAllowed,
    /// An operation sequenced elsewhere does not come next (it is not `current + 1`).
    #[error("operation {version} sequenced elsewhere does not follow version {current}")]
    NotNext { version: u64, current: u64 },
}

impl SequenceError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SequenceError::Model(e) => e.code(),
            SequenceError::FutureContext { .. } => "future_context",
            SequenceError::StaleContext { .. } => "stale_context",
            SequenceError::PlacementNotAllowed => "placement_not_allowed",
            SequenceError::NotNext { .. } => "not_next",
        }
    }
}

/// What the sequencer remembers of one client (origin).
#[derive(Clone, Debug, Default)]
struct Bridge {
    /// The newest context version the client sent; older ones are refused.
    context: u64,
    /// The version of the client's latest sequenced operation.
    last_own_version: u64,
    /// Its latest sequence number, for recognising resends.
    last_seq: u64,
    /// Other clients' operations with versions in `(context, last_own_version]`, rewritten to
    /// follow the client's own operations. Later ones come from the plain history.
    pending: VecDeque<(u64, Op)>,
}

/// One model's sequencer: its current state, recent history, per-client bridges and the shared
/// references of every session.
#[derive(Clone, Debug)]
pub struct Sequencer {
    model: Model,
    /// The version before the first operation kept in `history`.
    base_version: u64,
    /// Recent operations, in order; older ones live only in storage.
    history: VecDeque<Sequenced>,
    bridges: FastMap<u64, Bridge>,
    /// Shared references by session and key, expressed at the current version.
    references: FastMap<(String, ReferenceKey), ReferenceValue>,
}

impl Sequencer {
    /// A sequencer for `model` at `version` with no history in memory.
    pub fn new(model: Model, version: u64) -> Self {
        Sequencer {
            model,
            base_version: version,
            history: VecDeque::new(),
            bridges: FastMap::default(),
            references: FastMap::default(),
        }
    }

    /// Tells a freshly loaded sequencer the last sequence number a client's operations reached
    /// (from storage), so that a resend after a restart is recognised as a duplicate.
    pub fn remember_client(&mut self, origin: u64, last_seq: u64) {
        let bridge = self.bridges.entry(origin).or_default();
        bridge.last_seq = bridge.last_seq.max(last_seq);
    }

    /// Whether `(origin, seq)` was sequenced already (a submission of it is a resend).
    pub fn is_duplicate(&self, origin: u64, seq: u64) -> bool {
        self.bridges.get(&origin).is_some_and(|b| seq <= b.last_seq)
    }

    /// The current data.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Compacts the model's strings (see [`Model::compact`]): for when the model goes idle.
    pub fn compact(&mut self) -> usize {
        self.model.compact()
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.base_version + self.history.len() as u64
    }

    /// The oldest version whose following operations are still in memory.
    pub fn oldest_version(&self) -> u64 {
        self.base_version
    }

    /// The operations after `version`, if they are still in memory.
    pub fn ops_since(&self, version: u64) -> Option<impl Iterator<Item = &Sequenced>> {
        if version < self.base_version || version > self.version() {
            return None;
        }
        Some(
            self.history
                .iter()
                .skip((version - self.base_version) as usize),
        )
    }

    /// Forgets operations up to `version` (they are in storage), to bound memory. Clients whose
    /// context is older must then resync from storage.
    pub fn forget_history_before(&mut self, version: u64) {
        while self.base_version < version && !self.history.is_empty() {
            self.history.pop_front();
            self.base_version += 1;
        }
    }

    /// Sequences an operation from client `origin` made on `context_version` (plus that
    /// client's earlier operations).
    pub fn submit(
        &mut self,
        origin: u64,
        seq: u64,
        context_version: u64,
        op: Op,
    ) -> Result<Accepted, SequenceError> {
        let bridge = self.bridges.get(&origin);
        if let Some(bridge) = bridge {
            if seq <= bridge.last_seq {
                let version = self
                    .history
                    .iter()
                    .rev()
                    .find(|s| s.origin == origin && s.seq == seq);
                return Ok(Accepted::Duplicate {
                    version: version.map(|s| s.version),
                });
            }
        }
        if op.has_placement() {
            return Err(SequenceError::PlacementNotAllowed);
        }
        let against = self.concurrent_ops(origin, context_version)?;
        let mut op = op;
        let mut rewritten = against;
        for (_, other) in rewritten.iter_mut() {
            transform_mut(&mut op, other);
        }
        self.model.apply(&op)?;
        self.move_references(&op);
        let version = self.version() + 1;
        let bridge = self.bridges.entry(origin).or_default();
        bridge.context = context_version;
        bridge.last_own_version = version;
        bridge.last_seq = seq;
        bridge.pending = rewritten.into();
        let sequenced = Sequenced {
            version,
            origin,
            seq,
            op,
        };
        self.history.push_back(sequenced.clone());
        Ok(Accepted::Sequenced(sequenced))
    }

    /// Moves every shared reference through `op`, just applied; drops those whose element left.
    fn move_references(&mut self, op: &Op) {
        for ((_, key), value) in self.references.iter_mut() {
            value.transform(key.element, op);
            value.retain_attached(&self.model);
        }
        let model = &self.model;
        self.references
            .retain(|(_, key), _| key.element.is_none_or(|e| model.contains(e)));
    }

    /// Applies an operation that another relay sequenced (read back from shared storage) as the
    /// next version: it is already in its final form, so it is not transformed. Its client's
    /// sequence number is remembered, so a resend through this relay is recognised.
    pub fn apply_external(&mut self, sequenced: Sequenced) -> Result<(), SequenceError> {
        let current = self.version();
        if sequenced.version != current + 1 {
            return Err(SequenceError::NotNext {
                version: sequenced.version,
                current,
            });
        }
        self.model.apply(&sequenced.op)?;
        self.move_references(&sequenced.op);
        let bridge = self.bridges.entry(sequenced.origin).or_default();
        bridge.last_seq = bridge.last_seq.max(sequenced.seq);
        self.history.push_back(sequenced);
        Ok(())
    }

    /// Sets a reference of a session on another relay, as it stands at `version` (that relay's
    /// version when it moved it): it is moved through every operation sequenced after that.
    pub fn set_external_reference(
        &mut self,
        session: &str,
        key: ReferenceKey,
        mut value: ReferenceValue,
        version: u64,
    ) -> Option<ReferenceValue> {
        for sequenced in self.ops_since(version)? {
            value.transform(key.element, &sequenced.op);
        }
        value.retain_attached(&self.model);
        if key.element.is_some_and(|e| !self.model.contains(e)) {
            return None;
        }
        self.references
            .insert((session.to_owned(), key), value.clone());
        Some(value)
    }

    /// The other clients' operations that `origin` had not seen at `context_version`, in the
    /// form that follows `origin`'s own earlier operations. Checks the context; changes nothing.
    fn concurrent_ops(&self, origin: u64, context: u64) -> Result<Vec<(u64, Op)>, SequenceError> {
        let current = self.version();
        if context > current {
            return Err(SequenceError::FutureContext { context, current });
        }
        let bridge = self.bridges.get(&origin);
        let floor = bridge.map_or(0, |b| b.context);
        if context < floor {
            return Err(SequenceError::StaleContext {
                context,
                oldest: floor,
            });
        }
        let mut ops: Vec<(u64, Op)> = Vec::new();
        let mut from = context;
        if let Some(bridge) = bridge {
            ops.extend(bridge.pending.iter().filter(|(v, _)| *v > context).cloned());
            from = from.max(bridge.last_own_version);
        }
        let Some(rest) = self.ops_since(from) else {
            return Err(SequenceError::StaleContext {
                context,
                oldest: self.base_version,
            });
        };
        ops.extend(
            rest.filter(|s| s.origin != origin)
                .map(|s| (s.version, s.op.clone())),
        );
        Ok(ops)
    }

    /// Publishes a reference of `session` (a session of client `origin`), made on
    /// `context_version` plus that client's operations so far. Returns it as it stands now, to
    /// broadcast.
    pub fn set_reference(
        &mut self,
        origin: u64,
        session: &str,
        key: ReferenceKey,
        mut value: ReferenceValue,
        context_version: u64,
    ) -> Result<ReferenceValue, SequenceError> {
        for (_, op) in self.concurrent_ops(origin, context_version)? {
            value.transform(key.element, &op);
        }
        value.retain_attached(&self.model);
        self.references
            .insert((session.to_owned(), key), value.clone());
        Ok(value)
    }

    /// Withdraws a session's reference.
    pub fn unset_reference(&mut self, session: &str, key: &ReferenceKey) -> bool {
        self.references
            .remove(&(session.to_owned(), key.clone()))
            .is_some()
    }

    /// Withdraws every reference of a session that closed the model or disconnected.
    pub fn remove_session(&mut self, session: &str) {
        self.references.retain(|(s, _), _| s != session);
    }

    /// Every shared reference, for a session that opens the model.
    pub fn references(&self) -> impl Iterator<Item = (&str, &ReferenceKey, &ReferenceValue)> {
        self.references.iter().map(|((s, k), v)| (s.as_str(), k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{ElementId, IdGenerator};
    use crate::testing::{insert, text_model, TEXT};
    use crate::value::Value;

    fn sequencer() -> Sequencer {
        Sequencer::new(text_model("abc"), 0)
    }

    fn text(s: &Sequencer) -> String {
        s.model().string(TEXT).unwrap().to_string()
    }

    #[test]
    fn operations_in_flight_together_are_transformed_through_the_bridge() {
        let mut s = sequencer();
        s.submit(
            9,
            1,
            0,
            Op::StringSet {
                id: TEXT,
                value: "12".into(),
            },
        )
        .unwrap();
        // Client 1 sends two operations made one after the other on version 1:
        // "12" -> "ab12" -> "abc12".
        s.submit(1, 1, 1, insert(0, "ab")).unwrap();
        // Client 2 removes the "2", also on version 1; it is sequenced between them.
        s.submit(
            2,
            1,
            1,
            Op::StringRemove {
                id: TEXT,
                index: 1,
                len: 1,
            },
        )
        .unwrap();
        // Client 1's second operation was made on "ab12", not on "12" nor on "ab1": only a
        // bridge that rewrites client 2's removal to follow "ab" puts the "c" where it was typed.
        s.submit(1, 2, 1, insert(2, "c")).unwrap();
        assert_eq!(text(&s), "abc1");
        assert_eq!(s.version(), 4);
    }

    #[test]
    fn resent_operations_are_acknowledged_but_not_applied_twice() {
        let mut s = sequencer();
        let first = s.submit(1, 1, 0, insert(0, "X")).unwrap();
        assert!(matches!(
            first,
            Accepted::Sequenced(Sequenced { version: 1, .. })
        ));
        assert_eq!(
            s.submit(1, 1, 0, insert(0, "X")).unwrap(),
            Accepted::Duplicate { version: Some(1) }
        );
        assert_eq!(text(&s), "Xabc");
    }

    #[test]
    fn bad_submissions_are_refused_and_change_nothing() {
        let mut s = sequencer();
        s.submit(1, 1, 0, insert(0, "X")).unwrap();
        let before = (s.model().clone(), s.version());
        let placed = Op::ObjectAdd {
            id: ElementId::ROOT,
            key: "k".into(),
            value: Value::Null.into_node(&mut IdGenerator::new(5)),
            before: vec!["t".into()],
        };
        let cases = [
            (s.submit(2, 1, 5, insert(0, "Y")), "future_context"),
            (s.submit(2, 1, 0, insert(99, "Y")), "index_out_of_range"),
            (s.submit(2, 1, 0, placed), "placement_not_allowed"),
        ];
        for (result, code) in cases {
            assert_eq!(result.unwrap_err().code(), code);
        }
        s.submit(1, 2, 1, insert(0, "Y")).unwrap();
        assert_eq!(
            s.submit(1, 3, 0, insert(0, "Z")).unwrap_err().code(),
            "stale_context"
        );
        assert_eq!(before.1 + 1, s.version());
        assert_eq!(text(&s), "YXabc");
    }

    #[test]
    fn references_follow_operations_and_leave_with_their_session() {
        let mut s = sequencer();
        let key = ReferenceKey {
            element: Some(TEXT),
            key: "cursor".into(),
        };
        // Made on version 0, after an operation of another client that it had not seen.
        s.submit(2, 1, 0, insert(0, "12")).unwrap();
        let now = s
            .set_reference(1, "s1", key.clone(), ReferenceValue::Index(vec![1]), 0)
            .unwrap();
        assert_eq!(now, ReferenceValue::Index(vec![3]));
        s.submit(2, 2, 1, insert(0, "3")).unwrap();
        assert_eq!(
            s.references().next().unwrap().2,
            &ReferenceValue::Index(vec![4])
        );
        s.remove_session("s1");
        assert_eq!(s.references().count(), 0);
    }

    #[test]
    fn operations_another_relay_sequenced_are_applied_as_they_are_and_known_as_duplicates() {
        let mut s = sequencer();
        s.submit(1, 1, 0, insert(3, "d")).unwrap();
        // Another relay stored version 2; this relay's client had not seen it.
        s.apply_external(Sequenced {
            version: 2,
            origin: 7,
            seq: 1,
            op: insert(4, "!"),
        })
        .unwrap();
        assert_eq!(
            s.apply_external(Sequenced {
                version: 9,
                origin: 7,
                seq: 2,
                op: insert(0, "?")
            })
            .unwrap_err()
            .code(),
            "not_next"
        );
        // A submission made before it is transformed past it.
        s.submit(
            2,
            1,
            0,
            Op::StringRemove {
                id: TEXT,
                index: 0,
                len: 2,
            },
        )
        .unwrap();
        assert_eq!(text(&s), "cd!");
        assert_eq!(s.version(), 3);
        // The other relay's client is known: its resend here is a duplicate.
        assert_eq!(
            s.submit(7, 1, 1, insert(4, "!")).unwrap(),
            Accepted::Duplicate { version: Some(2) }
        );
    }

    #[test]
    fn a_reference_from_another_relay_is_moved_past_what_it_had_not_seen() {
        let key = ReferenceKey {
            element: Some(TEXT),
            key: "cursor".into(),
        };
        let mut s = sequencer();
        s.submit(1, 1, 0, insert(0, "12")).unwrap();
        let now = s.set_external_reference("far", key.clone(), ReferenceValue::Index(vec![1]), 0);
        assert_eq!(now, Some(ReferenceValue::Index(vec![3])));
        assert_eq!(
            s.set_external_reference("far", key, ReferenceValue::Index(vec![1]), 5),
            None,
            "a reference from a version this relay has not reached is not set"
        );
    }

    #[test]
    fn history_can_be_forgotten_and_then_old_contexts_are_refused() {
        let mut s = sequencer();
        for i in 0..5 {
            s.submit(1, i + 1, i, insert(0, "x")).unwrap();
        }
        s.forget_history_before(3);
        assert_eq!(s.oldest_version(), 3);
        assert_eq!(s.ops_since(3).unwrap().count(), 2);
        assert!(s.ops_since(2).is_none());
        assert_eq!(
            s.submit(2, 1, 1, insert(0, "y")).unwrap_err().code(),
            "stale_context"
        );
    }
}
