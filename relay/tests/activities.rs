//! Activities through a real relay: joins and leaves, lurkers, state changes, a late joiner
//! seeing everyone's current state at once, cleanup when a session goes (closed or cut), bad
//! input refused without changing anything, and activity permissions.

mod common;
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use tandem_core::protocol::{
    ActivityEvent, ActivityParticipant, ActivityRights, ErrorCode, PermissionTarget, Request,
    Response,
};
use tandem_core::Value;
use tandem_relay::test_client::TestClient;

fn state(entries: &[(&str, Value)]) -> Vec<(String, Value)> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn join(activity_id: &str, lurk: bool, state: Vec<(String, Value)>) -> Request {
    Request::JoinActivity {
        activity_type: "document".into(),
        activity_id: activity_id.into(),
        lurk,
        state,
    }
}

async fn joined(
    client: &mut TestClient,
    request: Request,
) -> (u32, Vec<ActivityParticipant>, ActivityRights) {
    match client.request(request).await.expect("join") {
        Response::ActivityJoined {
            activity,
            participants,
            rights,
        } => (activity, participants, rights),
        other => panic!("unexpected {other:?}"),
    }
}

/// Pumps `client` until `done` holds on its activity events, or fails after five seconds.
async fn wait_for(client: &mut TestClient, what: &str, done: impl Fn(&[ActivityEvent]) -> bool) {
    wait_within(client, Duration::from_secs(5), what, done).await;
}

/// Pumps `client` until `done` holds on its activity events, or fails after `limit`.
async fn wait_within(
    client: &mut TestClient,
    limit: Duration,
    what: &str,
    done: impl Fn(&[ActivityEvent]) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        let events: Vec<ActivityEvent> = client
            .activity_events
            .iter()
            .map(|(_, e)| e.clone())
            .collect();
        if done(&events) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {events:?}"
        );
        client.pump(Duration::from_millis(20)).await.expect("pump");
    }
}

fn sessions(participants: &[ActivityParticipant]) -> Vec<&str> {
    participants.iter().map(|p| p.session_id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_state_lurkers_late_joiners_and_cleanup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let mut bob = TestClient::anonymous(&relay.url, "Bob")
        .await
        .expect("connect");
    let mut eve = TestClient::anonymous(&relay.url, "Eve")
        .await
        .expect("connect");
    let ada_s = ada.welcome.session_id.clone();
    let bob_s = bob.welcome.session_id.clone();

    let colour = state(&[("colour", Value::String("red".into()))]);
    let (activity, participants, rights) =
        joined(&mut ada, join("42", false, colour.clone())).await;
    assert_eq!(
        rights,
        ActivityRights::OPEN,
        "no entries: everything but manage"
    );
    assert_eq!(sessions(&participants), vec![ada_s.as_str()]);
    assert_eq!(participants[0].state, colour);

    // A lurker sees Ada, is not listed, and hears what happens.
    let (lurked, seen, _) = joined(&mut eve, join("42", true, vec![])).await;
    assert_eq!(
        lurked, activity,
        "one number names the activity for everyone"
    );
    assert_eq!(sessions(&seen), vec![ada_s.as_str()]);
    let refused = eve
        .request(Request::SetActivityState {
            activity,
            state: colour.clone(),
        })
        .await
        .expect_err("lurkers have no state");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest));

    // Bob joins: Ada hears of it; Bob sees Ada's current state at once, but not Eve.
    let (_, seen, _) = joined(&mut bob, join("42", false, vec![])).await;
    assert_eq!(sessions(&seen), vec![ada_s.as_str(), bob_s.as_str()]);
    assert_eq!(seen[0].state, colour);
    wait_for(&mut ada, "Bob's join", |e| e.iter().any(|e| matches!(e, ActivityEvent::Joined { participant, .. } if participant.session_id == bob_s))).await;
    assert!(
        !ada.activity_events.iter().any(|(_, e)| matches!(e, ActivityEvent::Joined { participant, .. } if participant.session_id == eve.welcome.session_id)),
        "a lurker's join is not announced"
    );

    // State changes reach everyone else, lurkers included.
    let typing = state(&[("typing", Value::Bool(true))]);
    assert_eq!(
        bob.request(Request::SetActivityState {
            activity,
            state: typing.clone()
        })
        .await
        .expect("set"),
        Response::Done
    );
    bob.request(Request::RemoveActivityState {
        activity,
        keys: vec!["typing".into()],
    })
    .await
    .expect("remove");
    ada.request(Request::ClearActivityState { activity })
        .await
        .expect("clear");
    for client in [&mut ada, &mut eve] {
        wait_for(client, "Bob's state", |e| {
            e.contains(&ActivityEvent::StateSet {
                activity,
                session_id: bob_s.clone(),
                state: typing.clone(),
            })
        })
        .await;
        wait_for(client, "Bob's removal", |e| e.iter().any(|e| matches!(e, ActivityEvent::StateRemoved { session_id, .. } if *session_id == bob_s))).await;
    }
    wait_for(&mut eve, "Ada's clearing", |e| {
        e.contains(&ActivityEvent::StateCleared {
            activity,
            session_id: ada_s.clone(),
        })
    })
    .await;
    assert!(
        !bob.activity_events.iter().any(
            |(_, e)| matches!(e, ActivityEvent::StateSet { session_id, .. } if *session_id == bob_s)
        ),
        "nobody hears their own changes back"
    );

    // Bad input changes nothing.
    let huge = state(&[("blob", Value::String("x".repeat(20_000)))]);
    let refused = bob
        .request(Request::SetActivityState {
            activity,
            state: huge,
        })
        .await
        .expect_err("too big");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest));
    let refused = bob
        .request(Request::SetActivityState {
            activity: activity + 100,
            state: typing.clone(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(refused.code(), Some(ErrorCode::ActivityNotFound));
    let refused = bob
        .request(join("42", false, vec![]))
        .await
        .expect_err("twice");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest));
    let refused = bob
        .request(join("", false, vec![]))
        .await
        .expect_err("empty id");
    assert_eq!(refused.code(), Some(ErrorCode::InvalidRequest));

    // A late joiner sees everyone with their current state.
    bob.request(Request::SetActivityState {
        activity,
        state: typing.clone(),
    })
    .await
    .expect("set");
    let mut cat = TestClient::anonymous(&relay.url, "Cat")
        .await
        .expect("connect");
    let (_, seen, _) = joined(&mut cat, join("42", false, vec![])).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].state, vec![], "Ada cleared hers");
    assert_eq!(seen[1].state, typing);

    // Leaving, closing and a cut socket all remove the session for everyone.
    assert_eq!(
        cat.request(Request::LeaveActivity { activity })
            .await
            .expect("leave"),
        Response::Done
    );
    let refused = cat
        .request(Request::LeaveActivity { activity })
        .await
        .expect_err("not in it");
    assert_eq!(refused.code(), Some(ErrorCode::ActivityNotFound));
    bob.cut().await;
    ada.close().await;
    wait_for(&mut eve, "everyone gone", |e| {
        [&bob_s, &ada_s].iter().all(|s| {
            e.iter()
                .any(|e| matches!(e, ActivityEvent::Left { session_id, .. } if session_id == *s))
        })
    })
    .await;
    eve.request(Request::LeaveActivity { activity })
        .await
        .expect("leave");
    cat.close().await;
    eve.close().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_session_is_dropped_by_heartbeat_and_leaves_its_activities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.heartbeat_seconds = 1;
    let relay = common::start(config).await;
    let mut ada = TestClient::anonymous(&relay.url, "Ada")
        .await
        .expect("connect");
    let mut ghost = TestClient::anonymous(&relay.url, "Ghost")
        .await
        .expect("connect");
    let ghost_s = ghost.welcome.session_id.clone();
    let (activity, _, _) = joined(&mut ghost, join("silent", false, vec![])).await;
    joined(&mut ada, join("silent", false, vec![])).await;
    // The ghost's socket stays open but it never answers again (a network that went away
    // without a word): the relay's heartbeat finds out within three or four beats (ten seconds
    // allowed, for a loaded machine).
    wait_within(
        &mut ada,
        Duration::from_secs(10),
        "the ghost to leave",
        |e| {
            e.contains(&ActivityEvent::Left {
                activity,
                session_id: ghost_s.clone(),
            })
        },
    )
    .await;
    drop(ghost);
    ada.close().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_permissions_decide_who_joins_lurks_views_sets_and_manages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = common::start(common::config(dir.path())).await;
    // Per-user entries name accounts (an anonymous user is new with every session).
    let password = |name: &str| tandem_core::protocol::Auth::Password {
        username: name.into(),
        password: "pw".into(),
    };
    let boss_id = support::create_user(relay.addr, "boss", "pw").await;
    let guest_id = support::create_user(relay.addr, "guest", "pw").await;
    let mut boss = TestClient::connect(&relay.url, password("boss"))
        .await
        .expect("connect");
    let mut guest = TestClient::connect(&relay.url, password("guest"))
        .await
        .expect("connect");
    let kind = |id: Option<&str>| Request::GetActivityPermissions {
        activity_type: "document".into(),
        activity_id: id.map(str::to_owned),
    };

    // Nobody manages until the operator says so.
    let refused = boss.request(kind(None)).await.expect_err("no manage yet");
    assert_eq!(refused.code(), Some(ErrorCode::PermissionDenied));
    let response = support::admin(
        relay.addr,
        "PUT",
        "/admin/activity-permissions",
        Some(json!({
            "type": "document", "grantee": format!("user:{boss_id}"),
            "join": true, "lurk": true, "viewState": true, "setState": true, "manage": true,
        })),
    )
    .await;
    assert_eq!(
        response.status,
        204,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    // The world may only lurk, without seeing state, on documents.
    let world_lurks = ActivityRights {
        lurk: true,
        ..ActivityRights::default()
    };
    let set = |target, rights| Request::SetActivityPermissions {
        activity_type: "document".into(),
        activity_id: None,
        target,
        rights,
    };
    assert_eq!(
        boss.request(set(PermissionTarget::World, Some(world_lurks)))
            .await
            .expect("set"),
        Response::Done
    );
    match boss.request(kind(None)).await.expect("get") {
        Response::ActivityPermissions { world, users, .. } => {
            assert_eq!(world, Some(world_lurks));
            assert_eq!(users, vec![(boss_id.clone(), ActivityRights::ALL)]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let refused = guest
        .request(kind(None))
        .await
        .expect_err("guest does not manage");
    assert_eq!(refused.code(), Some(ErrorCode::PermissionDenied));

    let (activity, _, rights) = joined(
        &mut boss,
        join(
            "7",
            false,
            state(&[("colour", Value::String("blue".into()))]),
        ),
    )
    .await;
    assert!(rights.manage);
    let refused = guest
        .request(join("7", false, vec![]))
        .await
        .expect_err("world may not join");
    assert_eq!(refused.code(), Some(ErrorCode::PermissionDenied));
    let (_, seen, rights) = joined(&mut guest, join("7", true, vec![])).await;
    assert_eq!(rights, world_lurks);
    assert_eq!(
        seen[0].state,
        vec![],
        "no view-state: participants come without their state"
    );
    boss.request(Request::SetActivityState {
        activity,
        state: state(&[("typing", Value::Bool(true))]),
    })
    .await
    .expect("set");
    guest.pump(Duration::from_millis(300)).await.expect("pump");
    assert!(
        guest.activity_events.is_empty(),
        "no state events without view-state: {:?}",
        guest.activity_events
    );
    guest
        .request(Request::LeaveActivity { activity })
        .await
        .expect("leave");

    // One activity with entries of its own is governed by them alone.
    let one = Request::SetActivityPermissions {
        activity_type: "document".into(),
        activity_id: Some("7".into()),
        target: PermissionTarget::User {
            user_id: guest_id.clone(),
        },
        rights: Some(ActivityRights {
            join: true,
            view_state: true,
            ..ActivityRights::default()
        }),
    };
    let refused = guest
        .request(one.clone())
        .await
        .expect_err("guest does not manage it");
    assert_eq!(refused.code(), Some(ErrorCode::PermissionDenied));
    // The type's manager manages each activity of it; entries of its own govern activity 7 from
    // now on (and the boss, in it, keeps its place only through its own entry).
    for request in [
        Request::SetActivityPermissions {
            activity_type: "document".into(),
            activity_id: Some("7".into()),
            target: PermissionTarget::User {
                user_id: boss_id.clone(),
            },
            rights: Some(ActivityRights::ALL),
        },
        one,
    ] {
        assert_eq!(boss.request(request).await.expect("set"), Response::Done);
    }
    match boss
        .request(kind(Some("7")))
        .await
        .expect("still managed by the type's manager")
    {
        Response::ActivityPermissions { world, users, .. } => {
            assert_eq!(world, None, "the activity's own entries only");
            assert_eq!(users.len(), 2);
        }
        other => panic!("unexpected {other:?}"),
    }
    let (_, seen, rights) = joined(&mut guest, join("7", false, vec![])).await;
    assert!(rights.join && rights.view_state && !rights.set_state);
    assert_eq!(
        seen[0].state,
        state(&[
            ("colour", Value::String("blue".into())),
            ("typing", Value::Bool(true))
        ])
    );
    let refused = guest
        .request(Request::SetActivityState {
            activity,
            state: state(&[("x", Value::Null)]),
        })
        .await
        .expect_err("no set-state");
    assert_eq!(refused.code(), Some(ErrorCode::PermissionDenied));
    let refused = guest
        .request(join("8", false, vec![]))
        .await
        .expect_err("other documents follow the type's entries");
    assert_eq!(refused.code(), Some(ErrorCode::PermissionDenied));
    // Taking the right away applies at once: the guest is out, and told so.
    boss.request(Request::SetActivityPermissions {
        activity_type: "document".into(),
        activity_id: Some("7".into()),
        target: PermissionTarget::User {
            user_id: guest_id.clone(),
        },
        rights: None,
    })
    .await
    .expect("revoke");
    let guest_s = guest.welcome.session_id.clone();
    let out = ActivityEvent::Left {
        activity,
        session_id: guest_s.clone(),
    };
    wait_for(&mut guest, "being taken out", |e| e.contains(&out)).await;
    wait_for(&mut boss, "the guest leaving", |e| e.contains(&out)).await;
    let refused = guest
        .request(Request::ClearActivityState { activity })
        .await
        .expect_err("out");
    assert_eq!(refused.code(), Some(ErrorCode::ActivityNotFound));
    boss.close().await;
    guest.close().await;
    relay.stop().await;
}
