//! Transformation of string operations.
//!
//! Every edit is seen as a splice: remove `remove` code units at `index`, insert `text` there.
//! Text inserted inside a range another user removed survives; at the same position, the text
//! sequenced first comes first. A set replaces the whole string and wins over edits; of two sets
//! the later-sequenced wins.

use crate::id::ElementId;
use crate::op::Op;
use crate::rope::utf16_len;

/// A string edit in splice form.
#[derive(Clone, Debug)]
struct Splice<'a> {
    index: usize,
    remove: usize,
    text: &'a str,
}

impl Splice<'_> {
    /// The end of the removed range (saturating: operations from the network are transformed
    /// before they are validated).
    fn end(&self) -> usize {
        self.index.saturating_add(self.remove)
    }
}

enum StringOp<'a> {
    Edit(ElementId, Splice<'a>),
    Set,
}

fn classify(op: &Op) -> Option<StringOp<'_>> {
    Some(match op {
        Op::StringInsert { id, index, text } => StringOp::Edit(
            *id,
            Splice {
                index: *index,
                remove: 0,
                text,
            },
        ),
        Op::StringRemove { id, index, len } => StringOp::Edit(
            *id,
            Splice {
                index: *index,
                remove: *len,
                text: "",
            },
        ),
        Op::StringSplice {
            id,
            index,
            remove,
            text,
        } => StringOp::Edit(
            *id,
            Splice {
                index: *index,
                remove: *remove,
                text,
            },
        ),
        Op::StringSet { .. } => StringOp::Set,
        _ => return None,
    })
}

/// Transforms two string operations on the same element, `b` first; `None` if either is not one.
pub(super) fn transform(a: &Op, b: &Op) -> Option<(Vec<Op>, Vec<Op>)> {
    let (ca, cb) = (classify(a)?, classify(b)?);
    Some(match (ca, cb) {
        // The later set wins.
        (StringOp::Set, StringOp::Set) => (vec![a.clone()], vec![]),
        // A set wins over edits, whichever came first.
        (StringOp::Set, StringOp::Edit(..)) => (vec![a.clone()], vec![]),
        (StringOp::Edit(..), StringOp::Set) => (vec![], vec![b.clone()]),
        (StringOp::Edit(id, sa), StringOp::Edit(_, sb)) => (
            splice_after(id, &sa, &sb, true),
            splice_after(id, &sb, &sa, false),
        ),
    })
}

/// Rewrites `a` to apply after `b` (both made on the same text). `b_first` says which of the two
/// the relay sequenced first, which decides the order of text inserted at the same position.
fn splice_after(id: ElementId, a: &Splice, b: &Splice, b_first: bool) -> Vec<Op> {
    let b_len = utf16_len(b.text);
    // Only used for positions at or after b's end, so the subtraction cannot underflow.
    let shift = |p: usize| (p - b.remove).saturating_add(b_len);
    // Where a's text goes.
    let point = if a.index < b.index || (a.index == b.index && !b_first) {
        a.index
    } else if a.index <= b.end() {
        b.index.saturating_add(b_len)
    } else {
        shift(a.index)
    };
    let mut ops = Vec::with_capacity(2);
    // a's removed range minus what b already removed: up to two runs, around b's text.
    let after_start = a.index.max(b.end());
    if after_start < a.end() {
        ops.push((shift(after_start), a.end() - after_start));
    }
    let before_end = a.end().min(b.index);
    if a.index < before_end {
        ops.push((a.index, before_end - a.index));
    }
    let mut out: Vec<Op> = Vec::with_capacity(2);
    let last = ops.len().checked_sub(1);
    for (i, (index, len)) in ops.iter().copied().enumerate() {
        if Some(i) == last && index == point && !a.text.is_empty() {
            out.push(Op::StringSplice {
                id,
                index,
                remove: len,
                text: a.text.to_owned(),
            });
            return out;
        }
        out.push(Op::StringRemove { id, index, len });
    }
    if !a.text.is_empty() {
        out.push(Op::StringInsert {
            id,
            index: point,
            text: a.text.to_owned(),
        });
    }
    out
}
