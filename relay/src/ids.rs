//! Random identifiers: session ids, model ids, client sites.

use base64::Engine;

/// User ids of anonymous sessions start with this; usernames may not.
pub const ANONYMOUS_PREFIX: &str = "anon-";

/// A random URL-safe id of 96 bits (model ids, user ids).
pub fn random_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new session id.
pub fn session_id() -> String {
    random_id()
}

/// A new client site: the element-id prefix (and operation origin) of one client. Random in
/// `[2^32, 2^63)`, so that relays sharing a database need no coordination, sites 0 and 1 stay
/// reserved (the root and initial data), and collisions are negligible (about one in 10^7
/// for a million sessions).
pub fn new_site() -> u64 {
    (1u64 << 32) + rand::random_range(0..(1u64 << 63) - (1u64 << 32))
}
