//! Who is acting, for which organization, allowed to do what: the one answer every
//! management service starts from.
//!
//! A [`Caller`] is made in exactly three places, each after its own authentication: an API
//! key (`organizations::authenticate`), a dashboard member's session
//! (`members::signed_in`), and the platform's operator at the command line
//! ([`Caller::operator`]). Its fields are private, so no edge can widen what it may do.
//! Every service that changes an organization's objects begins with
//! `caller.require(Permission::…)?`; every service that reads them takes the organization
//! from the caller, so a caller never reaches another organization's objects.

use guidepost_domain::{Actor, ApiKey, ApiKeyScope, ApiKeyScopes, Member, OrgId, Role};

use crate::CoreError;

/// What an action needs. Reading the organization's objects needs none: every caller
/// reads its own organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Change the organization's content: servers, walkthroughs, support requests,
    /// webhooks, identity providers.
    Edit,
    /// Run the organization's gateway: install, change, restart and uninstall upstreams,
    /// read their logs, attach them to servers, add private catalog entries, and review
    /// their tools.
    Gateway,
    /// Manage who acts for the organization (members and API keys), its own settings, and
    /// see what identifies its end users (tracking ids).
    Administer,
}

impl Permission {
    pub(crate) const ALL: [Permission; 3] = [
        Permission::Edit,
        Permission::Gateway,
        Permission::Administer,
    ];

    /// The permission an API key's scope gives; `read` gives none beyond reading.
    fn of_scope(scope: ApiKeyScope) -> Option<Self> {
        match scope {
            ApiKeyScope::Read => None,
            ApiKeyScope::Write => Some(Permission::Edit),
            ApiKeyScope::Gateway => Some(Permission::Gateway),
            ApiKeyScope::Admin => Some(Permission::Administer),
        }
    }

    /// Whether a member with `role` has it: owners everything, editors content and the
    /// gateway, viewers nothing.
    fn of_role(self, role: Role) -> bool {
        match self {
            Permission::Edit | Permission::Gateway => role.can_edit(),
            Permission::Administer => role.can_administer(),
        }
    }
}

/// A set of [`Permission`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Permissions(u8);

impl Permissions {
    fn bit(permission: Permission) -> u8 {
        match permission {
            Permission::Edit => 1,
            Permission::Gateway => 2,
            Permission::Administer => 4,
        }
    }

    fn from_iter(permissions: impl IntoIterator<Item = Permission>) -> Self {
        Self(
            permissions
                .into_iter()
                .map(Self::bit)
                .fold(0, |set, bit| set | bit),
        )
    }

    fn of_role(role: Role) -> Self {
        Self::from_iter(Permission::ALL.into_iter().filter(|p| p.of_role(role)))
    }

    fn of_scopes(scopes: &ApiKeyScopes) -> Self {
        Self::from_iter(scopes.iter().filter_map(Permission::of_scope))
    }

    fn everything() -> Self {
        Self::from_iter(Permission::ALL)
    }

    fn contains(self, permission: Permission) -> bool {
        self.0 & Self::bit(permission) != 0
    }
}

/// What kind of credential a caller acts with, for refusals that say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    ApiKey,
    Member,
    Operator,
}

/// Someone acting for one organization.
#[derive(Debug, Clone)]
pub struct Caller {
    org: OrgId,
    actor: Actor,
    permissions: Permissions,
    credential: Credential,
    /// How a person reads this caller in a mail or a page: an email, or a description.
    name: String,
}

impl Caller {
    /// A request made with a live API key: it may do what its scopes give.
    pub(crate) fn api_key(key: &ApiKey) -> Self {
        Self {
            org: key.org_id.clone(),
            actor: Actor::ApiKey(key.id.clone()),
            permissions: Permissions::of_scopes(&key.scopes),
            credential: Credential::ApiKey,
            name: format!("API key {}", key.name),
        }
    }

    /// A member signed in to the dashboard: they may do what their role gives.
    pub(crate) fn member(member: &Member) -> Self {
        Self {
            org: member.org_id.clone(),
            actor: Actor::Member(member.id.clone()),
            permissions: Permissions::of_role(member.role),
            credential: Credential::Member,
            name: member.email.as_str().to_owned(),
        }
    }

    /// The platform's operator, at the command line on the platform's own machine: they
    /// hold the database already, so they may do anything in any organization.
    pub fn operator(org: OrgId) -> Self {
        Self {
            org,
            actor: Actor::Operator,
            permissions: Permissions::everything(),
            credential: Credential::Operator,
            name: "the platform's operator".into(),
        }
    }

    /// The organization this caller acts for.
    pub fn org(&self) -> &OrgId {
        &self.org
    }

    /// Who the audit log says acted.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// How a person reads this caller: an email, or a description.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the caller may do what `permission` covers.
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// Whether the caller may give a new API key `scope`: only what it may do itself, so
    /// that no key can mint a stronger one.
    pub fn may_grant(&self, scope: ApiKeyScope) -> bool {
        Permission::of_scope(scope).is_none_or(|p| self.may(p))
    }

    /// Refuses, with a message a person can act on, what the caller may not do.
    pub fn require(&self, permission: Permission) -> Result<(), CoreError> {
        if self.may(permission) {
            return Ok(());
        }
        let message = match (self.credential, permission) {
            (Credential::ApiKey, Permission::Edit) => {
                "This API key's scopes do not include write; use a key with the write scope."
            }
            (Credential::ApiKey, Permission::Gateway) => {
                "This API key's scopes do not include gateway; use a key with the gateway scope."
            }
            (Credential::ApiKey, Permission::Administer) => {
                "This API key's scopes do not include admin; use a key with the admin scope."
            }
            (_, Permission::Edit | Permission::Gateway) => {
                "Viewers can look but not change anything; ask an owner for the editor role."
            }
            (_, Permission::Administer) => "Only an owner can manage members and API keys.",
        };
        Err(CoreError::Forbidden(message.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guidepost_domain::{Email, MemberId, Timestamp};

    fn member(role: Role) -> Member {
        Member {
            id: MemberId::generate(),
            org_id: OrgId::generate(),
            email: Email::parse("ada@example.com").unwrap(),
            role,
            created_at: Timestamp::now(),
            last_sign_in_at: None,
        }
    }

    #[test]
    fn each_role_may_exactly_what_it_covers() {
        let viewer = Caller::member(&member(Role::Viewer));
        let editor = Caller::member(&member(Role::Editor));
        let owner = Caller::member(&member(Role::Owner));
        for p in Permission::ALL {
            assert!(!viewer.may(p) && owner.may(p), "{p:?}");
        }
        assert!(editor.may(Permission::Edit) && editor.may(Permission::Gateway));
        assert!(!editor.may(Permission::Administer));
        assert!(matches!(
            viewer.require(Permission::Edit),
            Err(CoreError::Forbidden(_))
        ));
        assert!(Caller::operator(OrgId::generate()).may(Permission::Administer));
    }

    fn key(scopes: &str) -> Caller {
        Caller::api_key(&ApiKey {
            id: guidepost_domain::ApiKeyId::generate(),
            org_id: OrgId::generate(),
            name: "ci".into(),
            display_prefix: "gp_abcde".into(),
            scopes: ApiKeyScopes::parse_list(scopes).unwrap(),
            created_at: Timestamp::now(),
            revoked_at: None,
        })
    }

    #[test]
    fn each_scope_gives_its_permission_and_no_other() {
        let read = key("read");
        assert!(Permission::ALL.into_iter().all(|p| !read.may(p)));
        let expected = [
            ("write", Permission::Edit),
            ("gateway", Permission::Gateway),
            ("admin", Permission::Administer),
        ];
        for (scope, given) in expected {
            let caller = key(scope);
            for p in Permission::ALL {
                assert_eq!(caller.may(p), p == given, "{scope} and {p:?}");
            }
        }
        assert!(
            matches!(read.require(Permission::Edit), Err(CoreError::Forbidden(m)) if m.contains("write"))
        );
        assert!(key("read,write,gateway,admin").may(Permission::Administer));
    }

    #[test]
    fn a_caller_grants_only_scopes_it_holds() {
        let admin_only = key("admin");
        assert!(
            admin_only.may_grant(ApiKeyScope::Read) && admin_only.may_grant(ApiKeyScope::Admin)
        );
        assert!(
            !admin_only.may_grant(ApiKeyScope::Write)
                && !admin_only.may_grant(ApiKeyScope::Gateway)
        );
        let everyone_who_may_grant_all = [
            key("read,write,gateway,admin"),
            Caller::member(&member(Role::Owner)),
            Caller::operator(OrgId::generate()),
        ];
        for caller in everyone_who_may_grant_all {
            assert!(
                ApiKeyScope::ALL.iter().all(|s| caller.may_grant(*s)),
                "{caller:?}"
            );
        }
    }

    #[test]
    fn the_audit_log_reads_the_same_actor_strings_as_before() {
        let someone = member(Role::Editor);
        let caller = Caller::member(&someone);
        assert_eq!(caller.actor().to_string(), format!("member:{}", someone.id));
        assert_eq!(
            Caller::operator(OrgId::generate()).actor().to_string(),
            "cli"
        );
        assert_eq!(Actor::Platform.to_string(), "platform");
    }
}
