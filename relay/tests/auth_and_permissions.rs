//! Identity and access against a real relay over real loopback sockets: anonymous, password,
//! JWT (HS256 and RS256) and reconnect-token sessions; permissions for world, users and groups
//! on collections and models; and secrets that are never stored in clear.

// `common` is shared with other test binaries; its child-process helpers are not ours to lint.
mod common;
mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{admin, bounded, create_user, data, grant, json_of, prop, Raw};
use tandem_core::protocol::{
    Auth, ErrorCode, PermissionScope, PermissionTarget, Permissions, RelayMessage, Request,
    Response,
};
use tandem_core::Op;
use tandem_relay::config::Config;
use tandem_relay::session::close;

const LIMIT: Duration = Duration::from_secs(90);
const SECRET: &str = "hs256-test-secret-that-is-long-enough";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn claims(sub: &str, name: &str, groups: &[&str], exp: u64) -> serde_json::Value {
    json!({"sub": sub, "name": name, "groups": groups, "exp": exp})
}

fn hs256(secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

fn rs256(claims: &serde_json::Value) -> String {
    let pem = std::fs::read(fixture("jwt_rs256_private.pem")).expect("private key fixture");
    let key = EncodingKey::from_rsa_pem(&pem).expect("RSA private key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign")
}

fn jwt(token: String) -> Auth {
    Auth::Jwt { token }
}

fn password(username: &str, password: &str) -> Auth {
    Auth::Password {
        username: username.into(),
        password: password.into(),
    }
}

/// The refusal of a handshake: its error code and the close code.
async fn refused(url: &str, auth: Auth) -> (ErrorCode, Option<u16>) {
    match Raw::hello(url, auth).await {
        Ok(raw) => panic!("accepted as {:?}", raw.welcome().user),
        Err(refusal) => refusal,
    }
}

fn config(dir: &std::path::Path) -> Config {
    let mut config = common::config(dir);
    config.jwt_hs256_secret = Some(SECRET.into());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_sessions_when_allowed_and_only_then() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let client = Raw::anonymous(&relay.url, "  Visitor ").await;
        let user = &client.welcome().user;
        assert!(user.anonymous);
        assert_eq!(user.display_name.as_deref(), Some("Visitor"));
        let other = Raw::anonymous(&relay.url, "Visitor").await;
        assert_ne!(
            other.welcome().user.user_id,
            user.user_id,
            "each anonymous session is its own user"
        );
        assert_ne!(other.welcome().site, client.welcome().site);
        let empty = refused(
            &relay.url,
            Auth::Anonymous {
                display_name: "   ".into(),
            },
        )
        .await;
        assert_eq!(empty, (ErrorCode::AuthFailed, Some(close::AUTH_FAILED)));
        relay.stop().await;

        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = common::config(dir.path());
        config.allow_anonymous = false;
        let relay = common::start(config).await;
        let off = refused(
            &relay.url,
            Auth::Anonymous {
                display_name: "Visitor".into(),
            },
        )
        .await;
        assert_eq!(off, (ErrorCode::AuthFailed, Some(close::AUTH_FAILED)));
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_users_need_the_right_password() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let id = create_user(relay.addr, "ada", "correct horse").await;

        let ada = Raw::hello(&relay.url, password("ada", "correct horse"))
            .await
            .expect("the right password");
        let user = &ada.welcome().user;
        assert_eq!(
            (
                user.user_id.as_str(),
                user.username.as_str(),
                user.anonymous
            ),
            (id.as_str(), "ada", false)
        );

        let wrong = Raw::hello_with_message(&relay.url, password("ada", "wrong horse"))
            .await
            .err()
            .expect("refused");
        let unknown = Raw::hello_with_message(&relay.url, password("nobody", "correct horse"))
            .await
            .err()
            .expect("refused");
        assert_eq!(
            (wrong.0, wrong.1),
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        assert_eq!(
            (unknown.0, unknown.1),
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        assert_eq!(
            wrong.2, unknown.2,
            "a wrong password and an unknown user are told apart by nothing"
        );
        assert!(
            !wrong.2.contains("wrong horse"),
            "the message does not echo the password: {}",
            wrong.2
        );
        let empty = refused(&relay.url, password("ada", "")).await;
        assert_eq!(empty, (ErrorCode::AuthFailed, Some(close::AUTH_FAILED)));
        // JWT users have no password: their username does not log in by password.
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_tokens_are_checked_for_signature_and_expiry() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(config(dir.path())).await;

        let token = hs256(
            SECRET.as_bytes(),
            &claims("u-carol", "Carol", &["staff"], now() + 600),
        );
        let carol = Raw::hello(&relay.url, jwt(token))
            .await
            .expect("a valid token");
        let user = &carol.welcome().user;
        assert_eq!(user.user_id, "u-carol");
        assert_eq!(user.display_name.as_deref(), Some("Carol"));
        assert!(!user.anonymous);

        let expired = hs256(
            SECRET.as_bytes(),
            &claims("u-carol", "Carol", &[], now() - 3_600),
        );
        assert_eq!(
            refused(&relay.url, jwt(expired)).await,
            (ErrorCode::TokenExpired, Some(close::AUTH_FAILED))
        );
        let wrongly_signed = hs256(
            b"some-other-secret",
            &claims("u-carol", "Carol", &[], now() + 600),
        );
        assert_eq!(
            refused(&relay.url, jwt(wrongly_signed)).await,
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        let no_expiry = hs256(SECRET.as_bytes(), &json!({"sub": "u-carol"}));
        assert_eq!(
            refused(&relay.url, jwt(no_expiry)).await,
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        let garbage = jwt("not.a.token".into());
        assert_eq!(
            refused(&relay.url, garbage).await,
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        // An unsigned token ("alg": "none").
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let unsigned = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(claims("u-carol", "C", &[], now() + 600))
        );
        assert_eq!(
            refused(&relay.url, jwt(unsigned)).await,
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        relay.stop().await;

        // Without JWT keys, no token is accepted.
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        let token = hs256(
            SECRET.as_bytes(),
            &claims("u-carol", "Carol", &[], now() + 600),
        );
        assert_eq!(
            refused(&relay.url, jwt(token)).await,
            (ErrorCode::AuthFailed, Some(close::AUTH_FAILED))
        );
        relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_tokens_verify_with_the_public_key_and_resist_algorithm_confusion() {
    bounded(LIMIT, async {
        let public = fixture("jwt_rs256_public.pem");
        let public_pem = std::fs::read(&public).expect("public key fixture");
        for with_hs256_secret in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut config = common::config(dir.path());
            config.jwt_rs256_public_keys = vec![public.clone()];
            if with_hs256_secret {
                config.jwt_hs256_secret = Some(SECRET.into());
            }
            let relay = common::start(config).await;

            let token = rs256(&claims("u-rsa", "Rosa", &["staff"], now() + 600));
            let rosa = Raw::hello(&relay.url, jwt(token)).await.expect("a valid RS256 token");
            assert_eq!(rosa.welcome().user.user_id, "u-rsa");
            assert_eq!(rosa.welcome().user.display_name.as_deref(), Some("Rosa"));

            let expired = rs256(&claims("u-rsa", "Rosa", &[], now() - 3_600));
            assert_eq!(refused(&relay.url, jwt(expired)).await, (ErrorCode::TokenExpired, Some(close::AUTH_FAILED)));

            // Algorithm confusion: an HS256 token whose "secret" is the public key.
            let confused = hs256(&public_pem, &claims("u-admin", "Mallory", &["admins"], now() + 600));
            assert_eq!(
                refused(&relay.url, jwt(confused)).await,
                (ErrorCode::AuthFailed, Some(close::AUTH_FAILED)),
                "HS256 signed with the RSA public key (HS256 secret configured: {with_hs256_secret})"
            );
            // A token signed by some other RSA key.
            let mut tampered = rs256(&claims("u-rsa", "Rosa", &[], now() + 600));
            let signature_start = tampered.rfind('.').expect("three parts") + 1;
            let flipped = if tampered.as_bytes()[signature_start] == b'A' { "B" } else { "A" };
            tampered.replace_range(signature_start..signature_start + 1, flipped);
            assert_eq!(refused(&relay.url, jwt(tampered)).await, (ErrorCode::AuthFailed, Some(close::AUTH_FAILED)));
            relay.stop().await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_tokens_resume_the_same_user_each_time_with_a_fresh_site() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(common::config(dir.path())).await;
        create_user(relay.addr, "ada", "correct horse").await;
        let first = Raw::hello(&relay.url, password("ada", "correct horse"))
            .await
            .expect("login");
        let welcome = first.welcome().clone();
        first.close().await;

        let again = Raw::hello(
            &relay.url,
            Auth::ReconnectToken {
                token: welcome.reconnect_token.clone(),
            },
        )
        .await
        .expect("token");
        assert_eq!(again.welcome().user, welcome.user, "the same user");
        // Several sessions may resume from one token: each makes element ids of its own.
        let twin = Raw::hello(
            &relay.url,
            Auth::ReconnectToken {
                token: welcome.reconnect_token.clone(),
            },
        )
        .await
        .expect("the token again");
        assert_eq!(twin.welcome().user, welcome.user, "the same user again");
        let sites = [welcome.site, again.welcome().site, twin.welcome().site];
        assert!(
            sites[0] != sites[1] && sites[1] != sites[2] && sites[0] != sites[2],
            "a fresh site each time: {sites:?}"
        );
        assert_ne!(
            again.welcome().session_id,
            welcome.session_id,
            "a new session"
        );

        // Anonymous sessions resume too.
        let anonymous = Raw::anonymous(&relay.url, "Visitor").await;
        let anon_welcome = anonymous.welcome().clone();
        let resumed = Raw::hello(
            &relay.url,
            Auth::ReconnectToken {
                token: anon_welcome.reconnect_token.clone(),
            },
        )
        .await
        .expect("token");
        assert_eq!(resumed.welcome().user, anon_welcome.user);
        assert_ne!(resumed.welcome().site, anon_welcome.site);

        for token in [
            "garbage".to_owned(),
            String::new(),
            // One character changed.
            {
                let mut token = welcome.reconnect_token.clone();
                let last = if token.ends_with('A') { "B" } else { "A" };
                token.pop();
                token + last
            },
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ] {
            let refusal = refused(
                &relay.url,
                Auth::ReconnectToken {
                    token: token.clone(),
                },
            )
            .await;
            assert_eq!(
                refusal,
                (ErrorCode::AuthFailed, Some(close::AUTH_FAILED)),
                "token {token:?}"
            );
        }
        relay.stop().await;
    })
    .await
}

/// A relay that does not create collections on first use, with collection "docs" created
/// through the admin API, an owner with every right on it, and model "m1" the owner created.
struct Fixture {
    relay: common::InProcess,
    _dir: tempfile::TempDir,
    owner: Raw,
    owner_id: String,
}

async fn fixture_relay() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.auto_create_collections = false;
    let relay = common::start(config).await;
    let created = admin(
        relay.addr,
        "POST",
        "/admin/collections",
        Some(json!({"id": "docs"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let owner_id = create_user(relay.addr, "owner", "owner-pass").await;
    grant(
        relay.addr,
        "docs",
        None,
        &format!("user:{owner_id}"),
        "rwdm",
    )
    .await;
    let mut owner = Raw::hello(&relay.url, password("owner", "owner-pass"))
        .await
        .expect("owner");
    owner
        .create("docs", "m1", json!({"text": "hello"}))
        .await
        .expect("the owner creates m1");
    Fixture {
        relay,
        _dir: dir,
        owner,
        owner_id,
    }
}

async fn login(f: &Fixture, username: &str) -> (Raw, String) {
    let id = create_user(f.relay.addr, username, "pass").await;
    let raw = Raw::hello(&f.relay.url, password(username, "pass"))
        .await
        .expect("login");
    (raw, id)
}

fn collection_scope() -> PermissionScope {
    PermissionScope::Collection {
        collection: "docs".into(),
    }
}

fn model_scope(id: &str) -> PermissionScope {
    PermissionScope::Model {
        collection: "docs".into(),
        id: id.into(),
    }
}

async fn my_permissions(raw: &mut Raw, scope: PermissionScope) -> Permissions {
    match raw
        .request(Request::GetMyPermissions { scope })
        .await
        .expect("GetMyPermissions")
    {
        Response::MyPermissions(p) => p,
        other => panic!("{other:?}"),
    }
}

const READ: Permissions = Permissions {
    read: true,
    write: false,
    remove: false,
    manage: false,
};
const READ_WRITE: Permissions = Permissions {
    read: true,
    write: true,
    remove: false,
    manage: false,
};

/// What a fresh look at model `id` shows: version and data.
async fn look(f: &mut Fixture, id: &str) -> (u64, serde_json::Value) {
    let opened = f.owner.open("docs", id).await.expect("the owner opens");
    (opened.version, json_of(data(&opened)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_grant_nothing_can_be_opened_or_created() {
    bounded(LIMIT, async {
        let mut f = fixture_relay().await;
        let (mut bob, _) = login(&f, "bob").await;
        assert_eq!(
            bob.open("docs", "m1").await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            bob.create("docs", "m2", json!({})).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            bob.open_or_create("docs", "m1", json!({})).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            bob.open_or_create("docs", "m3", json!({})).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        let history = Request::GetOperations {
            collection: "docs".into(),
            id: "m1".into(),
            from_version: 0,
            to_version: 9,
        };
        assert_eq!(
            bob.request(history).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        let at = Request::GetModelAtVersion {
            collection: "docs".into(),
            id: "m1".into(),
            version: 0,
        };
        assert_eq!(
            bob.request(at).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        let list = Request::ListModels {
            collection: "docs".into(),
            offset: 0,
            limit: 10,
            order_by: tandem_core::protocol::ModelOrder::Created,
            direction: tandem_core::protocol::SortDirection::Ascending,
        };
        assert_eq!(
            bob.request(list).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            my_permissions(&mut bob, collection_scope()).await,
            Permissions::NONE
        );

        let mut visitor = Raw::anonymous(&f.relay.url, "Visitor").await;
        assert_eq!(
            visitor.open("docs", "m1").await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        // A collection nobody created is not created on first use here.
        assert_eq!(
            f.owner.create("elsewhere", "x", json!({})).await.err(),
            Some(ErrorCode::CollectionNotFound)
        );

        let listed = admin(f.relay.addr, "GET", "/admin/collections/docs/models", None)
            .await
            .json();
        let ids: Vec<&str> = listed["models"]
            .as_array()
            .expect("models")
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids, ["m1"], "nothing was created by the refused requests");
        assert_eq!(look(&mut f, "m1").await, (0, json!({"text": "hello"})));
        f.relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_users_can_open_but_not_change_anything() {
    bounded(LIMIT, async {
        let mut f = fixture_relay().await;
        let (mut bob, bob_id) = login(&f, "bob").await;
        grant(f.relay.addr, "docs", None, &format!("user:{bob_id}"), "r").await;
        assert_eq!(my_permissions(&mut bob, collection_scope()).await, READ);
        assert_eq!(my_permissions(&mut bob, model_scope("m1")).await, READ);

        let opened = bob.open("docs", "m1").await.expect("read access opens");
        assert_eq!(json_of(data(&opened)), json!({"text": "hello"}));
        let text = prop(data(&opened), "text");
        let verdict = bob
            .submit(
                opened.model,
                0,
                Op::StringInsert {
                    id: text,
                    index: 0,
                    text: "X".into(),
                },
            )
            .await;
        assert_eq!(verdict, Err(ErrorCode::PermissionDenied));
        assert_eq!(
            bob.create("docs", "m2", json!({})).await.err(),
            Some(ErrorCode::PermissionDenied)
        );

        // Neither permissions nor models may be changed.
        let set = Request::SetPermissions {
            scope: collection_scope(),
            target: PermissionTarget::User {
                user_id: bob_id.clone(),
            },
            permissions: Some(Permissions::ALL),
        };
        assert_eq!(
            bob.request(set).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            bob.request(Request::GetPermissions {
                scope: collection_scope()
            })
            .await
            .err(),
            Some(ErrorCode::PermissionDenied)
        );
        let delete = Request::DeleteModel {
            collection: "docs".into(),
            id: "m1".into(),
        };
        assert_eq!(
            bob.request(delete).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            my_permissions(&mut bob, collection_scope()).await,
            READ,
            "unchanged"
        );

        assert_eq!(look(&mut f, "m1").await, (0, json!({"text": "hello"})));
        f.relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_grants_apply_to_jwt_users_and_stored_members_of_the_group() {
    bounded(LIMIT, async {
        let mut f = fixture_relay().await;
        let group = admin(
            f.relay.addr,
            "POST",
            "/admin/groups",
            Some(json!({"id": "editors", "description": "Editors"})),
        )
        .await;
        assert_eq!(group.status, 201, "{}", group.text());
        grant(f.relay.addr, "docs", None, "group:editors", "rw").await;

        // A JWT user whose token names the group.
        let token = hs256(
            SECRET.as_bytes(),
            &claims("u-carol", "Carol", &["editors"], now() + 600),
        );
        let mut carol = Raw::hello(&f.relay.url, jwt(token)).await.expect("carol");
        assert_eq!(
            my_permissions(&mut carol, collection_scope()).await,
            READ_WRITE
        );
        let opened = carol.open("docs", "m1").await.expect("open");
        let text = prop(data(&opened), "text");
        assert_eq!(
            carol
                .submit(
                    opened.model,
                    0,
                    Op::StringInsert {
                        id: text,
                        index: 5,
                        text: ", Carol".into()
                    }
                )
                .await,
            Ok(1)
        );
        assert_eq!(
            carol.create("docs", "by-carol", json!({"n": 1})).await,
            Ok(())
        );

        // A JWT user in no group.
        let token = hs256(
            SECRET.as_bytes(),
            &claims("u-dave", "Dave", &["readers"], now() + 600),
        );
        let mut dave = Raw::hello(&f.relay.url, jwt(token)).await.expect("dave");
        assert_eq!(
            dave.open("docs", "m1").await.err(),
            Some(ErrorCode::PermissionDenied)
        );

        // A stored user added to the group through the admin API.
        let (_, erin_id) = login(&f, "erin").await;
        let added = admin(
            f.relay.addr,
            "PUT",
            &format!("/admin/groups/editors/members/{erin_id}"),
            None,
        )
        .await;
        assert_eq!(added.status, 204, "{}", added.text());
        let mut erin = Raw::hello(&f.relay.url, password("erin", "pass"))
            .await
            .expect("erin");
        let opened = erin.open("docs", "m1").await.expect("open");
        assert_eq!(
            erin.submit(
                opened.model,
                1,
                Op::StringInsert {
                    id: text,
                    index: 0,
                    text: "Oh, ".into()
                }
            )
            .await,
            Ok(2)
        );

        assert_eq!(
            look(&mut f, "m1").await,
            (2, json!({"text": "Oh, hello, Carol"}))
        );
        f.relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_entries_of_its_own_is_governed_by_them_alone() {
    bounded(LIMIT, async {
        let mut f = fixture_relay().await;
        f.owner
            .create("docs", "m2", json!({"n": 0}))
            .await
            .expect("m2");
        let (mut bob, bob_id) = login(&f, "bob").await;
        grant(f.relay.addr, "docs", None, &format!("user:{bob_id}"), "r").await;
        // m1: bob may write it although the collection gives him only read.
        grant(
            f.relay.addr,
            "docs",
            Some("m1"),
            &format!("user:{bob_id}"),
            "rw",
        )
        .await;
        // m2: everyone may read it, which takes away what the collection gave the owner.
        grant(f.relay.addr, "docs", Some("m2"), "world", "r").await;

        assert_eq!(my_permissions(&mut bob, collection_scope()).await, READ);
        assert_eq!(
            my_permissions(&mut bob, model_scope("m1")).await,
            READ_WRITE
        );
        assert_eq!(my_permissions(&mut bob, model_scope("m2")).await, READ);
        assert_eq!(
            my_permissions(&mut f.owner, model_scope("m1")).await,
            Permissions::NONE
        );
        assert_eq!(my_permissions(&mut f.owner, model_scope("m2")).await, READ);
        assert_eq!(
            my_permissions(&mut f.owner, collection_scope()).await,
            Permissions::ALL
        );

        let opened = bob.open("docs", "m1").await.expect("open");
        let text = prop(data(&opened), "text");
        assert_eq!(
            bob.submit(
                opened.model,
                0,
                Op::StringInsert {
                    id: text,
                    index: 5,
                    text: "!".into()
                }
            )
            .await,
            Ok(1)
        );
        assert_eq!(
            f.owner.open("docs", "m1").await.err(),
            Some(ErrorCode::PermissionDenied)
        );

        let opened = f.owner.open("docs", "m2").await.expect("world read");
        let n = prop(data(&opened), "n");
        assert_eq!(
            f.owner
                .submit(opened.model, 0, Op::NumberAdd { id: n, delta: 1.0 })
                .await,
            Err(ErrorCode::PermissionDenied)
        );
        let mut visitor = Raw::anonymous(&f.relay.url, "Visitor").await;
        assert!(
            visitor.open("docs", "m2").await.is_ok(),
            "world read includes anonymous sessions"
        );
        assert_eq!(
            visitor.open("docs", "m1").await.err(),
            Some(ErrorCode::PermissionDenied)
        );

        let seen = visitor.open("docs", "m2").await.expect("open");
        assert_eq!((seen.version, json_of(data(&seen))), (0, json!({"n": 0})));
        f.relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managing_and_removing_need_their_rights_and_deletion_is_announced() {
    bounded(LIMIT, async {
        let mut f = fixture_relay().await;
        let (mut bob, bob_id) = login(&f, "bob").await;
        grant(f.relay.addr, "docs", None, &format!("user:{bob_id}"), "rw").await;

        let give_bob = |permissions: Permissions| Request::SetPermissions {
            scope: collection_scope(),
            target: PermissionTarget::User {
                user_id: bob_id.clone(),
            },
            permissions: Some(permissions),
        };
        assert_eq!(
            bob.request(give_bob(Permissions::ALL)).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        let delete = Request::DeleteModel {
            collection: "docs".into(),
            id: "m1".into(),
        };
        assert_eq!(
            bob.request(delete.clone()).await.err(),
            Some(ErrorCode::PermissionDenied)
        );
        assert_eq!(
            look(&mut f, "m1").await.1,
            json!({"text": "hello"}),
            "still there"
        );

        // The owner manages: it gives bob remove as well.
        let with_remove = Permissions {
            remove: true,
            ..READ_WRITE
        };
        assert_eq!(
            f.owner.request(give_bob(with_remove)).await,
            Ok(Response::Done)
        );
        assert_eq!(
            my_permissions(&mut bob, collection_scope()).await,
            with_remove
        );
        match f
            .owner
            .request(Request::GetPermissions {
                scope: collection_scope(),
            })
            .await
            .expect("manage reads entries")
        {
            Response::Permissions(set) => {
                assert!(
                    set.users.contains(&(bob_id.clone(), with_remove)),
                    "{set:?}"
                );
                assert!(
                    set.users.contains(&(f.owner_id.clone(), Permissions::ALL)),
                    "{set:?}"
                );
            }
            other => panic!("{other:?}"),
        }

        // Everyone with m1 open is told when bob deletes it.
        let watching = f.owner.open("docs", "m1").await.expect("open");
        let (mut carol, carol_id) = login(&f, "carol").await;
        grant(f.relay.addr, "docs", None, &format!("user:{carol_id}"), "r").await;
        let carol_view = carol.open("docs", "m1").await.expect("open");
        assert_eq!(bob.request(delete).await, Ok(Response::Done));
        for (client, handle) in [
            (&mut f.owner, watching.model),
            (&mut carol, carol_view.model),
        ] {
            client
                .until("ModelDeleted", |m| {
                    matches!(m, RelayMessage::ModelDeleted { model } if *model == handle)
                        .then_some(())
                })
                .await;
        }
        assert_eq!(
            carol.open("docs", "m1").await.err(),
            Some(ErrorCode::ModelNotFound)
        );
        let text = prop(data(&carol_view), "text");
        // The deleted model's handle is no longer open: an operation on it is refused as such,
        // answered for its sequence number like any refused operation.
        let seq = f.owner.take_seq();
        let op = Op::StringInsert {
            id: text,
            index: 0,
            text: "x".into(),
        };
        f.owner
            .send(&tandem_core::protocol::ClientMessage::SubmitOp {
                model: watching.model,
                origin: 0,
                seq,
                context_version: 0,
                op,
            })
            .await;
        let answer = f
            .owner
            .until(
                "an answer to an operation on a deleted model",
                |m| match m {
                    RelayMessage::OpRejected { seq: s, code, .. } if *s == seq => {
                        Some(format!("OpRejected {code}"))
                    }
                    RelayMessage::Error {
                        request_id: None,
                        code,
                        ..
                    } => Some(format!("Error {code}")),
                    _ => None,
                },
            )
            .await;
        assert_eq!(answer, "OpRejected not_open");
        f.relay.stop().await;
    })
    .await
}

/// Permissions changed while a session has a model open apply to that session's next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_write_applies_to_sessions_that_already_have_the_model_open() {
    bounded(LIMIT, async {
        let mut f = fixture_relay().await;
        let (mut bob, bob_id) = login(&f, "bob").await;
        grant(f.relay.addr, "docs", None, &format!("user:{bob_id}"), "rw").await;
        let opened = bob.open("docs", "m1").await.expect("open");
        let text = prop(data(&opened), "text");
        assert_eq!(
            bob.submit(
                opened.model,
                0,
                Op::StringInsert {
                    id: text,
                    index: 5,
                    text: "!".into()
                }
            )
            .await,
            Ok(1)
        );

        grant(f.relay.addr, "docs", None, &format!("user:{bob_id}"), "r").await;
        assert_eq!(my_permissions(&mut bob, collection_scope()).await, READ);
        let after = bob
            .submit(
                opened.model,
                1,
                Op::StringInsert {
                    id: text,
                    index: 0,
                    text: "revoked ".into(),
                },
            )
            .await;
        assert_eq!(after, Err(ErrorCode::PermissionDenied), "write was revoked");
        assert_eq!(look(&mut f, "m1").await, (1, json!({"text": "hello!"})));
        f.relay.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_never_stored_in_clear() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = common::start(config(dir.path())).await;
        let secret_password = "Tr0ub4dor&3-never-in-clear";
        create_user(relay.addr, "ada", secret_password).await;
        let ada = Raw::hello(&relay.url, password("ada", secret_password))
            .await
            .expect("login");
        let token = ada.welcome().reconnect_token.clone();
        let _ = refused(&relay.url, password("ada", "Wr0ng-but-also-secret")).await;
        let resumed = Raw::hello(
            &relay.url,
            Auth::ReconnectToken {
                token: token.clone(),
            },
        )
        .await
        .expect("token");
        resumed.close().await;
        ada.close().await;

        let check = |when: &str| {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(dir.path()).expect("data dir") {
                let path = entry.expect("entry").path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if name.starts_with("tandem.sqlite3") {
                    bytes.extend(std::fs::read(&path).expect("read store file"));
                }
            }
            let contains =
                |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(
                contains("$argon2id$"),
                "{when}: the store holds the password's hash (so these are the right files)"
            );
            assert!(contains("ada"), "{when}: the user is stored");
            for secret in [
                secret_password,
                "Wr0ng-but-also-secret",
                token.as_str(),
                &token[..token.len() / 2],
                SECRET,
            ] {
                assert!(!contains(secret), "{when}: {secret:?} is stored in clear");
            }
        };
        check("while running");
        relay.stop().await;
        check("after shutdown");
    })
    .await
}
