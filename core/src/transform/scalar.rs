//! Transformation of number, boolean and date operations.
//!
//! Number additions commute. A set wins over a concurrent addition, whichever came first; of two
//! sets the later-sequenced wins.

use crate::op::Op;

/// Transforms two scalar operations on the same element, `b` first; `None` if either is not one.
pub(super) fn transform(a: &Op, b: &Op) -> Option<(Vec<Op>, Vec<Op>)> {
    use Op::*;
    Some(match (a, b) {
        (NumberAdd { .. }, NumberAdd { .. }) => (vec![a.clone()], vec![b.clone()]),
        (NumberSet { .. }, NumberAdd { .. }) => (vec![a.clone()], vec![]),
        (NumberAdd { .. }, NumberSet { .. }) => (vec![], vec![b.clone()]),
        (NumberSet { .. }, NumberSet { .. })
        | (BooleanSet { .. }, BooleanSet { .. })
        | (DateSet { .. }, DateSet { .. }) => (vec![a.clone()], vec![]),
        _ => return None,
    })
}
