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

use std::collections::VecDeque;

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

/// Like [`transform`], rewriting `a` and `b` in place: what the client and the relay call in
/// their loops. The common cases — operations on different elements, and two insertions into
/// one string (typing) — cost no allocation at all.
pub fn transform_mut(a: &mut Op, b: &mut Op) {
    match (&mut *a, &mut *b) {
        (Op::Compound(_), _) | (_, Op::Compound(_)) => {}
        (
            Op::StringInsert {
                id: a_id,
                index: a_index,
                text: a_text,
            },
            Op::StringInsert {
                id: b_id,
                index: b_index,
                text: b_text,
            },
        ) if a_id == b_id => {
            // b was sequenced first: at the same position its text comes first.
            if *b_index <= *a_index {
                *a_index = a_index.saturating_add(crate::rope::utf16_len(b_text));
            } else {
                *b_index = b_index.saturating_add(crate::rope::utf16_len(a_text));
            }
            return;
        }
        (x, y) if x.target() != y.target() => return,
        _ => {}
    }
    let (a2, b2) = transform(a, b);
    *a = a2;
    *b = b2;
}

/// Transforms two sequences of primitive operations (each applied in order), `b` first.
///
/// Defined recursively — the head of the longer side against the other, then the rest against
/// what that left — and evaluated here with an explicit stack on the heap, so that a batch of
/// any length (100,000 pushes) costs no call depth, and with deques, so that taking a head and
/// putting results back together costs nothing per element (the recursive form overflowed the
/// stack at about 10,000 members and copied the rest at every step).
pub fn transform_lists(a: Vec<Op>, b: Vec<Op>) -> (Vec<Op>, Vec<Op>) {
    let (a, b) = transform_deques(a.into(), b.into());
    (a.into(), b.into())
}

/// What remains to do once an inner transformation returns (see [`transform_deques`]).
enum Then {
    /// The head of `a` went through `b`: transform the rest of `a` against what came out.
    RestOfA(VecDeque<Op>),
    /// The rest of `a` is done: put the head's result in front of it.
    JoinA(Vec<Op>),
    /// `a` (one primitive) went through the head of `b`: now through the rest of `b`.
    RestOfB(VecDeque<Op>),
    /// The rest of `b` is done: put the head's result in front of it.
    JoinB(Vec<Op>),
}

/// [`transform_lists`] on deques, as a loop over an explicit stack of [`Then`]s.
fn transform_deques(a: VecDeque<Op>, b: VecDeque<Op>) -> (VecDeque<Op>, VecDeque<Op>) {
    let mut stack: Vec<Then> = Vec::new();
    let mut call = (a, b);
    loop {
        let (mut a, mut b) = call;
        let (mut ra, mut rb) = if a.is_empty() || b.is_empty() {
            (a, b)
        } else if a.len() == 1 && b.len() == 1 {
            let (x, y) = transform_primitives(&a[0], &b[0]);
            (x.into(), y.into())
        } else if a.len() > 1 {
            let head = a.pop_front().into_iter().collect();
            stack.push(Then::RestOfA(a));
            call = (head, b);
            continue;
        } else {
            let head = b.pop_front().into_iter().collect();
            stack.push(Then::RestOfB(b));
            call = (a, head);
            continue;
        };
        // Return (ra, rb) to whatever waits for it.
        loop {
            match stack.pop() {
                None => return (ra, rb),
                Some(Then::RestOfA(rest)) => {
                    stack.push(Then::JoinA(ra.into()));
                    call = (rest, rb);
                    break;
                }
                Some(Then::RestOfB(rest)) => {
                    stack.push(Then::JoinB(rb.into()));
                    call = (ra, rest);
                    break;
                }
                Some(Then::JoinA(head)) => {
                    for op in head.into_iter().rev() {
                        ra.push_front(op);
                    }
                }
                Some(Then::JoinB(head)) => {
                    for op in head.into_iter().rev() {
                        rb.push_front(op);
                    }
                }
            }
        }
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

#[cfg(test)]
mod in_place_tests {
    use super::*;
    use crate::testing::{fuzz_model, random_wild_op, Rng};

    #[test]
    fn in_place_transformation_equals_the_general_one() {
        let model = fuzz_model();
        let mut rng = Rng::new(9);
        for _ in 0..20_000 {
            let (a, b) = (
                random_wild_op(&model, &mut rng),
                random_wild_op(&model, &mut rng),
            );
            let expected = transform(&a, &b);
            let (mut a2, mut b2) = (a.clone(), b.clone());
            transform_mut(&mut a2, &mut b2);
            // Compared as text: NaN payloads are never equal to themselves.
            assert_eq!(
                format!("{:?}", (a2, b2)),
                format!("{expected:?}"),
                "{a:?} vs {b:?}"
            );
        }
        let t = crate::testing::TEXT;
        let ins = |index, text: &str| Op::StringInsert {
            id: t,
            index,
            text: text.into(),
        };
        for (ia, ib) in [(0, 0), (1, 3), (3, 1), (2, 2)] {
            let expected = transform(&ins(ia, "xy"), &ins(ib, "z"));
            let (mut a, mut b) = (ins(ia, "xy"), ins(ib, "z"));
            transform_mut(&mut a, &mut b);
            assert_eq!((a, b), expected);
        }
    }
}
