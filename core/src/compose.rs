//! Composition of consecutive string edits into one.
//!
//! Transforming a run of n operations against a run of m concurrent ones costs n × m pairs, so a
//! long offline session that meets a long stretch of others' work would take seconds. Typing is
//! mostly runs (characters appended one after the other, backspaces, deletes), and a run composes
//! into a single splice: the client composes its unsent operations as they are made and the
//! remote operations it catches up on, and the transformation then works on runs, not keystrokes.
//!
//! Composition never changes what the data ends up as: applying the composed operation is exactly
//! applying the two. Convergence does not depend on it either, because every replica transforms
//! whatever operations it has with the same rules.

use crate::id::ElementId;
use crate::op::Op;
use crate::rope::utf16_len;

/// The longest text, in UTF-16 code units, that composition builds: past it a new operation
/// starts, which bounds the cost of composing into the middle of a long run.
pub const MAX_COMPOSED_UNITS: usize = 256;

/// A string edit seen as a splice: remove `remove` units at `index`, then insert `text` there.
struct SpliceView<'a> {
    id: ElementId,
    index: usize,
    remove: usize,
    text: &'a str,
}

fn as_splice(op: &Op) -> Option<SpliceView<'_>> {
    let (id, index, remove, text) = match op {
        Op::StringInsert { id, index, text } => (*id, *index, 0, text.as_str()),
        Op::StringRemove { id, index, len } => (*id, *index, *len, ""),
        Op::StringSplice {
            id,
            index,
            remove,
            text,
        } => (*id, *index, *remove, text.as_str()),
        _ => return None,
    };
    Some(SpliceView {
        id,
        index,
        remove,
        text,
    })
}

/// The operation for a splice of string `id`, in its simplest form (an insert, a removal or a
/// splice). An empty one is [`Op::noop`]: an empty edit keeps its index through
/// transformation, which could then point past the text.
pub fn from_splice(id: ElementId, index: usize, remove: usize, text: String) -> Op {
    match (remove, text.is_empty()) {
        (0, true) => Op::noop(),
        (_, true) => Op::StringRemove {
            id,
            index,
            len: remove,
        },
        (0, false) => Op::StringInsert { id, index, text },
        _ => Op::StringSplice {
            id,
            index,
            remove,
            text,
        },
    }
}

/// The byte offset of UTF-16 position `units` in `text` (`None` past its end or inside a
/// surrogate pair).
fn byte_offset(text: &str, units: usize) -> Option<usize> {
    if text.is_ascii() {
        return (units <= text.len()).then_some(units);
    }
    let mut seen = 0;
    for (offset, c) in text.char_indices() {
        if seen == units {
            return Some(offset);
        }
        seen += c.len_utf16();
        if seen > units {
            return None;
        }
    }
    (seen == units).then_some(text.len())
}

/// Folds `next`, an operation applied right after `prev`, into `prev` when both are edits of the
/// same string whose ranges touch. Returns whether it did; when it did not, `prev` is unchanged.
pub fn compose_into(prev: &mut Op, next: &Op) -> bool {
    let (Some(a), Some(b)) = (as_splice(prev), as_splice(next)) else {
        return false;
    };
    // A UTF-8 length bounds the UTF-16 one from above: edits far apart (the usual case when
    // composition fails) are told apart without counting code units.
    if a.id != b.id
        || b.index.saturating_add(b.remove) < a.index
        || b.index > a.index.saturating_add(a.text.len())
    {
        return false;
    }
    let len_a = utf16_len(a.text);
    let len_b = utf16_len(b.text);
    let (p, q) = (a.index, b.index);
    let (Some(a_end), Some(b_end)) = (p.checked_add(len_a), q.checked_add(b.remove)) else {
        return false;
    };
    // `b` works on the data after `a`, where `a`'s text spans [p, a_end).
    if b_end < p || q > a_end || len_a + len_b > MAX_COMPOSED_UNITS {
        return false;
    }
    if q == a_end && b.remove == 0 {
        // The common case, typing on: append in place.
        let appended = b.text;
        return match prev {
            Op::StringInsert { text: t, .. } | Op::StringSplice { text: t, .. } => {
                t.push_str(appended);
                true
            }
            Op::StringRemove { id, index, len } => {
                *prev = from_splice(*id, *index, *len, appended.to_owned());
                true
            }
            _ => false,
        };
    }
    // Which part of `a`'s text `b` removes, in units of that text, and how far past it.
    let cut_start = q.max(p) - p;
    let cut_end = b_end.min(a_end).max(p) - p;
    let beyond = b_end.saturating_sub(a_end);
    // (Checked slicing: a panicking one would bring the standard library's slicing messages
    // into the WebAssembly module.)
    let (Some(head), Some(tail)) = (
        byte_offset(a.text, cut_start).and_then(|at| a.text.get(..at)),
        byte_offset(a.text, cut_end).and_then(|at| a.text.get(at..)),
    ) else {
        return false;
    };
    let before = p.saturating_sub(q);
    let mut text = String::with_capacity(a.text.len() + b.text.len());
    text.push_str(head);
    text.push_str(b.text);
    text.push_str(tail);
    let composed = from_splice(a.id, p.min(q), before + a.remove + beyond, text);
    *prev = composed;
    true
}

/// Appends `op` to `ops`, composing it into the last one when it can.
pub fn push_composed(ops: &mut Vec<Op>, op: Op) {
    if let Some(last) = ops.last_mut() {
        if compose_into(last, &op) {
            return;
        }
    }
    ops.push(op);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{text_model, utf16_boundaries, Rng, TEXT};

    fn ins(index: usize, text: &str) -> Op {
        from_splice(TEXT, index, 0, text.into())
    }

    fn del(index: usize, len: usize) -> Op {
        from_splice(TEXT, index, len, String::new())
    }

    /// A random edit near `cursor` (so that runs touch often), valid on `text`.
    fn typing_op(rng: &mut Rng, text: &str, cursor: usize) -> Op {
        let bounds = utf16_boundaries(text);
        let near: Vec<usize> = bounds
            .iter()
            .copied()
            .filter(|b| b.abs_diff(cursor) <= 2)
            .collect();
        let start = if near.is_empty() || rng.chance(0.1) {
            *rng.pick(&bounds)
        } else {
            *rng.pick(&near)
        };
        let ends: Vec<usize> = bounds
            .iter()
            .copied()
            .filter(|b| *b >= start && *b <= start + 3)
            .collect();
        let end = *rng.pick(&ends);
        let piece = *rng.pick(&["x", "yz", "😀", "é", ""]);
        from_splice(TEXT, start, end - start, piece.to_owned())
    }

    #[test]
    fn typing_backspacing_and_deleting_compose_into_one_operation() {
        let mut ops = Vec::new();
        for (i, c) in "hello".chars().enumerate() {
            push_composed(&mut ops, ins(3 + i, &c.to_string()));
        }
        assert_eq!(ops, vec![ins(3, "hello")]);
        push_composed(&mut ops, del(7, 1));
        push_composed(&mut ops, del(6, 1));
        assert_eq!(ops, vec![ins(3, "hel")]);
        push_composed(&mut ops, del(2, 1));
        assert_eq!(
            ops,
            vec![Op::StringSplice {
                id: TEXT,
                index: 2,
                remove: 1,
                text: "hel".into()
            }]
        );
        let mut deletes = Vec::new();
        for _ in 0..4 {
            push_composed(&mut deletes, del(5, 1));
        }
        assert_eq!(deletes, vec![del(5, 4)]);
        let mut backspaces = Vec::new();
        for i in 0..3 {
            push_composed(&mut backspaces, del(9 - i, 1));
        }
        assert_eq!(backspaces, vec![del(7, 3)]);
        let mut apart = vec![ins(1, "a")];
        push_composed(&mut apart, ins(5, "b"));
        assert_eq!(apart.len(), 2, "edits that do not touch stay apart");
        let mut other = vec![ins(1, "a")];
        push_composed(
            &mut other,
            Op::StringInsert {
                id: crate::ElementId::new(9, 9),
                index: 2,
                text: "b".into(),
            },
        );
        assert_eq!(other.len(), 2, "edits of different strings stay apart");
    }

    #[test]
    fn a_long_run_stops_composing_at_the_limit() {
        let mut ops = Vec::new();
        for i in 0..MAX_COMPOSED_UNITS + 10 {
            push_composed(&mut ops, ins(i, "a"));
        }
        assert_eq!(ops.len(), 2);
    }

    #[test]
    fn composed_operations_apply_exactly_like_the_run() {
        let mut rng = Rng::new(7);
        let mut composed_runs = 0;
        for _ in 0..4000 {
            let mut one_by_one = text_model("ab😀cdefgh😀ij");
            let mut composed_model = one_by_one.clone();
            let mut ops: Vec<Op> = Vec::new();
            let mut cursor = rng.below(14);
            let count = rng.below(12) + 1;
            for _ in 0..count {
                let text = one_by_one.string(TEXT).expect("a string").to_string();
                let op = typing_op(&mut rng, &text, cursor);
                if one_by_one.apply(&op).is_ok() {
                    if let Some(view) = as_splice(&op) {
                        cursor = view.index + utf16_len(view.text);
                    }
                    push_composed(&mut ops, op);
                }
            }
            composed_runs += usize::from(ops.len() < count);
            for op in &ops {
                composed_model
                    .apply(op)
                    .expect("a composed operation applies");
            }
            assert_eq!(
                composed_model.string(TEXT).map(|s| s.to_string()),
                one_by_one.string(TEXT).map(|s| s.to_string()),
                "{ops:?}"
            );
        }
        assert!(composed_runs > 1000, "the test composes: {composed_runs}");
    }
}
