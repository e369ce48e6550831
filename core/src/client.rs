//! The client's concurrency control: a state machine with no I/O.
//!
//! Local operations apply at once (optimistic) and stay unacknowledged, several in flight at
//! once, each with its sequence number and the version it was made on. Remote operations are
//! transformed against everything unacknowledged before they apply, and the unacknowledged
//! operations against them. After a disconnect the client asks for the operations since its
//! version, recognises its own among them by origin and sequence number, and re-sends the rest
//! exactly once. Local and remote references are moved through every operation that applies.
//!
//! # Identity
//!
//! An operation is known by `(origin, seq)` from the moment it is made until it is sequenced,
//! whoever sends it: the relay sequences each such pair at most once and answers a resend as a
//! duplicate. A replica makes new operations under an origin of its own that no other replica
//! ever uses (the client draws a fresh one for every opened or restored replica), so closing and
//! reopening a model, resuming a session or two tabs restoring one cache entry can never number
//! two different edits alike. A restored replica keeps its cached operations' pairs, so that if
//! several replicas restore one entry, the relay keeps one copy of each edit. An operation of one
//! of this replica's origins that it does not hold (made by another replica restored from the
//! same cache, or sent just before a crash that kept the cache from recording it) is applied
//! like anyone else's.

use std::collections::VecDeque;

use crate::maps::FastMap;

use crate::compose::{compose_into, push_composed};
use crate::error::ModelError;
use crate::id::IdGenerator;
use crate::model::Model;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::transform::transform_mut;
use crate::undo::UndoStacks;

/// A local operation the relay has not acknowledged yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Unacked {
    /// The origin it was made under (see the module docs on identity).
    pub origin: u64,
    /// Its sequence number, unique per origin, increasing.
    pub seq: u64,
    /// The relay version it was sent against (its "context"), together with the unacknowledged
    /// operations before it. Set when it is handed out to be sent.
    pub context_version: u64,
    /// The operation, transformed against every remote operation applied since it was made.
    pub op: Op,
}

/// What to send to the relay now, in this order: the operations, then the reference updates.
/// Taking it once per frame batches keystrokes and coalesces cursor moves.
#[derive(Debug, PartialEq)]
pub struct Outgoing<'a> {
    /// Operations not sent yet, oldest first.
    pub ops: Vec<&'a Unacked>,
    /// Reference changes since the last time, one per reference.
    pub references: Vec<ReferenceUpdate>,
}

impl Outgoing<'_> {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.references.is_empty()
    }
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

/// The oldest sequence in flight, for an error message.
fn in_flight(expected: Option<u64>) -> String {
    expected.map_or_else(|| "nothing".to_owned(), |seq| seq.to_string())
}

/// What went wrong when feeding the client state machine.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// A local operation was invalid; nothing changed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An acknowledgement that does not match the oldest operation in flight.
    #[error("acknowledgement for sequence {got}, but {} is the oldest in flight", in_flight(*.expected))]
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
#[derive(Clone, Debug, PartialEq, Default)]
struct LocalReference {
    value: Option<ReferenceValue>,
    shared: bool,
    /// The relay holds a value of it from this session.
    published: bool,
    /// It changed since it was last handed out to be sent.
    dirty: bool,
    /// A remote operation moved it while local operations were in flight. The relay moves its
    /// copy through the same operations in another order, and cursors at the same position
    /// as concurrently inserted text can end up on different sides of it; so once everything
    /// is acknowledged, the value is published again and all copies agree.
    diverged: bool,
}

/// One replica of one model on a client.
#[derive(Clone, Debug)]
pub struct ClientModel {
    /// The local data: the relay's state at `version` plus every unacknowledged operation.
    model: Model,
    /// The last relay version applied here.
    version: u64,
    /// The origin new local operations are made under: this replica's alone (see the module
    /// docs on identity). Operations made earlier keep theirs.
    origin: u64,
    /// The sequence number of the next local operation.
    next_seq: u64,
    /// The origins of the operations a restore brought (a few at most): with `origin`, the only
    /// origins an operation in `unacked` can have, so a remote operation of any other is told
    /// apart without looking through the queue.
    restored_origins: Vec<u64>,
    /// Local operations not yet acknowledged, oldest first.
    unacked: VecDeque<Unacked>,
    /// How many of `unacked`, from the front, have been handed out to be sent.
    sent: usize,
    /// Whether anything goes out; false between a disconnect and the end of a resync.
    online: bool,
    /// This client's references.
    local_refs: FastMap<ReferenceKey, LocalReference>,
    /// Disposed references the relay still holds a value of.
    disposed: Vec<ReferenceKey>,
    /// Other sessions' shared references, by session, as the relay holds them at `version`.
    /// They move only through operations in the relay's order (remote ones as received, own ones
    /// when acknowledged), exactly as the relay's copy does, and are shown moved through the
    /// unacknowledged operations. Moving them through the local order instead could leave a
    /// cursor on the other side of concurrently inserted text than everyone else sees it.
    remote_refs: FastMap<(String, ReferenceKey), ReferenceValue>,
    /// Whether a local string edit is composed into the previous operation while that one has
    /// never been handed out (see [`crate::compose`]): a frame's typing then goes out as one
    /// operation, and an offline session as runs.
    compose_unsent: bool,
    /// The highest sequence number ever handed out to be sent. Operations up to it may have
    /// reached the relay, so nothing is composed into them.
    last_handed_out: u64,
    /// Local undo and redo of this client's own edits.
    undo: UndoStacks,
    /// The edits of an open batch: applied here, sent as one atomic compound when it ends.
    batch: Option<Batch>,
}

/// The edits of an open batch and how to take them back.
#[derive(Clone, Debug, Default)]
struct Batch {
    /// How many nested batches are open.
    depth: usize,
    /// The edits, in order.
    ops: Vec<Op>,
    /// Their inverses, in the same order.
    inverses: Vec<Op>,
}

/// A remote operation as applied here, for change events.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedRemote {
    /// The origin of whoever made it.
    pub origin: u64,
    /// The relay version of the last of the operations it stands for (consecutive operations of
    /// one origin may be composed into one).
    pub version: u64,
    /// The operation as applied to the local data.
    pub op: Op,
}

/// Which undo stack an edit goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UndoRecord {
    /// Not undoable (for example an edit the application makes on its own).
    Skip,
    /// A new undo step.
    Step,
    /// Part of the latest undo step (a run of typing).
    Merge,
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
            restored_origins: Vec::new(),
            unacked: VecDeque::new(),
            sent: 0,
            online: true,
            local_refs: FastMap::default(),
            disposed: Vec::new(),
            remote_refs: FastMap::default(),
            compose_unsent: false,
            last_handed_out: 0,
            undo: UndoStacks::default(),
            batch: None,
        }
    }

    /// Turns composition of unsent string edits on or off (off by default: each submitted
    /// operation keeps its own sequence number).
    pub fn set_composing(&mut self, on: bool) {
        self.compose_unsent = on;
    }

    /// Restores a replica from a cache: its data, version and unacknowledged operations (which
    /// the data already includes, each with its own origin). New operations go under `origin`,
    /// which must be fresh: another replica may restore the same entry. It starts offline;
    /// resync it, then call [`ClientModel::on_resynced`].
    pub fn restore(model: Model, version: u64, origin: u64, unacked: Vec<Unacked>) -> Self {
        let next_seq = unacked.iter().map(|u| u.seq + 1).max().unwrap_or(1);
        let mut restored_origins: Vec<u64> = unacked.iter().map(|u| u.origin).collect();
        restored_origins.dedup();
        ClientModel {
            next_seq,
            restored_origins,
            // Any cached operation may have reached the relay before the cache was written.
            last_handed_out: next_seq - 1,
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

    /// Compacts the local data's strings (see [`Model::compact`]): for when the replica goes
    /// idle.
    pub fn compact(&mut self) -> usize {
        self.model.compact()
    }

    /// The origin new local operations are made under.
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// Nothing written so far is changed any more: the next local edit starts an operation of
    /// its own instead of being composed into the last one. Call it before the unacknowledged
    /// operations are written to a cache, so that every copy of `(origin, seq)` anywhere is the
    /// same edit (a copy restored later, and the one that may have reached the relay).
    pub fn seal(&mut self) {
        self.last_handed_out = self.last_handed_out.max(self.next_seq - 1);
    }

    /// Whether a sequenced `(origin, seq)` is the oldest operation in flight here (then it is
    /// its acknowledgement). One of this replica's pairs it does not hold is someone else's
    /// edit for it (see the module docs on identity); one it holds further back is out of order.
    fn is_next_own(&self, origin: u64, seq: u64) -> Result<bool, ClientError> {
        let front = self.unacked.front();
        if front.is_some_and(|u| u.origin == origin && u.seq == seq) {
            return Ok(true);
        }
        if origin != self.origin && !self.restored_origins.contains(&origin) {
            // Someone else's: the common case, on the path of every remote operation.
            return Ok(false);
        }
        let held = self
            .unacked
            .iter()
            .any(|u| u.origin == origin && u.seq == seq);
        // The current origin is this replica's alone: everything sequenced under it is held.
        if held || origin == self.origin {
            return Err(ClientError::UnexpectedAck {
                expected: front.map(|u| u.seq),
                got: seq,
            });
        }
        Ok(false)
    }

    /// The unacknowledged local operations, oldest first (what a cache stores).
    pub fn unacked(&self) -> impl ExactSizeIterator<Item = &Unacked> {
        self.unacked.iter()
    }

    /// Whether every local operation has been acknowledged.
    pub fn is_settled(&self) -> bool {
        self.unacked.is_empty()
    }

    /// Whether operations and references go out (connected and resynced).
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Applies a local operation at once and queues it for the relay; returns its sequence
    /// number. An invalid operation changes nothing and returns the error.
    pub fn submit(&mut self, op: Op) -> Result<u64, ClientError> {
        if self.batch.is_some() {
            return self.submit_with_inverse(op).map(|(seq, _)| seq);
        }
        self.model.apply(&op)?;
        // An edit that is not undoable moves the undo steps like someone else's would.
        self.undo.transform(&op);
        self.after_apply(&op);
        Ok(self.enqueue(op))
    }

    /// Like [`ClientModel::submit`], and also returns the operation that undoes it.
    pub fn submit_with_inverse(&mut self, op: Op) -> Result<(u64, Op), ClientError> {
        let inverse = self.model.apply_with_inverse(&op)?;
        self.after_apply(&op);
        if let Some(batch) = &mut self.batch {
            batch.ops.push(op);
            batch.inverses.push(inverse.clone());
            return Ok((self.next_seq, inverse));
        }
        Ok((self.enqueue(op), inverse))
    }

    /// Opens a batch (or a nested one): the edits submitted until the matching
    /// [`ClientModel::end_batch`] apply at once, and go to the relay and the undo stack as one
    /// atomic operation. No remote operation may be fed in while a batch is open.
    pub fn begin_batch(&mut self) {
        self.batch.get_or_insert_with(Batch::default).depth += 1;
    }

    /// Closes a batch; the outermost one queues its edits as one compound operation (nothing if
    /// there were none) and returns its sequence number.
    pub fn end_batch(&mut self) -> Option<u64> {
        let batch = self.batch.as_mut()?;
        batch.depth -= 1;
        if batch.depth > 0 {
            return None;
        }
        let batch = self.batch.take()?;
        if batch.ops.is_empty() {
            return None;
        }
        let inverse = Op::from_primitives(batch.inverses.into_iter().rev().collect());
        self.undo.record(inverse, false);
        Some(self.enqueue(Op::Compound(batch.ops)))
    }

    /// The edits of the open batch if the next [`ClientModel::end_batch`] closes it (the
    /// outermost level), so a caller can check what it would send before it does.
    pub fn closing_batch(&self) -> Option<&[Op]> {
        self.batch
            .as_ref()
            .filter(|b| b.depth == 1)
            .map(|b| b.ops.as_slice())
    }

    /// Takes back every edit of the open batch (all nesting levels) and closes it; returns the
    /// operations that undid them, as applied, for change events.
    pub fn abort_batch(&mut self) -> Vec<Op> {
        let Some(batch) = self.batch.take() else {
            return Vec::new();
        };
        let mut applied = Vec::with_capacity(batch.inverses.len());
        for inverse in batch.inverses.into_iter().rev() {
            // Each inverse applies to the data its edit left, which is the data now.
            if self.model.apply(&inverse).is_ok() {
                self.after_apply(&inverse);
                applied.push(inverse);
            }
        }
        applied
    }

    /// Like [`ClientModel::submit`], recording the inverse for [`ClientModel::undo`].
    pub fn submit_undoable(&mut self, op: Op, record: UndoRecord) -> Result<u64, ClientError> {
        if record == UndoRecord::Skip || self.batch.is_some() {
            return self.submit(op);
        }
        let (seq, inverse) = self.submit_with_inverse(op)?;
        self.undo.record(inverse, record == UndoRecord::Merge);
        Ok(seq)
    }

    /// Undoes this client's latest undoable step that others' edits left something of, as a
    /// new local operation; returns it as applied, or `None` when there is nothing to undo.
    /// Subtrees it inserts again get fresh ids from `ids`.
    pub fn undo(&mut self, ids: &mut IdGenerator) -> Result<Option<Op>, ClientError> {
        let Some(op) = self.undo.take_undo(ids) else {
            return Ok(None);
        };
        let Some((op, inverse)) = self.submit_what_applies(op) else {
            return self.undo(ids);
        };
        self.undo.record_undone(inverse);
        Ok(Some(op))
    }

    /// Redoes the latest undone step; returns it as applied, or `None` when there is nothing to
    /// redo.
    pub fn redo(&mut self, ids: &mut IdGenerator) -> Result<Option<Op>, ClientError> {
        let Some(op) = self.undo.take_redo(ids) else {
            return Ok(None);
        };
        let Some((op, inverse)) = self.submit_what_applies(op) else {
            return self.redo(ids);
        };
        self.undo.record_redone(inverse);
        Ok(Some(op))
    }

    /// Applies and queues the parts of an undo or redo step that still apply, as one operation;
    /// returns it and its inverse, or `None` if nothing applied. Concurrent edits can leave a
    /// part of a step without meaning (a position in text that another part restored as it
    /// was); the rest is still undone, and what is sent is exactly what applied here.
    fn submit_what_applies(&mut self, op: Op) -> Option<(Op, Op)> {
        if let Ok((_, inverse)) = self.submit_with_inverse(op.clone()) {
            return Some((op, inverse));
        }
        let mut applied = Vec::new();
        let mut inverses = Vec::new();
        for part in op.into_primitives() {
            if let Ok(inverse) = self.model.apply_with_inverse(&part) {
                applied.push(part);
                inverses.push(inverse);
            }
        }
        if applied.is_empty() {
            return None;
        }
        let op = Op::from_primitives(applied);
        self.after_apply(&op);
        let inverse = Op::from_primitives(inverses.into_iter().rev().collect());
        if let Some(batch) = &mut self.batch {
            batch.ops.push(op.clone());
            batch.inverses.push(inverse.clone());
        } else {
            self.enqueue(op.clone());
        }
        Some((op, inverse))
    }

    /// Whether [`ClientModel::undo`] has a step to undo.
    pub fn can_undo(&self) -> bool {
        self.undo.can_undo()
    }

    /// Whether [`ClientModel::redo`] has a step to redo.
    pub fn can_redo(&self) -> bool {
        self.undo.can_redo()
    }

    fn enqueue(&mut self, op: Op) -> u64 {
        if self.compose_unsent {
            if let Some(last) = self.unacked.back_mut() {
                if last.seq > self.last_handed_out
                    && last.origin == self.origin
                    && compose_into(&mut last.op, &op)
                {
                    return last.seq;
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unacked.push_back(Unacked {
            origin: self.origin,
            seq,
            context_version: self.version,
            op,
        });
        seq
    }

    /// Hands out what to send now (nothing while offline): every operation not sent yet, with
    /// its context version, then the reference changes since the last call.
    pub fn take_outgoing(&mut self) -> Outgoing<'_> {
        if !self.online {
            return Outgoing {
                ops: Vec::new(),
                references: Vec::new(),
            };
        }
        let version = self.version;
        let ops = self.hand_out_ops();
        // References are expressed on this replica's operations, which the relay only counts
        // as its own under one origin: while restored operations of another origin are in
        // flight, references wait (the elements they point at may also still be held back).
        if self.unacked.iter().any(|u| u.origin != self.origin) {
            return Outgoing {
                ops: self.unacked.range(ops).collect(),
                references: Vec::new(),
            };
        }
        let mut references: Vec<ReferenceUpdate> = self
            .disposed
            .drain(..)
            .map(|key| ReferenceUpdate::Unset { key })
            .collect();
        for (key, r) in self.local_refs.iter_mut().filter(|(_, r)| r.dirty) {
            r.dirty = false;
            match (&r.value, r.shared) {
                (Some(value), true) => {
                    r.published = true;
                    let value = value.clone();
                    references.push(ReferenceUpdate::Set {
                        key: key.clone(),
                        value,
                        context_version: version,
                    });
                }
                _ if r.published => {
                    r.published = false;
                    references.push(ReferenceUpdate::Unset { key: key.clone() });
                }
                _ => {}
            }
        }
        Outgoing {
            ops: self.unacked.range(ops).collect(),
            references,
        }
    }

    /// Marks the operations to send now as handed out and returns their range in `unacked`.
    fn hand_out_ops(&mut self) -> std::ops::Range<usize> {
        let first_unsent = self.sent;
        // One origin's operations at a time: the relay takes a submission's own origin's
        // earlier operations as part of its context, but not another origin's, so operations
        // under the fresh origin wait until the restored ones before them are sequenced (their
        // context then includes them).
        let run_origin = self.unacked.front().map(|u| u.origin);
        self.sent = self
            .unacked
            .iter()
            .position(|u| Some(u.origin) != run_origin)
            .unwrap_or(self.unacked.len())
            .max(first_unsent);
        if let Some(last) = self.sent.checked_sub(1).and_then(|i| self.unacked.get(i)) {
            self.last_handed_out = self.last_handed_out.max(last.seq);
        }
        let version = self.version;
        for u in self.unacked.range_mut(first_unsent..self.sent) {
            // Unsent operations were transformed against every remote operation received, so
            // they apply to the current version (after the earlier unacknowledged ones).
            u.context_version = version;
        }
        first_unsent..self.sent
    }

    /// The relay acknowledged the oldest operation in flight as `version`. An acknowledgement
    /// of a version this replica has already passed (a resend another replica's copy beat) is
    /// a no-op; one of a version it has not reached yet is too, since the operation itself
    /// arrives with the others in order and acknowledges then.
    pub fn on_ack(&mut self, seq: u64, version: u64) -> Result<(), ClientError> {
        if version != self.version + 1 {
            return Ok(());
        }
        let expected = self.unacked.front().map(|u| u.seq);
        if expected != Some(seq) || self.sent == 0 && self.online {
            return Err(ClientError::UnexpectedAck { expected, got: seq });
        }
        self.acknowledge(seq, version)
    }

    /// The oldest operation in flight was sequenced as `version` (seen in the relay's order,
    /// which is proof enough even if this replica never sent it: a copy restored from the same
    /// cache did).
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
        self.sent = self.sent.saturating_sub(1);
        self.version = version;
        if self.unacked.is_empty() {
            for r in self.local_refs.values_mut() {
                if std::mem::take(&mut r.diverged) && r.shared {
                    r.dirty = true;
                }
            }
        }
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
        if self.is_next_own(origin, seq)? {
            self.acknowledge(seq, version)?;
            return Ok(Op::noop());
        }
        if version != self.version + 1 {
            return Err(ClientError::VersionGap {
                expected: self.version + 1,
                got: version,
            });
        }
        let applied = self.apply_remote(op)?;
        self.version = version;
        Ok(applied)
    }

    /// Feeds operations the relay sequenced, `(version, origin, seq, op)` in version order, as
    /// [`ClientModel::on_remote`] does one by one, but composing consecutive string edits of
    /// one origin first when that is sound (see `apply_run`): catching up on a long stretch of
    /// others' typing after an offline session then transforms runs against runs instead of
    /// keystrokes against keystrokes. Returns what was applied, run by run.
    pub fn on_remote_batch(
        &mut self,
        ops: impl IntoIterator<Item = (u64, u64, u64, Op)>,
    ) -> Result<Vec<AppliedRemote>, ClientError> {
        let mut applied = Vec::new();
        // Consecutive operations of one other origin, with their versions.
        let mut run: Option<(u64, Vec<(u64, Op)>)> = None;
        for (version, origin, seq, op) in ops {
            if self.is_next_own(origin, seq)? {
                if let Some((origin, ops)) = run.take() {
                    self.apply_run(origin, ops, &mut applied)?;
                }
                self.acknowledge(seq, version)?;
                continue;
            }
            let last = run.as_ref().and_then(|(_, ops)| ops.last());
            let expected = last.map_or(self.version, |(v, _)| *v) + 1;
            if version != expected {
                return Err(ClientError::VersionGap {
                    expected,
                    got: version,
                });
            }
            match &mut run {
                Some((run_origin, ops)) if *run_origin == origin => ops.push((version, op)),
                _ => {
                    if let Some((origin, ops)) = run.take() {
                        self.apply_run(origin, ops, &mut applied)?;
                    }
                    run = Some((origin, vec![(version, op)]));
                }
            }
        }
        if let Some((origin, ops)) = run {
            self.apply_run(origin, ops, &mut applied)?;
        }
        Ok(applied)
    }

    /// Applies a run of one origin's operations, composed or not. Composing is only sound while
    /// no unacknowledged operation has been handed out: the relay transforms operations it
    /// received against the run one by one, and at equal positions the outcome can differ from
    /// a transformation against the composed run, whereas operations it has never seen arrive
    /// already transformed.
    fn apply_run(
        &mut self,
        origin: u64,
        ops: Vec<(u64, Op)>,
        applied: &mut Vec<AppliedRemote>,
    ) -> Result<(), ClientError> {
        let Some(&(last_version, _)) = ops.last() else {
            return Ok(());
        };
        let in_flight = self
            .unacked
            .front()
            .is_some_and(|u| u.seq <= self.last_handed_out);
        if in_flight {
            for (version, op) in ops {
                let op = self.apply_remote(op)?;
                self.version = version;
                applied.push(AppliedRemote {
                    origin,
                    version,
                    op,
                });
            }
            return Ok(());
        }
        let mut composed: Vec<Op> = Vec::new();
        for (_, op) in ops {
            push_composed(&mut composed, op);
        }
        for op in composed {
            let op = self.apply_remote(op)?;
            applied.push(AppliedRemote {
                origin,
                version: last_version,
                op,
            });
        }
        self.version = last_version;
        Ok(())
    }

    /// Applies another client's operation, in the relay's form, after the unacknowledged ones.
    fn apply_remote(&mut self, op: Op) -> Result<Op, ClientError> {
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
            transform_mut(&mut pending.op, &mut incoming);
        }
        self.model.apply(&incoming).map_err(ClientError::Diverged)?;
        self.undo.transform(&incoming);
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
        if self.unacked.is_empty() && !self.remote_refs.is_empty() {
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

    /// The connection dropped: stop sending, count nothing as sent or published (the relay
    /// drops a session's references when it goes), forget other sessions' references (the
    /// relay sends them again on reopen).
    pub fn on_disconnect(&mut self) {
        self.online = false;
        self.sent = 0;
        self.disposed.clear();
        for r in self.local_refs.values_mut() {
            r.published = false;
        }
        self.remote_refs.clear();
    }

    /// Starts a resync: the version to ask the relay for operations after.
    pub fn resync_from(&self) -> u64 {
        self.version
    }

    /// Ends a resync once every missed operation was fed through [`ClientModel::on_remote`]:
    /// goes online; the next [`ClientModel::take_outgoing`] hands out every operation still
    /// unacknowledged, in order, and every shared reference.
    pub fn on_resynced(&mut self) {
        self.online = true;
        self.sent = 0;
        for r in self.local_refs.values_mut() {
            r.diverged = false;
            r.dirty = r.shared;
        }
    }

    fn local_ref_mut(&mut self, key: ReferenceKey) -> &mut LocalReference {
        self.local_refs.entry(key).or_default()
    }

    /// Sets a local reference's value (published with the next outgoing batch if shared).
    pub fn set_reference(&mut self, key: ReferenceKey, value: ReferenceValue) {
        let r = self.local_ref_mut(key);
        r.value = Some(value);
        r.dirty = true;
    }

    /// Clears a local reference's value; it stays shared, with no value.
    pub fn clear_reference(&mut self, key: &ReferenceKey) {
        if let Some(r) = self.local_refs.get_mut(key) {
            r.value = None;
            r.dirty = true;
        }
    }

    /// Starts publishing a local reference to other sessions.
    pub fn share_reference(&mut self, key: ReferenceKey) {
        let r = self.local_ref_mut(key);
        r.shared = true;
        r.dirty = true;
    }

    /// Stops publishing a local reference; it keeps its local value.
    pub fn unshare_reference(&mut self, key: &ReferenceKey) {
        if let Some(r) = self.local_refs.get_mut(key) {
            r.shared = false;
            r.dirty = true;
        }
    }

    /// Forgets a local reference entirely.
    pub fn dispose_reference(&mut self, key: &ReferenceKey) {
        if let Some(r) = self.local_refs.remove(key) {
            if r.published {
                self.disposed.push(key.clone());
            }
        }
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

    fn sent(c: &mut ClientModel) -> Vec<(u64, u64)> {
        c.take_outgoing()
            .ops
            .iter()
            .map(|u| (u.seq, u.context_version))
            .collect()
    }

    #[test]
    fn local_operations_apply_at_once_and_stay_in_flight_until_acknowledged() {
        let mut c = client();
        assert_eq!(c.submit(insert(3, "d")).unwrap(), 1);
        assert_eq!(c.submit(insert(4, "e")).unwrap(), 2);
        assert_eq!(text(&c), "abcde");
        assert_eq!(
            c.on_ack(1, 1),
            Err(ClientError::UnexpectedAck {
                expected: Some(1),
                got: 1
            }),
            "not sent yet"
        );
        assert_eq!(sent(&mut c), [(1, 0), (2, 0)]);
        assert_eq!(sent(&mut c), [], "handed out once");
        assert_eq!(
            c.on_ack(2, 1),
            Err(ClientError::UnexpectedAck {
                expected: Some(1),
                got: 2
            })
        );
        c.on_ack(1, 1).unwrap();
        // An acknowledgement of a version not reached yet changes nothing: the operation itself
        // arrives in order and acknowledges then.
        assert_eq!(c.on_ack(2, 5), Ok(()));
        assert_eq!((c.version(), c.unacked().len()), (1, 1));
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
        // Not sent before the remote operation arrived: it now applies to version 1.
        assert_eq!(sent(&mut c), [(1, 1)]);
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
        assert_eq!(sent(&mut c).len(), 2);
        c.on_disconnect();
        c.submit(insert(2, "3")).unwrap();
        assert!(c.take_outgoing().is_empty(), "offline: nothing goes out");
        // The relay had sequenced the first one before the connection dropped.
        assert_eq!(c.resync_from(), 0);
        c.on_remote(1, 7, 1, insert(0, "1")).unwrap();
        c.on_remote(2, 99, 1, insert(0, "R")).unwrap();
        c.on_resynced();
        assert_eq!(sent(&mut c), [(2, 2), (3, 2)]);
        assert_eq!(text(&c), "R123abc");
    }

    #[test]
    fn references_are_published_while_shared_one_update_per_batch() {
        let mut c = client();
        let key = ReferenceKey {
            element: Some(TEXT),
            key: "cursor".into(),
        };
        c.set_reference(key.clone(), ReferenceValue::Index(vec![1]));
        assert!(c.take_outgoing().is_empty(), "not shared");
        c.share_reference(key.clone());
        c.set_reference(key.clone(), ReferenceValue::Index(vec![2]));
        c.submit(insert(0, "xy")).unwrap();
        let out = c.take_outgoing();
        assert_eq!(out.ops.len(), 1);
        let set = ReferenceUpdate::Set {
            key: key.clone(),
            value: ReferenceValue::Index(vec![4]),
            context_version: 0,
        };
        assert_eq!(out.references, [set]);
        c.unshare_reference(&key);
        c.set_reference(key.clone(), ReferenceValue::Index(vec![0]));
        assert_eq!(
            c.take_outgoing().references,
            [ReferenceUpdate::Unset { key: key.clone() }]
        );
        c.dispose_reference(&key);
        assert!(c.take_outgoing().is_empty(), "it was no longer published");
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
        restored.submit(insert(0, "r")).unwrap();
        assert!(restored.take_outgoing().is_empty());
        restored.on_resynced();
        assert_eq!(sent(&mut restored), [(1, 0), (2, 0)]);
        assert_eq!(text(&restored), "rqabc");
    }

    #[test]
    fn unsent_typing_composes_but_nothing_composes_into_what_was_handed_out() {
        let mut c = client();
        c.set_composing(true);
        assert_eq!(c.submit(insert(3, "d")).unwrap(), 1);
        assert_eq!(
            c.submit(insert(4, "e")).unwrap(),
            1,
            "composed into the first"
        );
        assert_eq!(sent(&mut c), [(1, 0)]);
        assert_eq!(
            c.submit(insert(5, "f")).unwrap(),
            2,
            "the first may have reached the relay"
        );
        c.on_disconnect();
        assert_eq!(
            c.submit(insert(6, "g")).unwrap(),
            2,
            "never handed out: composes offline"
        );
        c.on_resynced();
        let out = c.take_outgoing();
        assert_eq!(out.ops.len(), 2);
        assert_eq!(out.ops[1].op, insert(5, "fg"));
        assert_eq!(text(&c), "abcdefg");
    }

    #[test]
    fn a_batch_goes_out_and_undoes_as_one_operation_and_an_aborted_one_leaves_nothing() {
        let mut c = client();
        let mut ids = IdGenerator::new(9);
        c.begin_batch();
        c.submit_undoable(insert(0, "x"), UndoRecord::Step).unwrap();
        c.begin_batch();
        c.submit(insert(4, "y")).unwrap();
        assert_eq!(c.end_batch(), None, "the inner batch only nests");
        assert!(
            c.take_outgoing().ops.is_empty(),
            "nothing leaves while the batch is open"
        );
        assert_eq!(c.end_batch(), Some(1));
        let out = c.take_outgoing();
        assert_eq!(out.ops.len(), 1);
        assert_eq!(
            out.ops[0].op,
            Op::Compound(vec![insert(0, "x"), insert(4, "y")])
        );
        assert_eq!(text(&c), "xabcy");
        c.undo(&mut ids).unwrap();
        assert_eq!(text(&c), "abc", "one undo step");
        c.begin_batch();
        c.submit(insert(0, "1")).unwrap();
        c.submit(insert(0, "2")).unwrap();
        assert_eq!(c.abort_batch().len(), 2);
        assert_eq!(text(&c), "abc");
        assert_eq!(c.end_batch(), None);
        assert_eq!(c.take_outgoing().ops.len(), 1, "only the undo");
    }

    #[test]
    fn a_remote_batch_composes_runs_of_one_origin_once_nothing_is_in_flight() {
        let mut c = client();
        c.submit(insert(0, ">")).unwrap();
        sent(&mut c);
        c.on_disconnect();
        let replay = vec![
            (1, 70, 1, insert(3, "x")),
            (2, 70, 2, insert(4, "y")),
            (3, c.origin(), 1, insert(0, ">")),
            (4, 70, 3, insert(6, "z")),
            (5, 70, 4, insert(7, "q")),
            (6, 80, 1, insert(8, "w")),
        ];
        let applied = c.on_remote_batch(replay).unwrap();
        let versions: Vec<u64> = applied.iter().map(|a| a.version).collect();
        assert_eq!(
            versions,
            [1, 2, 5, 6],
            "one by one while '>' is in flight, then composed runs"
        );
        assert_eq!(applied[2].op, insert(6, "zq"));
        assert!(c.is_settled());
        assert_eq!(c.version(), 6);
        assert_eq!(text(&c), ">abcxyzqw");
        let gap = c.on_remote_batch([(8, 70, 5, insert(0, "!"))]);
        assert_eq!(
            gap,
            Err(ClientError::VersionGap {
                expected: 7,
                got: 8
            })
        );
    }

    /// A replica restored from a cache entry holding one unsent edit of origin 7.
    fn restored(fresh_origin: u64) -> ClientModel {
        let mut original = client();
        original.submit(insert(0, "a")).unwrap();
        let unacked: Vec<Unacked> = original.unacked().cloned().collect();
        ClientModel::restore(original.model().clone(), 0, fresh_origin, unacked)
    }

    #[test]
    fn restored_operations_keep_their_identity_and_new_ones_take_the_fresh_origin() {
        let mut c = restored(99);
        c.submit(insert(0, "b")).unwrap();
        c.on_resynced();
        let out = |c: &mut ClientModel| -> Vec<(u64, u64)> {
            c.take_outgoing()
                .ops
                .iter()
                .map(|u| (u.origin, u.seq))
                .collect()
        };
        assert_eq!(
            out(&mut c),
            [(7, 1)],
            "the fresh origin's wait for the restored ones"
        );
        c.on_remote(1, 7, 1, insert(0, "a")).unwrap();
        assert_eq!(out(&mut c), [(99, 2)]);
    }

    #[test]
    fn two_replicas_restoring_one_entry_recognise_the_edit_either_of_them_sent() {
        // Both restore the entry; one's copy of (7, 1) was sequenced first, the other's was
        // then a duplicate: each sees (7, 1) in the relay's order and takes it as its own.
        let mut b = restored(98);
        let mut c = restored(99);
        b.on_resynced();
        c.on_resynced();
        assert_eq!(sent(&mut b), [(1, 0)]);
        b.on_remote_batch([(1, 7, 1, insert(0, "a"))]).unwrap();
        // c never sent it (it was quicker to receive it than to flush).
        c.on_remote_batch([(1, 7, 1, insert(0, "a"))]).unwrap();
        assert!(b.is_settled() && c.is_settled());
        assert_eq!(text(&b), "aabc");
        assert_eq!(text(&c), "aabc");
        // The duplicate's acknowledgement arrives after the operation itself: a no-op.
        assert_eq!(b.on_ack(1, 1), Ok(()));
        assert_eq!(b.version(), 1);
    }

    #[test]
    fn an_edit_of_a_former_origin_the_cache_never_recorded_applies_like_anyone_elses() {
        // The original sent (7, 1) then (7, 2) and crashed before its cache recorded (7, 2).
        let mut c = restored(99);
        c.on_remote_batch([(1, 7, 1, insert(0, "a")), (2, 7, 2, insert(0, "z"))])
            .unwrap();
        assert!(c.is_settled());
        assert_eq!(text(&c), "zaabc", "(7, 2) applied, (7, 1) acknowledged");
        // Under the replica's own current origin, nothing it does not hold can be sequenced.
        assert!(matches!(
            c.on_remote_batch([(3, 99, 5, insert(0, "?"))]),
            Err(ClientError::UnexpectedAck { .. })
        ));
    }

    #[test]
    fn a_sealed_operation_is_never_changed_again() {
        let mut c = client();
        c.set_composing(true);
        c.submit(insert(0, "a")).unwrap();
        c.seal();
        c.submit(insert(1, "b")).unwrap();
        let seqs: Vec<u64> = c.unacked().map(|u| u.seq).collect();
        assert_eq!(
            seqs,
            [1, 2],
            "the cached copy of (7, 1) stays what the relay may get"
        );
    }
}
