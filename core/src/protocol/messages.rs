//! The messages a client and a relay exchange over one connection.
//!
//! A connection starts with [`ClientMessage::Hello`], answered by [`RelayMessage::Welcome`] (or
//! an [`RelayMessage::Error`] and a close). Afterwards:
//!
//! - **requests** ([`ClientMessage::Request`]) carry a client-chosen `request_id`; the relay answers
//!   each with exactly one [`RelayMessage::Response`] or [`RelayMessage::Error`] carrying the same id;
//! - **operations** ([`ClientMessage::SubmitOp`]) are correlated by `(model, seq)` instead and
//!   answered by [`RelayMessage::OpAck`] or [`RelayMessage::OpRejected`];
//! - **references** and **resync** are per-model messages without a request id;
//! - **pushes** from the relay (remote operations, references, collaborators, presence,
//!   activities, chat) carry no id at all.
//!
//! An opened model is named by a compact [`ModelHandle`] that the relay assigns in
//! [`OpenedModel::model`]; a joined activity likewise by an [`ActivityHandle`]. Times are
//! milliseconds since the Unix epoch. Model versions count the operations applied: a new model
//! is at version 0 and an operation submitted at `context_version` v that the relay accepts
//! becomes the operation with `version` v' + 1, where v' is the model's version before it.

use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::value::{Node, Value};

use crate::error::ModelError;

/// The relay-assigned number naming an opened model in every per-model message, so that
/// frames do not repeat the collection and id.
pub type ModelHandle = u32;

/// The relay-assigned number naming a joined activity, for the same reason as [`ModelHandle`].
pub type ActivityHandle = u32;

/// Named state entries (presence and activity state), in the order they were set.
pub type StateEntries = Vec<(String, Value)>;

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

/// Everything a client sends to a relay.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    /// Opens the session: must be the first message of a connection.
    Hello(Hello),
    /// A request the relay answers with a `Response` or an `Error` carrying the same id.
    Request {
        /// Chosen by the client, echoed by the relay for correlation.
        request_id: u64,
        /// What is asked.
        request: Request,
    },
    /// A local operation for the relay to sequence; answered by `OpAck` or `OpRejected`.
    SubmitOp {
        /// The opened model.
        model: ModelHandle,
        /// The origin the operation was made under: with `seq`, its identity for as long as it
        /// lives, whoever sends it (see `tandem_core::client` on identity). The relay sequences
        /// each `(origin, seq)` once and binds an origin to the first user who submits under
        /// it. 0 stands for the session's site (for a client with one replica per model that
        /// never restarts its sequence numbers).
        origin: u64,
        /// The client's per-origin sequence number, so acks and retries after a reconnect match up.
        seq: u64,
        /// The model version the operation was made against.
        context_version: u64,
        /// The edit.
        op: Op,
    },
    /// Several local operations in one frame (a frame's worth of typing): sequence numbers
    /// `first_seq`, `first_seq + 1`, ..., all made on `context_version` plus the ones before
    /// them. Answered like as many `SubmitOp`s, usually by one `OpsAcked`.
    SubmitOps {
        /// The opened model.
        model: ModelHandle,
        /// The origin they were made under (as in `SubmitOp`).
        origin: u64,
        /// The sequence number of the first operation.
        first_seq: u64,
        /// The model version the operations were made against.
        context_version: u64,
        /// The edits, in order.
        ops: Vec<Op>,
    },
    /// Asks for every operation after `from_version` (answered by `ResyncOps` batches, then
    /// `ResyncComplete`), used when a client fell behind or reconnected.
    ResyncRequest {
        /// The opened model.
        model: ModelHandle,
        /// The last version the client holds.
        from_version: u64,
    },
    /// Starts showing a local reference to the other sessions of the model.
    ShareReference {
        /// The opened model.
        model: ModelHandle,
        /// Which reference.
        key: ReferenceKey,
        /// Where it points now.
        value: ReferenceValue,
        /// The model version `value` is expressed at.
        context_version: u64,
    },
    /// Moves a shared reference.
    SetReference {
        /// The opened model.
        model: ModelHandle,
        /// Which reference.
        key: ReferenceKey,
        /// Where it points now.
        value: ReferenceValue,
        /// The model version `value` is expressed at.
        context_version: u64,
    },
    /// Makes a shared reference point at nothing while keeping it shared.
    ClearReference {
        /// The opened model.
        model: ModelHandle,
        /// Which reference.
        key: ReferenceKey,
        /// The model version the client was at, to order it among operations.
        context_version: u64,
    },
    /// Stops showing a reference to others.
    UnshareReference {
        /// The opened model.
        model: ModelHandle,
        /// Which reference.
        key: ReferenceKey,
        /// The model version the client was at, to order it among operations.
        context_version: u64,
    },
    /// Heartbeat: the relay answers with a `Pong` carrying the same nonce.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// Answer to a relay `Ping`.
    Pong {
        /// The nonce of the ping.
        nonce: u64,
    },
}

/// Everything a relay sends to a client.
#[derive(Clone, Debug, PartialEq)]
pub enum RelayMessage {
    /// The successful answer to `Hello`.
    Welcome(Welcome),
    /// The successful answer to a `Request`.
    Response {
        /// The id of the request answered.
        request_id: u64,
        /// The result.
        response: Response,
    },
    /// A refusal: of the request `request_id`, or of the connection as a whole when `None`
    /// (bad handshake, malformed frame, going away).
    Error {
        /// The request refused, if the error concerns one.
        request_id: Option<u64>,
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// The operation `(model, seq)` is durably stored as `version`.
    OpAck {
        /// The opened model.
        model: ModelHandle,
        /// The client's sequence number of the operation.
        seq: u64,
        /// The version the model reached with it.
        version: u64,
        /// When the relay sequenced it.
        timestamp_ms: i64,
    },
    /// Consecutive operations `first_seq ..` of one client, durably stored as consecutive
    /// versions `first_version ..`: one acknowledgement for a batch.
    OpsAcked {
        /// The opened model.
        model: ModelHandle,
        /// The client's sequence number of the first operation.
        first_seq: u64,
        /// The version the model reached with the first operation.
        first_version: u64,
        /// How many operations.
        count: u64,
        /// When the relay sequenced them.
        timestamp_ms: i64,
    },
    /// The operation `(model, seq)` was refused and changed nothing.
    OpRejected {
        /// The opened model.
        model: ModelHandle,
        /// The client's sequence number of the operation.
        seq: u64,
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// Another session's operation, already transformed to apply at `version - 1`.
    RemoteOp {
        /// The opened model.
        model: ModelHandle,
        /// The version the model reached with it.
        version: u64,
        /// The site prefix of the submitting client.
        origin: u64,
        /// The submitting client's sequence number.
        seq: u64,
        /// The submitting session.
        session_id: String,
        /// The submitting user.
        user_id: String,
        /// When the relay sequenced it.
        timestamp_ms: i64,
        /// The edit.
        op: Op,
    },
    /// Operations as sequenced and durably stored, in version order: what a model stored in one
    /// commit. The relay encodes it once and sends the same bytes to every session with the
    /// model open, the submitters included — a client recognises its own operations by origin
    /// and sequence number, and they acknowledge them (`ClientModel::on_remote` does this).
    RemoteOps {
        /// The opened model.
        model: ModelHandle,
        /// The operations.
        ops: Vec<HistoricOp>,
    },
    /// A batch of stored operations answering a `ResyncRequest`, in version order.
    ResyncOps {
        /// The opened model.
        model: ModelHandle,
        /// The operations.
        ops: Vec<HistoricOp>,
    },
    /// Ends a resync: the client now holds every operation up to `version`.
    ResyncComplete {
        /// The opened model.
        model: ModelHandle,
        /// The model's version after the last batch.
        version: u64,
    },
    /// The model was deleted; the handle is no longer valid.
    ModelDeleted {
        /// The handle of the deleted model.
        model: ModelHandle,
    },
    /// The relay closed the model for this session (for example permission was revoked).
    ModelForceClosed {
        /// The handle now invalid.
        model: ModelHandle,
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
    /// Another session opened the model.
    CollaboratorOpened {
        /// The opened model.
        model: ModelHandle,
        /// Who.
        collaborator: Collaborator,
    },
    /// Another session closed the model; its references are gone.
    CollaboratorClosed {
        /// The opened model.
        model: ModelHandle,
        /// The session that left.
        session_id: String,
    },
    /// A change to another session's shared reference.
    RemoteReference(RemoteReference),
    /// A presence change of a subscribed user.
    Presence(PresenceEvent),
    /// A change in a joined activity.
    Activity(ActivityEvent),
    /// A new event in a chat the user belongs to.
    Chat(ChatEvent),
    /// Heartbeat: the client answers with a `Pong` carrying the same nonce.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// Answer to a client `Ping`.
    Pong {
        /// The nonce of the ping.
        nonce: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Handshake and identity
// ---------------------------------------------------------------------------------------------

/// The opening message of a connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    /// The client's [`super::PROTOCOL_VERSION`]; a relay refuses versions it does not speak.
    pub protocol_version: u32,
    /// How the session authenticates.
    pub auth: Auth,
    /// The client library and version, for logs and metrics (e.g. `"tandem-js/0.1.0"`).
    pub client_name: String,
}

/// The credentials a session authenticates with.
#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    /// No account: a display name only.
    Anonymous {
        /// What others see.
        display_name: String,
    },
    /// A relay-managed account.
    Password {
        /// The account's username.
        username: String,
        /// Its password.
        password: String,
    },
    /// A JSON Web Token signed with a key configured on the relay.
    Jwt {
        /// The encoded token.
        token: String,
    },
    /// The token of an earlier `Welcome`, to resume as the same user after a disconnect.
    ReconnectToken {
        /// The token.
        token: String,
    },
}

/// The relay's acceptance of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    /// This session's id, as others see it in collaborators, references and events.
    pub session_id: String,
    /// The authenticated user.
    pub user: UserInfo,
    /// The element-id prefix this client must use for the elements it creates.
    pub site: u64,
    /// A token to authenticate again with [`Auth::ReconnectToken`].
    pub reconnect_token: String,
    /// The relay's clock, so clients can show times consistently.
    pub server_time_ms: i64,
    /// The largest frame the relay takes: larger messages go in pieces (see
    /// [`super::pieces`]).
    pub max_frame_bytes: u64,
    /// The largest message the relay takes, pieces included: a client refuses a larger edit
    /// locally, before it changes anything.
    pub max_message_bytes: u64,
}

/// What the relay tells about a user.
#[derive(Clone, Debug, PartialEq)]
pub struct UserInfo {
    /// The stable id.
    pub user_id: String,
    /// The login name (generated for anonymous users).
    pub username: String,
    /// The name to show, if any.
    pub display_name: Option<String>,
    /// The e-mail address, if known and visible.
    pub email: Option<String>,
    /// Whether this is an anonymous user.
    pub anonymous: bool,
    /// A picture of the user, if any.
    pub avatar_url: Option<String>,
}

/// A named set of users, for permissions and lookup.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupInfo {
    /// The stable id.
    pub group_id: String,
    /// What the group is.
    pub description: String,
    /// The user ids of its members.
    pub members: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------------

/// Everything a client can ask the relay with a request id.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    // --- models ---
    /// Creates a model (without opening it); answered by `ModelCreated`.
    CreateModel {
        /// The collection it goes in.
        collection: String,
        /// Its id, or `None` for the relay to pick one.
        id: Option<String>,
        /// Its initial data, with ids from the client's site.
        data: Node,
    },
    /// Opens an existing model; answered by `ModelOpened`.
    OpenModel {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// The version of a locally cached copy: the relay may then answer with the operations
        /// since that version instead of the whole data.
        known_version: Option<u64>,
    },
    /// Opens a model, creating it with `data` if it does not exist; answered by `ModelOpened`.
    OpenOrCreateModel {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// The data it gets if it is created.
        data: Node,
    },
    /// Closes an opened model; answered by `Done`.
    CloseModel {
        /// The handle, invalid afterwards.
        model: ModelHandle,
    },
    /// Deletes a model; answered by `Done`, and `ModelDeleted` pushed to those who have it open.
    DeleteModel {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
    },
    /// Lists the models of a collection a page at a time; answered by `ModelList`.
    ListModels {
        /// The collection.
        collection: String,
        /// How many to skip.
        offset: u64,
        /// At most how many to return.
        limit: u32,
        /// What they are sorted by.
        order_by: ModelOrder,
        /// In which direction.
        direction: SortDirection,
    },
    // --- history ---
    /// The data of a model as it was at `version`; answered by `HistoricModel`.
    GetModelAtVersion {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// The version wanted.
        version: u64,
    },
    /// The data of a model as it was at a time; answered by `HistoricModel`.
    GetModelAtTime {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// The time wanted (the last version at or before it is returned).
        time_ms: i64,
    },
    /// The stored operations with `from_version < version <= to_version`; answered by
    /// `Operations`.
    GetOperations {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
        /// Exclusive lower bound.
        from_version: u64,
        /// Inclusive upper bound.
        to_version: u64,
    },
    // --- presence ---
    /// Subscribes to the presence of users; answered by `Presence` with their current state.
    SubscribePresence {
        /// Whom to follow.
        user_ids: Vec<String>,
    },
    /// Stops the presence events of users; answered by `Done`.
    UnsubscribePresence {
        /// Whom to stop following.
        user_ids: Vec<String>,
    },
    /// The current presence of users without subscribing; answered by `Presence`.
    GetPresence {
        /// Whom to look up.
        user_ids: Vec<String>,
    },
    /// Sets entries of the user's presence state; answered by `Done`.
    SetPresenceState {
        /// The entries to set.
        state: StateEntries,
    },
    /// Removes entries of the user's presence state; answered by `Done`.
    RemovePresenceState {
        /// The keys to remove.
        keys: Vec<String>,
    },
    /// Removes every entry of the user's presence state; answered by `Done`.
    ClearPresenceState,
    // --- activities ---
    /// Joins an activity; answered by `ActivityJoined` with a handle and the participants.
    JoinActivity {
        /// The kind of activity, such as `"page"`.
        activity_type: String,
        /// Which one.
        activity_id: String,
        /// Watch the participants without being listed as one.
        lurk: bool,
        /// This session's initial state in it.
        state: StateEntries,
    },
    /// Leaves a joined activity; answered by `Done`.
    LeaveActivity {
        /// The handle, invalid afterwards.
        activity: ActivityHandle,
    },
    /// Sets entries of this session's state in an activity; answered by `Done`.
    SetActivityState {
        /// The joined activity.
        activity: ActivityHandle,
        /// The entries to set.
        state: StateEntries,
    },
    /// Removes entries of this session's state in an activity; answered by `Done`.
    RemoveActivityState {
        /// The joined activity.
        activity: ActivityHandle,
        /// The keys to remove.
        keys: Vec<String>,
    },
    /// Removes every entry of this session's state in an activity; answered by `Done`.
    ClearActivityState {
        /// The joined activity.
        activity: ActivityHandle,
    },
    // --- chat ---
    /// Creates a room or channel; answered by `Chat`.
    CreateChat {
        /// Room or channel (direct chats come from `GetDirectChat`).
        kind: ChatKind,
        /// Its id, or `None` for the relay to pick one.
        chat_id: Option<String>,
        /// Its name.
        name: String,
        /// Its topic.
        topic: String,
        /// The initial members (user ids) of a channel.
        members: Vec<String>,
    },
    /// The direct chat between the user and `user_ids`, created if needed; answered by `Chat`.
    GetDirectChat {
        /// The other participants.
        user_ids: Vec<String>,
    },
    /// Information about one chat; answered by `Chat`.
    GetChat {
        /// The chat.
        chat_id: String,
    },
    /// The chats the user belongs to; answered by `Chats`.
    GetJoinedChats,
    /// Joins a room or channel; answered by `Chat`.
    JoinChat {
        /// The chat.
        chat_id: String,
    },
    /// Leaves a chat; answered by `Done`.
    LeaveChat {
        /// The chat.
        chat_id: String,
    },
    /// Posts a message; answered by `ChatMessageSent`.
    SendChatMessage {
        /// The chat.
        chat_id: String,
        /// The text.
        text: String,
    },
    /// Renames a chat; answered by `Done`.
    SetChatName {
        /// The chat.
        chat_id: String,
        /// The new name.
        name: String,
    },
    /// Changes a chat's topic; answered by `Done`.
    SetChatTopic {
        /// The chat.
        chat_id: String,
        /// The new topic.
        topic: String,
    },
    /// Adds a member to a channel; answered by `Done`.
    AddChatMember {
        /// The chat.
        chat_id: String,
        /// The user to add.
        user_id: String,
    },
    /// Removes a member from a channel; answered by `Done`.
    RemoveChatMember {
        /// The chat.
        chat_id: String,
        /// The user to remove.
        user_id: String,
    },
    /// Deletes a chat and its history; answered by `Done`.
    RemoveChat {
        /// The chat.
        chat_id: String,
    },
    /// A page of a chat's stored events; answered by `ChatEvents`.
    GetChatHistory {
        /// The chat.
        chat_id: String,
        /// The event number to start from (inclusive); `None` for the newest (backward) or the
        /// oldest (forward).
        start_event: Option<u64>,
        /// `Descending` pages back in time, `Ascending` forward.
        direction: SortDirection,
        /// At most how many events.
        limit: u32,
        /// Only these kinds of events; empty for all.
        event_kinds: Vec<ChatEventKind>,
    },
    /// Records that the user has seen a chat up to an event; answered by `Done`.
    MarkChatSeen {
        /// The chat.
        chat_id: String,
        /// The last event seen.
        event_number: u64,
    },
    /// Unread message counts of the user's chats; answered by `UnreadCounts`.
    GetUnreadCounts,
    // --- identity ---
    /// Users by id; answered by `Users` (unknown ids are left out).
    GetUsersById {
        /// The ids.
        user_ids: Vec<String>,
    },
    /// Users by username; answered by `Users` (unknown names are left out).
    GetUsersByUsername {
        /// The usernames.
        usernames: Vec<String>,
    },
    /// Users whose username, display name or e-mail contains `query`; answered by `UserPage`.
    SearchUsers {
        /// The text searched for.
        query: String,
        /// How many matches to skip.
        offset: u64,
        /// At most how many to return.
        limit: u32,
    },
    /// Every group; answered by `Groups`.
    GetGroups,
    /// The groups a user belongs to; answered by `Groups`.
    GetUserGroups {
        /// The user.
        user_id: String,
    },
    /// Changes the session user's own profile; answered by `User` with the result.
    SetProfile {
        /// The new display name; `None` keeps it.
        display_name: Option<String>,
        /// The new e-mail address (empty removes it); `None` keeps it.
        email: Option<String>,
        /// The new picture URL (empty removes it); `None` keeps it.
        avatar_url: Option<String>,
    },
    // --- permissions ---
    /// Every permission entry of a collection or model (needs manage); answered by
    /// `Permissions`.
    GetPermissions {
        /// The collection or model.
        scope: PermissionScope,
    },
    /// Sets or removes one permission entry (needs manage); answered by `Done`.
    SetPermissions {
        /// The collection or model.
        scope: PermissionScope,
        /// World, a user or a group.
        target: PermissionTarget,
        /// The flags, or `None` to remove the entry (falling back to broader ones).
        permissions: Option<Permissions>,
    },
    /// What the session user may do on a collection or model; answered by `MyPermissions`.
    GetMyPermissions {
        /// The collection or model.
        scope: PermissionScope,
    },
    /// The rights granted on activities of a type, or on one activity (needs manage there);
    /// answered by `ActivityPermissions`.
    GetActivityPermissions {
        /// The kind of activity.
        activity_type: String,
        /// One activity of that kind, or `None` for the kind as a whole.
        activity_id: Option<String>,
    },
    /// Grants rights on activities of a type or on one activity to everyone, a user or a group
    /// (needs manage there); `None` removes the entry. Answered by `Done`. Where no entry
    /// exists, everyone may do everything but manage.
    SetActivityPermissions {
        /// The kind of activity.
        activity_type: String,
        /// One activity of that kind, or `None` for the kind as a whole.
        activity_id: Option<String>,
        /// Whom the entry is for.
        target: PermissionTarget,
        /// What they may do.
        rights: Option<ActivityRights>,
    },
    /// The rights granted on a chat (needs manage there); answered by `ChatPermissions`.
    GetChatPermissions {
        /// The chat.
        chat_id: String,
    },
    /// Grants rights on a chat to everyone, a user or a group (needs manage there); `None`
    /// removes the entry. Answered by `Done`. Where a chat has no entries, its kind's defaults
    /// apply (see `ChatRights`); its creator may always do everything.
    SetChatPermissions {
        /// The chat.
        chat_id: String,
        /// Whom the entry is for.
        target: PermissionTarget,
        /// What they may do.
        rights: Option<ChatRights>,
    },
}

/// The successful result of a [`Request`].
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    /// Success with nothing to return.
    Done,
    /// A model was created.
    ModelCreated {
        /// Its collection.
        collection: String,
        /// Its id (chosen by the relay if the request had none).
        id: String,
    },
    /// A model was opened.
    ModelOpened(OpenedModel),
    /// A page of a collection's models.
    ModelList {
        /// The page.
        models: Vec<ModelSummary>,
        /// How many models the collection holds in total.
        total: u64,
    },
    /// A model's data at a point of its history.
    HistoricModel {
        /// The version shown.
        version: u64,
        /// When that version was reached.
        timestamp_ms: i64,
        /// The data at that version.
        data: Node,
    },
    /// Stored operations, in version order.
    Operations {
        /// The operations.
        ops: Vec<HistoricOp>,
        /// Whether the page stopped at the relay's limit before the version asked for: ask
        /// again from the last one's version for the rest.
        more: bool,
    },
    /// The presence of users.
    Presence {
        /// One entry per known user asked about.
        users: Vec<UserPresence>,
    },
    /// An activity was joined.
    ActivityJoined {
        /// The handle naming it from now on.
        activity: ActivityHandle,
        /// Everyone in it (this session included unless lurking); their state is empty for a
        /// session that may not view state.
        participants: Vec<ActivityParticipant>,
        /// What this session may do in it.
        rights: ActivityRights,
    },
    /// Information about one chat.
    Chat(ChatInfo),
    /// Information about several chats.
    Chats {
        /// The chats.
        chats: Vec<ChatInfo>,
    },
    /// A chat message was stored.
    ChatMessageSent {
        /// Its event number in the chat.
        event_number: u64,
        /// When it was stored.
        timestamp_ms: i64,
    },
    /// A page of chat events.
    ChatEvents {
        /// The events, in the requested direction.
        events: Vec<ChatEvent>,
    },
    /// Unread message counts per chat.
    UnreadCounts {
        /// `(chat id, unread messages)` for chats with unread messages.
        counts: Vec<(String, u64)>,
    },
    /// Users found.
    Users {
        /// The users.
        users: Vec<UserInfo>,
    },
    /// A page of user search results.
    UserPage {
        /// The page.
        users: Vec<UserInfo>,
        /// How many users matched in total.
        total: u64,
    },
    /// Groups found.
    Groups {
        /// The groups.
        groups: Vec<GroupInfo>,
    },
    /// One user (after a profile change).
    User(UserInfo),
    /// Every permission entry of a collection or model.
    Permissions(PermissionSet),
    /// The session user's effective permissions.
    MyPermissions(Permissions),
    /// The entries granting rights on activities of a type or on one activity.
    ActivityPermissions {
        /// The entry for everyone, if any.
        world: Option<ActivityRights>,
        /// Per-user entries.
        users: Vec<(String, ActivityRights)>,
        /// Per-group entries.
        groups: Vec<(String, ActivityRights)>,
    },
    /// The entries granting rights on a chat.
    ChatPermissions {
        /// The entry for everyone, if any.
        world: Option<ChatRights>,
        /// Per-user entries.
        users: Vec<(String, ChatRights)>,
        /// Per-group entries.
        groups: Vec<(String, ChatRights)>,
    },
}

// ---------------------------------------------------------------------------------------------
// Models, operations, references
// ---------------------------------------------------------------------------------------------

/// What an open request returns: the model and who else is working on it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedModel {
    /// The handle naming the model in every later per-model message.
    pub model: ModelHandle,
    /// Its collection.
    pub collection: String,
    /// Its id.
    pub id: String,
    /// Its current version; `content`, collaborators and references are as of this version.
    pub version: u64,
    /// When it was created.
    pub created_ms: i64,
    /// When it was last changed.
    pub modified_ms: i64,
    /// Whether this request created it (open-or-create).
    pub created: bool,
    /// Its data, or the operations that bring a cached copy up to date.
    pub content: ModelContent,
    /// The other sessions that have it open.
    pub collaborators: Vec<Collaborator>,
    /// Every reference other sessions share on it.
    pub references: Vec<SharedReference>,
}

/// How an opened model's state reaches the client.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelContent {
    /// The whole data at the model's current version.
    Data(Node),
    /// The operations after the `known_version` the client asked with, which it applies (and
    /// transforms its unacknowledged operations against) to reach the current version.
    OpsSince {
        /// The client's known version.
        from_version: u64,
        /// The operations after it, in version order.
        ops: Vec<HistoricOp>,
    },
}

/// One model in a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// Its collection.
    pub collection: String,
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: u64,
    /// When it was created.
    pub created_ms: i64,
    /// When it was last changed.
    pub modified_ms: i64,
}

/// What models are sorted by in a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelOrder {
    /// Creation time.
    Created,
    /// Last modification time.
    Modified,
}

/// The direction of a listing or history page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortDirection {
    /// Oldest or smallest first.
    Ascending,
    /// Newest or largest first.
    Descending,
}

/// A stored operation with who made it and when, for resync and history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoricOp {
    /// The version the model reached with it.
    pub version: u64,
    /// The edit, as sequenced (already transformed).
    pub op: Op,
    /// Who made it.
    pub user_id: String,
    /// From which session.
    pub session_id: String,
    /// The site prefix of the submitting client.
    pub origin: u64,
    /// The submitting client's sequence number, so a reconnecting client recognises its own.
    pub seq: u64,
    /// When the relay sequenced it.
    pub timestamp_ms: i64,
}

/// Another session that has a model open.
#[derive(Clone, Debug, PartialEq)]
pub struct Collaborator {
    /// Its session.
    pub session_id: String,
    /// Its user.
    pub user: UserInfo,
}

/// A reference some session shares, as listed when a model is opened.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedReference {
    /// The owning session.
    pub session_id: String,
    /// Which reference.
    pub key: ReferenceKey,
    /// Where it points (at the opened version), or `None` if it is shared but cleared.
    pub value: Option<ReferenceValue>,
}

/// A change to another session's shared reference, pushed to the model's sessions.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteReference {
    /// A session started sharing a reference.
    Shared {
        /// The opened model.
        model: ModelHandle,
        /// The owning session.
        session_id: String,
        /// Which reference.
        key: ReferenceKey,
        /// Where it points.
        value: ReferenceValue,
        /// The model version `value` is expressed at.
        version: u64,
    },
    /// A shared reference moved.
    Set {
        /// The opened model.
        model: ModelHandle,
        /// The owning session.
        session_id: String,
        /// Which reference.
        key: ReferenceKey,
        /// Where it points.
        value: ReferenceValue,
        /// The model version `value` is expressed at.
        version: u64,
    },
    /// A shared reference now points at nothing.
    Cleared {
        /// The opened model.
        model: ModelHandle,
        /// The owning session.
        session_id: String,
        /// Which reference.
        key: ReferenceKey,
        /// The model version it happened at.
        version: u64,
    },
    /// A reference is no longer shared.
    Unshared {
        /// The opened model.
        model: ModelHandle,
        /// The owning session.
        session_id: String,
        /// Which reference.
        key: ReferenceKey,
        /// The model version it happened at.
        version: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Presence and activities
// ---------------------------------------------------------------------------------------------

/// One user's presence.
#[derive(Clone, Debug, PartialEq)]
pub struct UserPresence {
    /// The user.
    pub user_id: String,
    /// Whether any session of the user is connected.
    pub available: bool,
    /// The user's presence state.
    pub state: StateEntries,
}

/// A presence change of a subscribed user.
#[derive(Clone, Debug, PartialEq)]
pub enum PresenceEvent {
    /// The user's first session connected.
    Available {
        /// The user.
        user_id: String,
    },
    /// The user's last session disconnected.
    Unavailable {
        /// The user.
        user_id: String,
    },
    /// Entries of the user's state were set.
    StateSet {
        /// The user.
        user_id: String,
        /// The entries set.
        state: StateEntries,
    },
    /// Entries of the user's state were removed.
    StateRemoved {
        /// The user.
        user_id: String,
        /// The keys removed.
        keys: Vec<String>,
    },
    /// The user's state was emptied.
    StateCleared {
        /// The user.
        user_id: String,
    },
}

/// A session taking part in an activity.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityParticipant {
    /// The session.
    pub session_id: String,
    /// Its user.
    pub user: UserInfo,
    /// Its state in the activity.
    pub state: StateEntries,
}

/// A change in a joined activity.
#[derive(Clone, Debug, PartialEq)]
pub enum ActivityEvent {
    /// A session joined.
    Joined {
        /// The joined activity.
        activity: ActivityHandle,
        /// Who joined, with their initial state.
        participant: ActivityParticipant,
    },
    /// A session left.
    Left {
        /// The joined activity.
        activity: ActivityHandle,
        /// The session that left.
        session_id: String,
    },
    /// Entries of a session's state were set.
    StateSet {
        /// The joined activity.
        activity: ActivityHandle,
        /// Whose state.
        session_id: String,
        /// The entries set.
        state: StateEntries,
    },
    /// Entries of a session's state were removed.
    StateRemoved {
        /// The joined activity.
        activity: ActivityHandle,
        /// Whose state.
        session_id: String,
        /// The keys removed.
        keys: Vec<String>,
    },
    /// A session's state was emptied.
    StateCleared {
        /// The joined activity.
        activity: ActivityHandle,
        /// Whose state.
        session_id: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Chat
// ---------------------------------------------------------------------------------------------

/// The kinds of chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatKind {
    /// Members are whoever is currently joined.
    Room,
    /// Persistent membership, managed explicitly.
    Channel,
    /// A fixed set of users.
    Direct,
}

/// What the relay tells about a chat.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatInfo {
    /// The stable id.
    pub chat_id: String,
    /// Room, channel or direct.
    pub kind: ChatKind,
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// The user ids of its members.
    pub members: Vec<String>,
    /// When it was created.
    pub created_ms: i64,
    /// The number of its newest event.
    pub last_event_number: u64,
    /// When its newest event happened.
    pub last_event_ms: i64,
    /// The last event the session user marked seen.
    pub max_seen_event: u64,
    /// Whether the session user is a member.
    pub joined: bool,
}

/// One stored chat event: pushed live and returned by history pages.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatEvent {
    /// The chat.
    pub chat_id: String,
    /// Its number in the chat, increasing from 1.
    pub event_number: u64,
    /// When it happened.
    pub timestamp_ms: i64,
    /// Who caused it.
    pub user_id: String,
    /// What happened.
    pub body: ChatEventBody,
}

/// What a chat event records.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatEventBody {
    /// The chat was created.
    Created {
        /// Its kind.
        kind: ChatKind,
        /// Its name.
        name: String,
        /// Its topic.
        topic: String,
        /// Its initial members.
        members: Vec<String>,
    },
    /// A message was posted.
    Message {
        /// The text.
        text: String,
    },
    /// A user joined.
    UserJoined {
        /// The user.
        user_id: String,
    },
    /// A user left.
    UserLeft {
        /// The user.
        user_id: String,
    },
    /// A member was added by someone else.
    UserAdded {
        /// The user added.
        user_id: String,
    },
    /// A member was removed by someone else.
    UserRemoved {
        /// The user removed.
        user_id: String,
    },
    /// The chat was renamed.
    NameChanged {
        /// The new name.
        name: String,
    },
    /// The topic changed.
    TopicChanged {
        /// The new topic.
        topic: String,
    },
    /// The chat was deleted.
    Removed,
}

/// The kinds of [`ChatEventBody`], to filter history pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatEventKind {
    /// [`ChatEventBody::Created`].
    Created,
    /// [`ChatEventBody::Message`].
    Message,
    /// [`ChatEventBody::UserJoined`].
    UserJoined,
    /// [`ChatEventBody::UserLeft`].
    UserLeft,
    /// [`ChatEventBody::UserAdded`].
    UserAdded,
    /// [`ChatEventBody::UserRemoved`].
    UserRemoved,
    /// [`ChatEventBody::NameChanged`].
    NameChanged,
    /// [`ChatEventBody::TopicChanged`].
    TopicChanged,
    /// [`ChatEventBody::Removed`].
    Removed,
}

impl ChatEventBody {
    /// The kind of this event, for filtering.
    pub fn kind(&self) -> ChatEventKind {
        match self {
            ChatEventBody::Created { .. } => ChatEventKind::Created,
            ChatEventBody::Message { .. } => ChatEventKind::Message,
            ChatEventBody::UserJoined { .. } => ChatEventKind::UserJoined,
            ChatEventBody::UserLeft { .. } => ChatEventKind::UserLeft,
            ChatEventBody::UserAdded { .. } => ChatEventKind::UserAdded,
            ChatEventBody::UserRemoved { .. } => ChatEventKind::UserRemoved,
            ChatEventBody::NameChanged { .. } => ChatEventKind::NameChanged,
            ChatEventBody::TopicChanged { .. } => ChatEventKind::TopicChanged,
            ChatEventBody::Removed => ChatEventKind::Removed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// What a user may do in a chat. Where a chat has no entries, everyone may join and leave
/// rooms and channels and send to those they are in, members of a direct chat may send and
/// rename it, and only the creator may do the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ChatRights {
    /// May join (a room or channel).
    pub join: bool,
    /// May leave.
    pub leave: bool,
    /// May post messages (once in it).
    pub send: bool,
    /// May add and remove channel members.
    pub manage_members: bool,
    /// May rename it and change its topic.
    pub set_name_topic: bool,
    /// May delete it with its history.
    pub remove: bool,
    /// May change who may do what.
    pub manage: bool,
}

impl ChatRights {
    /// Every right.
    pub const ALL: ChatRights = ChatRights {
        join: true,
        leave: true,
        send: true,
        manage_members: true,
        set_name_topic: true,
        remove: true,
        manage: true,
    };

    /// What either grant allows.
    pub fn union(self, other: ChatRights) -> ChatRights {
        ChatRights {
            join: self.join || other.join,
            leave: self.leave || other.leave,
            send: self.send || other.send,
            manage_members: self.manage_members || other.manage_members,
            set_name_topic: self.set_name_topic || other.set_name_topic,
            remove: self.remove || other.remove,
            manage: self.manage || other.manage,
        }
    }
}

/// What a session may do in an activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ActivityRights {
    /// May join and be listed as a participant.
    pub join: bool,
    /// May join without being listed (and see the participants).
    pub lurk: bool,
    /// May see the participants' state.
    pub view_state: bool,
    /// May set its own state in it.
    pub set_state: bool,
    /// May change who may do what in it.
    pub manage: bool,
}

impl ActivityRights {
    /// Every right.
    pub const ALL: ActivityRights = ActivityRights {
        join: true,
        lurk: true,
        view_state: true,
        set_state: true,
        manage: true,
    };
    /// What everyone may do where no entry says otherwise: everything but manage.
    pub const OPEN: ActivityRights = ActivityRights {
        manage: false,
        ..ActivityRights::ALL
    };

    /// What either grant allows: how several entries that apply to one user add up.
    pub fn union(self, other: ActivityRights) -> ActivityRights {
        ActivityRights {
            join: self.join || other.join,
            lurk: self.lurk || other.lurk,
            view_state: self.view_state || other.view_state,
            set_state: self.set_state || other.set_state,
            manage: self.manage || other.manage,
        }
    }
}

/// The four permission flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Permissions {
    /// May open and read.
    pub read: bool,
    /// May submit operations.
    pub write: bool,
    /// May delete.
    pub remove: bool,
    /// May change permissions.
    pub manage: bool,
}

impl Permissions {
    /// Every flag set.
    pub const ALL: Permissions = Permissions {
        read: true,
        write: true,
        remove: true,
        manage: true,
    };
    /// No flag set.
    pub const NONE: Permissions = Permissions {
        read: false,
        write: false,
        remove: false,
        manage: false,
    };

    /// What either grant allows: how several entries that apply to one user add up.
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions {
            read: self.read || other.read,
            write: self.write || other.write,
            remove: self.remove || other.remove,
            manage: self.manage || other.manage,
        }
    }
}

/// What a permission entry applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PermissionScope {
    /// Every model of a collection (unless the model has its own entry).
    Collection {
        /// The collection.
        collection: String,
    },
    /// One model.
    Model {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
    },
}

/// Whom a permission entry is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PermissionTarget {
    /// Everyone, anonymous users included.
    World,
    /// One user.
    User {
        /// The user.
        user_id: String,
    },
    /// The members of a group.
    Group {
        /// The group.
        group_id: String,
    },
}

/// Every permission entry of a collection or model.
#[derive(Clone, Debug, PartialEq)]
pub struct PermissionSet {
    /// The entry for everyone.
    pub world: Permissions,
    /// Per-user entries.
    pub users: Vec<(String, Permissions)>,
    /// Per-group entries.
    pub groups: Vec<(String, Permissions)>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal => $text:literal, )*) => {
        /// Why the relay refused something: a stable, machine-readable code.
        ///
        /// The numeric discriminant is what travels on the wire and the string is what the SDK
        /// exposes as `TandemError.code`; neither ever changes for an existing code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant = $num, )*
        }

        impl ErrorCode {
            /// Every code, in numeric order, for tables and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The snake_case name, stable across versions.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                }
            }

            /// The number that identifies the code on the wire.
            pub fn as_u16(self) -> u16 {
                self as u16
            }

            /// The code with this wire number, if there is one.
            pub fn from_u16(num: u16) -> Option<ErrorCode> {
                match num {
                    $($num => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }

            /// The code with this name, if there is one.
            pub fn from_name(name: &str) -> Option<ErrorCode> {
                match name {
                    $($text => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The client speaks a protocol version the relay does not.
    UnsupportedProtocolVersion = 1 => "unsupported_protocol_version",
    /// A frame could not be decoded.
    MalformedMessage = 2 => "malformed_message",
    /// A frame is larger than the relay accepts.
    FrameTooLarge = 3 => "frame_too_large",
    /// Data is nested deeper than allowed.
    TooDeep = 4 => "too_deep",
    /// A message or request kind the relay does not know.
    UnknownMessage = 5 => "unknown_message",
    /// Something other than `Hello` came before the session was authenticated.
    Unauthenticated = 6 => "unauthenticated",
    /// The credentials were refused.
    AuthFailed = 7 => "auth_failed",
    /// The token (JWT or reconnect token) has expired.
    TokenExpired = 8 => "token_expired",
    /// The session lacks the permission for this.
    PermissionDenied = 9 => "permission_denied",
    /// No model has this collection and id.
    ModelNotFound = 10 => "model_not_found",
    /// A model with this collection and id already exists.
    ModelExists = 11 => "model_exists",
    /// No collection has this name.
    CollectionNotFound = 12 => "collection_not_found",
    /// An operation was refused for a reason not covered by a more specific code.
    InvalidOperation = 13 => "invalid_operation",
    /// An operation targets an element of another type.
    WrongType = 14 => "wrong_type",
    /// A string or array index lies beyond the end.
    IndexOutOfRange = 15 => "index_out_of_range",
    /// A string index splits a UTF-16 surrogate pair.
    SplitsSurrogatePair = 16 => "splits_surrogate_pair",
    /// A property to add already exists.
    PropertyExists = 17 => "property_exists",
    /// A property to set or remove does not exist.
    NoSuchProperty = 18 => "no_such_property",
    /// A number is NaN or infinite.
    NonFiniteNumber = 19 => "non_finite_number",
    /// A new element reuses an element id.
    DuplicateId = 20 => "duplicate_id",
    /// A path leads to no element.
    NoSuchPath = 21 => "no_such_path",
    /// An operation's context version is ahead of the model or too old to transform.
    VersionConflict = 22 => "version_conflict",
    /// The session sent too much too fast.
    RateLimited = 23 => "rate_limited",
    /// No chat has this id.
    ChatNotFound = 24 => "chat_not_found",
    /// No activity has this handle or id.
    ActivityNotFound = 25 => "activity_not_found",
    /// No user has this id or username.
    UserNotFound = 26 => "user_not_found",
    /// The relay failed; the request may be retried.
    Internal = 27 => "internal",
    /// The relay did not finish in time.
    Timeout = 28 => "timeout",
    /// The relay is shutting down; reconnect (possibly elsewhere).
    GoingAway = 29 => "going_away",
    /// A model handle names no model this session has open.
    NotOpen = 30 => "not_open",
    /// A request's arguments were refused (empty name, bad paging, ...).
    InvalidRequest = 31 => "invalid_request",
    /// No group has this id.
    GroupNotFound = 32 => "group_not_found",
    /// A chat with this id already exists.
    ChatExists = 33 => "chat_exists",
    /// The operation's origin belongs to another user: nobody may submit under someone
    /// else's origin (their resends would be taken for duplicates).
    OriginTaken = 34 => "origin_taken",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&ModelError> for ErrorCode {
    fn from(err: &ModelError) -> ErrorCode {
        match err {
            ModelError::WrongType { .. } => ErrorCode::WrongType,
            ModelError::IndexOutOfRange { .. } => ErrorCode::IndexOutOfRange,
            ModelError::SplitsSurrogatePair { .. } => ErrorCode::SplitsSurrogatePair,
            ModelError::PropertyExists { .. } => ErrorCode::PropertyExists,
            ModelError::NoSuchProperty { .. } => ErrorCode::NoSuchProperty,
            ModelError::NonFiniteNumber => ErrorCode::NonFiniteNumber,
            ModelError::DuplicateId(_) => ErrorCode::DuplicateId,
            ModelError::NoSuchPath(_) => ErrorCode::NoSuchPath,
            ModelError::TooDeep(_) => ErrorCode::TooDeep,
        }
    }
}
