//! Two relays on one PostgreSQL database, as child processes of the real binary, with the
//! database started by the test on loopback: clients spread over both converge on the same
//! data, which both relays serve after a restart; a relay killed with SIGKILL loses nothing it
//! acknowledged and its clients carry on at the other; and references, collaborators,
//! presence, activities and chat cross from one relay to the other.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::protocol::{
    ActivityEvent, ChatEventBody, ChatKind, PresenceEvent, Request, Response,
};
use tandem_core::{ElementId, Node, Op, ReferenceKey, ReferenceValue, Value};
use tandem_relay::store::local_postgres;
use tandem_relay::test_client::{ClientFailure, TestClient};

use common::ChildRelay;

/// A fresh database on the test's PostgreSQL server.
fn database(name: &str) -> String {
    let server = local_postgres::shared().expect("a PostgreSQL server for the test");
    server
        .fresh_database(&format!("{name}_{:08x}", rand::random::<u32>()))
        .expect("a fresh database")
}

/// A relay process on `database`, with its (unused) embedded store directory.
struct Node_ {
    relay: ChildRelay,
    port: u16,
    _dir: tempfile::TempDir,
}

fn relay_on(database: &str, port: Option<u16>) -> Node_ {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = port.unwrap_or_else(common::free_port);
    let relay = common::spawn_binary(
        dir.path(),
        port,
        &["--database-url", database, "--heartbeat-seconds", "1"],
    );
    Node_ {
        relay,
        port,
        _dir: dir,
    }
}

/// Stops a relay with SIGTERM and waits for it.
fn stop(mut node: Node_) {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.relay.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = node.relay.child.wait().expect("exit status");
    assert!(exit.success(), "the relay exits 0 on SIGTERM: {exit:?}");
}

/// A counter of a relay's `/metrics`.
async fn metric(relay: &ChildRelay, name: &str) -> u64 {
    let text = common::http_get(relay.addr, "/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Deterministic randomness per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Edits the shared model until told to stop or the socket dies: uniquely named items
/// inserted into `items`, and text typed into and removed from `t`. Returns the client and
/// the names of the items it submitted.
async fn editor(
    mut client: TestClient,
    handle: u32,
    me: usize,
    stop: Arc<AtomicBool>,
) -> (TestClient, Vec<String>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1));
    let mut submitted = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let model = client.replica(handle).model();
        let list = model.element_at(&["items".into()]).expect("items");
        let text = model.element_at(&["t".into()]).expect("t");
        let items = model.array_items(list).map_or(0, |items| items.len());
        let chars = model.string(text).map_or(0, |s| s.to_string().len());
        let op = match rng.below(3) {
            0 => {
                let name = format!("c{me}-{n}");
                n += 1;
                submitted.push(name.clone());
                Op::ArrayInsert {
                    id: list,
                    index: rng.below(items + 1),
                    value: Value::String(name).into_node(&mut client.ids),
                }
            }
            1 if chars > 0 => Op::StringRemove {
                id: text,
                index: rng.below(chars),
                len: 1,
            },
            _ => Op::StringInsert {
                id: text,
                index: rng.below(chars + 1),
                text: ["a", "b", "c", "d"][rng.below(4)].into(),
            },
        };
        client.submit(handle, op).expect("valid edit");
        if client.flush().await.is_err()
            || matches!(client.pump(Duration::from_millis(2)).await, Err(e) if !matches!(e, ClientFailure::Timeout))
        {
            break;
        }
    }
    (client, submitted)
}

/// Editors started by [`start_editors`]: the flag that stops them, and their tasks.
type Editors = (
    Arc<AtomicBool>,
    Vec<tokio::task::JoinHandle<(TestClient, Vec<String>)>>,
);

/// Creates model `id` through `urls[1]`, then starts six editors on it, alternately on each
/// relay (even ones on `urls[0]`).
async fn start_editors(urls: [&str; 2], id: &str) -> Editors {
    let mut first = TestClient::anonymous(urls[1], "creator")
        .await
        .expect("connect");
    first
        .open_or_create("docs", id, serde_json::json!({"items": [], "t": "hello"}))
        .await
        .expect("create");
    first.close().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for me in 0..6 {
        let mut client = TestClient::anonymous(urls[me % 2], &format!("editor {me}"))
            .await
            .expect("connect");
        let handle = client.open("docs", id).await.expect("open");
        tasks.push(tokio::spawn(editor(client, handle, me, stop.clone())));
    }
    (stop, tasks)
}

/// Flushes and pumps every client until all are settled at one version.
async fn converge(clients: &mut [(TestClient, u32)], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        for (client, _) in clients.iter_mut() {
            client.flush().await.expect("flush");
            client.pump(Duration::from_millis(30)).await.expect("pump");
        }
        let versions: Vec<u64> = clients
            .iter()
            .map(|(c, h)| c.replica(*h).version())
            .collect();
        if clients.iter().all(|(c, h)| c.replica(*h).is_settled())
            && versions.iter().all(|v| *v == versions[0])
        {
            return;
        }
        assert!(Instant::now() < deadline, "no convergence: {versions:?}");
    }
}

fn data(client: &TestClient, handle: u32) -> Node {
    client.replica(handle).model().to_node()
}

fn items(client: &TestClient, handle: u32) -> Vec<String> {
    let model = client.replica(handle).model();
    let list = model.element_at(&["items".into()]).expect("items");
    model
        .array_items(list)
        .expect("array")
        .iter()
        .map(|id| match model.value_of(*id) {
            Some(Value::String(s)) => s,
            other => panic!("unexpected item {other:?}"),
        })
        .collect()
}

/// Every submitted name is there exactly once, and nothing else is.
fn exactly_once(found: &[String], submitted: &[String]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in found {
        *counts.entry(name).or_default() += 1;
    }
    for name in submitted {
        assert_eq!(
            counts.get(name.as_str()),
            Some(&1),
            "{name} is not there exactly once"
        );
    }
    assert_eq!(
        found.len(),
        submitted.len(),
        "items nobody submitted appeared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_relays_converge_and_both_serve_it_after_a_restart() {
    let db = database("converge");
    let a = relay_on(&db, None);
    let b = relay_on(&db, None);
    let (stop_flag, tasks) = start_editors([&a.relay.url, &b.relay.url], "shared").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_flag.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    let mut submitted = Vec::new();
    for task in tasks {
        let (client, names) = task.await.expect("editor");
        let handle = *client.models.keys().next().expect("model");
        submitted.extend(names);
        clients.push((client, handle));
    }
    converge(&mut clients, Duration::from_secs(60)).await;
    let reference = data(&clients[0].0, clients[0].1);
    for (client, handle) in &clients {
        assert_eq!(data(client, *handle), reference, "replicas diverged");
        assert!(client.errors.is_empty(), "errors: {:?}", client.errors);
    }
    exactly_once(&items(&clients[0].0, clients[0].1), &submitted);
    assert!(submitted.len() > 50, "too few edits: {}", submitted.len());
    // Both relays sequenced the model at once: batches of each came after the other's.
    let interleaved = metric(&a.relay, "tandem_interleaved_batches_total").await
        + metric(&b.relay, "tandem_interleaved_batches_total").await;
    let passed_on = (
        metric(&a.relay, "tandem_ops_from_peers_total").await,
        metric(&b.relay, "tandem_ops_from_peers_total").await,
    );
    eprintln!(
        "batches after the other relay's: {interleaved}; operations passed on: {passed_on:?}"
    );
    assert!(passed_on.0 > 0 && passed_on.1 > 0, "{passed_on:?}");
    for (client, _) in clients {
        client.close().await;
    }

    // Both restart on the same database and serve exactly what the clients converged on.
    let (port_a, port_b) = (a.port, b.port);
    stop(a);
    stop(b);
    let a = relay_on(&db, Some(port_a));
    let b = relay_on(&db, Some(port_b));
    for url in [&a.relay.url, &b.relay.url] {
        let mut fresh = TestClient::anonymous(url, "after").await.expect("connect");
        let handle = fresh.open("docs", "shared").await.expect("open");
        assert_eq!(data(&fresh, handle), reference, "served after the restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_under_load_loses_nothing_and_its_clients_move_to_the_other() {
    let db = database("failover");
    let mut a = relay_on(&db, None);
    let b = relay_on(&db, None);
    let (stop_flag, tasks) = start_editors([&a.relay.url, &b.relay.url], "failover").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    a.relay.child.kill().expect("SIGKILL");
    let _ = a.relay.child.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_flag.store(true, Ordering::Relaxed);

    let mut clients = Vec::new();
    let mut submitted = Vec::new();
    let mut acknowledged_on_a = 0;
    for (me, task) in tasks.into_iter().enumerate() {
        let (mut client, names) = task.await.expect("editor");
        let handle = *client.models.keys().next().expect("model");
        if me % 2 == 0 {
            acknowledged_on_a += names
                .len()
                .saturating_sub(client.replica(handle).unacked().len());
            // The relay is gone: the client moves to the other one with its reconnect token,
            // resyncs, and sends again what was not acknowledged.
            client
                .reconnect(Some(&b.relay.url))
                .await
                .expect("reconnect to the other relay");
        }
        let handle = *client.models.keys().next().expect("model");
        submitted.extend(names);
        clients.push((client, handle));
    }
    assert!(
        acknowledged_on_a > 20,
        "too little acknowledged by the killed relay: {acknowledged_on_a}"
    );
    converge(&mut clients, Duration::from_secs(60)).await;
    let reference = data(&clients[0].0, clients[0].1);
    for (client, handle) in &clients {
        assert_eq!(data(client, *handle), reference, "replicas diverged");
        assert!(client.errors.is_empty(), "errors: {:?}", client.errors);
    }
    exactly_once(&items(&clients[0].0, clients[0].1), &submitted);
    let mut fresh = TestClient::anonymous(&b.relay.url, "after")
        .await
        .expect("connect");
    let handle = fresh.open("docs", "failover").await.expect("open");
    assert_eq!(
        data(&fresh, handle),
        reference,
        "what the surviving relay serves"
    );
}

/// Pumps `client` until `done` holds, or fails after `limit`.
async fn wait_until(
    client: &mut TestClient,
    limit: Duration,
    what: &str,
    done: impl Fn(&TestClient) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done(client) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        client.pump(Duration::from_millis(20)).await.expect("pump");
    }
}

/// Ada on relay `a` and Bob on relay `b`, both with model `id` (`{"t": text}`) open.
struct Pair {
    ada: TestClient,
    bob: TestClient,
    ha: u32,
    hb: u32,
    t: ElementId,
}

async fn pair(a: &Node_, b: &Node_, id: &str, text: &str) -> Pair {
    let mut ada = TestClient::anonymous(&a.relay.url, "Ada")
        .await
        .expect("connect");
    let mut bob = TestClient::anonymous(&b.relay.url, "Bob")
        .await
        .expect("connect");
    let ha = ada
        .open_or_create("docs", id, serde_json::json!({ "t": text }))
        .await
        .expect("open");
    let hb = bob.open("docs", id).await.expect("open");
    let t = ada
        .replica(ha)
        .model()
        .element_at(&["t".into()])
        .expect("t");
    Pair {
        ada,
        bob,
        ha,
        hb,
        t,
    }
}

/// Ada types `text` at the start of `t`; waits until Bob's replica holds `expected`.
async fn type_across(p: &mut Pair, text: &str, expected: &str, limit: Duration) {
    p.ada
        .submit(
            p.ha,
            Op::StringInsert {
                id: p.t,
                index: 0,
                text: text.into(),
            },
        )
        .expect("insert");
    p.ada.flush().await.expect("flush");
    let (hb, t) = (p.hb, p.t);
    wait_until(&mut p.bob, limit, "the edit on the other relay", |c| {
        c.replica(hb).model().string(t).map(|s| s.to_string()) == Some(expected.into())
    })
    .await;
}

/// Joins activity `document/id` as `client` and returns its handle, once session `seen` is
/// there with `state`: listed in the answer, or announced soon after (its join may still be
/// on its way from the other relay).
async fn join_seeing(
    client: &mut TestClient,
    id: &str,
    seen: &str,
    state: &[(String, Value)],
) -> u32 {
    let (activity, participants) = match client
        .request(Request::JoinActivity {
            activity_type: "document".into(),
            activity_id: id.into(),
            lurk: false,
            state: vec![],
        })
        .await
        .expect("join")
    {
        Response::ActivityJoined {
            activity,
            participants,
            ..
        } => (activity, participants),
        other => panic!("unexpected {other:?}"),
    };
    if !participants
        .iter()
        .any(|p| p.session_id == seen && p.state == state)
    {
        wait_until(client, SOON, "the other session in the activity", |c| {
            c.activity_events.iter().any(|(_, e)| {
                matches!(e, ActivityEvent::Joined { participant, .. }
                    if participant.session_id == seen && participant.state == state)
            })
        })
        .await;
    }
    activity
}

const SOON: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_presence_activities_and_chat_cross_between_relays() {
    let db = database("crossing");
    let mut a = relay_on(&db, None);
    let b = relay_on(&db, None);
    // A shared cursor, set on one relay, seen on the other; it moves with the other's edit.
    let Pair {
        mut ada,
        mut bob,
        ha,
        hb,
        t,
    } = pair(&a, &b, "cursors", "hello world").await;
    let (ada_id, bob_id) = (
        ada.welcome.user.user_id.clone(),
        bob.welcome.user.user_id.clone(),
    );
    let ada_session = ada.welcome.session_id.clone();
    let cursor = ReferenceKey {
        element: Some(t),
        key: "cursor".into(),
    };
    let replica = &mut ada.models.get_mut(&ha).expect("open").replica;
    replica.set_reference(cursor.clone(), ReferenceValue::Index(vec![6]));
    replica.share_reference(cursor.clone());
    ada.flush().await.expect("flush");
    wait_until(&mut bob, SOON, "Ada's cursor on the other relay", |c| {
        c.replica(hb).remote_reference(&ada_session, &cursor)
            == Some(ReferenceValue::Index(vec![6]))
    })
    .await;
    bob.submit(
        hb,
        Op::StringInsert {
            id: t,
            index: 0,
            text: ">> ".into(),
        },
    )
    .expect("insert");
    bob.flush().await.expect("flush");
    wait_until(&mut ada, SOON, "Bob's edit on the other relay", |c| {
        c.replica(ha).model().string(t).map(|s| s.to_string()) == Some(">> hello world".into())
    })
    .await;
    wait_until(&mut bob, SOON, "the cursor moved by the edit", |c| {
        c.replica(hb).remote_reference(&ada_session, &cursor)
            == Some(ReferenceValue::Index(vec![9]))
    })
    .await;

    // Presence: Bob follows Ada and Cat, who is on Bob's relay; Ada's state crosses.
    let now = match bob
        .request(Request::SubscribePresence {
            user_ids: vec![ada_id.clone()],
        })
        .await
        .expect("subscribe")
    {
        Response::Presence { users } => users,
        other => panic!("unexpected {other:?}"),
    };
    assert!(now[0].available, "Ada, on the other relay, is available");
    let mut watcher = TestClient::anonymous(&a.relay.url, "Watcher")
        .await
        .expect("connect");
    let cat = TestClient::anonymous(&b.relay.url, "Cat")
        .await
        .expect("connect");
    let cat_id = cat.welcome.user.user_id.clone();
    // Cat's session may still be on its way to Ada's relay: available now, or soon.
    let now = match watcher
        .request(Request::SubscribePresence {
            user_ids: vec![cat_id.clone()],
        })
        .await
        .expect("subscribe")
    {
        Response::Presence { users } => users,
        other => panic!("unexpected {other:?}"),
    };
    if !now[0].available {
        wait_until(
            &mut watcher,
            SOON,
            "Cat available on the other relay",
            |c| {
                c.presence_events.contains(&PresenceEvent::Available {
                    user_id: cat_id.clone(),
                })
            },
        )
        .await;
    }
    cat.close().await;
    wait_until(
        &mut watcher,
        SOON,
        "Cat's unavailability on the other relay",
        |c| {
            c.presence_events.contains(&PresenceEvent::Unavailable {
                user_id: cat_id.clone(),
            })
        },
    )
    .await;
    let status = vec![("status".to_owned(), Value::String("writing".into()))];
    ada.request(Request::SetPresenceState {
        state: status.clone(),
    })
    .await
    .expect("set state");
    wait_until(&mut bob, SOON, "Ada's state on the other relay", |c| {
        c.presence_events.contains(&PresenceEvent::StateSet {
            user_id: ada_id.clone(),
            state: status.clone(),
        })
    })
    .await;

    // Activities: Bob joins where Ada is, sees her state, and she sees him come and change.
    let typing = vec![("typing".to_owned(), Value::Bool(false))];
    ada.request(Request::JoinActivity {
        activity_type: "document".into(),
        activity_id: "cursors".into(),
        lurk: false,
        state: typing.clone(),
    })
    .await
    .expect("join");
    let bob_activity = join_seeing(&mut bob, "cursors", &ada_session, &typing).await;
    let bob_session = bob.welcome.session_id.clone();
    wait_until(&mut ada, SOON, "Bob joining on the other relay", |c| {
        c.activity_events.iter().any(|(_, e)| {
            matches!(e, ActivityEvent::Joined { participant, .. } if participant.session_id == bob_session)
        })
    })
    .await;
    let busy = vec![("typing".to_owned(), Value::Bool(true))];
    bob.request(Request::SetActivityState {
        activity: bob_activity,
        state: busy.clone(),
    })
    .await
    .expect("set activity state");
    wait_until(&mut ada, SOON, "Bob's activity state on the other relay", |c| {
        c.activity_events.iter().any(|(_, e)| {
            matches!(e, ActivityEvent::StateSet { session_id, state, .. } if *session_id == bob_session && *state == busy)
        })
    })
    .await;

    // Chat: a room and a channel, each with someone on either relay.
    ada.request(Request::CreateChat {
        kind: ChatKind::Room,
        chat_id: Some("lobby".into()),
        name: "Lobby".into(),
        topic: String::new(),
        members: vec![],
    })
    .await
    .expect("create room");
    for client in [&mut ada, &mut bob] {
        client
            .request(Request::JoinChat {
                chat_id: "lobby".into(),
            })
            .await
            .expect("join room");
    }
    bob.request(Request::SendChatMessage {
        chat_id: "lobby".into(),
        text: "hello from relay B".into(),
    })
    .await
    .expect("send");
    wait_until(
        &mut ada,
        SOON,
        "Bob's room message on the other relay",
        |c| {
            c.chat_events.iter().any(|e| {
                e.body
                    == ChatEventBody::Message {
                        text: "hello from relay B".into(),
                    }
                    && e.user_id == bob_id
            })
        },
    )
    .await;
    ada.request(Request::CreateChat {
        kind: ChatKind::Channel,
        chat_id: Some("team".into()),
        name: "Team".into(),
        topic: String::new(),
        members: vec![bob_id.clone()],
    })
    .await
    .expect("create channel");
    wait_until(
        &mut bob,
        SOON,
        "the channel's creation on the other relay",
        |c| {
            c.chat_events
                .iter()
                .any(|e| e.chat_id == "team" && matches!(e.body, ChatEventBody::Created { .. }))
        },
    )
    .await;
    ada.request(Request::SendChatMessage {
        chat_id: "team".into(),
        text: "hello from relay A".into(),
    })
    .await
    .expect("send");
    wait_until(
        &mut bob,
        SOON,
        "Ada's channel message on the other relay",
        |c| {
            c.chat_events.iter().any(|e| {
                e.chat_id == "team"
                    && e.body
                        == ChatEventBody::Message {
                            text: "hello from relay A".into(),
                        }
            })
        },
    )
    .await;

    // Ada's relay dies without a word: once it has been silent too long, Bob's relay drops
    // her: she is unavailable, out of the activity, and no longer has the model open.
    a.relay.child.kill().expect("SIGKILL");
    let _ = a.relay.child.wait();
    wait_until(
        &mut bob,
        Duration::from_secs(20),
        "Ada dropped after her relay went silent",
        |c| {
            c.presence_events.contains(&PresenceEvent::Unavailable {
                user_id: ada_id.clone(),
            }) && c.activity_events.iter().any(|(_, e)| {
                matches!(e, ActivityEvent::Left { session_id, .. } if *session_id == ada_session)
            }) && c.replica(hb).remote_reference(&ada_session, &cursor).is_none()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_database_url_stops_the_relay_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (url, expected) in [
        ("not a url", "invalid PostgreSQL URL"),
        // Nothing listens on port 1 of loopback.
        (
            "postgres://tandem@127.0.0.1:1/tandem",
            "connecting to the PostgreSQL database",
        ),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tandem-relay"))
            .args(["--listen", "127.0.0.1:0", "--database-url", url])
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("the relay runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url}: the relay must not start");
        assert!(stderr.contains(expected), "{url}: unclear error: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_relays_channel_is_ignored() {
    let db = database("garbage");
    let a = relay_on(&db, None);
    let b = relay_on(&db, None);
    let (client, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    for payload in [
        "",
        "x",
        "b!!not base64!!",
        "bAAAA",
        "t12345",
        "tnot-a-number",
    ] {
        client
            .execute("SELECT pg_notify('tandem_peer', $1)", &[&payload])
            .await
            .expect("notify");
    }
    // Both relays still serve, and still hear each other.
    let mut p = pair(&a, &b, "after-garbage", "").await;
    type_across(&mut p, "still here", "still here", SOON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_whose_database_connections_are_cut_reconnect_and_hear_each_other_again() {
    let db = database("cut");
    let a = relay_on(&db, None);
    let b = relay_on(&db, None);
    let mut p = pair(&a, &b, "cut", "").await;

    // The connections both relays listen on are cut by the server.
    let (admin, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND (query LIKE '%LISTEN%' OR query LIKE '%pg_notify%')",
            &[],
        )
        .await
        .expect("terminate");
    assert!(!cut.is_empty(), "the listening connections were found");

    // An edit made meanwhile reaches the other relay; so does an activity join.
    type_across(&mut p, "across", "across", Duration::from_secs(10)).await;
    p.ada
        .request(Request::JoinActivity {
            activity_type: "document".into(),
            activity_id: "cut".into(),
            lurk: false,
            state: vec![],
        })
        .await
        .expect("join");
    let ada_session = p.ada.welcome.session_id.clone();
    join_seeing(&mut p.bob, "cut", &ada_session, &[]).await;
}
