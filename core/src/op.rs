//! Operations: the granular edits replicas exchange.

use crate::id::ElementId;
use crate::value::Node;

/// One edit of a model, targeting elements by id.
///
/// String positions and lengths are UTF-16 code units. An operation whose target is no longer in
/// the tree applies as a no-op. `Compound` is a batch applied atomically; an empty compound is the
/// no-op that transformation produces when an edit is overridden.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert `text` at `index` of string `id`.
    StringInsert {
        id: ElementId,
        index: usize,
        text: String,
    },
    /// Remove `len` code units at `index` of string `id`.
    StringRemove {
        id: ElementId,
        index: usize,
        len: usize,
    },
    /// Remove `remove` code units at `index`, then insert `text` there, at once.
    StringSplice {
        id: ElementId,
        index: usize,
        remove: usize,
        text: String,
    },
    /// Replace the whole text of string `id`.
    StringSet { id: ElementId, value: String },
    /// Insert `value` so that it ends up at `index` of array `id`.
    ArrayInsert {
        id: ElementId,
        index: usize,
        value: Node,
    },
    /// Remove the item at `index` of array `id`.
    ArrayRemove { id: ElementId, index: usize },
    /// Replace the item at `index` of array `id` with `value`.
    ArrayReplace {
        id: ElementId,
        index: usize,
        value: Node,
    },
    /// Move the item at `from` so that it ends up at index `to`.
    ArrayMove {
        id: ElementId,
        from: usize,
        to: usize,
    },
    /// Replace every item of array `id`.
    ArraySet { id: ElementId, value: Vec<Node> },
    /// Add property `key`, which must not exist, to object `id`.
    ///
    /// The property goes before the first key of `before` that the object holds, or last when
    /// none does. Applications send an empty `before`; transformation fills it in so that
    /// properties added concurrently end up in the relay's order on every replica.
    ObjectAdd {
        id: ElementId,
        key: String,
        value: Node,
        before: Vec<String>,
    },
    /// Replace the value of existing property `key` of object `id`.
    ObjectSet {
        id: ElementId,
        key: String,
        value: Node,
    },
    /// Remove property `key` of object `id`.
    ObjectRemove { id: ElementId, key: String },
    /// Replace every property of object `id`.
    ObjectSetAll {
        id: ElementId,
        value: Vec<(String, Node)>,
    },
    /// Add `delta` to number `id`.
    NumberAdd { id: ElementId, delta: f64 },
    /// Set number `id`.
    NumberSet { id: ElementId, value: f64 },
    /// Set boolean `id`.
    BooleanSet { id: ElementId, value: bool },
    /// Set date `id` (milliseconds since the epoch).
    DateSet { id: ElementId, value: i64 },
    /// Several operations applied in order, all or nothing, sent as one unit.
    Compound(Vec<Op>),
}

/// Matches every primitive operation's target `id` once, for [`Op::target`] and
/// [`Op::target_mut`]; a compound has none.
macro_rules! with_target {
    ($op:expr, |$id:ident| $then:expr) => {
        match $op {
            Op::StringInsert { id: $id, .. }
            | Op::StringRemove { id: $id, .. }
            | Op::StringSplice { id: $id, .. }
            | Op::StringSet { id: $id, .. }
            | Op::ArrayInsert { id: $id, .. }
            | Op::ArrayRemove { id: $id, .. }
            | Op::ArrayReplace { id: $id, .. }
            | Op::ArrayMove { id: $id, .. }
            | Op::ArraySet { id: $id, .. }
            | Op::ObjectAdd { id: $id, .. }
            | Op::ObjectSet { id: $id, .. }
            | Op::ObjectRemove { id: $id, .. }
            | Op::ObjectSetAll { id: $id, .. }
            | Op::NumberAdd { id: $id, .. }
            | Op::NumberSet { id: $id, .. }
            | Op::BooleanSet { id: $id, .. }
            | Op::DateSet { id: $id, .. } => Some($then),
            Op::Compound(_) => None,
        }
    };
}

impl Op {
    /// The operation that does nothing.
    pub fn noop() -> Op {
        Op::Compound(Vec::new())
    }

    /// Whether applying this changes nothing by construction (an empty batch, an empty insert).
    pub fn is_noop(&self) -> bool {
        match self {
            Op::Compound(ops) => ops.iter().all(Op::is_noop),
            Op::StringInsert { text, .. } => text.is_empty(),
            Op::StringRemove { len, .. } => *len == 0,
            Op::StringSplice { remove, text, .. } => *remove == 0 && text.is_empty(),
            _ => false,
        }
    }

    /// The element this operation edits; `None` for a compound.
    pub fn target(&self) -> Option<ElementId> {
        with_target!(self, |id| *id)
    }

    /// The element this operation edits, to rewrite it; `None` for a compound.
    pub fn target_mut(&mut self) -> Option<&mut ElementId> {
        with_target!(self, |id| id)
    }

    /// The new subtrees this operation inserts (none for a compound: see its parts).
    pub fn nodes_mut(&mut self) -> Vec<&mut Node> {
        match self {
            Op::ArrayInsert { value, .. }
            | Op::ArrayReplace { value, .. }
            | Op::ObjectAdd { value, .. }
            | Op::ObjectSet { value, .. } => vec![value],
            Op::ArraySet { value, .. } => value.iter_mut().collect(),
            Op::ObjectSetAll { value, .. } => value.iter_mut().map(|(_, node)| node).collect(),
            _ => Vec::new(),
        }
    }

    /// Flattens nested compounds into a list of primitive operations, in application order.
    pub fn into_primitives(self) -> Vec<Op> {
        let mut out = Vec::new();
        self.push_primitives(&mut out);
        out
    }

    fn push_primitives(self, out: &mut Vec<Op>) {
        match self {
            Op::Compound(ops) => ops.into_iter().for_each(|op| op.push_primitives(out)),
            op => out.push(op),
        }
    }

    /// Builds an operation from primitives: the single one itself, or a compound.
    pub fn from_primitives(mut ops: Vec<Op>) -> Op {
        if ops.len() == 1 {
            ops.pop().unwrap_or_else(Op::noop)
        } else {
            Op::Compound(ops)
        }
    }

    /// The number of primitive operations inside (1 for a primitive).
    pub fn primitive_count(&self) -> usize {
        match self {
            Op::Compound(ops) => ops.iter().map(Op::primitive_count).sum(),
            _ => 1,
        }
    }

    /// Whether any `ObjectAdd` inside carries a `before` list. Only transformation fills those
    /// in, so the relay refuses submissions that carry one.
    pub fn has_placement(&self) -> bool {
        match self {
            Op::ObjectAdd { before, .. } => !before.is_empty(),
            Op::Compound(ops) => ops.iter().any(Op::has_placement),
            _ => false,
        }
    }

    /// The same operation with every `before` list emptied, for sending an operation computed
    /// locally (an inverse, for undo) to the relay.
    pub fn without_placement(self) -> Op {
        match self {
            Op::ObjectAdd { id, key, value, .. } => Op::ObjectAdd {
                id,
                key,
                value,
                before: Vec::new(),
            },
            Op::Compound(ops) => Op::Compound(ops.into_iter().map(Op::without_placement).collect()),
            op => op,
        }
    }
}
