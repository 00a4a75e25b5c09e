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

use guidepost_domain::{Actor, ApiKey, Member, OrgId, Role};

use crate::CoreError;

/// What an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Change the organization's objects: servers, walkthroughs, support requests,
    /// webhooks, upstreams and their tools' reviews.
    Edit,
    /// Manage who acts for the organization (members and API keys) and its own settings.
    Administer,
}

/// Someone acting for one organization.
#[derive(Debug, Clone)]
pub struct Caller {
    org: OrgId,
    actor: Actor,
    role: Role,
    /// How a person reads this caller in a mail or a page: an email, or a description.
    name: String,
}

impl Caller {
    /// A request made with a live API key. Keys are the owners' (only owners make them).
    pub(crate) fn api_key(key: &ApiKey) -> Self {
        Self {
            org: key.org_id.clone(),
            actor: Actor::ApiKey(key.id.clone()),
            role: Role::Owner,
            name: format!("API key {}", key.name),
        }
    }

    /// A member signed in to the dashboard, with their role.
    pub(crate) fn member(member: &Member) -> Self {
        Self {
            org: member.org_id.clone(),
            actor: Actor::Member(member.id.clone()),
            role: member.role,
            name: member.email.as_str().to_owned(),
        }
    }

    /// The platform's operator, at the command line on the platform's own machine: they
    /// hold the database already, so they may do anything in any organization.
    pub fn operator(org: OrgId) -> Self {
        Self {
            org,
            actor: Actor::Operator,
            role: Role::Owner,
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
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the caller may do what `permission` covers.
    pub fn may(&self, permission: Permission) -> bool {
        match permission {
            Permission::Edit => self.role.can_edit(),
            Permission::Administer => self.role.can_administer(),
        }
    }

    /// Refuses, with a message a person can act on, what the caller may not do.
    pub fn require(&self, permission: Permission) -> Result<(), CoreError> {
        if self.may(permission) {
            return Ok(());
        }
        Err(CoreError::Forbidden(
            match permission {
                Permission::Edit => {
                    "Viewers can look but not change anything; ask an owner for the editor role."
                }
                Permission::Administer => "Only an owner can manage members and API keys.",
            }
            .into(),
        ))
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
        assert!(!viewer.may(Permission::Edit) && !viewer.may(Permission::Administer));
        assert!(editor.may(Permission::Edit) && !editor.may(Permission::Administer));
        assert!(owner.may(Permission::Edit) && owner.may(Permission::Administer));
        assert!(matches!(
            viewer.require(Permission::Edit),
            Err(CoreError::Forbidden(_))
        ));
        assert!(Caller::operator(OrgId::generate()).may(Permission::Administer));
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
