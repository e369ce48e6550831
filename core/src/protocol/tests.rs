//! Round trips of every message, and hostile-input tests of the decoder.

use super::*;
use crate::error::ModelError;
use crate::id::ElementId;
use crate::op::Op;
use crate::reference::{ReferenceKey, ReferenceValue};
use crate::value::{ElementKind, Node, NodeValue, Value};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Samples: one of every variant of every enum
// ---------------------------------------------------------------------------------------------

fn eid(counter: u64) -> ElementId {
    ElementId::new(7, counter)
}

fn user(name: &str) -> UserInfo {
    UserInfo {
        user_id: format!("u-{name}"),
        username: name.to_owned(),
        display_name: Some(format!("{name} the user")),
        email: None,
        anonymous: false,
        avatar_url: Some(format!("https://example.test/{name}.png")),
    }
}

fn values() -> Vec<Value> {
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

fn node_values() -> Vec<NodeValue> {
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
fn node() -> Node {
    let children = node_values()
        .into_iter()
        .enumerate()
        .map(|(i, value)| (format!("p{i}"), Node::new(eid(100 + i as u64), value)))
        .collect();
    Node::new(ElementId::ROOT, NodeValue::Object(children))
}

fn ops() -> Vec<Op> {
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

fn reference_values() -> Vec<ReferenceValue> {
    vec![
        ReferenceValue::Index(vec![0, 5, usize::MAX]),
        ReferenceValue::Range(vec![(1, 4), (9, 2)]),
        ReferenceValue::Element(vec![ElementId::ROOT, eid(u64::MAX)]),
        ReferenceValue::Property(vec!["title".to_owned(), String::new()]),
    ]
}

fn reference_key() -> ReferenceKey {
    ReferenceKey {
        element: Some(eid(1)),
        key: "cursor".to_owned(),
    }
}

fn state() -> StateEntries {
    values()
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("key{i}"), v))
        .collect()
}

fn historic_op(version: u64, op: Op) -> HistoricOp {
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

fn model_contents() -> Vec<ModelContent> {
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

fn opened(content: ModelContent) -> OpenedModel {
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

fn auths() -> Vec<Auth> {
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

fn model_orders() -> Vec<ModelOrder> {
    vec![ModelOrder::Created, ModelOrder::Modified]
}

fn sort_directions() -> Vec<SortDirection> {
    vec![SortDirection::Ascending, SortDirection::Descending]
}

fn chat_kinds() -> Vec<ChatKind> {
    vec![ChatKind::Room, ChatKind::Channel, ChatKind::Direct]
}

fn chat_event_kinds() -> Vec<ChatEventKind> {
    chat_event_bodies()
        .iter()
        .map(ChatEventBody::kind)
        .collect()
}

fn permission_scopes() -> Vec<PermissionScope> {
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

fn permission_targets() -> Vec<PermissionTarget> {
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

fn requests() -> Vec<Request> {
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

fn chat_info(kind: ChatKind) -> ChatInfo {
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

fn chat_event_bodies() -> Vec<ChatEventBody> {
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

fn chat_events() -> Vec<ChatEvent> {
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

fn participant() -> ActivityParticipant {
    ActivityParticipant {
        session_id: "s-2".to_owned(),
        user: user("bob"),
        state: state(),
    }
}

fn responses() -> Vec<Response> {
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

fn remote_references() -> Vec<RemoteReference> {
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

fn presence_events() -> Vec<PresenceEvent> {
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

fn activity_events() -> Vec<ActivityEvent> {
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

fn client_samples() -> Vec<ClientMessage> {
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
                seq: i as u64,
                context_version: 1000,
                op,
            }),
    );
    samples.push(ClientMessage::SubmitOps {
        model: 3,
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

fn relay_samples() -> Vec<RelayMessage> {
    let mut samples = vec![
        RelayMessage::Welcome(Welcome {
            session_id: "s-1".to_owned(),
            user: user("ann"),
            site: 12,
            reconnect_token: "rt".to_owned(),
            server_time_ms: 1_700_000_000_000,
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

/// Every client message variant, by a match without a wildcard: adding a variant breaks the
/// build here until it is listed (and the coverage test then demands a sample of it).
fn client_variant(message: &ClientMessage) -> &'static str {
    match message {
        ClientMessage::Hello(_) => "Hello",
        ClientMessage::Request { .. } => "Request",
        ClientMessage::SubmitOp { .. } => "SubmitOp",
        ClientMessage::ResyncRequest { .. } => "ResyncRequest",
        ClientMessage::ShareReference { .. } => "ShareReference",
        ClientMessage::SetReference { .. } => "SetReference",
        ClientMessage::ClearReference { .. } => "ClearReference",
        ClientMessage::UnshareReference { .. } => "UnshareReference",
        ClientMessage::Ping { .. } => "Ping",
        ClientMessage::Pong { .. } => "Pong",
        ClientMessage::SubmitOps { .. } => "SubmitOps",
    }
}

/// Every relay message variant, by a match without a wildcard (see [`client_variant`]).
fn relay_variant(message: &RelayMessage) -> &'static str {
    match message {
        RelayMessage::Welcome(_) => "Welcome",
        RelayMessage::Response { .. } => "Response",
        RelayMessage::Error { .. } => "Error",
        RelayMessage::OpAck { .. } => "OpAck",
        RelayMessage::OpRejected { .. } => "OpRejected",
        RelayMessage::RemoteOp { .. } => "RemoteOp",
        RelayMessage::ResyncOps { .. } => "ResyncOps",
        RelayMessage::ResyncComplete { .. } => "ResyncComplete",
        RelayMessage::ModelDeleted { .. } => "ModelDeleted",
        RelayMessage::ModelForceClosed { .. } => "ModelForceClosed",
        RelayMessage::CollaboratorOpened { .. } => "CollaboratorOpened",
        RelayMessage::CollaboratorClosed { .. } => "CollaboratorClosed",
        RelayMessage::RemoteReference(_) => "RemoteReference",
        RelayMessage::Presence(_) => "Presence",
        RelayMessage::Activity(_) => "Activity",
        RelayMessage::Chat(_) => "Chat",
        RelayMessage::Ping { .. } => "Ping",
        RelayMessage::Pong { .. } => "Pong",
        RelayMessage::OpsAcked { .. } => "OpsAcked",
        RelayMessage::RemoteOps { .. } => "RemoteOps",
    }
}

/// Asserts that `samples` hold every variant of `T` the codec knows.
fn assert_covers<T: WireEnum>(samples: &[T]) {
    let seen: BTreeSet<&str> = samples.iter().map(WireEnum::variant_name).collect();
    let all: BTreeSet<&str> = T::VARIANTS.iter().map(|(_, name)| *name).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "{} samples miss {missing:?}",
        T::TYPE_NAME
    );
    let tags: BTreeSet<u64> = T::VARIANTS.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(
        tags.len(),
        T::VARIANTS.len(),
        "{} has duplicate tags",
        T::TYPE_NAME
    );
}

fn all_frames() -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = client_samples().iter().map(encode_client).collect();
    frames.extend(relay_samples().iter().map(encode_relay));
    frames
}

/// Decodes `frame` both ways; whatever decodes must re-encode to exactly `frame`.
fn decode_both(
    frame: &[u8],
    limits: &Limits,
) -> (
    Result<ClientMessage, DecodeError>,
    Result<RelayMessage, DecodeError>,
) {
    let client = decode_client(frame, limits);
    if let Ok(message) = &client {
        assert_eq!(
            encode_client(message),
            frame,
            "client frame is not canonical"
        );
    }
    let relay = decode_relay(frame, limits);
    if let Ok(message) = &relay {
        assert_eq!(encode_relay(message), frame, "relay frame is not canonical");
    }
    (client, relay)
}

/// A tiny deterministic random generator, so the tests need no extra crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn every_client_message_round_trips() {
    let limits = Limits::default();
    let samples = client_samples();
    let seen: BTreeSet<&str> = samples.iter().map(client_variant).collect();
    assert_eq!(
        seen.len(),
        ClientMessage::VARIANTS.len(),
        "a client variant has no sample"
    );
    for message in &samples {
        assert_eq!(client_variant(message), message.variant_name());
        let frame = encode_client(message);
        assert_eq!(frame[0], FORMAT_VERSION);
        assert_eq!(&decode_client(&frame, &limits).unwrap(), message);
    }
}

#[test]
fn every_relay_message_round_trips() {
    let limits = Limits::default();
    let samples = relay_samples();
    let seen: BTreeSet<&str> = samples.iter().map(relay_variant).collect();
    assert_eq!(
        seen.len(),
        RelayMessage::VARIANTS.len(),
        "a relay variant has no sample"
    );
    for message in &samples {
        assert_eq!(relay_variant(message), message.variant_name());
        let frame = encode_relay(message);
        assert_eq!(&decode_relay(&frame, &limits).unwrap(), message);
    }
}

#[test]
fn samples_cover_every_variant_of_every_enum() {
    assert_covers(&client_samples());
    assert_covers(&relay_samples());
    assert_covers(&requests());
    assert_covers(&responses());
    assert_covers(&auths());
    assert_covers(&ops());
    assert_covers(&values());
    assert_covers(&node_values());
    assert_covers(&reference_values());
    assert_covers(&model_contents());
    assert_covers(&model_orders());
    assert_covers(&sort_directions());
    assert_covers(&remote_references());
    assert_covers(&presence_events());
    assert_covers(&activity_events());
    assert_covers(&chat_kinds());
    assert_covers(&chat_event_bodies());
    assert_covers(&chat_event_kinds());
    assert_covers(&permission_scopes());
    assert_covers(&permission_targets());
}

#[test]
fn every_error_code_round_trips() {
    let limits = Limits::default();
    for &code in ErrorCode::ALL {
        let message = RelayMessage::Error {
            request_id: Some(1),
            code,
            message: code.to_string(),
        };
        assert_eq!(
            decode_relay(&encode_relay(&message), &limits).unwrap(),
            message
        );
    }
}

#[test]
fn integer_extremes_round_trip() {
    let limits = Limits::default();
    for n in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::MAX / 2,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let message = ClientMessage::Ping { nonce: n };
        assert_eq!(
            decode_client(&encode_client(&message), &limits).unwrap(),
            message
        );
    }
    for t in [0, 1, -1, 63, -64, 64, -65, i64::MAX, i64::MIN, i64::MIN + 1] {
        let message = RelayMessage::OpAck {
            model: u32::MAX,
            seq: 0,
            version: 0,
            timestamp_ms: t,
        };
        assert_eq!(
            decode_relay(&encode_relay(&message), &limits).unwrap(),
            message
        );
    }
}

#[test]
fn error_codes_are_stable_and_unique() {
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let numbers: BTreeSet<u16> = ErrorCode::ALL.iter().map(|c| c.as_u16()).collect();
    assert_eq!(names.len(), ErrorCode::ALL.len());
    assert_eq!(numbers.len(), ErrorCode::ALL.len());
    for &code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_u16(code.as_u16()), Some(code));
        assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        assert!(code
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_'));
    }
    assert_eq!(ErrorCode::from_u16(0), None);
    // Pinned values: changing any of these breaks deployed clients.
    assert_eq!(ErrorCode::UnsupportedProtocolVersion.as_u16(), 1);
    assert_eq!(ErrorCode::InvalidOperation.as_str(), "invalid_operation");
    assert_eq!(ErrorCode::GoingAway.as_u16(), 29);
}

#[test]
fn model_errors_map_to_their_codes() {
    let id = ElementId::ROOT;
    let errors = [
        ModelError::WrongType {
            id,
            expected: ElementKind::String,
            actual: ElementKind::Null,
        },
        ModelError::IndexOutOfRange { index: 3, len: 2 },
        ModelError::SplitsSurrogatePair { index: 1 },
        ModelError::PropertyExists {
            key: "k".to_owned(),
        },
        ModelError::NoSuchProperty {
            key: "k".to_owned(),
        },
        ModelError::NonFiniteNumber,
        ModelError::DuplicateId(id),
        ModelError::NoSuchPath("x".to_owned()),
        ModelError::TooDeep(100),
    ];
    for err in &errors {
        assert_eq!(ErrorCode::from(err).as_str(), err.code());
    }
}

#[test]
fn decode_errors_map_to_relay_error_codes() {
    let limits = Limits {
        max_frame_bytes: 4,
        ..Limits::default()
    };
    let err = decode_client(&[FORMAT_VERSION, 8, 0, 0, 0], &limits).unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::FrameTooLarge);
    let err = decode_client(&[FORMAT_VERSION, 99], &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "unknown_tag");
    assert_eq!(ErrorCode::from(&err), ErrorCode::UnknownMessage);
    let err = decode_client(&[FORMAT_VERSION, 1, 0, 99], &Limits::default()).unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::UnknownMessage);
    let err = decode_client(&[2, 8, 0], &Limits::default()).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedFormat(2));
    assert_eq!(ErrorCode::from(&err), ErrorCode::UnsupportedProtocolVersion);
    let err = decode_client(&[FORMAT_VERSION, 8], &Limits::default()).unwrap_err();
    assert_eq!(ErrorCode::from(&err), ErrorCode::MalformedMessage);
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

#[test]
fn truncation_at_every_offset_is_an_error() {
    let limits = Limits::default();
    for frame in all_frames() {
        for len in 0..frame.len() {
            let (client, relay) = decode_both(&frame[..len], &limits);
            // A prefix of a frame can decode as a shorter message of the other direction, but
            // never as the whole message in its own direction.
            assert!(
                client.is_err() || relay.is_err(),
                "both directions decoded a truncated frame"
            );
        }
    }
    for message in client_samples() {
        let frame = encode_client(&message);
        for len in 0..frame.len() {
            assert!(decode_client(&frame[..len], &limits).is_err());
        }
    }
    for message in relay_samples() {
        let frame = encode_relay(&message);
        for len in 0..frame.len() {
            assert!(decode_relay(&frame[..len], &limits).is_err());
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let limits = Limits::default();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut buf = Vec::new();
    for i in 0..200_000 {
        buf.clear();
        let len = rng.below(if i % 10 == 0 { 512 } else { 48 });
        buf.extend((0..len).map(|_| rng.byte()));
        // Most inputs get a valid format byte, or nothing past byte 0 would be exercised.
        if i % 8 != 0 && !buf.is_empty() {
            buf[0] = FORMAT_VERSION;
        }
        // Small tags reach more variants.
        if i % 2 == 0 && buf.len() > 1 {
            buf[1] %= 20;
        }
        let _ = decode_both(&buf, &limits);
    }
}

#[test]
fn mutated_frames_never_panic() {
    let limits = Limits::default();
    let tight = Limits {
        max_depth: 3,
        max_items: 4,
        max_string_bytes: 8,
        ..Limits::default()
    };
    let frames = all_frames();
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let mut decoded = 0usize;
    for _ in 0..60_000 {
        let mut frame = frames[rng.below(frames.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(frame.len());
            match rng.below(6) {
                0 => frame[at] = rng.byte(),
                1 => frame[at] ^= 1 << rng.below(8),
                2 => frame.insert(at, rng.byte()),
                3 => {
                    frame.remove(at);
                    if frame.is_empty() {
                        frame.push(FORMAT_VERSION);
                    }
                }
                4 => frame[at] = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)],
                _ => {
                    let end = (at + 1 + rng.below(8)).min(frame.len());
                    let chunk = frame[at..end].to_vec();
                    frame.splice(at..at, chunk);
                }
            }
        }
        let (client, relay) = decode_both(&frame, &limits);
        decoded += usize::from(client.is_ok() || relay.is_ok());
        let _ = decode_both(&frame, &tight);
    }
    // Many mutations (a changed character, number or flag) still decode: the success path and
    // its canonical re-encoding are exercised too, not only the first error.
    assert!(decoded > 1_000, "only {decoded} mutated frames decoded");
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut frame = encode_client(&ClientMessage::Ping { nonce: 3 });
    frame.push(0);
    assert_eq!(
        decode_client(&frame, &Limits::default()),
        Err(DecodeError::TrailingBytes { count: 1 })
    );
}

#[test]
fn empty_and_foreign_frames_are_errors() {
    let limits = Limits::default();
    assert_eq!(
        decode_client(&[], &limits),
        Err(DecodeError::Truncated { at: 0 })
    );
    assert_eq!(
        decode_relay(&[0], &limits),
        Err(DecodeError::UnsupportedFormat(0))
    );
    assert_eq!(
        decode_relay(&[FORMAT_VERSION], &limits),
        Err(DecodeError::Truncated { at: 1 })
    );
}

#[test]
fn frame_larger_than_the_limit_is_refused() {
    let message = ClientMessage::Request {
        request_id: 1,
        request: Request::SendChatMessage {
            chat_id: "c".to_owned(),
            text: "x".repeat(100),
        },
    };
    let frame = encode_client(&message);
    let limits = Limits {
        max_frame_bytes: frame.len() - 1,
        ..Limits::default()
    };
    let err = decode_client(&frame, &limits).unwrap_err();
    assert_eq!(err.code(), "frame_too_large");
    let limits = Limits {
        max_frame_bytes: frame.len(),
        ..Limits::default()
    };
    assert_eq!(decode_client(&frame, &limits).unwrap(), message);
}

#[test]
fn bad_varints_are_errors() {
    let limits = Limits::default();
    // Overlong: 0x80 0x00 encodes zero in two bytes.
    assert_eq!(
        decode_client(&[FORMAT_VERSION, 8, 0x80, 0x00], &limits),
        Err(DecodeError::BadVarint { at: 2 })
    );
    // More than 64 bits.
    let mut frame = vec![FORMAT_VERSION, 8];
    frame.extend([0xff; 9]);
    frame.push(0x02);
    assert_eq!(
        decode_client(&frame, &limits),
        Err(DecodeError::BadVarint { at: 2 })
    );
    // Eleven bytes.
    let mut frame = vec![FORMAT_VERSION, 8];
    frame.extend([0xff; 10]);
    frame.push(0x00);
    assert_eq!(
        decode_client(&frame, &limits),
        Err(DecodeError::BadVarint { at: 2 })
    );
    // u64::MAX is fine as a u64, but not as a u32 handle.
    let mut frame = vec![FORMAT_VERSION, 3];
    frame.extend([0xff; 9]);
    frame.extend([0x01, 0x00]);
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "integer_out_of_range"
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    // Ping carries no string; use SendChatMessage { chat_id: "\xff", text: "" }.
    let frame = [FORMAT_VERSION, 1, 0, 26, 1, 0xff, 0];
    assert_eq!(
        decode_client(&frame, &Limits::default())
            .unwrap_err()
            .code(),
        "invalid_utf8"
    );
    let frame = [FORMAT_VERSION, 1, 0, 26, 1, b'c', 0];
    assert!(decode_client(&frame, &Limits::default()).is_ok());
}

#[test]
fn non_finite_numbers_are_errors() {
    let limits = Limits::default();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let op = Op::NumberSet {
            id: ElementId::ROOT,
            value: bad,
        };
        let frame = encode_client(&ClientMessage::SubmitOp {
            model: 0,
            seq: 0,
            context_version: 0,
            op,
        });
        assert_eq!(
            decode_client(&frame, &limits).unwrap_err().code(),
            "non_finite_number"
        );
    }
}

#[test]
fn invalid_bools_and_option_tags_are_errors() {
    let limits = Limits::default();
    let message = ClientMessage::Request {
        request_id: 0,
        request: Request::SetProfile {
            display_name: None,
            email: None,
            avatar_url: None,
        },
    };
    let mut frame = encode_client(&message);
    *frame.last_mut().unwrap() = 2;
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "unknown_tag"
    );
    let op = Op::BooleanSet {
        id: ElementId::ROOT,
        value: true,
    };
    let mut frame = encode_client(&ClientMessage::SubmitOp {
        model: 0,
        seq: 0,
        context_version: 0,
        op,
    });
    *frame.last_mut().unwrap() = 2;
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "invalid_bool"
    );
}

#[test]
fn oversized_lengths_are_refused_before_allocating() {
    let limits = Limits::default();
    // SendChatMessage whose chat id claims u64::MAX / 2 bytes, then 2^40 bytes, then just more
    // than is left: each is refused from the prefix alone.
    for claim in [u64::MAX / 2, 1 << 40, 3] {
        let mut frame = vec![FORMAT_VERSION, 1, 0, 26];
        write_varint(&mut frame, claim);
        frame.extend(b"ab");
        let err = decode_client(&frame, &limits).unwrap_err();
        assert!(
            matches!(err.code(), "too_long" | "length_exceeds_input"),
            "{err}"
        );
    }
    // A list (the users of GetPresence) claiming more items than the limit.
    let mut frame = vec![FORMAT_VERSION, 1, 0, 11];
    write_varint(&mut frame, (limits.max_items + 1) as u64);
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "too_long"
    );
    // A list claiming more items than bytes are left.
    let mut frame = vec![FORMAT_VERSION, 1, 0, 11];
    write_varint(&mut frame, 1000);
    frame.extend([0; 999]);
    assert_eq!(
        decode_client(&frame, &limits).unwrap_err().code(),
        "length_exceeds_input"
    );
    // Strings and lists at the configured limits and one past them.
    let tight = Limits {
        max_string_bytes: 4,
        max_items: 2,
        ..Limits::default()
    };
    let chat = |text: &str| ClientMessage::Request {
        request_id: 0,
        request: Request::SendChatMessage {
            chat_id: "c".to_owned(),
            text: text.to_owned(),
        },
    };
    assert!(decode_client(&encode_client(&chat("abcd")), &tight).is_ok());
    assert_eq!(
        decode_client(&encode_client(&chat("abcde")), &tight)
            .unwrap_err()
            .code(),
        "too_long"
    );
    let presence = |n: usize| ClientMessage::Request {
        request_id: 0,
        request: Request::GetPresence {
            user_ids: vec![String::new(); n],
        },
    };
    assert!(decode_client(&encode_client(&presence(2)), &tight).is_ok());
    assert_eq!(
        decode_client(&encode_client(&presence(3)), &tight)
            .unwrap_err()
            .code(),
        "too_long"
    );
}

// ---------------------------------------------------------------------------------------------
// Nesting
// ---------------------------------------------------------------------------------------------

/// `SetPresenceState { state: [("", v)] }` where `v` is `levels` nested one-item arrays.
fn nested_value_frame(levels: usize) -> Vec<u8> {
    let mut frame = vec![FORMAT_VERSION, 1, 0, 12, 1, 0];
    frame.reserve(levels * 2 + 1);
    for _ in 0..levels {
        frame.extend([5, 1]);
    }
    frame.push(0);
    frame
}

/// `SubmitOp` of `levels` nested one-item compounds around an empty compound.
fn nested_op_frame(levels: usize) -> Vec<u8> {
    let mut frame = vec![FORMAT_VERSION, 2, 0, 0, 0];
    frame.reserve(levels * 2 + 2);
    for _ in 0..levels {
        frame.extend([17, 1]);
    }
    frame.extend([17, 0]);
    frame
}

/// `CreateModel` whose data is `levels` nested one-item arrays of nodes.
fn nested_node_frame(levels: usize) -> Vec<u8> {
    let mut frame = vec![FORMAT_VERSION, 1, 0, 0, 0, 0];
    frame.reserve(levels * 4 + 3);
    for _ in 0..levels {
        frame.extend([0, 0, 5, 1]);
    }
    frame.extend([0, 0, 0]);
    frame
}

#[test]
fn nesting_bombs_are_too_deep() {
    let limits = Limits::default();
    for frame in [
        nested_value_frame(500),
        nested_op_frame(500),
        nested_node_frame(500),
    ] {
        let err = decode_client(&frame, &limits).unwrap_err();
        assert_eq!(err.code(), "too_deep", "{err}");
        assert_eq!(ErrorCode::from(&err), ErrorCode::TooDeep);
    }
}

#[test]
fn nesting_up_to_the_limit_decodes() {
    let limits = Limits::default();
    let depth = limits.max_depth;
    // A value of `depth` levels: the outermost array and `depth - 1` more, the last being null.
    assert!(decode_client(&nested_value_frame(depth - 1), &limits).is_ok());
    assert_eq!(
        decode_client(&nested_value_frame(depth), &limits)
            .unwrap_err()
            .code(),
        "too_deep"
    );
    assert!(decode_client(&nested_op_frame(depth - 1), &limits).is_ok());
    assert_eq!(
        decode_client(&nested_op_frame(depth), &limits)
            .unwrap_err()
            .code(),
        "too_deep"
    );
    assert!(decode_client(&nested_node_frame(depth - 1), &limits).is_ok());
    assert_eq!(
        decode_client(&nested_node_frame(depth), &limits)
            .unwrap_err()
            .code(),
        "too_deep"
    );
    // The deepest model the data model allows still fits in an operation by default.
    assert!(crate::model::MAX_DEPTH + 2 <= depth);
}

#[test]
fn a_million_levels_of_nesting_do_not_overflow_the_stack() {
    let limits = Limits::default();
    let unbounded = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    for frame in [
        nested_value_frame(1_000_000),
        nested_op_frame(1_000_000),
        nested_node_frame(1_000_000),
    ] {
        assert_eq!(
            decode_client(&frame, &limits).unwrap_err().code(),
            "too_deep"
        );
        let err = decode_client(&frame, &unbounded).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooDeep {
                at: err_at(&err),
                limit: MAX_DEPTH_CAP
            }
        );
    }
}

fn err_at(err: &DecodeError) -> usize {
    match err {
        DecodeError::TooDeep { at, .. } => *at,
        other => panic!("expected too_deep, got {other}"),
    }
}
