//! The relay as a child process: killed with SIGKILL in the middle of a load, restarted on the
//! same data; every acknowledged operation is there, and the clients reconnect, resync and
//! converge with nothing lost and nothing duplicated. And: SIGTERM shuts down gracefully.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::{Op, Value};
use tandem_relay::test_client::TestClient;

const CLIENTS: usize = 5;

/// Inserts uniquely named items into the shared array until told to stop or the socket dies.
/// Returns the client and every item it submitted.
async fn typist(
    mut client: TestClient,
    handle: u32,
    me: usize,
    stop: Arc<AtomicBool>,
) -> (TestClient, Vec<String>) {
    let list = client
        .replica(handle)
        .model()
        .element_at(&["items".into()])
        .expect("items");
    let mut submitted = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let len = client
            .replica(handle)
            .model()
            .array_items(list)
            .map_or(0, |items| items.len());
        let name = format!("c{me}-{n}");
        n += 1;
        let value = Value::String(name.clone()).into_node(&mut client.ids);
        let index = (n * 7 + me) % (len + 1);
        client
            .submit(
                handle,
                Op::ArrayInsert {
                    id: list,
                    index,
                    value,
                },
            )
            .expect("valid insert");
        submitted.push(name);
        if client.flush().await.is_err()
            || matches!(client.pump(Duration::from_millis(3)).await, Err(e) if !matches!(e, tandem_relay::test_client::ClientFailure::Timeout))
        {
            break;
        }
    }
    (client, submitted)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_load_loses_no_acknowledged_operation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let mut relay = common::spawn_binary(dir.path(), port, &[]);
    let mut tasks = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    for me in 0..CLIENTS {
        let mut client = TestClient::anonymous(&relay.url, &format!("typist {me}"))
            .await
            .expect("connect");
        let handle = client
            .open_or_create("docs", "crash", serde_json::json!({"items": []}))
            .await
            .expect("open");
        tasks.push(tokio::spawn(typist(client, handle, me, stop.clone())));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    relay.child.kill().expect("SIGKILL");
    let _ = relay.child.wait();
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    let mut acknowledged_before = 0;
    for task in tasks {
        let (client, submitted) = task.await.expect("typist");
        let handle = *client.models.keys().next().expect("model");
        acknowledged_before += submitted.len() - client.replica(handle).unacked().len();
        clients.push((client, handle, submitted));
    }
    assert!(
        acknowledged_before > 100,
        "too little was acknowledged before the crash: {acknowledged_before}"
    );

    let relay = common::spawn_binary(dir.path(), port, &[]);
    let mut handles = HashMap::new();
    for (client, _, _) in clients.iter_mut() {
        client
            .reconnect(None)
            .await
            .expect("reconnect with the token, resync and resend");
        let handle = *client.models.keys().next().expect("reopened");
        handles.insert(client.welcome.site, handle);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for (client, _, _) in clients.iter_mut() {
            client.flush().await.expect("flush");
            client.pump(Duration::from_millis(50)).await.expect("pump");
        }
        let versions: Vec<u64> = clients
            .iter()
            .map(|(c, _, _)| c.replica(handles[&c.welcome.site]).version())
            .collect();
        if clients
            .iter()
            .all(|(c, _, _)| c.replica(handles[&c.welcome.site]).is_settled())
            && versions.iter().all(|v| *v == versions[0])
        {
            break;
        }
        if Instant::now() >= deadline {
            panic!("no convergence after the restart: {versions:?}");
        }
    }
    let reference = items(&clients[0].0, handles[&clients[0].0.welcome.site]);
    for (client, _, submitted) in &clients {
        let handle = handles[&client.welcome.site];
        assert_eq!(items(client, handle), reference, "replicas diverged");
        assert!(client.errors.is_empty(), "errors: {:?}", client.errors);
        for name in submitted {
            let found = reference.iter().filter(|item| *item == name).count();
            assert_eq!(found, 1, "{name} appears {found} times after the crash");
        }
    }
    let total: usize = clients.iter().map(|(_, _, s)| s.len()).sum();
    assert_eq!(
        reference.len(),
        total,
        "items other than the submitted ones appeared"
    );
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_what_is_in_flight_and_closes_with_going_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let mut relay = common::spawn_binary(dir.path(), port, &[]);
    let mut client = TestClient::anonymous(&relay.url, "leaving")
        .await
        .expect("connect");
    let handle = client
        .open_or_create("docs", "graceful", serde_json::json!({"t": ""}))
        .await
        .expect("open");
    let text = client
        .replica(handle)
        .model()
        .element_at(&["t".into()])
        .expect("t");
    for i in 0..200 {
        client
            .submit(
                handle,
                Op::StringInsert {
                    id: text,
                    index: i,
                    text: "x".into(),
                },
            )
            .expect("insert");
    }
    client.flush().await.expect("flush");
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(relay.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    // The acknowledgement of everything sent, then "going away".
    let mut close_code = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match client.pump_one(Duration::from_secs(5)).await {
            Ok(()) => continue,
            Err(tandem_relay::test_client::ClientFailure::Closed(code)) => {
                close_code = code;
                break;
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(close_code, Some(1001), "closed with going away");
    assert!(
        client.replica(handle).is_settled(),
        "everything in flight was stored and acknowledged"
    );
    let exit = relay.child.wait().expect("exit status");
    assert!(exit.success(), "the relay exits 0 on SIGTERM: {exit:?}");

    let relay = common::spawn_binary(dir.path(), port, &[]);
    let mut fresh = TestClient::anonymous(&relay.url, "after")
        .await
        .expect("connect");
    let h = fresh.open("docs", "graceful").await.expect("open");
    let t = fresh
        .replica(h)
        .model()
        .element_at(&["t".into()])
        .expect("t");
    assert_eq!(
        fresh
            .replica(h)
            .model()
            .string(t)
            .expect("string")
            .to_string(),
        "x".repeat(200)
    );
}
