//! The relay's errors, each with a stable code for the wire.

use tandem_core::protocol::ErrorCode;
use tandem_core::server::SequenceError;

use crate::auth::AuthError;
use crate::store::StoreError;

/// Why a request failed; becomes an `Error` or `OpRejected` message with its code.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The session may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// No such model.
    #[error("model {0} not found")]
    ModelNotFound(String),
    /// The model id is taken.
    #[error("model {0} already exists")]
    ModelExists(String),
    /// No such collection, and it may not be created automatically.
    #[error("collection {0} not found")]
    CollectionNotFound(String),
    /// No such chat.
    #[error("chat {0} not found")]
    ChatNotFound(String),
    /// The chat id is taken.
    #[error("chat {0} already exists")]
    ChatExists(String),
    /// No such user (or not where the request expects them).
    #[error("user not found: {0}")]
    UserNotFound(String),
    /// An activity this session is not in.
    #[error("{0}")]
    ActivityNotFound(String),
    /// A per-model message for a model this session has not opened.
    #[error("model handle {0} is not open in this session")]
    NotOpen(u32),
    /// A request that makes no sense (bad paging, bad ids, unsupported here).
    #[error("{0}")]
    InvalidRequest(String),
    /// An operation or reference the sequencer refused.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model's task is gone (shutting down).
    #[error("the relay is shutting down")]
    GoingAway,
}

impl RelayError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            RelayError::Auth(AuthError::Expired) => ErrorCode::TokenExpired,
            RelayError::Auth(_) => ErrorCode::AuthFailed,
            RelayError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            RelayError::ModelNotFound(_) => ErrorCode::ModelNotFound,
            RelayError::ModelExists(_) => ErrorCode::ModelExists,
            RelayError::CollectionNotFound(_) => ErrorCode::CollectionNotFound,
            RelayError::NotOpen(_) => ErrorCode::NotOpen,
            RelayError::ActivityNotFound(_) => ErrorCode::ActivityNotFound,
            RelayError::ChatNotFound(_) => ErrorCode::ChatNotFound,
            RelayError::ChatExists(_) => ErrorCode::ChatExists,
            RelayError::UserNotFound(_) => ErrorCode::UserNotFound,
            RelayError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            RelayError::Sequence(SequenceError::Model(e)) => ErrorCode::from(e),
            RelayError::Sequence(SequenceError::PlacementNotAllowed) => ErrorCode::InvalidOperation,
            RelayError::Sequence(_) => ErrorCode::VersionConflict,
            RelayError::Store(StoreError::Exists(_)) => ErrorCode::ModelExists,
            RelayError::Store(StoreError::NotFound(_)) => ErrorCode::ModelNotFound,
            RelayError::Store(_) => ErrorCode::Internal,
            RelayError::GoingAway => ErrorCode::GoingAway,
        }
    }
}
