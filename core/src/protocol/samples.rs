//! Fixtures: one sample of every variant of every message, for the codec's tests here and for
//! the tests of code that converts messages elsewhere (the WebAssembly client).

use super::*;
use crate::id::ElementId;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::value::{Node, NodeValue, Value};

// ---------------------------------------------------------------------------------------------
// Samples: one of every variant of every enum
// ---------------------------------------------------------------------------------------------

/// An element id of the samples' site.
pub fn eid(counter: u64) -> ElementId {
    ElementId::new(7, counter)
}

/// A user called `name`, with some optional fields set.
pub fn user(name: &str) -> UserInfo {
    UserInfo {
        user_id: format!("u-{name}"),
        username: name.to_owned(),
        display_name: Some(format!("{name} the user")),
        email: None,
        anonymous: false,
        avatar_url: Some(format!("https://example.test/{name}.png")),
    }
}

/// Values of every kind, nested and at the edges of their ranges.
pub fn values() -> Vec<Value> {
    vec![
        Value::Null,
        Value::Bool(true),
        Value::Number(-1.5e300),
        Value::Date(-86_400_000),
        Value::String("héllo 👋".to_owned()),
        Value::Array(vec![
            Value::Number(0.0),
            Value::Array(vec![Value::Bool(false)]),
        ]),
        Value::Object(vec![
            ("a".to_owned(), Value::Null),
            (
                "b".to_owned(),
                Value::Object(vec![("c".to_owned(), Value::Date(i64::MAX))]),
            ),
        ]),
    ]
}

/// Node values of every kind.
pub fn node_values() -> Vec<NodeValue> {
    vec![
        NodeValue::Null,
        NodeValue::Bool(false),
        NodeValue::Number(f64::MIN_POSITIVE),
        NodeValue::Date(i64::MIN),
        NodeValue::String(String::new()),
        NodeValue::Array(vec![Node::new(eid(20), NodeValue::Null)]),
        NodeValue::Object(vec![(
            "k".to_owned(),
            Node::new(eid(21), NodeValue::Number(-0.0)),
        )]),
    ]
}

/// A node holding every kind of node value.
pub fn node() -> Node {
    let children = node_values()
        .into_iter()
        .enumerate()
        .map(|(i, value)| (format!("p{i}"), Node::new(eid(100 + i as u64), value)))
        .collect();
    Node::new(ElementId::ROOT, NodeValue::Object(children))
}

/// One operation of every kind.
pub fn ops() -> Vec<Op> {
    vec![
        Op::StringInsert {
            id: eid(1),
            index: 3,
            text: "abc".to_owned(),
        },
        Op::StringRemove {
            id: eid(1),
            index: 0,
            len: usize::MAX,
        },
        Op::StringSplice {
            id: eid(1),
            index: 2,
            remove: 1,
            text: "x".to_owned(),
        },
        Op::StringSet {
            id: eid(1),
            value: "new".to_owned(),
        },
        Op::ArrayInsert {
            id: eid(2),
            index: 0,
            value: node(),
        },
        Op::ArrayRemove {
            id: eid(2),
            index: 4,
        },
        Op::ArrayReplace {
            id: eid(2),
            index: 1,
            value: Node::new(eid(3), NodeValue::Bool(true)),
        },
        Op::ArrayMove {
            id: eid(2),
            from: 5,
            to: 0,
        },
        Op::ArraySet {
            id: eid(2),
            value: vec![node(), Node::new(eid(4), NodeValue::Null)],
        },
        Op::ObjectAdd {
            id: ElementId::ROOT,
            key: "k".to_owned(),
            value: Node::new(eid(5), NodeValue::Date(3)),
            before: vec!["a".to_owned(), "b".to_owned()],
        },
        Op::ObjectSet {
            id: ElementId::ROOT,
            key: "k".to_owned(),
            value: node(),
        },
        Op::ObjectRemove {
            id: ElementId::ROOT,
            key: "k".to_owned(),
        },
        Op::ObjectSetAll {
            id: ElementId::ROOT,
            value: vec![("z".to_owned(), node())],
        },
        Op::NumberAdd {
            id: eid(6),
            delta: -2.25,
        },
        Op::NumberSet {
            id: eid(6),
            value: 1e-300,
        },
        Op::BooleanSet {
            id: eid(7),
            value: true,
        },
        Op::DateSet {
            id: eid(8),
            value: 1_700_000_000_000,
        },
        Op::Compound(vec![
            Op::noop(),
            Op::NumberAdd {
                id: eid(6),
                delta: 1.0,
            },
            Op::Compound(vec![Op::StringInsert {
                id: eid(1),
                index: 0,
                text: "é".to_owned(),
            }]),
        ]),
    ]
}

/// One reference value of every kind.
pub fn reference_values() -> Vec<ReferenceValue> {
    vec![
        ReferenceValue::Index(vec![0, 5, usize::MAX]),
        ReferenceValue::Range(vec![(1, 4), (9, 2)]),
        ReferenceValue::Element(vec![ElementId::ROOT, eid(u64::MAX)]),
        ReferenceValue::Property(vec!["title".to_owned(), String::new()]),
    ]
}

/// A reference key.
pub fn reference_key() -> ReferenceKey {
    ReferenceKey {
        element: Some(eid(1)),
        key: "cursor".to_owned(),
    }
}

/// Presence or activity state entries.
pub fn state() -> StateEntries {
    values()
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("key{i}"), v))
        .collect()
}

/// `op` as stored at `version`.
pub fn historic_op(version: u64, op: Op) -> HistoricOp {
    HistoricOp {
        version,
        op,
        user_id: "u-ann".to_owned(),
        session_id: "s-1".to_owned(),
        origin: 12,
        seq: version * 2,
        timestamp_ms: 1_700_000_000_000 + version as i64,
    }
}

/// Both kinds of model content.
pub fn model_contents() -> Vec<ModelContent> {
    vec![
        ModelContent::Data(node()),
        ModelContent::OpsSince {
            from_version: 3,
            ops: ops()
                .into_iter()
                .enumerate()
                .map(|(i, op)| historic_op(4 + i as u64, op))
                .collect(),
        },
    ]
}

/// An opened model with `content`.
pub fn opened(content: ModelContent) -> OpenedModel {
    OpenedModel {
        model: u32::MAX,
        collection: "docs".to_owned(),
        id: "d1".to_owned(),
        version: 42,
        created_ms: 1,
        modified_ms: 2,
        created: true,
        content,
        collaborators: vec![Collaborator {
            session_id: "s-2".to_owned(),
            user: user("bob"),
        }],
        references: vec![
            SharedReference {
                session_id: "s-2".to_owned(),
                key: reference_key(),
                value: Some(ReferenceValue::Index(vec![1])),
            },
            SharedReference {
                session_id: "s-2".to_owned(),
                key: ReferenceKey {
                    element: None,
                    key: "sel".to_owned(),
                },
                value: None,
            },
        ],
    }
}

/// Every way to authenticate.
pub fn auths() -> Vec<Auth> {
    vec![
        Auth::Anonymous {
            display_name: "Ann".to_owned(),
        },
        Auth::Password {
            username: "ann".to_owned(),
            password: "s3cret".to_owned(),
        },
        Auth::Jwt {
            token: "a.b.c".to_owned(),
        },
        Auth::ReconnectToken {
            token: "rt".to_owned(),
        },
    ]
}

/// Every model order.
pub fn model_orders() -> Vec<ModelOrder> {
    vec![ModelOrder::Created, ModelOrder::Modified]
}

/// Every sort direction.
pub fn sort_directions() -> Vec<SortDirection> {
    vec![SortDirection::Ascending, SortDirection::Descending]
}

/// Every kind of chat.
pub fn chat_kinds() -> Vec<ChatKind> {
    vec![ChatKind::Room, ChatKind::Channel, ChatKind::Direct]
}

/// Every kind of chat event.
pub fn chat_event_kinds() -> Vec<ChatEventKind> {
    chat_event_bodies()
        .iter()
        .map(ChatEventBody::kind)
        .collect()
}

/// Every permission scope.
pub fn permission_scopes() -> Vec<PermissionScope> {
    vec![
        PermissionScope::Collection {
            collection: "docs".to_owned(),
        },
        PermissionScope::Model {
            collection: "docs".to_owned(),
            id: "d1".to_owned(),
        },
    ]
}

/// Every permission target.
pub fn permission_targets() -> Vec<PermissionTarget> {
    vec![
        PermissionTarget::World,
        PermissionTarget::User {
            user_id: "u-ann".to_owned(),
        },
        PermissionTarget::Group {
            group_id: "g-1".to_owned(),
        },
    ]
}

/// One request of every kind.
pub fn requests() -> Vec<Request> {
    let s = |text: &str| text.to_owned();
    let mut requests = vec![
        Request::CreateModel {
            collection: s("docs"),
            id: None,
            data: node(),
        },
        Request::CreateModel {
            collection: s("docs"),
            id: Some(s("d1")),
            data: node(),
        },
        Request::OpenModel {
            collection: s("docs"),
            id: s("d1"),
            known_version: None,
        },
        Request::OpenModel {
            collection: s("docs"),
            id: s("d1"),
            known_version: Some(9),
        },
        Request::OpenOrCreateModel {
            collection: s("docs"),
            id: s("d1"),
            data: node(),
        },
        Request::CloseModel { model: 3 },
        Request::DeleteModel {
            collection: s("docs"),
            id: s("d1"),
        },
        Request::GetModelAtVersion {
            collection: s("docs"),
            id: s("d1"),
            version: 5,
        },
        Request::GetModelAtTime {
            collection: s("docs"),
            id: s("d1"),
            time_ms: -5,
        },
        Request::GetOperations {
            collection: s("docs"),
            id: s("d1"),
            from_version: 1,
            to_version: 9,
        },
        Request::SubscribePresence {
            user_ids: vec![s("u-ann"), s("u-bob")],
        },
        Request::UnsubscribePresence {
            user_ids: vec![s("u-bob")],
        },
        Request::GetPresence { user_ids: vec![] },
        Request::SetPresenceState { state: state() },
        Request::RemovePresenceState {
            keys: vec![s("key0")],
        },
        Request::ClearPresenceState,
        Request::JoinActivity {
            activity_type: s("page"),
            activity_id: s("home"),
            lurk: true,
            state: state(),
        },
        Request::LeaveActivity { activity: 1 },
        Request::SetActivityState {
            activity: 1,
            state: state(),
        },
        Request::RemoveActivityState {
            activity: 1,
            keys: vec![s("typing")],
        },
        Request::ClearActivityState { activity: 1 },
        Request::GetDirectChat {
            user_ids: vec![s("u-bob")],
        },
        Request::GetChat { chat_id: s("c1") },
        Request::GetJoinedChats,
        Request::JoinChat { chat_id: s("c1") },
        Request::LeaveChat { chat_id: s("c1") },
        Request::SendChatMessage {
            chat_id: s("c1"),
            text: s("hi 👋"),
        },
        Request::SetChatName {
            chat_id: s("c1"),
            name: s("General"),
        },
        Request::SetChatTopic {
            chat_id: s("c1"),
            topic: s("Stuff"),
        },
        Request::AddChatMember {
            chat_id: s("c1"),
            user_id: s("u-bob"),
        },
        Request::RemoveChatMember {
            chat_id: s("c1"),
            user_id: s("u-bob"),
        },
        Request::RemoveChat { chat_id: s("c1") },
        Request::GetChatHistory {
            chat_id: s("c1"),
            start_event: Some(100),
            direction: SortDirection::Descending,
            limit: 50,
            event_kinds: chat_event_kinds(),
        },
        Request::GetChatHistory {
            chat_id: s("c1"),
            start_event: None,
            direction: SortDirection::Ascending,
            limit: 0,
            event_kinds: vec![],
        },
        Request::MarkChatSeen {
            chat_id: s("c1"),
            event_number: 7,
        },
        Request::GetUnreadCounts,
        Request::GetUsersById {
            user_ids: vec![s("u-ann")],
        },
        Request::GetUsersByUsername {
            usernames: vec![s("ann")],
        },
        Request::SearchUsers {
            query: s("an"),
            offset: 10,
            limit: 10,
        },
        Request::GetGroups,
        Request::GetUserGroups {
            user_id: s("u-ann"),
        },
        Request::SetProfile {
            display_name: Some(s("Ann")),
            email: None,
            avatar_url: Some(s("")),
        },
    ];
    for (order_by, direction) in model_orders().into_iter().zip(sort_directions()) {
        requests.push(Request::ListModels {
            collection: s("docs"),
            offset: u64::MAX,
            limit: u32::MAX,
            order_by,
            direction,
        });
    }
    for kind in chat_kinds() {
        requests.push(Request::CreateChat {
            kind,
            chat_id: Some(s("c2")),
            name: s("Room"),
            topic: s(""),
            members: vec![s("u-ann")],
        });
    }
    for scope in permission_scopes() {
        requests.push(Request::GetPermissions {
            scope: scope.clone(),
        });
        requests.push(Request::GetMyPermissions {
            scope: scope.clone(),
        });
        for target in permission_targets() {
            requests.push(Request::SetPermissions {
                scope: scope.clone(),
                target: target.clone(),
                permissions: Some(Permissions {
                    read: true,
                    write: false,
                    remove: true,
                    manage: false,
                }),
            });
            requests.push(Request::SetPermissions {
                scope: scope.clone(),
                target,
                permissions: None,
            });
        }
    }
    requests.push(Request::GetChatPermissions { chat_id: s("c1") });
    for target in permission_targets() {
        requests.push(Request::SetChatPermissions {
            chat_id: s("c1"),
            target: target.clone(),
            rights: Some(ChatRights {
                remove: false,
                ..ChatRights::ALL
            }),
        });
        requests.push(Request::SetChatPermissions {
            chat_id: s("c1"),
            target,
            rights: None,
        });
    }
    for activity_id in [None, Some(s("42"))] {
        requests.push(Request::GetActivityPermissions {
            activity_type: s("document"),
            activity_id: activity_id.clone(),
        });
        for target in permission_targets() {
            requests.push(Request::SetActivityPermissions {
                activity_type: s("document"),
                activity_id: activity_id.clone(),
                target: target.clone(),
                rights: Some(ActivityRights {
                    lurk: false,
                    ..ActivityRights::OPEN
                }),
            });
            requests.push(Request::SetActivityPermissions {
                activity_type: s("document"),
                activity_id: activity_id.clone(),
                target,
                rights: None,
            });
        }
    }
    requests
}

/// A chat of `kind`.
pub fn chat_info(kind: ChatKind) -> ChatInfo {
    ChatInfo {
        chat_id: "c1".to_owned(),
        kind,
        name: "General".to_owned(),
        topic: "Stuff".to_owned(),
        members: vec!["u-ann".to_owned(), "u-bob".to_owned()],
        created_ms: 1,
        last_event_number: 10,
        last_event_ms: 2,
        max_seen_event: 8,
        joined: true,
    }
}

/// One chat event body of every kind.
pub fn chat_event_bodies() -> Vec<ChatEventBody> {
    vec![
        ChatEventBody::Created {
            kind: ChatKind::Channel,
            name: "General".to_owned(),
            topic: "Stuff".to_owned(),
            members: vec!["u-ann".to_owned()],
        },
        ChatEventBody::Message {
            text: "hello".to_owned(),
        },
        ChatEventBody::UserJoined {
            user_id: "u-bob".to_owned(),
        },
        ChatEventBody::UserLeft {
            user_id: "u-bob".to_owned(),
        },
        ChatEventBody::UserAdded {
            user_id: "u-cy".to_owned(),
        },
        ChatEventBody::UserRemoved {
            user_id: "u-cy".to_owned(),
        },
        ChatEventBody::NameChanged {
            name: "Main".to_owned(),
        },
        ChatEventBody::TopicChanged {
            topic: "Things".to_owned(),
        },
        ChatEventBody::Removed,
    ]
}

/// Chat events with every kind of body.
pub fn chat_events() -> Vec<ChatEvent> {
    chat_event_bodies()
        .into_iter()
        .enumerate()
        .map(|(i, body)| ChatEvent {
            chat_id: "c1".to_owned(),
            event_number: i as u64 + 1,
            timestamp_ms: 1_000 * i as i64,
            user_id: "u-ann".to_owned(),
            body,
        })
        .collect()
}

/// An activity participant.
pub fn participant() -> ActivityParticipant {
    ActivityParticipant {
        session_id: "s-2".to_owned(),
        user: user("bob"),
        state: state(),
    }
}

/// One response of every kind.
pub fn responses() -> Vec<Response> {
    let mut responses = vec![
        Response::Done,
        Response::ModelCreated {
            collection: "docs".to_owned(),
            id: "d1".to_owned(),
        },
        Response::ModelList {
            models: vec![ModelSummary {
                collection: "docs".to_owned(),
                id: "d1".to_owned(),
                version: 3,
                created_ms: 1,
                modified_ms: 2,
            }],
            total: 1,
        },
        Response::HistoricModel {
            version: 3,
            timestamp_ms: 4,
            data: node(),
        },
        Response::Operations {
            ops: ops()
                .into_iter()
                .enumerate()
                .map(|(i, op)| historic_op(i as u64 + 1, op))
                .collect(),
            more: true,
        },
        Response::Presence {
            users: vec![
                UserPresence {
                    user_id: "u-ann".to_owned(),
                    available: true,
                    state: state(),
                },
                UserPresence {
                    user_id: "u-bob".to_owned(),
                    available: false,
                    state: vec![],
                },
            ],
        },
        Response::ActivityJoined {
            activity: 0,
            participants: vec![participant()],
            rights: ActivityRights::OPEN,
        },
        Response::ActivityPermissions {
            world: None,
            users: vec![("u-ann".to_owned(), ActivityRights::ALL)],
            groups: vec![(
                "g-1".to_owned(),
                ActivityRights {
                    view_state: true,
                    ..ActivityRights::default()
                },
            )],
        },
        Response::ActivityPermissions {
            world: Some(ActivityRights::OPEN),
            users: vec![],
            groups: vec![],
        },
        Response::ChatPermissions {
            world: Some(ChatRights {
                join: true,
                ..ChatRights::default()
            }),
            users: vec![("u-ann".to_owned(), ChatRights::ALL)],
            groups: vec![],
        },
        Response::Chats {
            chats: chat_kinds().into_iter().map(chat_info).collect(),
        },
        Response::ChatMessageSent {
            event_number: 11,
            timestamp_ms: 5,
        },
        Response::ChatEvents {
            events: chat_events(),
        },
        Response::UnreadCounts {
            counts: vec![("c1".to_owned(), 3), ("c2".to_owned(), 0)],
        },
        Response::Users {
            users: vec![user("ann"), user("bob")],
        },
        Response::UserPage {
            users: vec![user("ann")],
            total: 20,
        },
        Response::Groups {
            groups: vec![GroupInfo {
                group_id: "g-1".to_owned(),
                description: "Editors".to_owned(),
                members: vec!["u-ann".to_owned()],
            }],
        },
        Response::User(UserInfo {
            anonymous: true,
            email: Some("a@b.c".to_owned()),
            ..user("ann")
        }),
        Response::Permissions(PermissionSet {
            world: Permissions::NONE,
            users: vec![("u-ann".to_owned(), Permissions::ALL)],
            groups: vec![(
                "g-1".to_owned(),
                Permissions {
                    read: true,
                    ..Permissions::NONE
                },
            )],
        }),
        Response::MyPermissions(Permissions {
            write: true,
            ..Permissions::NONE
        }),
    ];
    responses.extend(
        model_contents()
            .into_iter()
            .map(|c| Response::ModelOpened(opened(c))),
    );
    responses.push(Response::Chat(chat_info(ChatKind::Room)));
    responses
}

/// One remote reference event of every kind.
pub fn remote_references() -> Vec<RemoteReference> {
    let mut events = Vec::new();
    for value in reference_values() {
        events.push(RemoteReference::Shared {
            model: 1,
            session_id: "s-2".to_owned(),
            key: reference_key(),
            value: value.clone(),
            version: 3,
        });
        events.push(RemoteReference::Set {
            model: 1,
            session_id: "s-2".to_owned(),
            key: reference_key(),
            value,
            version: 4,
        });
    }
    events.push(RemoteReference::Cleared {
        model: 1,
        session_id: "s-2".to_owned(),
        key: reference_key(),
        version: 5,
    });
    events.push(RemoteReference::Unshared {
        model: 1,
        session_id: "s-2".to_owned(),
        key: ReferenceKey {
            element: None,
            key: "x".to_owned(),
        },
        version: 6,
    });
    events
}

/// One presence event of every kind.
pub fn presence_events() -> Vec<PresenceEvent> {
    let u = || "u-ann".to_owned();
    vec![
        PresenceEvent::Available { user_id: u() },
        PresenceEvent::Unavailable { user_id: u() },
        PresenceEvent::StateSet {
            user_id: u(),
            state: state(),
        },
        PresenceEvent::StateRemoved {
            user_id: u(),
            keys: vec!["key1".to_owned()],
        },
        PresenceEvent::StateCleared { user_id: u() },
    ]
}

/// One activity event of every kind.
pub fn activity_events() -> Vec<ActivityEvent> {
    let s = || "s-2".to_owned();
    vec![
        ActivityEvent::Joined {
            activity: 2,
            participant: participant(),
        },
        ActivityEvent::Left {
            activity: 2,
            session_id: s(),
        },
        ActivityEvent::StateSet {
            activity: 2,
            session_id: s(),
            state: state(),
        },
        ActivityEvent::StateRemoved {
            activity: 2,
            session_id: s(),
            keys: vec!["typing".to_owned()],
        },
        ActivityEvent::StateCleared {
            activity: 2,
            session_id: s(),
        },
    ]
}

/// One client message of every kind.
pub fn client_samples() -> Vec<ClientMessage> {
    let mut samples: Vec<ClientMessage> = auths()
        .into_iter()
        .map(|auth| {
            ClientMessage::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                auth,
                client_name: "tandem-test/0".to_owned(),
            })
        })
        .collect();
    samples.extend(
        requests()
            .into_iter()
            .enumerate()
            .map(|(i, request)| ClientMessage::Request {
                request_id: (i as u64) << 40,
                request,
            }),
    );
    samples.extend(
        ops()
            .into_iter()
            .enumerate()
            .map(|(i, op)| ClientMessage::SubmitOp {
                model: i as u32,
                origin: 0,
                seq: i as u64,
                context_version: 1000,
                op,
            }),
    );
    samples.push(ClientMessage::SubmitOps {
        model: 3,
        origin: 1 << 40,
        first_seq: 17,
        context_version: 99,
        ops: ops(),
    });
    for value in reference_values() {
        samples.push(ClientMessage::ShareReference {
            model: 1,
            key: reference_key(),
            value: value.clone(),
            context_version: 2,
        });
        samples.push(ClientMessage::SetReference {
            model: 1,
            key: reference_key(),
            value,
            context_version: 3,
        });
    }
    samples.extend([
        ClientMessage::ResyncRequest {
            model: 1,
            from_version: 17,
        },
        ClientMessage::ClearReference {
            model: 1,
            key: reference_key(),
            context_version: 4,
        },
        ClientMessage::UnshareReference {
            model: 1,
            key: reference_key(),
            context_version: 5,
        },
        ClientMessage::Ping { nonce: 0 },
        ClientMessage::Pong { nonce: u64::MAX },
    ]);
    samples
}

/// One relay message of every kind.
pub fn relay_samples() -> Vec<RelayMessage> {
    let mut samples = vec![
        RelayMessage::Welcome(Welcome {
            session_id: "s-1".to_owned(),
            user: user("ann"),
            site: 12,
            reconnect_token: "rt".to_owned(),
            server_time_ms: 1_700_000_000_000,
            max_frame_bytes: 1 << 20,
            max_message_bytes: 16 << 20,
        }),
        RelayMessage::Error {
            request_id: None,
            code: ErrorCode::GoingAway,
            message: "bye".to_owned(),
        },
        RelayMessage::Error {
            request_id: Some(4),
            code: ErrorCode::PermissionDenied,
            message: "no".to_owned(),
        },
        RelayMessage::OpAck {
            model: 1,
            seq: 2,
            version: 3,
            timestamp_ms: 4,
        },
        RelayMessage::OpsAcked {
            model: 1,
            first_seq: 2,
            first_version: 3,
            count: 64,
            timestamp_ms: -5,
        },
        RelayMessage::RemoteOps {
            model: 2,
            ops: ops()
                .into_iter()
                .enumerate()
                .map(|(i, op)| historic_op(i as u64 + 1, op))
                .collect(),
        },
        RelayMessage::OpRejected {
            model: 1,
            seq: 2,
            code: ErrorCode::IndexOutOfRange,
            message: "index 9 is out of range (length 3)".to_owned(),
        },
        RelayMessage::ResyncOps {
            model: 1,
            ops: ops()
                .into_iter()
                .enumerate()
                .map(|(i, op)| historic_op(i as u64 + 18, op))
                .collect(),
        },
        RelayMessage::ResyncComplete {
            model: 1,
            version: 40,
        },
        RelayMessage::ModelDeleted { model: 1 },
        RelayMessage::ModelForceClosed {
            model: 1,
            code: ErrorCode::PermissionDenied,
            message: "revoked".to_owned(),
        },
        RelayMessage::CollaboratorOpened {
            model: 1,
            collaborator: Collaborator {
                session_id: "s-3".to_owned(),
                user: user("cy"),
            },
        },
        RelayMessage::CollaboratorClosed {
            model: 1,
            session_id: "s-3".to_owned(),
        },
        RelayMessage::Ping { nonce: 1 },
        RelayMessage::Pong { nonce: 2 },
    ];
    samples.extend(
        ops()
            .into_iter()
            .enumerate()
            .map(|(i, op)| RelayMessage::RemoteOp {
                model: 1,
                version: 100 + i as u64,
                origin: 13,
                seq: i as u64,
                session_id: "s-2".to_owned(),
                user_id: "u-bob".to_owned(),
                timestamp_ms: -1,
                op,
            }),
    );
    samples.extend(responses().into_iter().enumerate().map(|(i, response)| {
        RelayMessage::Response {
            request_id: i as u64,
            response,
        }
    }));
    samples.extend(
        remote_references()
            .into_iter()
            .map(RelayMessage::RemoteReference),
    );
    samples.extend(presence_events().into_iter().map(RelayMessage::Presence));
    samples.extend(activity_events().into_iter().map(RelayMessage::Activity));
    samples.extend(chat_events().into_iter().map(RelayMessage::Chat));
    samples
}
