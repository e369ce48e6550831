//! Who may do what: resolving a session's effective permissions on a collection or model.

use tandem_core::protocol::ActivityRights;

use crate::activities::{activity_scope, flags_to_rights};
use crate::store::{Grantee, PermissionTarget, Permissions, Store, StoreResult};

/// An authenticated session's user, as permission checks and events need it.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// The user id (for anonymous sessions, unique per session).
    pub user_id: String,
    /// The login name (for anonymous sessions, empty).
    pub username: String,
    /// The name others see.
    pub display_name: String,
    /// Email, if known.
    pub email: Option<String>,
    /// A picture of the user, if any.
    pub avatar_url: Option<String>,
    /// The groups the user belongs to.
    pub groups: Vec<String>,
    /// Whether the session has no account.
    pub anonymous: bool,
}

/// Whether an entry for `grantee` applies to `who`.
pub(crate) fn applies(grantee: &Grantee, who: &Identity) -> bool {
    match grantee {
        Grantee::World => true,
        Grantee::User(id) => !who.anonymous && *id == who.user_id,
        Grantee::Group(group) => who.groups.iter().any(|g| g == group),
    }
}

/// The union of the entries that apply to `who`.
fn grant(entries: &[(Grantee, Permissions)], who: &Identity) -> Permissions {
    entries
        .iter()
        .filter(|(grantee, _)| applies(grantee, who))
        .fold(Permissions::default(), |acc, (_, p)| acc.union(*p))
}

/// What `who` may do on `model` of `collection` (or on the collection itself when `model` is
/// `None`). A model with entries of its own is governed by them alone; otherwise its
/// collection's entries apply.
pub async fn effective(
    store: &dyn Store,
    who: &Identity,
    collection: &str,
    model: Option<&str>,
) -> StoreResult<Permissions> {
    if let Some(model) = model {
        let entries = store
            .permissions(&PermissionTarget::Model(model.to_owned()))
            .await?;
        if !entries.is_empty() {
            return Ok(grant(&entries, who));
        }
    }
    let entries = store
        .permissions(&PermissionTarget::Collection(collection.to_owned()))
        .await?;
    Ok(grant(&entries, who))
}

/// What `who` may do in activity `activity_id` of `activity_type` (in the type as a whole when
/// `activity_id` is `None`). An activity with entries of its own is governed by them, except
/// that whoever manages the type manages each of its activities too; otherwise its type's
/// entries apply; where the type has none, everyone may do everything but manage.
pub async fn activity_rights(
    store: &dyn Store,
    who: &Identity,
    activity_type: &str,
    activity_id: Option<&str>,
) -> StoreResult<ActivityRights> {
    let rights_from = |entries: &[(Grantee, u32)]| {
        entries
            .iter()
            .filter(|(grantee, _)| applies(grantee, who))
            .fold(ActivityRights::default(), |acc, (_, flags)| {
                acc.union(flags_to_rights(*flags))
            })
    };
    let of_type = store.grants(&activity_scope(activity_type, None)).await?;
    let type_rights = if of_type.is_empty() {
        ActivityRights::OPEN
    } else {
        rights_from(&of_type)
    };
    if let Some(id) = activity_id {
        let own = store
            .grants(&activity_scope(activity_type, Some(id)))
            .await?;
        if !own.is_empty() {
            let mut rights = rights_from(&own);
            rights.manage |= type_rights.manage;
            return Ok(rights);
        }
    }
    Ok(type_rights)
}

/// The store's grantee for a permission target on the wire.
pub fn grantee_of(target: tandem_core::protocol::PermissionTarget) -> Grantee {
    use tandem_core::protocol::PermissionTarget as Target;
    match target {
        Target::World => Grantee::World,
        Target::User { user_id } => Grantee::User(user_id),
        Target::Group { group_id } => Grantee::Group(group_id),
    }
}

/// Stored grants as the wire lists them: the world's entry, then per-user and per-group ones.
pub type SplitGrants<R> = (Option<R>, Vec<(String, R)>, Vec<(String, R)>);

/// Stored grants as the wire lists them, each turned into rights by `rights`.
pub fn split_grants<R>(entries: Vec<(Grantee, u32)>, rights: impl Fn(u32) -> R) -> SplitGrants<R> {
    let (mut world, mut users, mut groups) = (None, Vec::new(), Vec::new());
    for (grantee, flags) in entries {
        match grantee {
            Grantee::World => world = Some(rights(flags)),
            Grantee::User(id) => users.push((id, rights(flags))),
            Grantee::Group(id) => groups.push((id, rights(flags))),
        }
    }
    (world, users, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, groups: &[&str]) -> Identity {
        Identity {
            user_id: id.into(),
            username: id.into(),
            display_name: id.into(),
            email: None,
            avatar_url: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            anonymous: false,
        }
    }

    #[test]
    fn entries_apply_by_world_user_and_group_and_add_up() {
        let read = Permissions {
            read: true,
            ..Permissions::default()
        };
        let write = Permissions {
            write: true,
            ..Permissions::default()
        };
        let entries = vec![
            (Grantee::World, read),
            (Grantee::User("ada".into()), write),
            (Grantee::Group("admins".into()), Permissions::ALL),
        ];
        assert_eq!(grant(&entries, &user("bob", &[])), read);
        assert_eq!(grant(&entries, &user("ada", &[])), read.union(write));
        assert_eq!(grant(&entries, &user("cyd", &["admins"])), Permissions::ALL);
        let anonymous = Identity {
            anonymous: true,
            ..user("ada", &[])
        };
        assert_eq!(
            grant(&entries, &anonymous),
            read,
            "an anonymous session is nobody's account"
        );
        assert_eq!(grant(&[], &user("ada", &[])), Permissions::default());
    }
}
