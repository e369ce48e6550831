//! A session that does not read its frames cannot slow the others down: the model drops it and
//! its connection is closed with 4004, so its client reconnects and resyncs instead of silently
//! missing operations.

mod common;

use std::time::{Duration, Instant};

use tandem_core::Op;
use tandem_relay::test_client::{ClientFailure, TestClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_stops_reading_is_closed_and_others_carry_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.outbox_frames = 4;
    let relay = common::start(config).await;
    let mut writer = TestClient::anonymous(&relay.url, "writer")
        .await
        .expect("connect");
    let h = writer
        .open_or_create("docs", "flood", serde_json::json!({"t": ""}))
        .await
        .expect("open");
    let mut sleeper = TestClient::anonymous(&relay.url, "sleeper")
        .await
        .expect("connect");
    sleeper.open("docs", "flood").await.expect("open");
    let t = writer
        .replica(h)
        .model()
        .element_at(&["t".into()])
        .expect("t");
    let chunk = "x".repeat(20_000);
    let started = Instant::now();
    let mut version = 0;
    // The sleeper never reads; the writer goes on regardless.
    for _ in 0..200 {
        for _ in 0..10 {
            // Large frames, a small document: every operation replaces the whole text.
            writer
                .submit(
                    h,
                    Op::StringSet {
                        id: t,
                        value: format!("{version}{chunk}"),
                    },
                )
                .expect("set");
            version += 1;
        }
        writer
            .settle(version, Duration::from_secs(10))
            .await
            .expect("the writer is not held back");
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    let closed = loop {
        match sleeper.pump_one(Duration::from_secs(10)).await {
            Ok(()) => continue,
            Err(ClientFailure::Closed(code)) => break code,
            Err(e) => panic!("unexpected: {e}"),
        }
    };
    assert_eq!(closed, Some(4004), "the slow session is closed with 4004");
    // It reconnects, resyncs and has everything.
    sleeper.reconnect(None).await.expect("reconnect");
    sleeper
        .settle(version, Duration::from_secs(20))
        .await
        .expect("caught up");
    let hs = *sleeper.models.keys().next().expect("model");
    assert_eq!(
        sleeper.replica(hs).model().to_json(),
        writer.replica(h).model().to_json()
    );
    relay.stop().await;
}
