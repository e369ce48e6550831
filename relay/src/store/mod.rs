//! Storage: one trait, every backend behind it, and a conformance suite each must pass.
//!
//! The relay keeps users, groups, collections, permissions, models, every model's full operation
//! log and periodic snapshots, and reconnect tokens. `append_ops` returns only once the
//! operations are durable, so an acknowledged operation survives a crash of the process.

pub mod conformance;
mod keys;
pub mod local_postgres;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use tandem_core::protocol::{ChatEvent, ChatEventBody, ChatEventKind, ChatKind};
use tandem_core::{Node, Op};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing to create exists already (user name, group, collection, model).
    #[error("{0} already exists")]
    Exists(String),
    /// The thing to change does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// `append_ops` got versions that do not directly follow the stored ones: another writer
    /// sequenced the model concurrently.
    #[error("version conflict: model {model} is at version {current}, not {expected}")]
    VersionConflict {
        model: String,
        expected: u64,
        current: u64,
    },
    /// Stored bytes that do not decode: corruption or a newer format.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The backend failed (I/O, the database server).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Exists(_) => "exists",
            StoreError::NotFound(_) => "not_found",
            StoreError::VersionConflict { .. } => "version_conflict",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Backend(_) => "storage",
        }
    }
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user account.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Stable id (opaque string), unique.
    pub id: String,
    /// Login name, unique.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Contact address, if known.
    pub email: Option<String>,
    /// Picture, if any.
    pub avatar_url: Option<String>,
    /// PHC-format password hash (argon2); `None` for users who log in by JWT only.
    pub password_hash: Option<String>,
}

/// A model's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    /// The store's key of the model: its collection and name together (see [`model_key`]), so
    /// that one name in two collections is two models. Every table, the registry and the
    /// cluster know a model by it.
    pub id: String,
    /// The model's id as applications know it, unique within its collection.
    pub name: String,
    /// Its collection.
    pub collection: String,
    /// Number of operations applied.
    pub version: u64,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Time of the last operation (or creation), ms since the epoch.
    pub modified_ms: i64,
}

/// The store key of model `name` in `collection`: the collection's length in characters, a colon,
/// the collection and the name (unambiguous whatever the names hold; the SQL migrations that
/// turned global ids into keys compute the same with `length()`).
pub fn model_key(collection: &str, name: &str) -> String {
    format!("{}:{collection}{name}", collection.chars().count())
}

impl ModelMeta {
    /// A new model's metadata at version 0.
    pub fn new(collection: &str, name: &str, created_ms: i64) -> ModelMeta {
        ModelMeta {
            id: model_key(collection, name),
            name: name.to_owned(),
            collection: collection.to_owned(),
            version: 0,
            created_ms,
            modified_ms: created_ms,
        }
    }
}

/// One operation of a model's log, with who made it and when.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredOp {
    /// The version the model reached with it (the first operation is version 1).
    pub version: u64,
    /// The submitting client's origin (site prefix).
    pub origin: u64,
    /// The submitting client's sequence number.
    pub seq: u64,
    /// The submitting user.
    pub user_id: String,
    /// The submitting session.
    pub session_id: String,
    /// When the relay sequenced it, ms since the epoch.
    pub timestamp_ms: i64,
    /// The operation as applied.
    pub op: Op,
}

/// A chat as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRecord {
    /// Its id.
    pub id: String,
    /// Room, channel or direct.
    pub kind: ChatKind,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// The user who created it (who may always do everything in it).
    pub creator: String,
    /// When it was created, ms since the epoch.
    pub created_ms: i64,
    /// The number of its newest event (its creation is event 1).
    pub last_event: u64,
    /// When its newest event happened.
    pub last_event_ms: i64,
}

/// Which models a `list_models` call orders by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelOrder {
    /// Creation time.
    Created,
    /// Last modification time.
    Modified,
}

/// What a permission entry applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PermissionTarget {
    /// Every model of a collection (unless the model has its own entries).
    Collection(String),
    /// One model.
    Model(String),
}

/// What a grant of rights is on, besides collections and models: activities (a whole kind, or
/// one) and chats. The rights are flags whose meaning belongs to the scope's kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GrantScope {
    /// Every activity of a type (unless the activity has entries of its own).
    ActivityType(String),
    /// One activity.
    Activity {
        /// Its type.
        activity_type: String,
        /// Its id.
        activity_id: String,
    },
    /// One chat.
    Chat(String),
}

/// Who a permission entry is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// Everyone with a session, anonymous ones included.
    World,
    /// One user, by id.
    User(String),
    /// Every member of a group, by id.
    Group(String),
}

/// What a grantee may do: the wire protocol's flags (read, write, remove, manage), so that
/// storage, checks and responses share one type.
pub use tandem_core::protocol::Permissions;

/// Every backend implements this. All calls are safe to make concurrently.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- users and groups ---

    /// Creates a user; `Exists` if the id or the username is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// Replaces a user's profile fields and password hash; `NotFound` if absent.
    async fn update_user(&self, user: &User) -> StoreResult<()>;
    /// A user by id.
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// A user by username.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Users whose display name, username or email contains `query` (case-insensitive),
    /// ordered by username, paged.
    async fn search_users(&self, query: &str, offset: u64, limit: u64) -> StoreResult<Vec<User>>;
    /// Creates a group; `Exists` if the id is taken.
    async fn create_group(&self, id: &str, description: &str) -> StoreResult<()>;
    /// Every group, as (id, description), ordered by id.
    async fn groups(&self) -> StoreResult<Vec<(String, String)>>;
    /// Adds a user to a group (idempotent); `NotFound` if either is absent.
    async fn add_group_member(&self, group: &str, user_id: &str) -> StoreResult<()>;
    /// Removes a user from a group (idempotent).
    async fn remove_group_member(&self, group: &str, user_id: &str) -> StoreResult<()>;
    /// The ids of the groups a user belongs to, ordered.
    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// The ids of a group's members, ordered.
    async fn group_members(&self, group: &str) -> StoreResult<Vec<String>>;
    /// How many users `search_users` finds for `query` in all.
    async fn count_users_matching(&self, query: &str) -> StoreResult<u64>;

    // --- collections and permissions ---

    /// Creates a collection; `Exists` if it is there.
    async fn create_collection(&self, id: &str) -> StoreResult<()>;
    /// Whether a collection exists.
    async fn collection_exists(&self, id: &str) -> StoreResult<bool>;
    /// Sets (replaces) the entry of `grantee` on `target`; all-false removes it.
    async fn set_permissions(
        &self,
        target: &PermissionTarget,
        grantee: &Grantee,
        permissions: Permissions,
    ) -> StoreResult<()>;
    /// Every entry on `target`.
    async fn permissions(
        &self,
        target: &PermissionTarget,
    ) -> StoreResult<Vec<(Grantee, Permissions)>>;

    /// Sets (replaces) the rights `grantee` has on `scope`; `None` removes the entry, while
    /// `Some(0)` keeps an entry that grants nothing.
    async fn set_grant(
        &self,
        scope: &GrantScope,
        grantee: &Grantee,
        flags: Option<u32>,
    ) -> StoreResult<()>;
    /// Every entry on `scope`.
    async fn grants(&self, scope: &GrantScope) -> StoreResult<Vec<(Grantee, u32)>>;

    /// Compacts a model's history: drops its operations up to its newest snapshot at or before
    /// `before`, and the snapshots older than that one. The history from that snapshot on
    /// stays whole; what came before is gone. Returns the model's history floor afterwards (0:
    /// nothing compacted; it never moves back). `NotFound` if the model does not exist.
    async fn compact_model(&self, model: &str, before: u64) -> StoreResult<u64>;
    /// The version before which a model's history was compacted away (0 if never).
    async fn history_floor(&self, model: &str) -> StoreResult<u64>;

    // --- chats ---

    /// Creates a chat with its members (channels and direct chats keep theirs; rooms have
    /// none stored) and its creation as event 1; `Exists` if the id, or for a direct chat
    /// `direct_key`, is taken.
    async fn create_chat(
        &self,
        chat: &ChatRecord,
        direct_key: Option<&str>,
        members: &[String],
    ) -> StoreResult<()>;
    /// A chat by id.
    async fn chat(&self, id: &str) -> StoreResult<Option<ChatRecord>>;
    /// The direct chat with this key (its sorted member ids), if it exists.
    async fn direct_chat(&self, direct_key: &str) -> StoreResult<Option<ChatRecord>>;
    /// The stored members of a chat, ordered.
    async fn chat_members(&self, id: &str) -> StoreResult<Vec<String>>;
    /// The ids of the chats a user is a stored member of, ordered.
    async fn chats_of_member(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// Appends an event by `user_id` to a chat as its next number, with its effect on the chat
    /// in the same transaction (a new name or topic; for a channel, a member joining, added,
    /// leaving or removed); returns the number. `NotFound` if the chat does not exist.
    async fn append_chat_event(
        &self,
        chat: &str,
        user_id: &str,
        timestamp_ms: i64,
        body: &ChatEventBody,
    ) -> StoreResult<u64>;
    /// Up to `limit` events from `start` (inclusive; `None` for the newest when descending,
    /// the oldest when ascending), of the given kinds only (all when empty).
    async fn chat_events(
        &self,
        chat: &str,
        start: Option<u64>,
        descending: bool,
        limit: u64,
        kinds: &[ChatEventKind],
    ) -> StoreResult<Vec<ChatEvent>>;
    /// Deletes a chat, its members, events, marks and grants; whether it existed.
    async fn delete_chat(&self, id: &str) -> StoreResult<bool>;
    /// Records that `user_id` has seen `chat` up to `event` (a lower mark than the current
    /// one changes nothing).
    async fn mark_chat_seen(&self, chat: &str, user_id: &str, event: u64) -> StoreResult<()>;
    /// The last event `user_id` marked seen in `chat` (0 if none).
    async fn chat_seen(&self, chat: &str, user_id: &str) -> StoreResult<u64>;
    /// For each of `chats`, the messages by others after what `user_id` marked seen.
    async fn unread_counts(
        &self,
        user_id: &str,
        chats: &[String],
    ) -> StoreResult<Vec<(String, u64)>>;

    // --- models ---

    /// Creates a model at version 0 with `data` as its initial snapshot; `Exists` if the id is
    /// taken, `NotFound` if the collection does not exist.
    async fn create_model(&self, meta: &ModelMeta, data: &Node) -> StoreResult<()>;
    /// A model's metadata.
    async fn model(&self, id: &str) -> StoreResult<Option<ModelMeta>>;
    /// The models of a collection, paged and ordered.
    async fn list_models(
        &self,
        collection: &str,
        order: ModelOrder,
        descending: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ModelMeta>>;
    /// How many models a collection holds, for paged listings.
    async fn count_models(&self, collection: &str) -> StoreResult<u64>;
    /// Deletes a model with its log, snapshots and permissions; returns whether it existed.
    async fn delete_model(&self, id: &str) -> StoreResult<bool>;

    // --- the operation log ---

    /// Appends operations whose versions directly follow the model's stored version, and
    /// updates its version and modification time. Durable when it returns. Concurrent calls
    /// for different models may be committed together (group commit). `VersionConflict` if the
    /// versions do not follow; `NotFound` if the model does not exist.
    async fn append_ops(&self, model: &str, ops: &[StoredOp]) -> StoreResult<()>;
    /// Appends with exclusive access to the model, for a writer that lost a race for it
    /// (another relay stored first): no other writer appends to the model until this call
    /// returns. `sequence` gets the operations stored after `known_version` (the ones this
    /// writer has not seen) and returns the operations to append after them, which it may
    /// sequence knowing nothing else comes in between. Durable when it returns. The default
    /// reads, then appends: it is exclusive only where each model has one writer (the
    /// embedded store, whose one relay has one task per model); a store several relays share
    /// must hold the model for the whole call.
    async fn append_ops_exclusive(
        &self,
        model: &str,
        known_version: u64,
        sequence: &mut (dyn FnMut(Vec<StoredOp>) -> Vec<StoredOp> + Send),
    ) -> StoreResult<()> {
        let meta = self
            .model(model)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("model {model}")))?;
        let missed = if meta.version > known_version {
            self.ops(model, known_version, meta.version, u64::MAX)
                .await?
        } else {
            Vec::new()
        };
        let ops = sequence(missed);
        self.append_ops(model, &ops).await
    }

    /// The operations with versions in `(after, up_to]`, in order, at most `limit`.
    async fn ops(
        &self,
        model: &str,
        after: u64,
        up_to: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredOp>>;
    /// The highest version whose operation was sequenced at or before `time_ms` (0 if none).
    async fn version_at_time(&self, model: &str, time_ms: i64) -> StoreResult<u64>;
    /// Each origin's highest sequence number in the model's log, to recognise resent
    /// operations after a restart.
    async fn last_seqs(&self, model: &str) -> StoreResult<Vec<(u64, u64)>>;

    // --- snapshots ---

    /// Stores the model's data at `version` (replacing one stored for the same version).
    async fn put_snapshot(&self, model: &str, version: u64, data: &Node) -> StoreResult<()>;
    /// The newest snapshot at or before `version`.
    async fn snapshot_at_or_before(
        &self,
        model: &str,
        version: u64,
    ) -> StoreResult<Option<(u64, Node)>>;

    // --- reconnect tokens ---

    /// Stores a reconnect token (its SHA-256, never the token) for a user until `expires_ms`.
    async fn put_reconnect_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        expires_ms: i64,
    ) -> StoreResult<()>;
    /// Deletes tokens that expired before `now_ms`; returns how many.
    async fn purge_reconnect_tokens(&self, now_ms: i64) -> StoreResult<u64>;
    /// The user of an unexpired token.
    async fn reconnect_token_user(
        &self,
        token_hash: &[u8],
        now_ms: i64,
    ) -> StoreResult<Option<String>>;
}
