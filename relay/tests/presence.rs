//! Presence through a real relay: availability follows a user's sessions (including a socket cut
//! without a goodbye), state set by one session reaches followers, subscriptions start from the
//! current state and stop when asked, and oversized state is refused without changing anything.

mod common;

use std::time::{Duration, Instant};

use tandem_core::protocol::{ErrorCode, PresenceEvent, Request, Response, UserPresence};
use tandem_core::Value;
use tandem_relay::test_client::TestClient;

/// Pumps `client` until `done` holds on its presence events, or fails after five seconds.
async fn wait_for(client: &mut TestClient, what: &str, done: impl Fn(&[PresenceEvent]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(&client.presence_events) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            client.presence_events
        );
        client.pump(Duration::from_millis(20)).await.expect("pump");
    }
}

async fn presence(client: &mut TestClient, request: Request) -> Vec<UserPresence> {
    match client.request(request).await.expect("request") {
        Response::Presence { users } => users,
        other => panic!("unexpected {other:?}"),
    }
}

fn state(entries: &[(&str, Value)]) -> Vec<(String, Value)> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_and_state_reach_followers_until_the_last_session_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.heartbeat_seconds = 1;
    let relay = common::start(config).await;
    let mut watcher = TestClient::anonymous(&relay.url, "Watcher")
        .await
        .expect("connect");
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let ada_id = ada.welcome.user.user_id.clone();

    // Following starts from the current presence: available, no state yet.
    let now = presence(
        &mut watcher,
        Request::SubscribePresence {
            user_ids: vec![ada_id.clone(), "nobody".into()],
        },
    )
    .await;
    assert_eq!(
        now[0],
        UserPresence {
            user_id: ada_id.clone(),
            available: true,
            state: vec![]
        }
    );
    assert!(!now[1].available, "an unknown user is not available");

    // State propagates: set, then merged, removed and cleared.
    let status = state(&[
        ("status", Value::String("in a meeting".into())),
        ("until", Value::Number(1500.0)),
    ]);
    assert_eq!(
        ada.request(Request::SetPresenceState {
            state: status.clone()
        })
        .await
        .expect("set"),
        Response::Done
    );
    wait_for(&mut watcher, "the state", |e| {
        e.contains(&PresenceEvent::StateSet {
            user_id: ada_id.clone(),
            state: status.clone(),
        })
    })
    .await;
    ada.request(Request::SetPresenceState {
        state: state(&[("status", Value::String("free".into()))]),
    })
    .await
    .expect("set");
    ada.request(Request::RemovePresenceState {
        keys: vec!["until".into()],
    })
    .await
    .expect("remove");
    wait_for(&mut watcher, "the removal", |e| {
        e.iter()
            .any(|e| matches!(e, PresenceEvent::StateRemoved { .. }))
    })
    .await;
    let read = presence(
        &mut watcher,
        Request::GetPresence {
            user_ids: vec![ada_id.clone()],
        },
    )
    .await;
    assert_eq!(
        read[0].state,
        state(&[("status", Value::String("free".into()))])
    );

    // Too much state is refused and changes nothing.
    let huge = state(&[("blob", Value::String("x".repeat(20_000)))]);
    let refused = ada
        .request(Request::SetPresenceState { state: huge })
        .await
        .expect_err("too big");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest));
    let many: Vec<(String, Value)> = (0..100).map(|i| (format!("k{i}"), Value::Null)).collect();
    assert!(ada
        .request(Request::SetPresenceState { state: many })
        .await
        .is_err());
    let read = presence(
        &mut watcher,
        Request::GetPresence {
            user_ids: vec![ada_id.clone()],
        },
    )
    .await;
    assert_eq!(
        read[0].state.len(),
        1,
        "refused changes left the state as it was"
    );

    // A second session of the same user (a reconnect token names the same user): the user
    // stays available until both are gone, and the last one goes by a cut socket.
    let token = ada.welcome.reconnect_token.clone();
    let second = TestClient::connect(
        &relay.url,
        tandem_core::protocol::Auth::ReconnectToken { token },
    )
    .await
    .expect("second session");
    assert_eq!(second.welcome.user.user_id, ada_id);
    ada.close().await;
    watcher
        .pump(Duration::from_millis(300))
        .await
        .expect("pump");
    assert!(
        !watcher
            .presence_events
            .contains(&PresenceEvent::Unavailable {
                user_id: ada_id.clone()
            }),
        "still available through the second session"
    );
    watcher.presence_events.clear();
    second.cut().await;
    // No close handshake: the relay sees the connection end (a silent network would take its
    // heartbeat, 1 s here, three times over).
    wait_for(&mut watcher, "unavailability after the cut", |e| {
        e.contains(&PresenceEvent::Unavailable {
            user_id: ada_id.clone(),
        })
    })
    .await;
    let read = presence(
        &mut watcher,
        Request::GetPresence {
            user_ids: vec![ada_id.clone()],
        },
    )
    .await;
    assert_eq!(
        read[0],
        UserPresence {
            user_id: ada_id.clone(),
            available: false,
            state: vec![]
        }
    );

    // A session follows at most 10,000 users.
    let many: Vec<String> = (0..10_001).map(|i| format!("u{i}")).collect();
    let refused = watcher
        .request(Request::SubscribePresence { user_ids: many })
        .await
        .expect_err("too many");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest));

    // Coming back is seen; after unsubscribing, nothing more arrives.
    watcher.presence_events.clear();
    let again = TestClient::anonymous(&relay.url, "Ada again")
        .await
        .expect("connect");
    let again_id = again.welcome.user.user_id.clone();
    presence(
        &mut watcher,
        Request::SubscribePresence {
            user_ids: vec![again_id.clone()],
        },
    )
    .await;
    assert_eq!(
        watcher
            .request(Request::UnsubscribePresence {
                user_ids: vec![again_id.clone()]
            })
            .await
            .expect("unsubscribe"),
        Response::Done
    );
    again.close().await;
    watcher
        .pump(Duration::from_millis(300))
        .await
        .expect("pump");
    assert!(
        watcher.presence_events.is_empty(),
        "no events after unsubscribing: {:?}",
        watcher.presence_events
    );
    relay.stop().await;
}
