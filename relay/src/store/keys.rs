//! How both SQL backends store the store's enums as (kind, id) columns, so that a database
//! written by one reads the same in the other's terms.

use super::{GrantScope, Grantee, PermissionTarget, StoreError, StoreResult};

/// A permission target as (kind, id) columns.
pub(crate) fn target_key(target: &PermissionTarget) -> (&'static str, &str) {
    match target {
        PermissionTarget::Collection(id) => ("collection", id),
        PermissionTarget::Model(id) => ("model", id),
    }
}

/// A grant scope as (kind, id) columns; one activity's id is its type's length, a colon, its
/// type and its id (unambiguous whatever the names hold).
pub(crate) fn scope_key(scope: &GrantScope) -> (&'static str, String) {
    match scope {
        GrantScope::ActivityType(t) => ("activity_type", t.clone()),
        GrantScope::Activity {
            activity_type,
            activity_id,
        } => (
            "activity",
            format!("{}:{activity_type}{activity_id}", activity_type.len()),
        ),
        GrantScope::Chat(id) => ("chat", id.clone()),
    }
}

/// A grantee as (kind, id) columns; the world has an empty id.
pub(crate) fn grantee_key(grantee: &Grantee) -> (&'static str, &str) {
    match grantee {
        Grantee::World => ("world", ""),
        Grantee::User(id) => ("user", id),
        Grantee::Group(id) => ("group", id),
    }
}

/// The inverse of [`grantee_key`].
pub(crate) fn grantee_from_key(kind: &str, id: String) -> StoreResult<Grantee> {
    match kind {
        "world" => Ok(Grantee::World),
        "user" => Ok(Grantee::User(id)),
        "group" => Ok(Grantee::Group(id)),
        other => Err(StoreError::Corrupt(format!(
            "unknown grantee kind {other:?}"
        ))),
    }
}
