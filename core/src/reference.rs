//! Shared references (cursors, selections, pointers at elements and properties) and how
//! operations move them.

use crate::id::ElementId;
use crate::model::Model;
use crate::op::Op;
use crate::rope::utf16_len;

/// What a reference points at. Every kind may hold several values (several cursors, several
/// selected ranges, several elements or properties).
#[derive(Clone, Debug, PartialEq)]
pub enum ReferenceValue {
    /// Cursor positions in a string, in UTF-16 code units.
    Index(Vec<usize>),
    /// Selections in a string as `(anchor, focus)` in UTF-16 code units; `anchor > focus` is a
    /// backwards selection.
    Range(Vec<(usize, usize)>),
    /// Elements of the model.
    Element(Vec<ElementId>),
    /// Property names of an object.
    Property(Vec<String>),
}

/// The kind of a reference, fixed when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    /// A cursor in a string.
    Index,
    /// A selection in a string.
    Range,
    /// Elements of the model.
    Element,
    /// Properties of an object.
    Property,
}

impl ReferenceValue {
    /// The kind of reference this value belongs to.
    pub fn kind(&self) -> ReferenceKind {
        match self {
            ReferenceValue::Index(_) => ReferenceKind::Index,
            ReferenceValue::Range(_) => ReferenceKind::Range,
            ReferenceValue::Element(_) => ReferenceKind::Element,
            ReferenceValue::Property(_) => ReferenceKind::Property,
        }
    }

    /// Whether nothing is referenced any more (every value was removed).
    pub fn is_empty(&self) -> bool {
        match self {
            ReferenceValue::Index(v) => v.is_empty(),
            ReferenceValue::Range(v) => v.is_empty(),
            ReferenceValue::Element(v) => v.is_empty(),
            ReferenceValue::Property(v) => v.is_empty(),
        }
    }
}

/// Names a reference within its owner's session: the element it lives on (`None` for references
/// on the model as a whole, such as element references) and an application-chosen key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReferenceKey {
    /// The element (string or object) the reference lives on, or `None` for the model.
    pub element: Option<ElementId>,
    /// The application's name for it, such as `"cursor"` or `"selection"`.
    pub key: String,
}

impl ReferenceValue {
    /// Moves this reference, which lives on element `on`, through `op` as an operation would be:
    /// cursors and selections move with the text (text inserted at a cursor pushes it along, a
    /// removed range collapses onto its start, a set of the string clears them); property
    /// references lose properties that are removed. Element references are pruned against the
    /// model instead ([`ReferenceValue::retain_attached`]), since only the model knows which
    /// elements a removal took with it.
    pub fn transform(&mut self, on: Option<ElementId>, op: &Op) {
        match op {
            Op::Compound(ops) => ops.iter().for_each(|op| self.transform(on, op)),
            _ if op.target() != on || on.is_none() => {}
            Op::StringInsert { index, text, .. } => self.splice(*index, 0, utf16_len(text)),
            Op::StringRemove { index, len, .. } => self.splice(*index, *len, 0),
            Op::StringSplice {
                index,
                remove,
                text,
                ..
            } => self.splice(*index, *remove, utf16_len(text)),
            Op::StringSet { .. } => self.clear(),
            Op::ObjectRemove { key, .. } => {
                if let ReferenceValue::Property(keys) = self {
                    keys.retain(|k| k != key);
                }
            }
            Op::ObjectSetAll { value, .. } => {
                if let ReferenceValue::Property(keys) = self {
                    keys.retain(|k| value.iter().any(|(key, _)| key == k));
                }
            }
            _ => {}
        }
    }

    /// Drops referenced elements that are no longer in `model`.
    pub fn retain_attached(&mut self, model: &Model) {
        if let ReferenceValue::Element(ids) = self {
            ids.retain(|id| model.contains(*id));
        }
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        match self {
            ReferenceValue::Index(v) => v.clear(),
            ReferenceValue::Range(v) => v.clear(),
            ReferenceValue::Element(v) => v.clear(),
            ReferenceValue::Property(v) => v.clear(),
        }
    }

    fn splice(&mut self, index: usize, removed: usize, inserted: usize) {
        let map = |p: usize| {
            if p < index {
                p
            } else if p >= index.saturating_add(removed) {
                (p - removed).saturating_add(inserted)
            } else {
                index.saturating_add(inserted)
            }
        };
        match self {
            ReferenceValue::Index(points) => points.iter_mut().for_each(|p| *p = map(*p)),
            ReferenceValue::Range(ranges) => ranges
                .iter_mut()
                .for_each(|(a, f)| (*a, *f) = (map(*a), map(*f))),
            _ => {}
        }
    }
}
