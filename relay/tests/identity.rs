//! Operation identity through a real relay: an origin belongs to the first user who sequences
//! under it, a resend of a sequenced `(origin, seq)` is acknowledged once whoever sends it, and
//! every session (resumed or not) gets a site of its own.

mod common;
mod support;

use std::time::Duration;

use serde_json::json;
use support::{bounded, data, prop, Raw};
use tandem_core::protocol::{Auth, ErrorCode};
use tandem_core::Op;

const LIMIT: Duration = Duration::from_secs(30);

fn insert(id: tandem_core::ElementId, text: &str) -> Op {
    Op::StringInsert {
        id,
        index: 0,
        text: text.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_is_its_first_users_and_resends_are_acknowledged_once() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let mut ada = Raw::anonymous(&relay.url, "Ada").await;
        let mut bob = Raw::anonymous(&relay.url, "Bob").await;
        let opened = ada
            .open_or_create("docs", "id", json!({"t": ""}))
            .await
            .expect("open");
        let t = prop(data(&opened), "t");
        let handle = opened.model;
        let bob_handle = bob.open("docs", "id").await.expect("open").model;
        let origin = (1 << 40) + 17;

        let first = ada.submit_as(handle, origin, 1, 0, insert(t, "a")).await;
        assert_eq!(first, Ok(1), "sequenced under a fresh origin");
        // Another user may not make new operations under Ada's origin.
        let taken = bob
            .submit_as(bob_handle, origin, 2, 1, insert(t, "b"))
            .await;
        assert_eq!(taken, Err(ErrorCode::OriginTaken));
        // A resend of what is sequenced is harmless: acknowledged as the same version.
        let resent = bob
            .submit_as(bob_handle, origin, 1, 0, insert(t, "a"))
            .await;
        assert_eq!(resent, Ok(1));
        let again = ada.submit_as(handle, origin, 1, 0, insert(t, "a")).await;
        assert_eq!(again, Ok(1), "acknowledged once, never applied twice");
        assert_eq!(
            ada.submit_as(handle, origin, 2, 1, insert(t, "c")).await,
            Ok(2)
        );

        let mut reader = Raw::anonymous(&relay.url, "Reader").await;
        let read = reader.open("docs", "id").await.expect("open");
        assert_eq!(read.version, 2);
        assert_eq!(support::json_of(data(&read)), json!({"t": "ca"}));

        // Once Ada's session is gone, another may take her origin over: a tab re-sending what
        // a crashed tab left in the cache, whoever is signed in there.
        ada.close().await;
        let mut deadline = 50;
        let taken_over = loop {
            let verdict = bob
                .submit_as(bob_handle, origin, 3, 2, insert(t, "d"))
                .await;
            if verdict != Err(ErrorCode::OriginTaken) || deadline == 0 {
                break verdict;
            }
            // The relay may not have seen Ada's socket close yet.
            deadline -= 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(taken_over, Ok(3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resumed_from_one_token_each_get_their_own_site() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let first = Raw::anonymous(&relay.url, "Ada").await;
        let token = first.welcome().reconnect_token.clone();
        let mut sites = vec![first.site()];
        for _ in 0..3 {
            let resumed = Raw::hello(
                &relay.url,
                Auth::ReconnectToken {
                    token: token.clone(),
                },
            )
            .await
            .expect("resume");
            assert_eq!(resumed.welcome().user, first.welcome().user);
            sites.push(resumed.site());
        }
        sites.sort_unstable();
        sites.dedup();
        assert_eq!(sites.len(), 4, "four sessions, four sites");
    })
    .await;
}
