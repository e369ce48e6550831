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

use rustc_hash::FxHashMap;

use crate::error::ModelError;
use crate::model::Model;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::transform::transform;

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
    /// A sequence number that skips back past the last sequenced one without being a
    /// duplicate cannot happen with a correct client.
    #[error("sequence number {seq} is out of order")]
    OutOfOrder { seq: u64 },
}

impl SequenceError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SequenceError::Model(e) => e.code(),
            SequenceError::FutureContext { .. } => "future_context",
            SequenceError::StaleContext { .. } => "stale_context",
            SequenceError::OutOfOrder { .. } => "out_of_order",
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
    bridges: FxHashMap<u64, Bridge>,
    /// Shared references by session and key, expressed at the current version.
    references: FxHashMap<(String, ReferenceKey), ReferenceValue>,
}

impl Sequencer {
    /// A sequencer for `model` at `version` with no history in memory.
    pub fn new(model: Model, version: u64) -> Self {
        Sequencer {
            model,
            base_version: version,
            history: VecDeque::new(),
            bridges: FxHashMap::default(),
            references: FxHashMap::default(),
        }
    }

    /// The current data.
    pub fn model(&self) -> &Model {
        &self.model
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
        let against = self.concurrent_ops(origin, context_version)?;
        let mut op = op;
        let mut rewritten = Vec::with_capacity(against.len());
        for (version, other) in against {
            let (op_after, other_after) = transform(&op, &other);
            op = op_after;
            rewritten.push((version, other_after));
        }
        self.model.apply(&op)?;
        for ((_, key), value) in self.references.iter_mut() {
            value.transform(key.element, &op);
            value.retain_attached(&self.model);
        }
        let model = &self.model;
        self.references
            .retain(|(_, key), _| key.element.is_none_or(|e| model.contains(e)));
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
