//! History (a model at any version or time, the operations between two versions with their
//! authors), snapshots, idle unloading and resync through a real relay.

mod common;
mod support;

use std::time::Duration;

use tandem_core::protocol::{Request, Response};
use tandem_core::{Model, Op};
use tandem_relay::test_client::TestClient;

async fn text_at(client: &mut TestClient, version: u64) -> (String, i64) {
    let request = Request::GetModelAtVersion {
        collection: "docs".into(),
        id: "h".into(),
        version,
    };
    match client.request(request).await.expect("history") {
        Response::HistoricModel {
            version: v,
            timestamp_ms,
            data,
        } => {
            assert_eq!(v, version);
            let model = Model::new(data).expect("model");
            let t = model.element_at(&["t".into()]).expect("t");
            (model.string(t).expect("string").to_string(), timestamp_ms)
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_plays_to_any_version_or_time_and_names_the_authors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.snapshot_every = 4;
    let relay = common::start(config).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let mut bob = TestClient::anonymous(&relay.url, "Bob")
        .await
        .expect("connect");
    let ha = ada
        .open_or_create("docs", "h", serde_json::json!({"t": ""}))
        .await
        .expect("open");
    let hb = bob.open("docs", "h").await.expect("open");
    let t = ada
        .replica(ha)
        .model()
        .element_at(&["t".into()])
        .expect("t");
    for i in 0..10u64 {
        let (who, h) = if i % 2 == 0 {
            (&mut ada, ha)
        } else {
            (&mut bob, hb)
        };
        let len = who.replica(h).model().string(t).expect("t").len_utf16();
        who.submit(
            h,
            Op::StringInsert {
                id: t,
                index: len,
                text: i.to_string(),
            },
        )
        .expect("insert");
        who.settle(i + 1, Duration::from_secs(10))
            .await
            .expect("acknowledged");
        tokio::time::sleep(Duration::from_millis(15)).await;
        let other = if i % 2 == 0 { &mut bob } else { &mut ada };
        other
            .settle(i + 1, Duration::from_secs(10))
            .await
            .expect("delivered");
    }
    assert_eq!(text_at(&mut ada, 0).await.0, "");
    assert_eq!(text_at(&mut ada, 5).await.0, "01234");
    assert_eq!(text_at(&mut ada, 10).await.0, "0123456789");
    let bad = ada
        .request(Request::GetModelAtVersion {
            collection: "docs".into(),
            id: "h".into(),
            version: 11,
        })
        .await;
    assert!(bad.is_err(), "a version beyond the model is refused");

    let ops = match ada
        .request(Request::GetOperations {
            collection: "docs".into(),
            id: "h".into(),
            from_version: 2,
            to_version: 6,
        })
        .await
        .expect("operations")
    {
        Response::Operations { ops, .. } => ops,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        ops.iter().map(|o| o.version).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert_eq!(
        ops[0].user_id, ada.welcome.user.user_id,
        "version 3 was Ada's"
    );
    assert_eq!(
        ops[1].user_id, bob.welcome.user.user_id,
        "version 4 was Bob's"
    );
    assert_eq!(ops[1].session_id, bob.welcome.session_id);
    assert!(ops
        .windows(2)
        .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));

    // At the time of version 7, the model was at version 7.
    let (_, at_seven) = text_at(&mut ada, 7).await;
    let request = Request::GetModelAtTime {
        collection: "docs".into(),
        id: "h".into(),
        time_ms: at_seven,
    };
    match ada.request(request).await.expect("at time") {
        Response::HistoricModel { version, .. } => {
            assert!((7..10).contains(&version), "version {version}")
        }
        other => panic!("unexpected {other:?}"),
    }
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_models_leave_memory_and_come_back_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.idle_unload_seconds = 1;
    config.snapshot_every = 3;
    let relay = common::start(config).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let h = ada
        .open_or_create("docs", "idle", serde_json::json!({"n": 0}))
        .await
        .expect("open");
    let n = ada.replica(h).model().element_at(&["n".into()]).expect("n");
    for _ in 0..7 {
        ada.submit(h, Op::NumberAdd { id: n, delta: 1.0 })
            .expect("add");
    }
    ada.settle(7, Duration::from_secs(10))
        .await
        .expect("settled");
    ada.request(Request::CloseModel { model: h })
        .await
        .expect("closed");
    let metrics = || async {
        let body = common::http_get(relay.addr, "/metrics").await;
        body.lines()
            .find(|l| l.starts_with("tandem_open_models "))
            .map(|l| l.to_owned())
            .unwrap_or_default()
    };
    let mut unloaded = false;
    for _ in 0..50 {
        if metrics().await == "tandem_open_models 0" {
            unloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        unloaded,
        "the idle model stayed in memory: {}",
        metrics().await
    );
    let h = ada.open("docs", "idle").await.expect("reopen");
    let listing = Request::ListModels {
        collection: "docs".into(),
        offset: 0,
        limit: 10,
        order_by: tandem_core::protocol::ModelOrder::Modified,
        direction: tandem_core::protocol::SortDirection::Descending,
    };
    match ada.request(listing).await.expect("list") {
        Response::ModelList { models, total } => {
            assert_eq!(total, 1);
            assert_eq!((models[0].id.as_str(), models[0].version), ("idle", 7));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(ada.replica(h).version(), 7);
    assert_eq!(
        ada.replica(h).model().to_json(),
        serde_json::json!({"n": 7})
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_history_is_gone_and_old_copies_get_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.snapshot_every = 4;
    let relay = common::start(config).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let h = ada
        .open_or_create("docs", "h", serde_json::json!({"t": ""}))
        .await
        .expect("open");
    let t = ada.replica(h).model().element_at(&["t".into()]).expect("t");
    for i in 0..10u64 {
        ada.submit(
            h,
            Op::StringInsert {
                id: t,
                index: i as usize,
                text: i.to_string(),
            },
        )
        .expect("insert");
        ada.settle(i + 1, Duration::from_secs(10))
            .await
            .expect("acknowledged");
    }
    // A second client that last saw version 2, and comes back after the compaction.
    let mut old = TestClient::anonymous(&relay.url, "Old")
        .await
        .expect("connect");

    // Snapshots every 4 operations: compacting before 7 keeps everything from version 4 on.
    let response = support::admin(
        relay.addr,
        "POST",
        "/admin/collections/docs/models/h/compact",
        Some(serde_json::json!({"before": 7})),
    )
    .await;
    assert_eq!(response.json(), serde_json::json!({"floor": 4}));
    assert_eq!(text_at(&mut ada, 6).await.0, "012345");
    assert_eq!(text_at(&mut ada, 4).await.0, "0123");
    let refused = ada
        .request(Request::GetModelAtVersion {
            collection: "docs".into(),
            id: "h".into(),
            version: 3,
        })
        .await
        .expect_err("compacted away");
    assert_eq!(
        refused.code(),
        Some(tandem_core::protocol::ErrorCode::InvalidRequest)
    );
    let refused = ada
        .request(Request::GetOperations {
            collection: "docs".into(),
            id: "h".into(),
            from_version: 2,
            to_version: 10,
        })
        .await
        .expect_err("compacted away");
    assert_eq!(
        refused.code(),
        Some(tandem_core::protocol::ErrorCode::InvalidRequest)
    );
    match ada
        .request(Request::GetOperations {
            collection: "docs".into(),
            id: "h".into(),
            from_version: 4,
            to_version: 10,
        })
        .await
        .expect("kept")
    {
        Response::Operations { ops, .. } => {
            assert_eq!(
                ops.iter().map(|o| o.version).collect::<Vec<_>>(),
                (5..=10).collect::<Vec<_>>()
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    // Opening with a version from before the floor gets the whole data, not a gap.
    match old
        .request(Request::OpenModel {
            collection: "docs".into(),
            id: "h".into(),
            known_version: Some(2),
        })
        .await
        .expect("open")
    {
        Response::ModelOpened(opened) => {
            assert_eq!(opened.version, 10);
            assert!(matches!(
                opened.content,
                tandem_core::protocol::ModelContent::Data(_)
            ));
        }
        other => panic!("unexpected {other:?}"),
    }
    // Editing goes on after a compaction.
    ada.submit(
        h,
        Op::StringInsert {
            id: t,
            index: 10,
            text: "!".into(),
        },
    )
    .expect("insert");
    ada.settle(11, Duration::from_secs(10))
        .await
        .expect("acknowledged");
    assert_eq!(text_at(&mut ada, 11).await.0, "0123456789!");

    // An operator deletes the model for real.
    let deleted = support::admin(
        relay.addr,
        "DELETE",
        "/admin/collections/docs/models/h",
        None,
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let again = support::admin(
        relay.addr,
        "DELETE",
        "/admin/collections/docs/models/h",
        None,
    )
    .await;
    assert_eq!(again.status, 404);
    let refused = old
        .request(Request::OpenModel {
            collection: "docs".into(),
            id: "h".into(),
            known_version: None,
        })
        .await
        .expect_err("deleted");
    assert_eq!(
        refused.code(),
        Some(tandem_core::protocol::ErrorCode::ModelNotFound)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_comes_in_pages_that_say_there_is_more() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let h = ada
        .open_or_create("docs", "long", serde_json::json!({"t": ""}))
        .await
        .expect("open");
    let t = ada.replica(h).model().element_at(&["t".into()]).expect("t");
    // One page is 10,000 operations: make a few more, each its own version.
    let total = 10_050u64;
    for i in 0..total {
        ada.submit(
            h,
            Op::StringInsert {
                id: t,
                index: 0,
                text: "x".into(),
            },
        )
        .expect("insert");
        if i % 1000 == 999 {
            ada.flush().await.expect("flush");
        }
    }
    ada.settle(total, Duration::from_secs(60))
        .await
        .expect("acknowledged");
    let page = |from_version| Request::GetOperations {
        collection: "docs".into(),
        id: "long".into(),
        from_version,
        to_version: total,
    };
    let (first, more) = match ada.request(page(0)).await.expect("page") {
        Response::Operations { ops, more } => (ops, more),
        other => panic!("unexpected {other:?}"),
    };
    assert!(more, "the first page is cut at the limit and says so");
    let last = first.last().expect("ops").version;
    assert_eq!(last, first.len() as u64);
    let (rest, more) = match ada.request(page(last)).await.expect("page") {
        Response::Operations { ops, more } => (ops, more),
        other => panic!("unexpected {other:?}"),
    };
    assert!(!more, "the last page says it is the last");
    assert_eq!(first.len() + rest.len(), total as usize);
    assert_eq!(rest.last().map(|o| o.version), Some(total));
}
