//! The engine's errors, thrown to JavaScript with their stable code (the package turns them into
//! `TandemError`s).

use tandem_core::client::ClientError;
use tandem_core::protocol::DecodeError;
use tandem_core::ModelError;
use wasm_bindgen::JsValue;

/// Why an engine call failed. Nothing changed. Boxed: a result carrying it stays two words wide,
/// which keeps every fallible call and export small (the module's size is budgeted).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct EngineError(Box<Failure>);

/// What went wrong, inside an [`EngineError`].
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The local model id names no open model.
    #[error("model {0} is not open")]
    NotOpen(u32),
    /// The element handle names no element of the model (it was removed).
    #[error("the element is no longer in the model")]
    Detached,
    /// The element is of another type than the call needs.
    #[error("the element is a {actual}, not a {expected}")]
    WrongType {
        expected: &'static str,
        actual: &'static str,
    },
    /// A local edit the data model refuses.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The replica's state machine refused a message.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A frame from the relay that does not decode.
    #[error("malformed frame from the relay: {0}")]
    Decode(#[from] DecodeError),
    /// An argument that is not what the call takes.
    #[error("{0}")]
    InvalidArgument(String),
    /// An edit or request larger than the relay takes in one message.
    #[error("{size} bytes is more than the relay takes in one message ({limit} bytes)")]
    TooLarge { size: usize, limit: usize },
}

impl<E: Into<Failure>> From<E> for EngineError {
    fn from(failure: E) -> Self {
        EngineError(Box::new(failure.into()))
    }
}

impl EngineError {
    /// The stable code JavaScript sees.
    pub fn code(&self) -> &'static str {
        match &*self.0 {
            Failure::NotOpen(_) => "not_open",
            Failure::Detached => "detached",
            Failure::WrongType { .. } => "wrong_type",
            Failure::Model(e) => e.code(),
            Failure::Client(e) => e.code(),
            Failure::Decode(_) => "malformed_message",
            Failure::InvalidArgument(_) => "invalid_argument",
            Failure::TooLarge { .. } => "too_large",
        }
    }

    /// An invalid-argument error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::InvalidArgument(message.into()).into()
    }

    /// A message of `size` bytes, over the relay's `limit`.
    pub fn too_large(size: usize, limit: usize) -> Self {
        Failure::TooLarge { size, limit }.into()
    }

    /// The model with local id `local` is not open.
    pub fn not_open(local: u32) -> Self {
        Failure::NotOpen(local).into()
    }

    /// The element is no longer in the model.
    pub fn detached() -> Self {
        Failure::Detached.into()
    }
}

impl From<EngineError> for JsValue {
    /// What JavaScript catches: `code`, a NUL, then the message (the package turns it into a
    /// `TandemError`; building an `Error` here would take JavaScript bindings the module
    /// otherwise does without).
    fn from(e: EngineError) -> Self {
        JsValue::from_str(&format!("{}\u{0}{e}", e.code()))
    }
}

/// What engine calls return.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
