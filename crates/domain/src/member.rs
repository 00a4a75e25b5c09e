//! The people who run an organization from the dashboard: members with a
//! role, the one-time codes they sign in with, and their dashboard sessions.

use crate::id::*;
use crate::{Email, OrgId, Timestamp};

/// What a member may do. Owners do everything, including members and API keys;
/// editors change the organization's servers, walkthroughs, support and gateway; viewers
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Whether this role may change the organization's objects.
    pub fn can_edit(self) -> bool {
        self >= Role::Editor
    }

    /// Whether this role may manage members and API keys.
    pub fn can_administer(self) -> bool {
        self == Role::Owner
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: MemberId,
    pub org_id: OrgId,
    pub email: Email,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_sign_in_at: Option<Timestamp>,
}

/// A member's membership as the sign-in sees it: which organization, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub member: Member,
    pub org_name: String,
}

/// The one pending sign-in code of an email address, stored as a salted hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSignInCode {
    pub email: Email,
    pub code_hash: String,
    /// Guesses made at this code, the right one included.
    pub failed_attempts: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Codes sent to this email since `first_sent_at` (the hourly sending cap).
    pub sends: i64,
    pub first_sent_at: Timestamp,
}

/// A signed-in browser: the cookie carries the random token, the store its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSession {
    pub token_hash: String,
    pub member_id: MemberId,
    pub org_id: OrgId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end, whatever the activity.
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_back_and_rank() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
        assert!(Role::Owner.can_edit() && Role::Editor.can_edit() && !Role::Viewer.can_edit());
        assert!(Role::Owner.can_administer() && !Role::Editor.can_administer());
    }
}
