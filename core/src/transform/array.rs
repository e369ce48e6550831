//! Transformation of array operations.
//!
//! A move is treated as a removal at `from` followed by an insertion at `to` (an index in the
//! array without the moved item). Of two moves of the same item the later-sequenced wins; a
//! removal wins over a move or a replace of the same item; of two replaces of the same item the
//! later wins; a set of the whole array wins over everything inside it, and of two sets the later
//! wins. At the same insertion point, the item sequenced first comes first. A move that leaves
//! its item in place (given so, or transformed so) is a no-op: it moves nothing.

use super::one;
use crate::op::Op;

/// Transforms two array operations on the same element, `b` first; `None` if either is not one.
pub(super) fn transform(a: &Op, b: &Op) -> Option<(Vec<Op>, Vec<Op>)> {
    if !is_array_op(a) || !is_array_op(b) {
        return None;
    }
    Some((one(after(a, b, true)), one(after(b, a, false))))
}

fn is_array_op(op: &Op) -> bool {
    matches!(
        op,
        Op::ArrayInsert { .. }
            | Op::ArrayRemove { .. }
            | Op::ArrayReplace { .. }
            | Op::ArrayMove { .. }
            | Op::ArraySet { .. }
    )
}

/// Where an existing item at `i` is after `b`; `None` if `b` removed it.
fn item_after(i: usize, b: &Op) -> Option<usize> {
    match *b {
        Op::ArrayInsert { index, .. } => Some(i.saturating_add(usize::from(index <= i))),
        Op::ArrayRemove { index, .. } => match index.cmp(&i) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Less => Some(i - 1),
            std::cmp::Ordering::Greater => Some(i),
        },
        Op::ArrayMove { from, to, .. } => {
            if from == i {
                return Some(to);
            }
            let without = i - usize::from(from < i);
            Some(without.saturating_add(usize::from(to <= without)))
        }
        Op::ArrayReplace { .. } => Some(i),
        _ => None,
    }
}

/// Where an insertion point `p` is after `b`. `b_first` breaks ties with an insertion at `p`.
fn point_after(p: usize, b: &Op, b_first: bool) -> usize {
    match *b {
        Op::ArrayInsert { index, .. } => {
            p.saturating_add(usize::from(index < p || (index == p && b_first)))
        }
        Op::ArrayRemove { index, .. } => p - usize::from(index < p),
        Op::ArrayMove { from, to, .. } => {
            let without = p - usize::from(from < p);
            without.saturating_add(usize::from(to < without || (to == without && b_first)))
        }
        _ => p,
    }
}

/// Whether `op` is a move that leaves its item where it is: a no-op, on either side of a
/// transformation (as a removal and reinsertion it would shift a neighbour's insertion point).
fn moves_in_place(op: &Op) -> bool {
    matches!(op, Op::ArrayMove { from, to, .. } if from == to)
}

/// Rewrites `a` to apply after `b` (both made on the same array); `None` when `a` is overridden
/// or has become a no-op.
fn after(a: &Op, b: &Op, b_first: bool) -> Option<Op> {
    if moves_in_place(a) {
        return None;
    }
    if moves_in_place(b) {
        return Some(a.clone());
    }
    let rewritten = rewrite(a, b, b_first)?;
    // A move transformed to end where it starts is a no-op too.
    (!moves_in_place(&rewritten)).then_some(rewritten)
}

fn rewrite(a: &Op, b: &Op, b_first: bool) -> Option<Op> {
    if let Op::ArraySet { .. } = b {
        // A set of the whole array wins over edits; of two sets the later wins.
        return (matches!(a, Op::ArraySet { .. }) && b_first).then(|| a.clone());
    }
    Some(match a {
        Op::ArraySet { .. } => a.clone(),
        Op::ArrayInsert { id, index, value } => Op::ArrayInsert {
            id: *id,
            index: point_after(*index, b, b_first),
            value: value.clone(),
        },
        Op::ArrayRemove { id, index } => {
            if let Op::ArrayReplace { index: j, .. } = b {
                if j == index {
                    // Removal wins over a replace: remove the replacement.
                    return Some(a.clone());
                }
            }
            Op::ArrayRemove {
                id: *id,
                index: item_after(*index, b)?,
            }
        }
        Op::ArrayReplace { id, index, value } => {
            if let Op::ArrayReplace { index: j, .. } = b {
                if j == index && !b_first {
                    return None; // the later replace wins
                }
            }
            Op::ArrayReplace {
                id: *id,
                index: item_after(*index, b)?,
                value: value.clone(),
            }
        }
        Op::ArrayMove { id, from, to } => {
            let (from, to) = (*from, *to);
            let new_to = match *b {
                Op::ArrayMove {
                    from: f2, to: t2, ..
                } if f2 == from => {
                    // The same item moved twice: the later move wins.
                    return b_first.then_some(Op::ArrayMove {
                        id: *id,
                        from: t2,
                        to,
                    });
                }
                Op::ArrayRemove { index, .. } if index == from => return None,
                Op::ArrayInsert { index, .. } => {
                    // The insertion point, seen in the array without the moved item.
                    let q = index - usize::from(index > from);
                    to.saturating_add(usize::from(q < to || (q == to && b_first)))
                }
                Op::ArrayRemove { index, .. } => {
                    let j = index - usize::from(index > from);
                    to - usize::from(j < to)
                }
                Op::ArrayMove {
                    from: f2, to: t2, ..
                } => {
                    // b seen in the array without a's item: remove at f2', insert at t2'.
                    let f2w = f2 - usize::from(f2 > from);
                    let g = from - usize::from(f2 < from);
                    let t2w = t2 - usize::from(t2 > g);
                    let t_removed = to - usize::from(f2w < to);
                    t_removed.saturating_add(usize::from(
                        t2w < t_removed || (t2w == t_removed && b_first),
                    ))
                }
                _ => to,
            };
            Op::ArrayMove {
                id: *id,
                from: item_after(from, b)?,
                to: new_to,
            }
        }
        _ => a.clone(),
    })
}
