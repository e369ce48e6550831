//! The conformance suite every [`Store`] backend must pass.
//!
//! [`run_all`] exercises every method of the trait. Every id it creates carries a random
//! suffix, so the suite can run repeatedly, and concurrently, against one shared database (the
//! PostgreSQL backend's tests do exactly that). It panics with a descriptive message on the
//! first failed check.

use std::sync::Arc;

use tandem_core::{ElementId, Node, NodeValue, Op};

use tandem_core::protocol::{ChatEvent, ChatEventBody, ChatEventKind, ChatKind};

use super::{
    ChatRecord, GrantScope, Grantee, ModelMeta, ModelOrder, PermissionTarget, Permissions, Store,
    StoreError, StoredOp, User,
};

/// Runs every check against `store`; panics on the first failure.
pub async fn run_all(store: Arc<dyn Store>) {
    let run = Run::new();
    users(&*store, &run).await;
    groups(&*store, &run).await;
    collections(&*store, &run).await;
    permissions(&*store, &run).await;
    grants(&*store, &run).await;
    chats(&*store, &run).await;
    models(&*store, &run).await;
    list_models(&*store, &run).await;
    append_ops(&*store, &run).await;
    exclusive_appends(&*store, &run).await;
    delete_model(&*store, &run).await;
    ops_paging(&*store, &run).await;
    version_at_time(&*store, &run).await;
    last_seqs(&*store, &run).await;
    snapshots(&*store, &run).await;
    compaction(&*store, &run).await;
    reconnect_tokens(&*store, &run).await;
    racing_appends(&store, &run).await;
    failed_requests_do_not_fail_others(&store, &run).await;
    concurrent_appends(&store, &run).await;
}

/// The random suffix of this run's ids.
struct Run {
    suffix: String,
}

impl Run {
    fn new() -> Self {
        Run {
            suffix: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// A unique id for this run.
    fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.suffix)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn user(id: &str, username: &str, display_name: &str, email: Option<&str>) -> User {
    User {
        id: id.to_string(),
        username: username.to_string(),
        display_name: display_name.to_string(),
        email: email.map(str::to_string),
        avatar_url: None,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_string()),
    }
}

fn meta(id: &str, collection: &str, created_ms: i64) -> ModelMeta {
    ModelMeta {
        id: id.to_string(),
        name: id.to_string(),
        collection: collection.to_string(),
        version: 0,
        created_ms,
        modified_ms: created_ms,
    }
}

/// A small tree with every kind of element.
fn sample_node(tag: u64) -> Node {
    let id = |n: u64| ElementId::new(tag, n);
    Node::new(
        ElementId::ROOT,
        NodeValue::Object(vec![
            (
                "title".into(),
                Node::new(id(1), NodeValue::String(format!("doc {tag} ✓ 😀"))),
            ),
            (
                "count".into(),
                Node::new(id(2), NodeValue::Number(tag as f64 + 0.5)),
            ),
            (
                "done".into(),
                Node::new(id(3), NodeValue::Bool(tag.is_multiple_of(2))),
            ),
            (
                "when".into(),
                Node::new(id(4), NodeValue::Date(1_700_000_000_000)),
            ),
            ("none".into(), Node::new(id(5), NodeValue::Null)),
            (
                "items".into(),
                Node::new(
                    id(6),
                    NodeValue::Array(vec![
                        Node::new(id(7), NodeValue::String("a".into())),
                        Node::new(id(8), NodeValue::Array(Vec::new())),
                    ]),
                ),
            ),
        ]),
    )
}

/// An operation that differs with `n`, of several kinds.
fn sample_op(n: u64) -> Op {
    let id = ElementId::new(1, n % 7);
    match n % 5 {
        0 => Op::StringInsert {
            id,
            index: n as usize,
            text: format!("text {n} é"),
        },
        1 => Op::NumberAdd {
            id,
            delta: n as f64,
        },
        2 => Op::ArrayInsert {
            id,
            index: 0,
            value: Node::new(ElementId::new(2, n), NodeValue::String(format!("{n}"))),
        },
        3 => Op::Compound(vec![
            Op::StringRemove {
                id,
                index: 1,
                len: 2,
            },
            Op::BooleanSet { id, value: true },
        ]),
        _ => Op::ObjectAdd {
            id,
            key: format!("k{n}"),
            value: Node::new(ElementId::new(3, n), NodeValue::Null),
            before: vec!["z".into()],
        },
    }
}

/// The stored operation reaching `version`, with fields derived from it.
fn stored(version: u64, origin: u64, seq: u64, timestamp_ms: i64) -> StoredOp {
    StoredOp {
        version,
        origin,
        seq,
        user_id: format!("user-{origin}"),
        session_id: format!("session-{origin}"),
        timestamp_ms,
        op: sample_op(version),
    }
}

/// `count` consecutive operations starting at `first`, timestamps `base + version`.
fn batch(first: u64, count: u64, origin: u64, base_ms: i64) -> Vec<StoredOp> {
    (first..first + count)
        .map(|v| stored(v, origin, v, base_ms + v as i64))
        .collect()
}

const ALL: Permissions = Permissions {
    read: true,
    write: true,
    remove: true,
    manage: true,
};
const READ: Permissions = Permissions {
    read: true,
    write: false,
    remove: false,
    manage: false,
};
const READ_WRITE: Permissions = Permissions {
    read: true,
    write: true,
    remove: false,
    manage: false,
};

/// Creates a collection and a model in it, for checks that need one.
async fn fresh_model(store: &dyn Store, run: &Run, name: &str) -> String {
    let collection = run.id(&format!("{name}-coll"));
    let model = run.id(name);
    store
        .create_collection(&collection)
        .await
        .unwrap_or_else(|e| panic!("create_collection({collection}) failed: {e}"));
    store
        .create_model(&meta(&model, &collection, 1_000), &sample_node(0))
        .await
        .unwrap_or_else(|e| panic!("create_model({model}) failed: {e}"));
    model
}

/// All operations of a model.
async fn all_ops(store: &dyn Store, model: &str) -> Vec<StoredOp> {
    store
        .ops(model, 0, u64::MAX, u64::MAX)
        .await
        .unwrap_or_else(|e| panic!("ops({model}) failed: {e}"))
}

async fn version_of(store: &dyn Store, model: &str) -> u64 {
    store
        .model(model)
        .await
        .unwrap_or_else(|e| panic!("model({model}) failed: {e}"))
        .unwrap_or_else(|| panic!("model({model}) is missing"))
        .version
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

async fn users(store: &dyn Store, run: &Run) {
    let tag = run.id("zq");
    let alice = user(
        &run.id("u-alice"),
        &format!("alice-{tag}"),
        &format!("Alice Ünïcode {tag}"),
        Some("alice@example.com"),
    );
    let bob = user(&run.id("u-bob"), &format!("bob-{tag}"), "Bob", None);
    let carol = user(
        &run.id("u-carol"),
        &format!("carol-{tag}"),
        "Carol",
        Some("c@x.org"),
    );
    for u in [&alice, &bob, &carol] {
        store
            .create_user(u)
            .await
            .unwrap_or_else(|e| panic!("create_user({}) failed: {e}", u.id));
    }

    let mut same_id = bob.clone();
    same_id.username = format!("other-{tag}");
    let r = store.create_user(&same_id).await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "create_user with a taken id must be Exists, got {r:?}"
    );
    let mut same_name = bob.clone();
    same_name.id = run.id("u-bob2");
    let r = store.create_user(&same_name).await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "create_user with a taken username must be Exists, got {r:?}"
    );
    assert_eq!(
        store.user_by_id(&same_name.id).await.unwrap(),
        None,
        "a refused create_user must store nothing"
    );

    assert_eq!(
        store.user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone()),
        "user_by_id must return the user as created"
    );
    assert_eq!(
        store.user_by_username(&bob.username).await.unwrap(),
        Some(bob.clone()),
        "user_by_username must find the user"
    );
    assert_eq!(
        store.user_by_id(&run.id("nobody")).await.unwrap(),
        None,
        "user_by_id of a missing user must be None"
    );
    assert_eq!(
        store.user_by_username(&run.id("nobody")).await.unwrap(),
        None,
        "user_by_username of a missing user must be None"
    );

    // update
    let mut bob2 = bob.clone();
    bob2.display_name = "Robert".into();
    bob2.email = Some("rob@example.com".into());
    bob2.avatar_url = Some("https://example.com/rob.png".into());
    bob2.password_hash = None;
    bob2.username = format!("robert-{tag}");
    store
        .update_user(&bob2)
        .await
        .unwrap_or_else(|e| panic!("update_user failed: {e}"));
    assert_eq!(
        store.user_by_id(&bob.id).await.unwrap(),
        Some(bob2.clone()),
        "update_user must replace every field"
    );
    assert_eq!(
        store.user_by_username(&bob.username).await.unwrap(),
        None,
        "the old username must be free after a rename"
    );
    assert_eq!(
        store.user_by_username(&bob2.username).await.unwrap(),
        Some(bob2.clone()),
        "the new username must find the user"
    );
    let r = store
        .update_user(&user(&run.id("ghost"), &run.id("ghost"), "G", None))
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "update_user of a missing user must be NotFound, got {r:?}"
    );
    let mut clash = carol.clone();
    clash.username = alice.username.clone();
    let r = store.update_user(&clash).await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "update_user to a taken username must be Exists, got {r:?}"
    );
    assert_eq!(
        store.user_by_id(&carol.id).await.unwrap(),
        Some(carol.clone()),
        "a refused update_user must change nothing"
    );

    // search: by display name, username, email; case-insensitive; ordered by username; paged
    let found = store
        .search_users(&tag.to_uppercase(), 0, 100)
        .await
        .unwrap();
    let names: Vec<&str> = found.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(
        names,
        vec![
            alice.username.as_str(),
            carol.username.as_str(),
            bob2.username.as_str()
        ],
        "search_users must match usernames case-insensitively, ordered by username"
    );
    assert_eq!(
        store
            .count_users_matching(&tag.to_uppercase())
            .await
            .unwrap(),
        3,
        "count_users_matching counts what search_users finds"
    );
    assert_eq!(store.count_users_matching("\0").await.unwrap(), 0);
    let page: Vec<String> = store
        .search_users(&tag, 1, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(
        page,
        vec![carol.username.clone()],
        "search_users must page with offset and limit"
    );
    assert!(
        store.search_users(&tag, 3, 10).await.unwrap().is_empty(),
        "search_users past the end must be empty"
    );
    let by_display = store
        .search_users(&format!("ALICE üNÏCODE {}", tag.to_uppercase()), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        by_display,
        vec![alice.clone()],
        "search_users must match display names case-insensitively (Unicode)"
    );
    let by_email = store.search_users("ROB@EXAMPLE.COM", 0, 100).await.unwrap();
    assert!(
        by_email.iter().any(|u| u.id == bob2.id),
        "search_users must match emails case-insensitively, got {by_email:?}"
    );
    assert!(
        store
            .search_users(&run.id("no-such-user"), 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "search_users without a match must be empty"
    );
}

async fn groups(store: &dyn Store, run: &Run) {
    let editors = run.id("g-editors");
    let admins = run.id("g-admins");
    store
        .create_group(&editors, "People who edit")
        .await
        .unwrap_or_else(|e| panic!("create_group failed: {e}"));
    store
        .create_group(&admins, "")
        .await
        .unwrap_or_else(|e| panic!("create_group failed: {e}"));
    let r = store.create_group(&editors, "again").await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "create_group with a taken id must be Exists, got {r:?}"
    );

    let all = store.groups().await.unwrap();
    let ours: Vec<(String, String)> = all
        .iter()
        .filter(|(id, _)| id.ends_with(&run.suffix))
        .cloned()
        .collect();
    assert_eq!(
        ours,
        vec![
            (admins.clone(), String::new()),
            (editors.clone(), "People who edit".to_string())
        ],
        "groups must list every group with its description, ordered by id"
    );

    let dana = user(&run.id("u-dana"), &run.id("dana"), "Dana", None);
    store.create_user(&dana).await.unwrap();
    assert!(
        store.groups_of_user(&dana.id).await.unwrap().is_empty(),
        "a new user belongs to no group"
    );
    assert!(store.group_members(&editors).await.unwrap().is_empty());
    store
        .add_group_member(&editors, &dana.id)
        .await
        .unwrap_or_else(|e| panic!("add_group_member failed: {e}"));
    store
        .add_group_member(&editors, &dana.id)
        .await
        .unwrap_or_else(|e| panic!("add_group_member must be idempotent: {e}"));
    assert_eq!(
        store.group_members(&editors).await.unwrap(),
        vec![dana.id.clone()],
        "group_members lists a member once, however often added"
    );
    store.add_group_member(&admins, &dana.id).await.unwrap();
    assert_eq!(
        store.groups_of_user(&dana.id).await.unwrap(),
        vec![admins.clone(), editors.clone()],
        "groups_of_user must list the groups, ordered"
    );
    let r = store.add_group_member(&run.id("g-none"), &dana.id).await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "add_group_member to a missing group must be NotFound, got {r:?}"
    );
    let r = store.add_group_member(&editors, &run.id("u-none")).await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "add_group_member of a missing user must be NotFound, got {r:?}"
    );

    store
        .remove_group_member(&admins, &dana.id)
        .await
        .unwrap_or_else(|e| panic!("remove_group_member failed: {e}"));
    store
        .remove_group_member(&admins, &dana.id)
        .await
        .unwrap_or_else(|e| panic!("remove_group_member must be idempotent: {e}"));
    assert_eq!(
        store.groups_of_user(&dana.id).await.unwrap(),
        vec![editors.clone()],
        "remove_group_member must remove only that membership"
    );
    assert!(
        store
            .groups_of_user(&run.id("u-none"))
            .await
            .unwrap()
            .is_empty(),
        "groups_of_user of an unknown user is empty"
    );
}

async fn collections(store: &dyn Store, run: &Run) {
    let c = run.id("c-notes");
    assert!(
        !store.collection_exists(&c).await.unwrap(),
        "collection_exists must be false before creation"
    );
    store
        .create_collection(&c)
        .await
        .unwrap_or_else(|e| panic!("create_collection failed: {e}"));
    assert!(
        store.collection_exists(&c).await.unwrap(),
        "collection_exists must be true after creation"
    );
    let r = store.create_collection(&c).await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "create_collection twice must be Exists, got {r:?}"
    );
}

async fn chats(store: &dyn Store, run: &Run) {
    let record = |id: &str, kind: ChatKind| ChatRecord {
        id: run.id(id),
        kind,
        name: "Name".into(),
        topic: "Topic".into(),
        creator: "u-ann".into(),
        created_ms: 1_000,
        last_event: 1,
        last_event_ms: 1_000,
    };
    let members = vec!["u-ann".to_owned(), "u-bob".to_owned()];
    let channel = record("ch", ChatKind::Channel);
    store.create_chat(&channel, None, &members).await.unwrap();
    assert_eq!(
        store.chat(&channel.id).await.unwrap(),
        Some(channel.clone())
    );
    assert!(matches!(
        store.create_chat(&channel, None, &[]).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(store.chat_members(&channel.id).await.unwrap(), members);
    let direct = record("dm", ChatKind::Direct);
    let key = run.id("u-ann,u-bob");
    store
        .create_chat(&direct, Some(&key), &members)
        .await
        .unwrap();
    assert_eq!(store.direct_chat(&key).await.unwrap(), Some(direct.clone()));
    assert!(
        matches!(
            store
                .create_chat(&record("dm2", ChatKind::Direct), Some(&key), &members)
                .await,
            Err(StoreError::Exists(_))
        ),
        "one direct chat per set of users"
    );
    let room = record("room", ChatKind::Room);
    store.create_chat(&room, None, &members).await.unwrap();
    assert!(
        store.chat_members(&room.id).await.unwrap().is_empty(),
        "rooms store no members"
    );

    // Events get the next numbers, with their effects.
    let add = |user: &str| ChatEventBody::UserJoined {
        user_id: user.into(),
    };
    let msg = |text: &str| ChatEventBody::Message { text: text.into() };
    assert_eq!(
        store
            .append_chat_event(&channel.id, "u-cat", 2_000, &add("u-cat"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .append_chat_event(&channel.id, "u-bob", 3_000, &msg("hi"))
            .await
            .unwrap(),
        3
    );
    store
        .append_chat_event(
            &channel.id,
            "u-ann",
            4_000,
            &ChatEventBody::NameChanged { name: "New".into() },
        )
        .await
        .unwrap();
    store
        .append_chat_event(
            &channel.id,
            "u-ann",
            5_000,
            &ChatEventBody::TopicChanged { topic: "T2".into() },
        )
        .await
        .unwrap();
    store
        .append_chat_event(
            &channel.id,
            "u-bob",
            6_000,
            &ChatEventBody::UserLeft {
                user_id: "u-bob".into(),
            },
        )
        .await
        .unwrap();
    for i in 0..5 {
        store
            .append_chat_event(&channel.id, "u-cat", 7_000 + i, &msg(&format!("m{i}")))
            .await
            .unwrap();
    }
    store
        .append_chat_event(&room.id, "u-cat", 2_000, &add("u-cat"))
        .await
        .unwrap();
    assert!(store.chat_members(&room.id).await.unwrap().is_empty());
    let now = store.chat(&channel.id).await.unwrap().unwrap();
    assert_eq!(
        (
            now.name.as_str(),
            now.topic.as_str(),
            now.last_event,
            now.last_event_ms
        ),
        ("New", "T2", 11, 7_004)
    );
    assert_eq!(
        store.chat_members(&channel.id).await.unwrap(),
        vec!["u-ann".to_owned(), "u-cat".to_owned()]
    );
    assert!(store
        .chats_of_member("u-cat")
        .await
        .unwrap()
        .contains(&channel.id));
    assert!(matches!(
        store
            .append_chat_event(&run.id("nope"), "u", 1, &msg("x"))
            .await,
        Err(StoreError::NotFound(_))
    ));

    // History pages both ways from any event, filtered by kind.
    let numbers =
        |events: Vec<ChatEvent>| events.iter().map(|e| e.event_number).collect::<Vec<_>>();
    assert_eq!(
        numbers(
            store
                .chat_events(&channel.id, None, true, 3, &[])
                .await
                .unwrap()
        ),
        vec![11, 10, 9]
    );
    assert_eq!(
        numbers(
            store
                .chat_events(&channel.id, Some(8), true, 3, &[])
                .await
                .unwrap()
        ),
        vec![8, 7, 6]
    );
    assert_eq!(
        numbers(
            store
                .chat_events(&channel.id, None, false, 2, &[])
                .await
                .unwrap()
        ),
        vec![1, 2]
    );
    assert_eq!(
        numbers(
            store
                .chat_events(&channel.id, Some(5), false, 100, &[ChatEventKind::Message])
                .await
                .unwrap()
        ),
        vec![7, 8, 9, 10, 11]
    );
    let first = &store
        .chat_events(&channel.id, Some(1), false, 1, &[])
        .await
        .unwrap()[0];
    assert_eq!(
        first.body,
        ChatEventBody::Created {
            kind: ChatKind::Channel,
            name: "Name".into(),
            topic: "Topic".into(),
            members: members.clone()
        }
    );
    assert_eq!(first.user_id, "u-ann");

    // Seen marks only move forward; unread counts are others' messages after the mark.
    assert_eq!(store.chat_seen(&channel.id, "u-ann").await.unwrap(), 0);
    store.mark_chat_seen(&channel.id, "u-ann", 8).await.unwrap();
    store.mark_chat_seen(&channel.id, "u-ann", 5).await.unwrap();
    assert_eq!(store.chat_seen(&channel.id, "u-ann").await.unwrap(), 8);
    let counts = store
        .unread_counts("u-ann", &[channel.id.clone(), room.id.clone()])
        .await
        .unwrap();
    assert_eq!(counts, vec![(channel.id.clone(), 3), (room.id.clone(), 0)]);
    let counts = store
        .unread_counts("u-cat", std::slice::from_ref(&channel.id))
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![(channel.id.clone(), 1)],
        "own messages are not unread"
    );

    assert!(store.delete_chat(&channel.id).await.unwrap());
    assert!(!store.delete_chat(&channel.id).await.unwrap());
    assert_eq!(store.chat(&channel.id).await.unwrap(), None);
    assert!(store
        .chat_events(&channel.id, None, true, 10, &[])
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .chats_of_member("u-cat")
        .await
        .unwrap()
        .contains(&channel.id));
}

async fn grants(store: &dyn Store, run: &Run) {
    let kind = GrantScope::ActivityType(run.id("g-type"));
    let one = GrantScope::Activity {
        activity_type: run.id("g-type"),
        activity_id: "1".to_owned(),
    };
    // Names that would collide if an activity's type and id were simply joined.
    let split_a = GrantScope::Activity {
        activity_type: run.id("ab"),
        activity_id: "c".to_owned(),
    };
    let split_b = GrantScope::Activity {
        activity_type: run.id("a"),
        activity_id: "bc".to_owned(),
    };
    let chat = GrantScope::Chat(run.id("g-type"));
    let u = Grantee::User(run.id("g-user"));

    assert!(
        store.grants(&kind).await.unwrap().is_empty(),
        "a new scope has no grants"
    );
    store
        .set_grant(&kind, &Grantee::World, Some(0b101))
        .await
        .unwrap();
    store.set_grant(&kind, &u, Some(0b11111)).await.unwrap();
    store.set_grant(&one, &u, Some(0)).await.unwrap();
    store.set_grant(&split_a, &u, Some(1)).await.unwrap();
    store.set_grant(&chat, &u, Some(7)).await.unwrap();
    let mut entries = store.grants(&kind).await.unwrap();
    entries.sort_by_key(|(g, _)| format!("{g:?}"));
    let mut expected = vec![(Grantee::World, 0b101), (u.clone(), 0b11111)];
    expected.sort_by_key(|(g, _)| format!("{g:?}"));
    assert_eq!(entries, expected, "grants returns every entry of its scope");
    assert_eq!(
        store.grants(&one).await.unwrap(),
        vec![(u.clone(), 0)],
        "an entry granting nothing is kept (it still counts as an entry)"
    );
    assert!(
        store.grants(&split_b).await.unwrap().is_empty(),
        "activities are told apart by type and id, not by their concatenation"
    );
    assert_eq!(store.grants(&chat).await.unwrap(), vec![(u.clone(), 7)]);

    store.set_grant(&kind, &u, Some(1)).await.unwrap();
    assert!(
        store.grants(&kind).await.unwrap().contains(&(u.clone(), 1)),
        "set_grant replaces"
    );
    store.set_grant(&kind, &u, None).await.unwrap();
    assert_eq!(
        store.grants(&kind).await.unwrap(),
        vec![(Grantee::World, 0b101)],
        "None removes the entry"
    );
    store.set_grant(&one, &u, None).await.unwrap();
    store.set_grant(&one, &u, None).await.unwrap();
    assert!(
        store.grants(&one).await.unwrap().is_empty(),
        "removing twice is fine"
    );
}

async fn permissions(store: &dyn Store, run: &Run) {
    let coll = PermissionTarget::Collection(run.id("p-coll"));
    let model = PermissionTarget::Model(run.id("p-model"));
    // Same id string as the collection, but a model: must not see the collection's entries.
    let model_same_id = PermissionTarget::Model(run.id("p-coll"));
    let u = Grantee::User(run.id("p-user"));
    let g = Grantee::Group(run.id("p-group"));
    // A group and a user with the same id are different grantees.
    let g_same_id = Grantee::Group(run.id("p-user"));

    assert!(
        store.permissions(&coll).await.unwrap().is_empty(),
        "a new target has no permissions"
    );
    store
        .set_permissions(&coll, &Grantee::World, READ)
        .await
        .unwrap_or_else(|e| panic!("set_permissions failed: {e}"));
    store.set_permissions(&coll, &u, ALL).await.unwrap();
    store.set_permissions(&coll, &g, READ_WRITE).await.unwrap();
    store
        .set_permissions(&coll, &g_same_id, READ)
        .await
        .unwrap();
    store.set_permissions(&model, &u, READ).await.unwrap();

    let sorted = |mut v: Vec<(Grantee, Permissions)>| {
        v.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        v
    };
    assert_eq!(
        sorted(store.permissions(&coll).await.unwrap()),
        sorted(vec![
            (Grantee::World, READ),
            (u.clone(), ALL),
            (g.clone(), READ_WRITE),
            (g_same_id.clone(), READ)
        ]),
        "permissions must return every entry of the collection, grantee kinds kept apart"
    );
    assert_eq!(
        store.permissions(&model).await.unwrap(),
        vec![(u.clone(), READ)],
        "entries on one target must not leak to another"
    );
    assert!(
        store.permissions(&model_same_id).await.unwrap().is_empty(),
        "a model and a collection with the same id are different targets"
    );

    // replace
    store.set_permissions(&coll, &u, READ).await.unwrap();
    let entries = store.permissions(&coll).await.unwrap();
    assert!(
        entries.contains(&(u.clone(), READ)),
        "set_permissions must replace an entry, got {entries:?}"
    );
    assert_eq!(
        entries.len(),
        4,
        "replacing an entry must not add one, got {entries:?}"
    );
    // remove with all-false
    store
        .set_permissions(&coll, &g, Permissions::default())
        .await
        .unwrap();
    let entries = store.permissions(&coll).await.unwrap();
    assert!(
        !entries.iter().any(|(grantee, _)| grantee == &g),
        "all-false must remove the entry, got {entries:?}"
    );
    assert_eq!(
        entries.len(),
        3,
        "removing one entry must leave the others, got {entries:?}"
    );
    store
        .set_permissions(&coll, &g, Permissions::default())
        .await
        .unwrap_or_else(|e| panic!("removing a missing entry must succeed: {e}"));
    assert_eq!(
        store.permissions(&model).await.unwrap(),
        vec![(u.clone(), READ)],
        "changes on the collection must not touch the model"
    );
}

async fn models(store: &dyn Store, run: &Run) {
    let coll = run.id("m-coll");
    let id = run.id("m-model");
    let data = sample_node(42);
    let r = store.create_model(&meta(&id, &coll, 5), &data).await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "create_model in a missing collection must be NotFound, got {r:?}"
    );
    assert_eq!(
        store.model(&id).await.unwrap(),
        None,
        "a refused create_model must store nothing"
    );

    store.create_collection(&coll).await.unwrap();
    store
        .create_model(&meta(&id, &coll, 5), &data)
        .await
        .unwrap_or_else(|e| panic!("create_model failed: {e}"));
    assert_eq!(
        store.model(&id).await.unwrap(),
        Some(meta(&id, &coll, 5)),
        "model must return the metadata, at version 0"
    );
    assert_eq!(
        store.snapshot_at_or_before(&id, 0).await.unwrap(),
        Some((0, data.clone())),
        "create_model must store the initial data as the version-0 snapshot"
    );
    let r = store
        .create_model(&meta(&id, &coll, 6), &sample_node(1))
        .await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "create_model with a taken id must be Exists, got {r:?}"
    );
    let other = run.id("m-coll2");
    store.create_collection(&other).await.unwrap();
    let r = store
        .create_model(&meta(&id, &other, 6), &sample_node(1))
        .await;
    assert!(
        matches!(r, Err(StoreError::Exists(_))),
        "a store key is taken whatever the collection, got {r:?}"
    );
    // One name in two collections is two models: their keys differ (`model_key`).
    let name = run.id("m-shared-name");
    let in_coll = ModelMeta::new(&coll, &name, 7);
    let in_other = ModelMeta::new(&other, &name, 8);
    store.create_model(&in_coll, &sample_node(3)).await.unwrap();
    store
        .create_model(&in_other, &sample_node(4))
        .await
        .unwrap_or_else(|e| panic!("the same name in another collection is another model: {e}"));
    assert_eq!(
        store.model(&in_coll.id).await.unwrap(),
        Some(in_coll.clone())
    );
    assert_eq!(
        store.model(&in_other.id).await.unwrap(),
        Some(in_other.clone())
    );
    assert_eq!(
        store.snapshot_at_or_before(&in_other.id, 0).await.unwrap(),
        Some((0, sample_node(4)))
    );
    assert!(store.delete_model(&in_coll.id).await.unwrap());
    assert_eq!(
        store.model(&in_other.id).await.unwrap(),
        Some(in_other),
        "deleting one leaves the other"
    );
    assert_eq!(
        store.snapshot_at_or_before(&id, 0).await.unwrap(),
        Some((0, data)),
        "a refused create_model must not replace the snapshot"
    );
    assert_eq!(
        store.model(&run.id("m-none")).await.unwrap(),
        None,
        "model of a missing id must be None"
    );
}

async fn list_models(store: &dyn Store, run: &Run) {
    let coll = run.id("l-coll");
    let other = run.id("l-other");
    store.create_collection(&coll).await.unwrap();
    store.create_collection(&other).await.unwrap();
    // created: m0 < m1 < m2 < m3 < m4; modified (after appends) in reverse-ish order.
    let ids: Vec<String> = (0..5).map(|i| run.id(&format!("l-m{i}"))).collect();
    for (i, id) in ids.iter().enumerate() {
        store
            .create_model(&meta(id, &coll, 100 + i as i64), &sample_node(i as u64))
            .await
            .unwrap();
    }
    store
        .create_model(&meta(&run.id("l-elsewhere"), &other, 50), &sample_node(9))
        .await
        .unwrap();
    // modified times: m0 -> 900, m1 -> 800, m2 -> 1000, m3 -> 700, m4 unchanged (104)
    for (i, t) in [(0usize, 900i64), (1, 800), (2, 1000), (3, 700)] {
        store
            .append_ops(&ids[i], &[stored(1, 1, 1, t - 1), stored(2, 1, 2, t)])
            .await
            .unwrap();
    }
    let meta_of = store.model(&ids[2]).await.unwrap().unwrap();
    assert_eq!(
        (meta_of.version, meta_of.modified_ms, meta_of.created_ms),
        (2, 1000, 102),
        "append_ops must set the version and modified time to the last op's"
    );

    let coll_ref = &coll;
    let list = |order, desc, offset, limit| async move {
        store
            .list_models(coll_ref, order, desc, offset, limit)
            .await
            .unwrap_or_else(|e| panic!("list_models failed: {e}"))
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    let pick = |idx: &[usize]| idx.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();
    assert_eq!(
        list(ModelOrder::Created, false, 0, 100).await,
        pick(&[0, 1, 2, 3, 4]),
        "list_models by creation, ascending, only this collection"
    );
    assert_eq!(
        list(ModelOrder::Created, true, 0, 100).await,
        pick(&[4, 3, 2, 1, 0]),
        "list_models by creation, descending"
    );
    assert_eq!(
        list(ModelOrder::Modified, false, 0, 100).await,
        pick(&[4, 3, 1, 0, 2]),
        "list_models by modification, ascending"
    );
    assert_eq!(
        list(ModelOrder::Modified, true, 0, 100).await,
        pick(&[2, 0, 1, 3, 4]),
        "list_models by modification, descending"
    );
    assert_eq!(
        list(ModelOrder::Created, false, 1, 2).await,
        pick(&[1, 2]),
        "list_models pages with offset and limit"
    );
    assert_eq!(
        list(ModelOrder::Modified, true, 3, 10).await,
        pick(&[3, 4]),
        "list_models pages the last page"
    );
    assert!(
        list(ModelOrder::Created, false, 5, 10).await.is_empty(),
        "list_models past the end is empty"
    );
    assert_eq!(
        store.count_models(&coll).await.unwrap(),
        5,
        "count_models counts this collection only"
    );
    assert_eq!(
        store.count_models(&other).await.unwrap(),
        1,
        "count_models of another collection"
    );
    assert_eq!(
        store.count_models(&run.id("l-none")).await.unwrap(),
        0,
        "count_models of an unknown collection"
    );
    assert!(
        store
            .list_models(&run.id("l-none"), ModelOrder::Created, false, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "list_models of an unknown collection is empty"
    );
    let full = store
        .list_models(&coll, ModelOrder::Created, false, 0, 1)
        .await
        .unwrap();
    assert_eq!(
        full,
        vec![meta(&ids[0], &coll, 100)]
            .into_iter()
            .map(|mut m| {
                m.version = 2;
                m.modified_ms = 900;
                m
            })
            .collect::<Vec<_>>(),
        "list_models returns full metadata"
    );
}

async fn append_ops(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "a-model").await;
    store
        .append_ops(&model, &[])
        .await
        .unwrap_or_else(|e| panic!("append_ops of nothing must succeed: {e}"));
    assert_eq!(
        version_of(store, &model).await,
        0,
        "an empty append changes nothing"
    );

    let first = batch(1, 3, 7, 10_000);
    store
        .append_ops(&model, &first)
        .await
        .unwrap_or_else(|e| panic!("append_ops 1..=3 failed: {e}"));
    store
        .append_ops(&model, &[stored(4, 8, 1, 10_004)])
        .await
        .unwrap_or_else(|e| panic!("append_ops 4 failed: {e}"));
    assert_eq!(
        version_of(store, &model).await,
        4,
        "the model's version must follow appends"
    );

    let expect_conflict = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::VersionConflict { current, .. }) => assert_eq!(
            current, 4,
            "{what}: the conflict must report the stored version"
        ),
        other => panic!("{what}: expected VersionConflict, got {other:?}"),
    };
    expect_conflict(
        store.append_ops(&model, &[stored(6, 7, 9, 10_006)]).await,
        "a gap after the stored version",
    );
    expect_conflict(
        store.append_ops(&model, &[stored(4, 7, 9, 10_006)]).await,
        "re-appending the stored version",
    );
    expect_conflict(
        store.append_ops(&model, &[stored(1, 7, 9, 10_006)]).await,
        "appending an old version",
    );
    expect_conflict(
        store
            .append_ops(&model, &[stored(5, 7, 9, 10_005), stored(7, 7, 10, 10_007)])
            .await,
        "a gap inside the batch",
    );
    expect_conflict(
        store
            .append_ops(&model, &[stored(5, 7, 9, 10_005), stored(5, 7, 10, 10_007)])
            .await,
        "a repeated version inside the batch",
    );
    assert_eq!(
        version_of(store, &model).await,
        4,
        "a refused append must not change the version"
    );
    let mut expected = first.clone();
    expected.push(stored(4, 8, 1, 10_004));
    assert_eq!(
        all_ops(store, &model).await,
        expected,
        "a refused append must store nothing; stored ops come back intact"
    );

    let r = store
        .append_ops(&run.id("a-missing"), &[stored(1, 1, 1, 1)])
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "append_ops to a missing model must be NotFound, got {r:?}"
    );
}

async fn exclusive_appends(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "x-model").await;
    store.append_ops(&model, &batch(1, 3, 7, 0)).await.unwrap();
    // A writer that knows version 1 is handed 2 and 3, and appends after them.
    let mut handed = Vec::new();
    store
        .append_ops_exclusive(&model, 1, &mut |missed| {
            handed = missed.iter().map(|op| op.version).collect();
            vec![stored(4, 8, 1, 4), stored(5, 8, 2, 5)]
        })
        .await
        .unwrap_or_else(|e| panic!("append_ops_exclusive failed: {e}"));
    assert_eq!(
        handed,
        vec![2, 3],
        "the operations after the known version are handed over"
    );
    assert_eq!(version_of(store, &model).await, 5, "the batch follows them");
    assert_eq!(all_ops(store, &model).await.len(), 5);
    // Up to date, it is handed nothing; appending nothing changes nothing.
    store
        .append_ops_exclusive(&model, 5, &mut |missed| {
            assert!(missed.is_empty(), "nothing was missed: {missed:?}");
            Vec::new()
        })
        .await
        .unwrap_or_else(|e| panic!("an empty exclusive append failed: {e}"));
    assert_eq!(version_of(store, &model).await, 5);
    let r = store
        .append_ops_exclusive(&run.id("x-missing"), 0, &mut |_| Vec::new())
        .await;
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "an exclusive append to a missing model must be NotFound, got {r:?}"
    );
}

async fn delete_model(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "d-model").await;
    let keep = fresh_model(store, run, "d-keep").await;
    store.append_ops(&model, &batch(1, 5, 3, 0)).await.unwrap();
    store.append_ops(&keep, &batch(1, 2, 3, 0)).await.unwrap();
    store
        .put_snapshot(&model, 5, &sample_node(5))
        .await
        .unwrap();
    let target = PermissionTarget::Model(model.clone());
    store
        .set_permissions(&target, &Grantee::World, READ)
        .await
        .unwrap();
    store
        .set_permissions(
            &PermissionTarget::Model(keep.clone()),
            &Grantee::World,
            READ,
        )
        .await
        .unwrap();

    assert!(
        store.delete_model(&model).await.unwrap(),
        "delete_model of an existing model must return true"
    );
    assert_eq!(
        store.model(&model).await.unwrap(),
        None,
        "a deleted model must be gone"
    );
    assert!(
        all_ops(store, &model).await.is_empty(),
        "delete_model must remove the log"
    );
    assert_eq!(
        store.snapshot_at_or_before(&model, u64::MAX).await.unwrap(),
        None,
        "delete_model must remove the snapshots"
    );
    assert!(
        store.permissions(&target).await.unwrap().is_empty(),
        "delete_model must remove the model's permissions"
    );
    assert!(
        store.last_seqs(&model).await.unwrap().is_empty(),
        "delete_model must forget sequence numbers"
    );
    assert_eq!(
        store.version_at_time(&model, i64::MAX).await.unwrap(),
        0,
        "a deleted model has no history"
    );
    assert!(
        !store.delete_model(&model).await.unwrap(),
        "delete_model of a missing model must return false"
    );

    assert_eq!(
        all_ops(store, &keep).await.len(),
        2,
        "delete_model must not touch other models' logs"
    );
    assert_eq!(
        store
            .permissions(&PermissionTarget::Model(keep.clone()))
            .await
            .unwrap()
            .len(),
        1,
        "delete_model must not touch other models' permissions"
    );

    // The id can be used again, from scratch.
    let coll = store.model(&keep).await.unwrap().unwrap().collection;
    store
        .create_model(&meta(&model, &coll, 2_000), &sample_node(6))
        .await
        .unwrap_or_else(|e| panic!("re-creating a deleted model failed: {e}"));
    store
        .append_ops(&model, &[stored(1, 1, 1, 2_001)])
        .await
        .unwrap_or_else(|e| panic!("a re-created model starts at version 0: {e}"));
    assert_eq!(
        store.snapshot_at_or_before(&model, 10).await.unwrap(),
        Some((0, sample_node(6))),
        "a re-created model has only its new snapshot"
    );
}

async fn ops_paging(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "o-model").await;
    let all = batch(1, 50, 2, 5_000);
    store.append_ops(&model, &all[..20]).await.unwrap();
    store.append_ops(&model, &all[20..]).await.unwrap();
    assert_eq!(
        all_ops(store, &model).await,
        all,
        "ops must return every op in order"
    );
    assert_eq!(
        store.ops(&model, 10, 20, 100).await.unwrap(),
        all[10..20].to_vec(),
        "ops(after=10, up_to=20) must return versions 11..=20"
    );
    assert_eq!(
        store.ops(&model, 10, 20, 3).await.unwrap(),
        all[10..13].to_vec(),
        "ops must stop at limit, lowest versions first"
    );
    assert_eq!(
        store.ops(&model, 45, u64::MAX, 100).await.unwrap(),
        all[45..].to_vec(),
        "ops up to u64::MAX must return the tail"
    );
    assert!(
        store.ops(&model, 50, 100, 10).await.unwrap().is_empty(),
        "ops after the last version is empty"
    );
    assert!(
        store.ops(&model, 20, 20, 10).await.unwrap().is_empty(),
        "an empty range is empty"
    );
    assert!(
        store.ops(&model, 20, 10, 10).await.unwrap().is_empty(),
        "a reversed range is empty"
    );
    assert!(
        store.ops(&model, 0, 50, 0).await.unwrap().is_empty(),
        "limit 0 is empty"
    );
    assert!(
        store
            .ops(&run.id("o-missing"), 0, 10, 10)
            .await
            .unwrap()
            .is_empty(),
        "ops of a missing model is empty"
    );
    // Paging through with a cursor.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.ops(&model, after, 50, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.version;
        seen.extend(page);
    }
    assert_eq!(
        seen, all,
        "paging with after = last version seen must visit every op once"
    );
}

async fn version_at_time(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "t-model").await;
    assert_eq!(
        store.version_at_time(&model, i64::MAX).await.unwrap(),
        0,
        "a model without ops is at version 0 at any time"
    );
    // v1@100, v2@200, v3@200, v4@300
    let ops = vec![
        stored(1, 1, 1, 100),
        stored(2, 1, 2, 200),
        stored(3, 1, 3, 200),
        stored(4, 1, 4, 300),
    ];
    store.append_ops(&model, &ops).await.unwrap();
    for (t, v) in [
        (50, 0),
        (99, 0),
        (100, 1),
        (150, 1),
        (200, 3),
        (299, 3),
        (300, 4),
        (i64::MAX, 4),
    ] {
        assert_eq!(
            store.version_at_time(&model, t).await.unwrap(),
            v,
            "version_at_time({t}) must be {v}"
        );
    }
    assert_eq!(
        store
            .version_at_time(&run.id("t-missing"), 1_000)
            .await
            .unwrap(),
        0,
        "version_at_time of a missing model is 0"
    );
}

async fn last_seqs(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "s-model").await;
    assert!(
        store.last_seqs(&model).await.unwrap().is_empty(),
        "a new model has no sequence numbers"
    );
    let big_origin = u64::MAX - 5;
    let ops = [
        stored(1, 10, 1, 1),
        stored(2, 20, 1, 2),
        stored(3, 10, 2, 3),
        stored(4, big_origin, 9, 4),
        stored(5, 10, 3, 5),
    ];
    store.append_ops(&model, &ops[..2]).await.unwrap();
    store.append_ops(&model, &ops[2..]).await.unwrap();
    let mut seqs = store.last_seqs(&model).await.unwrap();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        vec![(10, 3), (20, 1), (big_origin, 9)],
        "last_seqs must give each origin's highest seq (origins are full u64)"
    );
    assert_eq!(
        all_ops(store, &model).await[3].origin,
        big_origin,
        "an origin above 2^63 must round-trip"
    );
}

async fn compaction(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "k-model").await;
    store.append_ops(&model, &batch(1, 30, 1, 0)).await.unwrap();
    store
        .put_snapshot(&model, 10, &sample_node(10))
        .await
        .unwrap();
    store
        .put_snapshot(&model, 20, &sample_node(20))
        .await
        .unwrap();
    assert_eq!(store.history_floor(&model).await.unwrap(), 0);
    assert_eq!(
        store.compact_model(&model, 5).await.unwrap(),
        0,
        "no snapshot after the initial one before 5: nothing to drop"
    );
    assert_eq!(store.ops(&model, 0, 30, 100).await.unwrap().len(), 30);
    assert_eq!(
        store.compact_model(&model, 25).await.unwrap(),
        20,
        "compacts up to the newest snapshot at or before the version asked"
    );
    assert_eq!(store.history_floor(&model).await.unwrap(), 20);
    let kept = store.ops(&model, 0, 30, 100).await.unwrap();
    assert_eq!(
        kept.iter().map(|o| o.version).collect::<Vec<_>>(),
        (21..=30).collect::<Vec<_>>(),
        "operations after the floor stay, the rest are gone"
    );
    assert_eq!(
        store.snapshot_at_or_before(&model, 25).await.unwrap(),
        Some((20, sample_node(20)))
    );
    assert_eq!(
        store.snapshot_at_or_before(&model, 15).await.unwrap(),
        None,
        "older snapshots are gone"
    );
    assert_eq!(
        store.compact_model(&model, 10).await.unwrap(),
        20,
        "the floor never moves back"
    );
    store
        .append_ops(&model, &batch(31, 5, 1, 30))
        .await
        .unwrap();
    assert_eq!(
        store.ops(&model, 30, 35, 100).await.unwrap().len(),
        5,
        "appends go on after compaction"
    );
    assert!(matches!(
        store.compact_model(&run.id("no-such-model"), 5).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn snapshots(store: &dyn Store, run: &Run) {
    let model = fresh_model(store, run, "n-model").await;
    store.append_ops(&model, &batch(1, 30, 1, 0)).await.unwrap();
    store
        .put_snapshot(&model, 10, &sample_node(10))
        .await
        .unwrap_or_else(|e| panic!("put_snapshot failed: {e}"));
    store
        .put_snapshot(&model, 20, &sample_node(20))
        .await
        .unwrap();
    let model_ref = &model;
    let get = |v| async move {
        store
            .snapshot_at_or_before(model_ref, v)
            .await
            .unwrap_or_else(|e| panic!("snapshot_at_or_before failed: {e}"))
    };
    assert_eq!(
        get(0).await,
        Some((0, sample_node(0))),
        "the snapshot at 0 is the initial data"
    );
    assert_eq!(
        get(9).await,
        Some((0, sample_node(0))),
        "before the first periodic snapshot, the initial one"
    );
    assert_eq!(
        get(10).await,
        Some((10, sample_node(10))),
        "a snapshot at exactly the version"
    );
    assert_eq!(
        get(19).await,
        Some((10, sample_node(10))),
        "the newest snapshot at or before"
    );
    assert_eq!(
        get(u64::MAX).await,
        Some((20, sample_node(20))),
        "the newest snapshot"
    );
    store
        .put_snapshot(&model, 20, &sample_node(21))
        .await
        .unwrap();
    assert_eq!(
        get(25).await,
        Some((20, sample_node(21))),
        "put_snapshot must replace the one at the same version"
    );
    assert_eq!(
        store
            .snapshot_at_or_before(&run.id("n-missing"), 5)
            .await
            .unwrap(),
        None,
        "a missing model has no snapshot"
    );
}

async fn reconnect_tokens(store: &dyn Store, run: &Run) {
    let hash_a = format!("token-a-{}", run.suffix).into_bytes();
    let hash_b = format!("token-b-{}", run.suffix).into_bytes();
    let user_a = run.id("r-user-a");
    store
        .put_reconnect_token(&hash_a, &user_a, 10_000)
        .await
        .unwrap_or_else(|e| panic!("put_reconnect_token failed: {e}"));
    store
        .put_reconnect_token(&hash_b, &run.id("r-user-b"), 20_000)
        .await
        .unwrap();
    assert_eq!(
        store.reconnect_token_user(&hash_a, 5_000).await.unwrap(),
        Some(user_a.clone()),
        "an unexpired token gives its user"
    );
    assert_eq!(
        store.reconnect_token_user(&hash_a, 10_001).await.unwrap(),
        None,
        "an expired token gives nobody"
    );
    assert_eq!(
        store.reconnect_token_user(&hash_b, 10_001).await.unwrap(),
        Some(run.id("r-user-b")),
        "tokens expire independently"
    );
    assert_eq!(
        store
            .reconnect_token_user(format!("token-c-{}", run.suffix).as_bytes(), 0)
            .await
            .unwrap(),
        None,
        "an unknown token gives nobody"
    );
    // Purging: far in the past, so that concurrent runs on one database keep their tokens.
    let old = format!("token-old-{}", run.suffix).into_bytes();
    let young = format!("token-young-{}", run.suffix).into_bytes();
    store
        .put_reconnect_token(&old, &user_a, -2_000_000)
        .await
        .unwrap();
    store
        .put_reconnect_token(&young, &user_a, -500_000)
        .await
        .unwrap();
    store
        .purge_reconnect_tokens(-1_000_000)
        .await
        .unwrap_or_else(|e| panic!("purge_reconnect_tokens failed: {e}"));
    assert_eq!(
        store.reconnect_token_user(&young, -600_000).await.unwrap(),
        Some(user_a.clone()),
        "a purge keeps tokens that had not expired"
    );
    assert_eq!(
        store.reconnect_token_user(&old, -3_000_000).await.unwrap(),
        None,
        "a purge deletes expired tokens (even for a reader with an older clock)"
    );
    assert_eq!(
        store.reconnect_token_user(&hash_b, 5_000).await.unwrap(),
        Some(run.id("r-user-b")),
        "a purge in the past leaves current tokens alone"
    );
}

/// Two tasks race to append the same next version: exactly one wins, the other conflicts.
async fn racing_appends(store: &Arc<dyn Store>, run: &Run) {
    let model = fresh_model(&**store, run, "race-model").await;
    for round in 0..20u64 {
        let version = round + 1;
        let tasks: Vec<_> = (0..2u64)
            .map(|contender| {
                let (store, model) = (store.clone(), model.clone());
                tokio::spawn(async move {
                    let op = stored(version, 100 + contender, version, version as i64);
                    (contender, store.append_ops(&model, &[op]).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (contender, result) = task
                .await
                .unwrap_or_else(|e| panic!("append task failed: {e}"));
            match result {
                Ok(()) => winners.push(contender),
                Err(StoreError::VersionConflict { current, .. }) => {
                    assert_eq!(
                        current, version,
                        "the loser of round {round} must see the winner's version"
                    )
                }
                Err(e) => panic!("racing append of version {version}: unexpected error {e:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "exactly one of two racing appends of version {version} must win, winners: {winners:?}"
        );
        let ops = store.ops(&model, version - 1, version, 10).await.unwrap();
        assert_eq!(ops.len(), 1, "version {version} must be stored once");
        assert_eq!(
            ops[0].origin,
            100 + winners[0],
            "the stored op of version {version} must be the winner's"
        );
    }
    assert_eq!(
        version_of(&**store, &model).await,
        20,
        "20 rounds of races must leave version 20"
    );
}

/// Many concurrent requests, half of them invalid: the invalid ones fail alone (a backend that
/// commits requests together must not fail a whole group for one bad request).
async fn failed_requests_do_not_fail_others(store: &Arc<dyn Store>, run: &Run) {
    let mut models = Vec::new();
    for i in 0..10 {
        models.push(fresh_model(&**store, run, &format!("f-model{i}")).await);
    }
    let mut tasks = Vec::new();
    for (i, model) in models.iter().enumerate() {
        for good in [true, false] {
            let (store, model) = (store.clone(), model.clone());
            let coll = run.id(&format!("f-model{i}-coll"));
            let dup = run.id(&format!("f-model{i}"));
            tasks.push(tokio::spawn(async move {
                if good {
                    store
                        .append_ops(&model, &batch(1, 3, 1, 0))
                        .await
                        .map(|_| true)
                } else {
                    // A gap: always refused, whatever the order.
                    let r = store.append_ops(&model, &[stored(10, 1, 1, 0)]).await;
                    // And a duplicate model, also refused.
                    let r2 = store
                        .create_model(&meta(&dup, &coll, 0), &sample_node(0))
                        .await;
                    match (r, r2) {
                        (Err(StoreError::VersionConflict { .. }), Err(StoreError::Exists(_))) => {
                            Ok(false)
                        }
                        other => panic!("invalid requests must be refused, got {other:?}"),
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await
            .unwrap_or_else(|e| panic!("task failed: {e}"))
            .unwrap_or_else(|e| panic!("a valid append failed next to invalid requests: {e}"));
    }
    for model in &models {
        assert_eq!(
            all_ops(&**store, model).await,
            batch(1, 3, 1, 0),
            "valid appends next to invalid ones must all be stored"
        );
    }
}

/// 20 tasks append 200 ops each, in batches, to 20 models at once; everything is there after.
async fn concurrent_appends(store: &Arc<dyn Store>, run: &Run) {
    const MODELS: u64 = 20;
    const OPS: u64 = 200;
    let mut models = Vec::new();
    for i in 0..MODELS {
        models.push(fresh_model(&**store, run, &format!("c-model{i}")).await);
    }
    let tasks: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let (store, model) = (store.clone(), model.clone());
            tokio::spawn(async move {
                let mut version = 1;
                let mut size = 1 + i as u64 % 7;
                while version <= OPS {
                    let count = size.min(OPS - version + 1);
                    let ops = batch(version, count, i as u64, 0);
                    store.append_ops(&model, &ops).await.unwrap_or_else(|e| {
                        panic!("concurrent append to {model} at {version} failed: {e}")
                    });
                    version += count;
                    size = size % 13 + 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap_or_else(|e| panic!("append task failed: {e}"));
    }
    for (i, model) in models.iter().enumerate() {
        assert_eq!(
            version_of(&**store, model).await,
            OPS,
            "model {model} must reach version {OPS}"
        );
        assert_eq!(
            all_ops(&**store, model).await,
            batch(1, OPS, i as u64, 0),
            "model {model} must hold all {OPS} ops in order, intact"
        );
    }
}

/// What both backends' upgrade tests check once a database of the schema before per-collection
/// keys was opened: model `x` of collection `notes` (version 1, made by `ada`, with `op` as its
/// one operation under origin 7, `snapshot` as version 0 and a read grant for `ada`) is found
/// under its key and no longer by its bare id, and `tasks/x` can be created beside it.
pub async fn upgraded_global_model_ids(store: &dyn Store, op: &Op, snapshot: &Node) {
    let key = super::model_key("notes", "x");
    let meta = store.model(&key).await.unwrap().expect("known by its key");
    assert_eq!((meta.name.as_str(), meta.version), ("x", 1));
    assert_eq!(
        store.model("x").await.unwrap(),
        None,
        "no longer by its bare id"
    );
    let ops = store.ops(&key, 0, 1, 10).await.unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(&ops[0].op, op);
    assert_eq!(store.last_seqs(&key).await.unwrap(), [(7, 1)]);
    assert_eq!(
        store.snapshot_at_or_before(&key, 0).await.unwrap(),
        Some((0, snapshot.clone()))
    );
    assert_eq!(
        store
            .permissions(&PermissionTarget::Model(key.clone()))
            .await
            .unwrap(),
        [(
            Grantee::User("ada".into()),
            Permissions {
                read: true,
                ..Permissions::default()
            }
        )]
    );
    // The same name in another collection is now another model.
    store
        .create_model(&ModelMeta::new("notes", "y", 1), snapshot)
        .await
        .unwrap();
    store.create_collection("tasks").await.unwrap();
    store
        .create_model(&ModelMeta::new("tasks", "x", 1), snapshot)
        .await
        .expect("tasks/x beside notes/x");
    let listed = store
        .list_models("notes", ModelOrder::Created, false, 0, 10)
        .await
        .unwrap();
    let names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["y", "x"]);
}
