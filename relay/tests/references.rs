//! Shared references through a real relay: transformed like operations, seen by sessions that
//! open the model later, and gone for everyone when their session leaves.

mod common;

use std::time::Duration;

use tandem_core::{Op, ReferenceKey, ReferenceValue};
use tandem_relay::test_client::TestClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_follow_concurrent_edits_and_leave_with_their_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let mut bob = TestClient::anonymous(&relay.url, "Bob")
        .await
        .expect("connect");
    let ha = ada
        .open_or_create("docs", "refs", serde_json::json!({"t": "hello world"}))
        .await
        .expect("open");
    let hb = bob.open("docs", "refs").await.expect("open");
    let t = ada
        .replica(ha)
        .model()
        .element_at(&["t".into()])
        .expect("t");
    let cursor = ReferenceKey {
        element: Some(t),
        key: "cursor".into(),
    };

    // Ada's cursor before "world".
    let replica = &mut ada.models.get_mut(&ha).expect("open").replica;
    replica.set_reference(cursor.clone(), ReferenceValue::Index(vec![6]));
    replica.share_reference(cursor.clone());
    ada.flush().await.expect("flush");
    let ada_session = ada.welcome.session_id.clone();
    for _ in 0..100 {
        bob.pump(Duration::from_millis(20)).await.expect("pump");
        if bob
            .replica(hb)
            .remote_reference(&ada_session, &cursor)
            .is_some()
        {
            break;
        }
    }
    assert_eq!(
        bob.replica(hb).remote_reference(&ada_session, &cursor),
        Some(ReferenceValue::Index(vec![6]))
    );

    // Bob types before it, concurrently with Ada moving nothing: everyone sees it move.
    bob.submit(
        hb,
        Op::StringInsert {
            id: t,
            index: 0,
            text: "Oh, ".into(),
        },
    )
    .expect("insert");
    bob.settle(1, Duration::from_secs(10))
        .await
        .expect("settled");
    ada.settle(1, Duration::from_secs(10))
        .await
        .expect("settled");
    assert_eq!(
        ada.replica(ha).local_reference(&cursor),
        Some(&ReferenceValue::Index(vec![10]))
    );
    assert_eq!(
        bob.replica(hb).remote_reference(&ada_session, &cursor),
        Some(ReferenceValue::Index(vec![10]))
    );

    // A session opening later sees the reference where it is now.
    let mut cyd = TestClient::anonymous(&relay.url, "Cyd")
        .await
        .expect("connect");
    let hc = cyd.open("docs", "refs").await.expect("open");
    assert_eq!(
        cyd.replica(hc).remote_reference(&ada_session, &cursor),
        Some(ReferenceValue::Index(vec![10]))
    );

    // Ada's socket is cut: her references vanish for everyone.
    ada.cut().await;
    let mut gone = false;
    for _ in 0..200 {
        bob.pump(Duration::from_millis(20)).await.expect("pump");
        if bob
            .replica(hb)
            .remote_reference(&ada_session, &cursor)
            .is_none()
        {
            gone = true;
            break;
        }
    }
    assert!(gone, "the cut session's cursor stayed");
    cyd.pump(Duration::from_millis(200)).await.expect("pump");
    assert_eq!(
        cyd.replica(hc).remote_reference(&ada_session, &cursor),
        None
    );
    relay.stop().await;
}
