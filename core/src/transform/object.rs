//! Transformation of object operations.
//!
//! Properties are independent of each other. For one property: of two adds or two sets the
//! later-sequenced value wins; a removal wins over a set; a set of the whole object wins over
//! everything inside it, and of two whole-object sets the later wins. Properties added
//! concurrently end up in the relay's order on every replica: a property the relay sequenced
//! first is placed, where it arrives second, before the ones added after it (`before`).

use super::one;
use crate::op::Op;

/// Transforms two object operations on the same element, `b` first; `None` if either is not one.
pub(super) fn transform(a: &Op, b: &Op) -> Option<(Vec<Op>, Vec<Op>)> {
    if !is_object_op(a) || !is_object_op(b) {
        return None;
    }
    Some((one(after(a, b, true)), one(after(b, a, false))))
}

fn is_object_op(op: &Op) -> bool {
    matches!(
        op,
        Op::ObjectAdd { .. }
            | Op::ObjectSet { .. }
            | Op::ObjectRemove { .. }
            | Op::ObjectSetAll { .. }
    )
}

fn key_of(op: &Op) -> Option<&str> {
    match op {
        Op::ObjectAdd { key, .. } | Op::ObjectSet { key, .. } | Op::ObjectRemove { key, .. } => {
            Some(key)
        }
        _ => None,
    }
}

/// Rewrites `a` to apply after `b` (both made on the same object); `None` when `a` is overridden.
fn after(a: &Op, b: &Op, b_first: bool) -> Option<Op> {
    match (a, b) {
        (Op::ObjectSetAll { .. }, Op::ObjectSetAll { .. }) => b_first.then(|| a.clone()),
        (Op::ObjectSetAll { .. }, _) => Some(a.clone()),
        (_, Op::ObjectSetAll { .. }) => None,
        _ => {
            let (ka, kb) = (key_of(a)?, key_of(b)?);
            if ka != kb {
                return Some(match (a, b) {
                    // a was sequenced first and arrives after b's new property: keep the
                    // relay's order by going before it.
                    (
                        Op::ObjectAdd {
                            id,
                            key,
                            value,
                            before,
                        },
                        Op::ObjectAdd { key: kb, .. },
                    ) if !b_first => {
                        // b's key goes last: if it was added before, removed and added again,
                        // it now stands after the keys added in between.
                        let mut before = before.clone();
                        before.retain(|k| k != kb);
                        before.push(kb.clone());
                        Op::ObjectAdd {
                            id: *id,
                            key: key.clone(),
                            value: value.clone(),
                            before,
                        }
                    }
                    _ => a.clone(),
                });
            }
            match (a, b) {
                // Removal wins over a set of the same property.
                (Op::ObjectSet { .. }, Op::ObjectRemove { .. }) => None,
                (Op::ObjectRemove { .. }, Op::ObjectRemove { .. }) => None,
                // The same property added twice: the later value wins, and it takes the place
                // its own add gave it (where the other replica put it), so replace b's value by
                // removing it and adding again.
                (Op::ObjectAdd { id, key, .. }, Op::ObjectAdd { .. }) => b_first.then(|| {
                    Op::Compound(vec![
                        Op::ObjectRemove {
                            id: *id,
                            key: key.clone(),
                        },
                        a.clone(),
                    ])
                }),
                // Two values for one property: the later wins.
                (Op::ObjectSet { .. }, Op::ObjectAdd { .. } | Op::ObjectSet { .. })
                | (Op::ObjectAdd { .. }, Op::ObjectSet { .. }) => b_first.then(|| a.clone()),
                // An add and a removal of one key cannot be made on one state; should they meet,
                // the add wins so that both orders agree.
                (Op::ObjectRemove { .. }, Op::ObjectAdd { .. }) => None,
                (Op::ObjectRemove { .. }, _) => Some(a.clone()),
                _ => Some(a.clone()),
            }
        }
    }
}
