//! A JWT whose username belongs to another account still signs its user in, under its id, and
//! never takes the other account over.

mod common;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use tandem_core::protocol::Auth;
use tandem_relay::store::User;
use tandem_relay::test_client::TestClient;

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    preferred_username: &'a str,
}

fn token(sub: &str, username: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 600;
    let claims = Claims {
        sub,
        exp,
        preferred_username: username,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"jwt-secret"),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_username_taken_by_another_account_falls_back_to_the_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::config(dir.path());
    config.jwt_hs256_secret = Some("jwt-secret".into());
    {
        // An existing password account named "ada".
        let store = tandem_relay::store::sqlite::SqliteStore::open(dir.path()).expect("store");
        let ada = User {
            id: "ada-id".into(),
            username: "ada".into(),
            display_name: "Ada".into(),
            email: None,
            avatar_url: None,
            password_hash: Some(tandem_relay::auth::hash_password("pw").expect("hash")),
        };
        tandem_relay::store::Store::create_user(&store, &ada)
            .await
            .expect("create");
    }
    let relay = common::start(config).await;
    let jwt = TestClient::connect(
        &relay.url,
        Auth::Jwt {
            token: token("jwt-1", "ada"),
        },
    )
    .await
    .expect("JWT sign-in");
    assert_eq!(jwt.welcome.user.user_id, "jwt-1");
    assert_eq!(
        jwt.welcome.user.username, "jwt-1",
        "the taken username is not used"
    );
    // Later the same JWT user asks for another taken name: the old one stays.
    let again = TestClient::connect(
        &relay.url,
        Auth::Jwt {
            token: token("jwt-1", "ada"),
        },
    )
    .await
    .expect("again");
    assert_eq!(again.welcome.user.username, "jwt-1");
    let password = TestClient::connect(
        &relay.url,
        Auth::Password {
            username: "ada".into(),
            password: "pw".into(),
        },
    )
    .await
    .expect("the password account is untouched");
    assert_eq!(password.welcome.user.user_id, "ada-id");
    relay.stop().await;
}
