//! Twenty clients make random concurrent edits of every operation type to one model over real
//! sockets; they all converge, and what the relay serves after a restart is the same data.

mod common;

use std::time::{Duration, Instant};

use tandem_core::testing::{random_op, Rng};
use tandem_relay::test_client::TestClient;

const CLIENTS: usize = 20;
const ROUNDS: usize = 25;

fn initial() -> serde_json::Value {
    serde_json::json!({
        "title": "Shared document",
        "text": "The quick brown fox 🦊 jumps over the lazy dog.",
        "items": [1, "two", {"three": 3, "tags": ["a", "b"]}, [true, null]],
        "count": 0,
        "done": false,
        "due": {"$date": 1_700_000_000_000i64},
        "meta": {"owner": "ada", "notes": "nested text"}
    })
}

/// Flushes and pumps every client until all have every operation acknowledged and hold the
/// same version.
async fn settle(clients: &mut [TestClient], handles: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for c in clients.iter_mut() {
            c.flush().await.expect("flush");
            c.pump(Duration::from_millis(20)).await.expect("pump");
        }
        let versions: Vec<u64> = clients
            .iter()
            .zip(handles)
            .map(|(c, h)| c.replica(*h).version())
            .collect();
        let settled = clients
            .iter()
            .zip(handles)
            .all(|(c, h)| c.replica(*h).is_settled());
        if settled && versions.iter().all(|v| *v == versions[0]) {
            // One more quiet round, so that nothing is still on its way.
            let mut quiet = true;
            for c in clients.iter_mut() {
                c.pump(Duration::from_millis(50)).await.expect("pump");
            }
            for (c, h) in clients.iter().zip(handles) {
                quiet &= c.replica(*h).version() == versions[0];
            }
            if quiet {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "clients did not settle: versions {versions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_editing_every_type_converge_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    let mut clients = Vec::new();
    let mut handles = Vec::new();
    for i in 0..CLIENTS {
        let mut c = TestClient::anonymous(&relay.url, &format!("user {i}"))
            .await
            .expect("connect");
        let h = c
            .open_or_create("docs", "shared", initial())
            .await
            .expect("open");
        clients.push(c);
        handles.push(h);
    }
    let mut rng = Rng::new(2024);
    for _ in 0..ROUNDS {
        for (c, h) in clients.iter_mut().zip(&handles) {
            for _ in 0..rng.below(3) + 1 {
                let model = c.replica(*h).model().clone();
                if let Some(op) = random_op(&model, &mut rng, &mut c.ids) {
                    c.submit(*h, op).expect("valid local operation");
                }
            }
            if rng.chance(0.7) {
                c.flush().await.expect("flush");
            }
            c.pump(Duration::from_millis(2)).await.expect("pump");
        }
    }
    settle(&mut clients, &handles).await;
    let reference = clients[0].replica(handles[0]).model().to_json();
    for (i, (c, h)) in clients.iter().zip(&handles).enumerate() {
        assert!(c.errors.is_empty(), "client {i} got errors: {:?}", c.errors);
        assert_eq!(
            c.replica(*h).model().to_json(),
            reference,
            "client {i} diverged"
        );
    }
    let version = clients[0].replica(handles[0]).version();
    assert!(version > 500, "only {version} operations were sequenced");
    for c in clients {
        c.close().await;
    }

    relay.stop().await;
    let relay = common::start(common::config(dir.path())).await;
    let mut fresh = TestClient::anonymous(&relay.url, "after restart")
        .await
        .expect("connect");
    let h = fresh.open("docs", "shared").await.expect("open");
    assert_eq!(fresh.replica(h).version(), version);
    assert_eq!(
        fresh.replica(h).model().to_json(),
        reference,
        "the restarted relay serves other data"
    );
    relay.stop().await;
}
