//! Who a session is: passwords, JSON Web Tokens, reconnect tokens and anonymous sessions.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};

/// Why authentication failed. Messages never echo secrets.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    /// Wrong username or password (which of the two is not said).
    #[error("wrong username or password")]
    WrongPassword,
    /// The token is malformed, wrongly signed, or uses an algorithm the relay does not accept.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// Anonymous sessions are switched off, or no JWT keys are configured.
    #[error("{0} authentication is not enabled on this relay")]
    Disabled(&'static str),
    /// The display name is empty or too long.
    #[error("a display name must have 1 to 100 characters")]
    BadDisplayName,
}

impl AuthError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Expired => "token_expired",
            _ => "auth_failed",
        }
    }
}

/// Hashes a password with argon2id and a random salt, in PHC string format.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| AuthError::WrongPassword)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AuthError::WrongPassword)
}

/// Checks a password against a stored PHC hash, in constant time.
pub fn verify_password(password: &str, hash: &str) -> Result<(), AuthError> {
    let parsed = PasswordHash::new(hash).map_err(|_| AuthError::WrongPassword)?;
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .map_err(|_| AuthError::WrongPassword)
}

/// The claims Tandem reads from a JWT.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
pub struct JwtClaims {
    /// The user id (`sub`).
    pub sub: String,
    /// Expiry, seconds since the epoch (required).
    pub exp: u64,
    /// The name to show (`name`), else the user id.
    #[serde(default)]
    pub name: Option<String>,
    /// The username (`preferred_username`), else the user id.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Email, if given.
    #[serde(default)]
    pub email: Option<String>,
    /// Group ids the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The keys JWTs may be signed with: an HS256 secret and any number of RS256 public keys.
#[derive(Default)]
pub struct JwtKeys {
    keys: Vec<(Algorithm, DecodingKey)>,
}

impl JwtKeys {
    /// Adds an HS256 shared secret.
    pub fn add_hs256(&mut self, secret: &[u8]) {
        self.keys
            .push((Algorithm::HS256, DecodingKey::from_secret(secret)));
    }

    /// Adds an RS256 public key in PEM form.
    pub fn add_rs256_pem(&mut self, pem: &[u8]) -> Result<(), AuthError> {
        let key =
            DecodingKey::from_rsa_pem(pem).map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        self.keys.push((Algorithm::RS256, key));
        Ok(())
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a token's signature against every configured key of its algorithm and checks
    /// its expiry (no leeway beyond a minute of clock skew).
    pub fn verify(&self, token: &str) -> Result<JwtClaims, AuthError> {
        if self.keys.is_empty() {
            return Err(AuthError::Disabled("JWT"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        let mut last = AuthError::InvalidToken(format!("no {:?} key is configured", header.alg));
        for (alg, key) in self.keys.iter().filter(|(alg, _)| *alg == header.alg) {
            let mut validation = Validation::new(*alg);
            validation.leeway = 60;
            validation.set_required_spec_claims(&["exp", "sub"]);
            match jsonwebtoken::decode::<JwtClaims>(token, key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    return Err(AuthError::Expired)
                }
                Err(e) => last = AuthError::InvalidToken(e.to_string()),
            }
        }
        Err(last)
    }
}

/// A fresh reconnect token: 32 random bytes. Only its SHA-256 is stored. It names a user, not a
/// site: a resumed session gets a fresh site, since several sessions may resume from one token.
pub fn new_reconnect_token() -> String {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// The SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Checks an anonymous display name.
pub fn check_display_name(name: &str) -> Result<&str, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AuthError::BadDisplayName);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        exp: u64,
        name: &'a str,
        groups: Vec<&'a str>,
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_ne!(hash, hash_password("s3cret").unwrap(), "salted");
        assert_eq!(verify_password("s3cret", &hash), Ok(()));
        assert_eq!(
            verify_password("wrong", &hash),
            Err(AuthError::WrongPassword)
        );
        assert_eq!(
            verify_password("s3cret", "not a hash"),
            Err(AuthError::WrongPassword)
        );
    }

    #[test]
    fn hs256_tokens_are_checked_for_signature_and_expiry() {
        let mut keys = JwtKeys::default();
        keys.add_hs256(b"relay-secret");
        let sign = |secret: &[u8], exp| {
            let claims = Claims {
                sub: "u1",
                exp,
                name: "Ada",
                groups: vec!["staff"],
            };
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        let claims = keys.verify(&sign(b"relay-secret", now() + 60)).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.name.as_deref()),
            ("u1", Some("Ada"))
        );
        assert_eq!(claims.groups, ["staff"]);
        assert_eq!(
            keys.verify(&sign(b"relay-secret", now() - 3600)),
            Err(AuthError::Expired)
        );
        assert!(matches!(
            keys.verify(&sign(b"other", now() + 60)),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            keys.verify("garbage"),
            Err(AuthError::InvalidToken(_))
        ));
        assert_eq!(
            JwtKeys::default().verify("x"),
            Err(AuthError::Disabled("JWT"))
        );
    }

    #[test]
    fn reconnect_tokens_are_random_and_stored_hashed() {
        let token = new_reconnect_token();
        assert_ne!(new_reconnect_token(), token);
        assert_eq!(token_hash(&token).len(), 32);
    }

    #[test]
    fn display_names_are_checked() {
        assert_eq!(check_display_name("  Ada "), Ok("Ada"));
        assert_eq!(check_display_name(" "), Err(AuthError::BadDisplayName));
        assert_eq!(
            check_display_name(&"x".repeat(101)),
            Err(AuthError::BadDisplayName)
        );
    }
}
