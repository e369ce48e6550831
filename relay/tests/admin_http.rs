//! The relay's HTTP side against a real relay over loopback: the admin API (guarded by the
//! admin key, off without one), `/healthz`, `/metrics` and the demo at `/`.

// `common` is shared with other test binaries; its child-process helpers are not ours to lint.
mod common;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use support::{admin, bounded, create_user, data, http, prop, Raw, ADMIN_KEY};
use tandem_core::Op;

const LIMIT: Duration = Duration::from_secs(60);

/// Every admin route, with a body where it takes one.
fn admin_routes() -> Vec<(&'static str, &'static str, Option<serde_json::Value>)> {
    vec![
        (
            "POST",
            "/admin/users",
            Some(json!({"username": "ada", "password": "pw"})),
        ),
        (
            "PUT",
            "/admin/users/someone",
            Some(json!({"display_name": "Someone"})),
        ),
        ("POST", "/admin/groups", Some(json!({"id": "editors"}))),
        ("PUT", "/admin/groups/editors/members/someone", None),
        ("DELETE", "/admin/groups/editors/members/someone", None),
        ("POST", "/admin/collections", Some(json!({"id": "docs"}))),
        (
            "PUT",
            "/admin/permissions",
            Some(json!({"collection": "docs", "grantee": "world", "read": true})),
        ),
        (
            "PUT",
            "/admin/activity-permissions",
            Some(json!({"type": "document", "grantee": "world", "join": true})),
        ),
        (
            "POST",
            "/admin/collections/docs/models/some-model/compact",
            Some(json!({"before": 10})),
        ),
        ("DELETE", "/admin/collections/docs/models/some-model", None),
        ("GET", "/admin/collections/docs/models", None),
    ]
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &Option<serde_json::Value>,
) -> support::HttpResponse {
    let body = body.as_ref().map(|b| b.to_string());
    http(addr, method, path, authorization, body.as_deref()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_needs_the_key() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let wrong = "Bearer not-the-key".to_owned();
        let almost = format!("Bearer {}x", ADMIN_KEY);
        let basic = format!("Basic {ADMIN_KEY}");
        for (method, path, body) in admin_routes() {
            for authorization in [
                None,
                Some(wrong.as_str()),
                Some(almost.as_str()),
                Some(basic.as_str()),
                Some("Bearer "),
            ] {
                let answer = call(relay.addr, method, path, authorization, &body).await;
                assert_eq!(
                    answer.status,
                    401,
                    "{method} {path} with {authorization:?}: {}",
                    answer.text()
                );
                assert_eq!(answer.code(), "unauthenticated", "{method} {path}");
            }
        }
        // Nothing was done by the refused calls.
        let listed = admin(relay.addr, "GET", "/admin/collections/docs/models", None).await;
        assert_eq!(listed.status, 200);
        let created = admin(
            relay.addr,
            "POST",
            "/admin/users",
            Some(json!({"username": "ada"})),
        )
        .await;
        assert_eq!(
            created.status,
            201,
            "the user was not created before: {}",
            created.text()
        );
        let created = admin(
            relay.addr,
            "POST",
            "/admin/collections",
            Some(json!({"id": "docs"})),
        )
        .await;
        assert_eq!(
            created.status,
            201,
            "the collection was not created before: {}",
            created.text()
        );
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_key_the_admin_api_is_off() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = common::config(dir.path());
        config.admin_key = None;
        let relay = common::start(config).await;
        let key = format!("Bearer {ADMIN_KEY}");
        for (method, path, body) in admin_routes() {
            for authorization in [None, Some(key.as_str()), Some("Bearer ")] {
                let answer = call(relay.addr, method, path, authorization, &body).await;
                assert_eq!(
                    answer.status,
                    403,
                    "{method} {path} with {authorization:?}: {}",
                    answer.text()
                );
                assert_eq!(answer.code(), "disabled");
            }
        }
        // The rest of the relay works.
        assert_eq!(
            http(relay.addr, "GET", "/healthz", None, None).await.status,
            200
        );
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_groups_and_members() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let addr = relay.addr;

        let ada = admin(addr, "POST", "/admin/users", Some(json!({"username": "ada", "password": "pw", "display_name": "Ada L.", "email": "ada@example.org", "id": "u-ada"}))).await;
        assert_eq!(ada.status, 201, "{}", ada.text());
        assert_eq!(ada.json(), json!({"id": "u-ada", "username": "ada"}));
        assert!(!ada.text().contains("pw\""), "the answer does not echo the password");
        let bob_id = create_user(addr, "bob", "pw").await;
        assert!(!bob_id.is_empty() && bob_id != "bob", "a generated id");

        for (body, status, code) in [
            (json!({"username": "ada", "password": "other"}), 409, "exists"),
            (json!({"username": "ada2", "id": "u-ada"}), 409, "exists"),
            (json!({"username": ""}), 400, "invalid_request"),
            (json!({"username": "x".repeat(101)}), 400, "invalid_request"),
            (json!({"password": "no username"}), 400, "invalid_request"),
            (json!({"username": 7}), 400, "invalid_request"),
        ] {
            let answer = admin(addr, "POST", "/admin/users", Some(body.clone())).await;
            assert_eq!((answer.status, answer.code().as_str()), (status, code), "{body}: {}", answer.text());
        }
        let not_json = http(addr, "POST", "/admin/users", Some(&format!("Bearer {ADMIN_KEY}")), Some("{not json")).await;
        assert_eq!((not_json.status, not_json.code().as_str()), (400, "invalid_request"));

        // The stored user logs in with the password and shows the profile given.
        let session = Raw::hello(&relay.url, tandem_core::protocol::Auth::Password { username: "ada".into(), password: "pw".into() }).await.expect("login");
        let user = &session.welcome().user;
        assert_eq!((user.user_id.as_str(), user.display_name.as_deref(), user.email.as_deref()), ("u-ada", Some("Ada L."), Some("ada@example.org")));

        // An admin changes a user's profile; the next session shows it.
        let changed = admin(addr, "PUT", "/admin/users/u-ada", Some(json!({"display_name": "Ada Lovelace", "avatar_url": "https://example.org/ada.png"}))).await;
        assert_eq!(changed.status, 204, "{}", changed.text());
        let session = Raw::hello(&relay.url, tandem_core::protocol::Auth::Password { username: "ada".into(), password: "pw".into() }).await.expect("login");
        let user = &session.welcome().user;
        assert_eq!((user.display_name.as_deref(), user.email.as_deref(), user.avatar_url.as_deref()), (Some("Ada Lovelace"), Some("ada@example.org"), Some("https://example.org/ada.png")));
        for (path, body, status, code) in [
            ("/admin/users/nobody", json!({"display_name": "X"}), 404, "user_not_found"),
            ("/admin/users/u-ada", json!({"avatar_url": "javascript:alert(1)"}), 400, "invalid_request"),
            ("/admin/users/u-ada", json!({"display_name": ""}), 400, "invalid_request"),
        ] {
            let answer = admin(addr, "PUT", path, Some(body.clone())).await;
            assert_eq!((answer.status, answer.code().as_str()), (status, code), "{body}: {}", answer.text());
        }

        let group = admin(addr, "POST", "/admin/groups", Some(json!({"id": "editors", "description": "People who edit"}))).await;
        assert_eq!((group.status, group.json()), (201, json!({"id": "editors"})));
        let again = admin(addr, "POST", "/admin/groups", Some(json!({"id": "editors"}))).await;
        assert_eq!((again.status, again.code().as_str()), (409, "exists"));
        let bad = admin(addr, "POST", "/admin/groups", Some(json!({"description": "no id"}))).await;
        assert_eq!(bad.status, 400, "{}", bad.text());

        let added = admin(addr, "PUT", "/admin/groups/editors/members/u-ada", None).await;
        assert_eq!(added.status, 204, "{}", added.text());
        let twice = admin(addr, "PUT", "/admin/groups/editors/members/u-ada", None).await;
        assert_eq!(twice.status, 204, "adding a member is idempotent");
        let no_user = admin(addr, "PUT", "/admin/groups/editors/members/u-nobody", None).await;
        assert_eq!((no_user.status, no_user.code().as_str()), (404, "not_found"));
        let no_group = admin(addr, "PUT", "/admin/groups/nobody/members/u-ada", None).await;
        assert_eq!((no_group.status, no_group.code().as_str()), (404, "not_found"));

        // The membership is visible through the protocol.
        let mut client = session;
        let groups = client.request(tandem_core::protocol::Request::GetUserGroups { user_id: "u-ada".into() }).await.expect("groups");
        match groups {
            tandem_core::protocol::Response::Groups { groups } => {
                assert_eq!(groups.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), ["editors"])
            }
            other => panic!("{other:?}"),
        }
        let removed = admin(addr, "DELETE", "/admin/groups/editors/members/u-ada", None).await;
        assert_eq!(removed.status, 204, "{}", removed.text());
        let groups = client.request(tandem_core::protocol::Request::GetUserGroups { user_id: "u-ada".into() }).await.expect("groups");
        assert_eq!(groups, tandem_core::protocol::Response::Groups { groups: Vec::new() });
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_permissions_and_model_listing() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = common::config(dir.path());
        config.auto_create_collections = false;
        let relay = common::start(config).await;
        let addr = relay.addr;

        let created = admin(addr, "POST", "/admin/collections", Some(json!({"id": "docs"}))).await;
        assert_eq!((created.status, created.json()), (201, json!({"id": "docs"})));
        let again = admin(addr, "POST", "/admin/collections", Some(json!({"id": "docs"}))).await;
        assert_eq!((again.status, again.code().as_str()), (409, "exists"));
        for body in [json!({"id": ""}), json!({"id": "x".repeat(201)}), json!({"name": "docs"})] {
            let answer = admin(addr, "POST", "/admin/collections", Some(body.clone())).await;
            assert_eq!((answer.status, answer.code().as_str()), (400, "invalid_request"), "{body}");
        }

        // Permissions: world may read and write docs.
        let world = json!({"collection": "docs", "grantee": "world", "read": true, "write": true});
        assert_eq!(admin(addr, "PUT", "/admin/permissions", Some(world)).await.status, 204);
        for (body, status, code) in [
            (json!({"collection": "nowhere", "grantee": "world", "read": true}), 404, "collection_not_found"),
            (json!({"collection": "docs", "model": "nope", "grantee": "world", "read": true}), 404, "model_not_found"),
            (json!({"collection": "docs", "grantee": "everyone", "read": true}), 400, "invalid_request"),
            (json!({"collection": "docs", "grantee": "user:", "read": true}), 400, "invalid_request"),
            (json!({"collection": "docs", "grantee": "team:x", "read": true}), 400, "invalid_request"),
            (json!({"grantee": "world", "read": true}), 400, "invalid_request"),
            (json!({"collection": "docs", "grantee": "world", "read": "yes"}), 400, "invalid_request"),
        ] {
            let answer = admin(addr, "PUT", "/admin/permissions", Some(body.clone())).await;
            assert_eq!((answer.status, answer.code().as_str()), (status, code), "{body}: {}", answer.text());
        }

        // Models made through the protocol are listed, paged and ordered.
        let mut client = Raw::anonymous(&relay.url, "writer").await;
        for id in ["a", "b", "c"] {
            client.create("docs", id, json!({"id": id})).await.expect("create");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let opened = client.open("docs", "a").await.expect("open");
        let field = prop(data(&opened), "id");
        assert_eq!(client.submit(opened.model, 0, Op::StringInsert { id: field, index: 1, text: "!".into() }).await, Ok(1));

        let ids = |answer: &support::HttpResponse| -> Vec<String> {
            assert_eq!(answer.status, 200, "{}", answer.text());
            answer.json()["models"].as_array().expect("models").iter().map(|m| m["id"].as_str().expect("id").to_owned()).collect()
        };
        let all = admin(addr, "GET", "/admin/collections/docs/models", None).await;
        assert_eq!(ids(&all), ["a", "b", "c"]);
        let first = &all.json()["models"][0];
        assert_eq!((first["collection"].as_str(), first["version"].as_u64()), (Some("docs"), Some(1)));
        assert!(first["created_ms"].as_i64().is_some() && first["modified_ms"].as_i64() >= first["created_ms"].as_i64());
        let newest = admin(addr, "GET", "/admin/collections/docs/models?direction=desc&limit=2", None).await;
        assert_eq!(ids(&newest), ["c", "b"]);
        let page = admin(addr, "GET", "/admin/collections/docs/models?offset=1&limit=1", None).await;
        assert_eq!(ids(&page), ["b"]);
        let modified = admin(addr, "GET", "/admin/collections/docs/models?order=modified&direction=desc&limit=1", None).await;
        assert_eq!(ids(&modified), ["a"], "a was modified last");
        for query in ["order=size", "direction=sideways", "limit=minus", "offset=-1"] {
            let answer = admin(addr, "GET", &format!("/admin/collections/docs/models?{query}"), None).await;
            assert_eq!((answer.status, answer.code().as_str()), (400, "invalid_request"), "{query}: {}", answer.text());
        }

        // A model-level entry through the admin API, seen by the protocol.
        let bob = create_user(addr, "bob", "pw").await;
        let entry = json!({"collection": "docs", "model": "b", "grantee": format!("user:{bob}"), "read": true, "manage": true});
        assert_eq!(admin(addr, "PUT", "/admin/permissions", Some(entry)).await.status, 204);
        let mut bob_session = Raw::hello(&relay.url, tandem_core::protocol::Auth::Password { username: "bob".into(), password: "pw".into() }).await.expect("bob");
        let scope = tandem_core::protocol::PermissionScope::Model { collection: "docs".into(), id: "b".into() };
        let mine = bob_session.request(tandem_core::protocol::Request::GetMyPermissions { scope }).await.expect("permissions");
        let expected = tandem_core::protocol::Permissions { read: true, manage: true, ..Default::default() };
        assert_eq!(mine, tandem_core::protocol::Response::MyPermissions(expected));
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_the_demo() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let addr = relay.addr;

        let health = http(addr, "GET", "/healthz", None, None).await;
        assert_eq!(health.status, 200);
        assert!(
            health
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{:?}",
            health.headers
        );
        assert_eq!(health.json()["status"], "ok");

        // Some traffic, so that the counters move.
        let mut client = Raw::anonymous(&relay.url, "metered").await;
        let opened = client
            .open_or_create("docs", "m", json!({"text": ""}))
            .await
            .expect("open");
        let text = prop(data(&opened), "text");
        for i in 0..3u64 {
            assert_eq!(
                client
                    .submit(
                        opened.model,
                        i,
                        Op::StringInsert {
                            id: text,
                            index: 0,
                            text: "x".into()
                        }
                    )
                    .await,
                Ok(i + 1)
            );
        }
        let metrics = http(addr, "GET", "/metrics", None, None).await;
        assert_eq!(metrics.status, 200);
        assert!(
            metrics
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "{:?}",
            metrics.headers
        );
        let text = metrics.text();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
                .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
                .trim()
                .parse()
                .expect("a number")
        };
        assert!(value("tandem_connections") >= 1.0);
        assert!(value("tandem_ops_total") >= 3.0);
        assert!(text.contains("# TYPE tandem_op_commit_seconds histogram"));
        assert!(text.contains("tandem_op_commit_seconds_bucket{le=\"+Inf\"}"));
        assert!(value("tandem_op_commit_seconds_bucket{le=\"+Inf\"}") >= 3.0);
        assert!(value("tandem_op_commit_seconds_count") >= 3.0);
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (_, number) = line.rsplit_once(' ').expect("name value");
            assert!(number.parse::<f64>().is_ok(), "a Prometheus sample: {line}");
        }
        client.close().await;

        // The demo at `/`, served from www/dist (once scripts/build-www.sh has built it).
        let index = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/dist/index.html");
        let root = http(addr, "GET", "/", None, None).await;
        if index.exists() {
            assert_eq!(root.status, 200);
            assert!(
                root.header("content-type")
                    .is_some_and(|t| t.starts_with("text/html")),
                "{:?}",
                root.headers
            );
            assert_eq!(root.body, std::fs::read(&index).expect("index.html"));
            let named = http(addr, "GET", "/index.html", None, None).await;
            assert_eq!(named.body, root.body);
        } else {
            assert_eq!(root.status, 404, "no www/dist/index.html yet");
        }
        let missing = http(addr, "GET", "/no-such-file.js", None, None).await;
        assert_eq!(
            (missing.status, missing.code().as_str()),
            (404, "not_found")
        );
        let escape = http(addr, "GET", "/../Cargo.toml", None, None).await;
        assert_ne!(escape.status, 200, "nothing outside www/ is served");
        relay.stop().await;
    })
    .await
}
