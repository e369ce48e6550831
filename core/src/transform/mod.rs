//! Operational transformation: one implementation, used by clients and the relay alike.
//!
//! [`transform`] takes two operations made concurrently on the same state, `b` sequenced by the
//! relay before `a`, and returns `a'` (to apply after `b`) and `b'` (to apply after `a`), such that
//! both orders reach the same state (TP1). Operations on different elements never interfere:
//! positions are per element, and an edit inside a subtree that a concurrent operation removed
//! or replaced applies as a no-op because its target is gone. So only operations on the same
//! element are transformed here, by the rules in `docs/semantics.md`.

mod array;
mod object;
mod scalar;
mod string;

use crate::op::Op;

/// Transforms `a` against `b`, where both were made on the same state and `b` was sequenced
/// first. Returns `(a', b')`: `a'` applies after `b`, `b'` after `a`.
pub fn transform(a: &Op, b: &Op) -> (Op, Op) {
    if a.is_noop() || b.is_noop() {
        return (a.clone(), b.clone());
    }
    match (a, b) {
        (Op::Compound(_), _) | (_, Op::Compound(_)) => {
            let (a2, b2) =
                transform_lists(a.clone().into_primitives(), b.clone().into_primitives());
            (Op::from_primitives(a2), Op::from_primitives(b2))
        }
        _ => {
            let (a2, b2) = transform_primitives(a, b);
            (Op::from_primitives(a2), Op::from_primitives(b2))
        }
    }
}

/// Transforms two sequences of primitive operations (each applied in order), `b` first.
pub fn transform_lists(a: Vec<Op>, b: Vec<Op>) -> (Vec<Op>, Vec<Op>) {
    if a.is_empty() || b.is_empty() {
        return (a, b);
    }
    if a.len() == 1 && b.len() == 1 {
        return transform_primitives(&a[0], &b[0]);
    }
    if a.len() > 1 {
        let mut a = a;
        let rest = a.split_off(1);
        let (mut a_head, b_mid) = transform_lists(a, b);
        let (a_rest, b_out) = transform_lists(rest, b_mid);
        a_head.extend(a_rest);
        (a_head, b_out)
    } else {
        let mut b = b;
        let rest = b.split_off(1);
        let (a_mid, mut b_head) = transform_lists(a, b);
        let (a_out, b_rest) = transform_lists(a_mid, rest);
        b_head.extend(b_rest);
        (a_out, b_head)
    }
}

/// Transforms two primitive operations, `b` first. Results may be empty (no-op) or several
/// operations (a removal split around text inserted inside it).
fn transform_primitives(a: &Op, b: &Op) -> (Vec<Op>, Vec<Op>) {
    if a.target() != b.target() {
        return (vec![a.clone()], vec![b.clone()]);
    }
    let result = string::transform(a, b)
        .or_else(|| array::transform(a, b))
        .or_else(|| object::transform(a, b))
        .or_else(|| scalar::transform(a, b));
    // Operations of different element types on one id cannot both be valid; leave them be.
    result.unwrap_or_else(|| (vec![a.clone()], vec![b.clone()]))
}

/// Wraps an optional transformed operation as a list.
fn one(op: Option<Op>) -> Vec<Op> {
    op.map(Op::into_primitives).unwrap_or_default()
}

#[cfg(test)]
mod tests;
