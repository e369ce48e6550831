//! Errors of the data model and of applying operations.

use crate::id::ElementId;
use crate::value::ElementKind;

/// Why an operation or a value was refused. The model is unchanged whenever one is returned.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The operation's kind does not fit the element it targets.
    #[error("element {id} is a {actual}, not a {expected}")]
    WrongType {
        id: ElementId,
        expected: ElementKind,
        actual: ElementKind,
    },
    /// A string or array index lies beyond the end.
    #[error("index {index} is out of range (length {len})")]
    IndexOutOfRange { index: usize, len: usize },
    /// A string index falls between the two halves of a surrogate pair.
    #[error("index {index} splits a UTF-16 surrogate pair")]
    SplitsSurrogatePair { index: usize },
    /// `ObjectAdd` for a property that exists.
    #[error("property `{key}` already exists")]
    PropertyExists { key: String },
    /// `ObjectSet` or `ObjectRemove` for a property that does not exist.
    #[error("property `{key}` does not exist")]
    NoSuchProperty { key: String },
    /// A number that is NaN or infinite, given or produced by an addition.
    #[error("numbers must be finite")]
    NonFiniteNumber,
    /// A new element reuses an id the model already holds or that appears twice in the subtree.
    #[error("element id {0} is already in use")]
    DuplicateId(ElementId),
    /// A path does not lead to an element.
    #[error("no element at path {0}")]
    NoSuchPath(String),
    /// The model is nested deeper than allowed.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
}

impl ModelError {
    /// A stable, machine-readable code for the wire and for `TandemError.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::WrongType { .. } => "wrong_type",
            ModelError::IndexOutOfRange { .. } => "index_out_of_range",
            ModelError::SplitsSurrogatePair { .. } => "splits_surrogate_pair",
            ModelError::PropertyExists { .. } => "property_exists",
            ModelError::NoSuchProperty { .. } => "no_such_property",
            ModelError::NonFiniteNumber => "non_finite_number",
            ModelError::DuplicateId(_) => "duplicate_id",
            ModelError::NoSuchPath(_) => "no_such_path",
            ModelError::TooDeep(_) => "too_deep",
        }
    }
}
