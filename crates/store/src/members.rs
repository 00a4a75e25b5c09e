//! Dashboard members, their sign-in codes and their sessions.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Adds a member; a second membership of one email in one organization is a conflict.
    async fn create_member(&self, org: &OrgId, email: &Email, role: Role) -> Result<Member>;
    async fn get_member(&self, org: &OrgId, id: &MemberId) -> Result<Member>;
    /// The organization's members, oldest first.
    async fn list_members(&self, org: &OrgId) -> Result<Vec<Member>>;
    /// Changes a member's role; refused (`Conflict`) when it would leave the organization
    /// without an owner (decided under a lock on the organization, so two owners demoting
    /// each other at once cannot both succeed).
    async fn set_member_role(&self, org: &OrgId, id: &MemberId, role: Role) -> Result<Member>;
    /// Removes a member and, with it, their sessions; refused (`Conflict`) when it would
    /// leave the organization without an owner, as `set_member_role`.
    async fn delete_member(&self, org: &OrgId, id: &MemberId) -> Result<()>;
    /// Platform-wide: every membership of an email, oldest first (sign-in).
    async fn memberships_of_email(&self, email: &Email) -> Result<Vec<Membership>>;

    /// Counts an invitation mail to the mailbox `address_key` in `org`, sent `now` and
    /// counting until `counts_until`, if fewer than `cap` still count; returns whether it
    /// did (the mail may go out). Decided under a lock on the organization, so that two
    /// invitations at once cannot both take the last place.
    async fn record_invitation_send(
        &self,
        org: &OrgId,
        address_key: &str,
        now: Timestamp,
        counts_until: Timestamp,
        cap: i64,
    ) -> Result<bool>;

    /// Platform-wide: replaces the email's pending code, if it is still the one created at
    /// `replacing` (none: if there is none), so that of two sends that read the same
    /// pending code only one goes out and the sending limits hold; false if it was not.
    async fn put_sign_in_code(
        &self,
        code: &MemberSignInCode,
        replacing: Option<Timestamp>,
    ) -> Result<bool>;
    /// Platform-wide: the email's pending code, if any.
    async fn get_sign_in_code(&self, email: &Email) -> Result<Option<MemberSignInCode>>;
    /// Platform-wide: counts one guess at the email's code in one statement, if the code
    /// has guesses left (`max_guesses`) and has not expired by `now`; the code as counted,
    /// else `None`. Every guess is counted before it is compared, so parallel guesses
    /// cannot exceed the limit.
    async fn claim_sign_in_guess(
        &self,
        email: &Email,
        max_guesses: i64,
        now: Timestamp,
    ) -> Result<Option<MemberSignInCode>>;
    /// Platform-wide: removes the email's code if it is `code_hash`, returning whether it
    /// did (a code is used once: of two concurrent right guesses, one removes it).
    async fn take_sign_in_code(&self, email: &Email, code_hash: &str) -> Result<bool>;

    /// Platform-wide (the session's random token is its key; its member and organization
    /// are written with it).
    async fn create_dashboard_session(&self, session: &DashboardSession) -> Result<()>;
    /// Platform-wide (by the hash of a random token): the session and its member, if the
    /// session has not ended by `now`.
    async fn find_dashboard_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(DashboardSession, Member)>>;
    /// Platform-wide (by the hash of a random token): records activity.
    async fn touch_dashboard_session(&self, token_hash: &str, now: Timestamp) -> Result<()>;
    /// Platform-wide (by the hash of a random token): moves a session to another
    /// membership (core checks it is the same person's).
    async fn switch_dashboard_session(&self, token_hash: &str, to: &Member) -> Result<()>;
    /// Platform-wide (by the hash of a random token): ends a session.
    async fn delete_dashboard_session(&self, token_hash: &str) -> Result<()>;
    /// Keeps `sealed` (a secret sealed by core) for the session `token_hash` of `org`
    /// until `expires_at`, in place of one kept before.
    async fn keep_shown_once(
        &self,
        org: &OrgId,
        token_hash: &str,
        sealed: &str,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// Takes (deletes and returns) what the session `token_hash` of `org` keeps, if it has
    /// not expired by `now`: one statement, so two nodes cannot both show it.
    async fn take_shown_once(
        &self,
        org: &OrgId,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<String>>;
    /// Platform-wide: forgets sessions, codes, secrets waiting to be shown and counted
    /// invitation mails that ended before `now`.
    async fn delete_expired_dashboard_state(&self, now: Timestamp) -> Result<u64>;
}
