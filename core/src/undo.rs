//! Local undo and redo: undo only this client's own changes, past everything others did since.
//!
//! Each stack is a chain: its top entry applies to the current data, the entry below it to the
//! data after the top was undone, and so on. A remote operation `r` (as applied here) is moved
//! down each chain: the top entry is transformed against `r`, and `r` against the top entry (it
//! is then expressed on the data under the top entry), which moves on to the next entry. So every
//! entry stays exactly applicable once the ones above it are undone, whatever others did.
//!
//! Entries hold inverse operations in the order they apply. A caller that groups edits (a run of
//! typing) merges each new inverse into the top entry; typing's inverses then compose into one
//! removal (see [`crate::compose`]), so the stacks stay small and each remote operation costs a
//! few transformations.
//!
//! Undoing a removal inserts the removed subtree again, but with fresh element ids: an element
//! id, once removed, is gone for good on every replica (operations on it are no-ops whatever
//! their order), and bringing it back would let the order of a concurrent edit of it decide
//! whether that edit survives. The steps below are rewritten to the new ids.

use std::collections::VecDeque;

use crate::maps::FastMap;

use crate::compose::compose_into;
use crate::id::{ElementId, IdGenerator};
use crate::op::Op;
use crate::transform::transform_mut;
use crate::value::{Node, NodeValue};

/// How many undo entries are kept by default; older ones are dropped.
pub const DEFAULT_UNDO_LIMIT: usize = 200;

/// Operations that undo one step, in the order they apply.
type Entry = VecDeque<Op>;

/// The undo and redo stacks of one replica.
#[derive(Clone, Debug)]
pub struct UndoStacks {
    /// Steps to undo, the most recent last.
    undo: VecDeque<Entry>,
    /// Undone steps to redo, the most recently undone last. Cleared by a new local edit.
    redo: Vec<Entry>,
    /// The most undo entries kept.
    limit: usize,
}

impl Default for UndoStacks {
    fn default() -> Self {
        UndoStacks::new(DEFAULT_UNDO_LIMIT)
    }
}

impl UndoStacks {
    /// Empty stacks keeping at most `limit` undo steps.
    pub fn new(limit: usize) -> Self {
        UndoStacks {
            undo: VecDeque::new(),
            redo: Vec::new(),
            limit: limit.max(1),
        }
    }

    /// Whether there is something to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether there is something to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Records the inverse of a new local edit: a new step, or part of the latest step when
    /// `merge` is set. Clears what could be redone.
    pub fn record(&mut self, inverse: Op, merge: bool) {
        self.redo.clear();
        self.push_undo(inverse, merge);
    }

    fn push_undo(&mut self, inverse: Op, merge: bool) {
        if inverse.is_noop() {
            return;
        }
        match self.undo.back_mut() {
            Some(top) if merge => prepend(top, inverse),
            _ => {
                self.undo.push_back(VecDeque::from([inverse]));
                if self.undo.len() > self.limit {
                    self.undo.pop_front();
                }
            }
        }
    }

    /// Takes the latest step to undo, as one operation to submit (placement hints stripped, as
    /// the relay requires). Steps that others' edits made empty are skipped.
    pub fn take_undo(&mut self, ids: &mut IdGenerator) -> Option<Op> {
        while let Some(entry) = self.undo.pop_back() {
            let op = into_op(entry);
            if !op.is_noop() {
                return Some(self.with_fresh_ids(op, ids));
            }
        }
        None
    }

    /// Records the inverse of an undo that was applied: the step to redo it.
    pub fn record_undone(&mut self, inverse: Op) {
        if !inverse.is_noop() {
            self.redo.push(VecDeque::from([inverse]));
        }
    }

    /// Takes the latest undone step to redo, as one operation to submit.
    pub fn take_redo(&mut self, ids: &mut IdGenerator) -> Option<Op> {
        while let Some(entry) = self.redo.pop() {
            let op = into_op(entry);
            if !op.is_noop() {
                return Some(self.with_fresh_ids(op, ids));
            }
        }
        None
    }

    /// Gives every subtree `op` inserts fresh ids, and points the remaining steps at them.
    fn with_fresh_ids(&mut self, mut op: Op, ids: &mut IdGenerator) -> Op {
        let mut renamed = FastMap::default();
        if let Op::Compound(parts) = &mut op {
            for part in parts {
                // A part may edit a subtree an earlier part inserted again.
                rename_targets(part, &renamed);
                refresh_ids(part, ids, &mut renamed);
            }
        } else {
            refresh_ids(&mut op, ids, &mut renamed);
        }
        if !renamed.is_empty() {
            let entries = self.undo.iter_mut().chain(self.redo.iter_mut());
            for step in entries.flat_map(|entry| entry.iter_mut()) {
                rename_targets(step, &renamed);
            }
        }
        op
    }

    /// Records the inverse of a redo that was applied: undoable again, keeping the other redo steps.
    pub fn record_redone(&mut self, inverse: Op) {
        self.push_undo(inverse, false);
    }

    /// Moves both stacks past a remote operation just applied here.
    pub fn transform(&mut self, remote: &Op) {
        if remote.is_noop() {
            return;
        }
        move_chain(self.undo.iter_mut().rev(), remote);
        move_chain(self.redo.iter_mut().rev(), remote);
    }

    /// Forgets every step (for example when the data was replaced wholesale).
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }
}

/// Puts `inverse` first in `entry`, composing it with the next operation when it can.
fn prepend(entry: &mut Entry, mut inverse: Op) {
    if let Some(first) = entry.front() {
        if compose_into(&mut inverse, first) {
            entry.pop_front();
        }
    }
    entry.push_front(inverse);
}

fn into_op(entry: Entry) -> Op {
    Op::from_primitives(
        entry
            .into_iter()
            .flat_map(|op| op.without_placement().into_primitives())
            .collect(),
    )
}

fn refresh_ids(op: &mut Op, ids: &mut IdGenerator, renamed: &mut FastMap<ElementId, ElementId>) {
    fn walk(node: &mut Node, ids: &mut IdGenerator, renamed: &mut FastMap<ElementId, ElementId>) {
        let fresh = ids.next_id();
        renamed.insert(node.id, fresh);
        node.id = fresh;
        match &mut node.value {
            NodeValue::Array(items) => items.iter_mut().for_each(|n| walk(n, ids, renamed)),
            NodeValue::Object(props) => props.iter_mut().for_each(|(_, n)| walk(n, ids, renamed)),
            _ => {}
        }
    }
    for node in op.nodes_mut() {
        walk(node, ids, renamed);
    }
}

fn rename_targets(op: &mut Op, renamed: &FastMap<ElementId, ElementId>) {
    match op {
        Op::Compound(parts) => parts.iter_mut().for_each(|p| rename_targets(p, renamed)),
        _ => {
            if let Some(target) = op.target_mut() {
                if let Some(fresh) = renamed.get(target) {
                    *target = *fresh;
                }
            }
        }
    }
}

/// Moves a chain of entries, top first, past `remote`, which applies to the data the top entry
/// applies to.
fn move_chain<'a>(entries: impl Iterator<Item = &'a mut Entry>, remote: &Op) {
    let mut remote = remote.clone();
    let mut inserted: Vec<ElementId> = Vec::new();
    for op in entries.flat_map(|entry| entry.iter_mut()) {
        transform_mut(op, &mut remote);
        inserted.clear();
        collect_ids(op, &mut inserted);
        if !inserted.is_empty() {
            // Undoing this inserts these subtrees again under fresh ids, which `remote` never
            // touched: the steps after it see `remote` without its edits of them.
            remote = Op::from_primitives(
                remote
                    .into_primitives()
                    .into_iter()
                    .filter(|op| op.target().is_none_or(|t| !inserted.contains(&t)))
                    .collect(),
            );
        }
        if remote.is_noop() {
            return;
        }
    }
}

/// The ids of every element in the subtrees `op` inserts.
fn collect_ids(op: &mut Op, out: &mut Vec<ElementId>) {
    fn walk(node: &Node, out: &mut Vec<ElementId>) {
        out.push(node.id);
        match &node.value {
            NodeValue::Array(items) => items.iter().for_each(|n| walk(n, out)),
            NodeValue::Object(props) => props.iter().for_each(|(_, n)| walk(n, out)),
            _ => {}
        }
    }
    match op {
        Op::Compound(parts) => parts.iter_mut().for_each(|p| collect_ids(p, out)),
        _ => op.nodes_mut().into_iter().for_each(|n| walk(n, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::testing::{insert, text_model, TEXT};

    fn text(model: &Model) -> String {
        model.string(TEXT).expect("a string").to_string()
    }

    /// Applies a local edit and records its inverse.
    fn local(model: &mut Model, stacks: &mut UndoStacks, op: Op, merge: bool) {
        let inverse = model.apply_with_inverse(&op).expect("valid");
        stacks.record(inverse, merge);
    }

    fn remote(model: &mut Model, stacks: &mut UndoStacks, op: Op) {
        model.apply(&op).expect("valid");
        stacks.transform(&op);
    }

    fn undo(model: &mut Model, stacks: &mut UndoStacks) {
        let op = stacks
            .take_undo(&mut IdGenerator::new(77))
            .expect("something to undo");
        let inverse = model.apply_with_inverse(&op).expect("applies");
        stacks.record_undone(inverse);
    }

    fn redo(model: &mut Model, stacks: &mut UndoStacks) {
        let op = stacks
            .take_redo(&mut IdGenerator::new(78))
            .expect("something to redo");
        let inverse = model.apply_with_inverse(&op).expect("applies");
        stacks.record_redone(inverse);
    }

    #[test]
    fn undo_removes_only_own_typing_after_remote_edits_before_it() {
        let mut model = text_model("world");
        let mut stacks = UndoStacks::default();
        for (i, c) in "hello ".chars().enumerate() {
            local(&mut model, &mut stacks, insert(i, &c.to_string()), i > 0);
        }
        remote(&mut model, &mut stacks, insert(0, ">> "));
        remote(&mut model, &mut stacks, insert(14, "!"));
        assert_eq!(text(&model), ">> hello world!");
        undo(&mut model, &mut stacks);
        assert_eq!(text(&model), ">> world!");
        assert!(!stacks.can_undo());
        remote(&mut model, &mut stacks, insert(0, "# "));
        redo(&mut model, &mut stacks);
        assert_eq!(text(&model), "# >> hello world!");
        undo(&mut model, &mut stacks);
        assert_eq!(text(&model), "# >> world!");
    }

    #[test]
    fn steps_undo_in_reverse_order_and_a_new_edit_clears_redo() {
        let mut model = text_model("");
        let mut stacks = UndoStacks::default();
        local(&mut model, &mut stacks, insert(0, "a"), false);
        local(&mut model, &mut stacks, insert(1, "b"), false);
        local(&mut model, &mut stacks, insert(2, "c"), false);
        undo(&mut model, &mut stacks);
        undo(&mut model, &mut stacks);
        assert_eq!(text(&model), "a");
        redo(&mut model, &mut stacks);
        assert_eq!(text(&model), "ab");
        local(&mut model, &mut stacks, insert(2, "x"), false);
        assert!(!stacks.can_redo());
        undo(&mut model, &mut stacks);
        undo(&mut model, &mut stacks);
        undo(&mut model, &mut stacks);
        assert_eq!(text(&model), "");
        assert!(stacks.take_undo(&mut IdGenerator::new(79)).is_none());
    }

    #[test]
    fn a_step_whose_text_others_removed_is_skipped() {
        let mut model = text_model("abc");
        let mut stacks = UndoStacks::default();
        local(&mut model, &mut stacks, insert(0, "1"), false);
        local(&mut model, &mut stacks, insert(4, "2"), false);
        remote(
            &mut model,
            &mut stacks,
            Op::StringRemove {
                id: TEXT,
                index: 3,
                len: 2,
            },
        );
        assert_eq!(text(&model), "1ab");
        undo(&mut model, &mut stacks);
        assert_eq!(text(&model), "ab", "the removed step is skipped");
    }

    #[test]
    fn the_limit_drops_the_oldest_steps() {
        let mut model = text_model("");
        let mut stacks = UndoStacks::new(3);
        for i in 0..5 {
            local(&mut model, &mut stacks, insert(i, "x"), false);
        }
        for _ in 0..3 {
            undo(&mut model, &mut stacks);
        }
        assert_eq!(text(&model), "xx");
        assert!(!stacks.can_undo());
    }

    #[test]
    fn random_undo_and_redo_keep_the_remote_edits_and_restore_the_local_ones() {
        // A local client types random words while a remote one edits its own region: after
        // undoing everything local, only the remote text remains.
        let mut rng = crate::testing::Rng::new(11);
        for _ in 0..300 {
            let mut model = text_model("|");
            let mut stacks = UndoStacks::new(1000);
            let mut steps = 0;
            for _ in 0..rng.below(20) + 1 {
                let t = text(&model);
                let bar = t.find('|').expect("the bar stays");
                if rng.chance(0.5) {
                    let at = rng.below(bar + 1);
                    let merge = rng.chance(0.5) && steps > 0;
                    steps += usize::from(!merge);
                    local(&mut model, &mut stacks, insert(at, "l"), merge);
                } else {
                    let at = bar + 1 + rng.below(t.len() - bar);
                    remote(&mut model, &mut stacks, insert(at, "r"));
                }
                if rng.chance(0.2) && stacks.can_undo() {
                    undo(&mut model, &mut stacks);
                    steps -= 1;
                    if rng.chance(0.5) {
                        redo(&mut model, &mut stacks);
                        steps += 1;
                    }
                }
            }
            while stacks.can_undo() {
                undo(&mut model, &mut stacks);
            }
            let t = text(&model);
            assert!(!t.contains('l'), "every local edit undone: {t}");
            assert_eq!(
                t.trim_start_matches('|')
                    .chars()
                    .filter(|c| *c == 'r')
                    .count(),
                t.len() - 1
            );
        }
    }
}
