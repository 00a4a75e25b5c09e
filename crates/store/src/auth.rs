//! The authorization server's half of the store: registered clients, login sessions,
//! grants with their codes and tokens (all secrets by hash only), verified-email end
//! users and de-anonymization.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

#[async_trait]
pub trait AuthStore: Send + Sync {
    // --- clients --------------------------------------------------------------------

    async fn create_oauth_client(&self, client: &NewOAuthClient) -> Result<OAuthClient>;
    /// A client registered at this server's authorization server.
    async fn get_oauth_client(
        &self,
        org: &OrgId,
        server: &ServerId,
        client_id: &str,
    ) -> Result<Option<OAuthClient>>;

    // --- login sessions -------------------------------------------------------------

    /// Platform-wide housekeeping: deletes clients registered before `registered_before`
    /// that never got as far as a sign-in (no login session, no grant).
    async fn delete_unused_clients(&self, registered_before: Timestamp) -> Result<u64>;

    async fn create_login_session(&self, session: &NewLoginSession) -> Result<LoginSession>;
    async fn get_login_session(
        &self,
        org: &OrgId,
        server: &ServerId,
        id: &LoginSessionId,
    ) -> Result<Option<LoginSession>>;
    /// Writes the session's mutable fields (stage, email, code, counters, end user) only
    /// if it is still at `session.revision`; `None` if another write came first.
    async fn update_login_session(&self, session: &LoginSession) -> Result<Option<LoginSession>>;
    /// Records a one-time code about to be mailed to the mailbox `send.address_key`,
    /// asked from `send.client_ip`, unless that would pass `limits` over the hour before
    /// `send.at`: what was sent to the mailbox and asked from the address in that hour,
    /// this one included only if it was recorded.
    async fn record_code_send(&self, send: &CodeSend, limits: CodeSendLimits) -> Result<CodeSends>;

    // --- grants, codes and tokens ---------------------------------------------------

    /// Records an approved authorization and its authorization code, in one transaction.
    async fn create_grant_with_code(
        &self,
        grant: &NewGrant,
        code: &NewAuthorizationCode,
        now: Timestamp,
    ) -> Result<Grant>;
    /// Platform-wide (the hash of a random code): the code and its grant, spent or not,
    /// without spending it, so that a presenter can be checked before the code is spent.
    async fn find_authorization_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>>;
    /// Platform-wide (the hash of a random code): spends an authorization code. A second
    /// use revokes the grant and every token issued from the code, in the same transaction.
    async fn consume_authorization_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<CodeRedemption>;
    /// Stores tokens of a grant; `false` (nothing stored) when the grant is revoked.
    async fn issue_tokens(
        &self,
        org: &OrgId,
        grant: &GrantId,
        tokens: &[NewToken],
        now: Timestamp,
    ) -> Result<bool>;
    /// Platform-wide (the hash of a random token): the token with its grant and person.
    async fn find_token(&self, token_hash: &str) -> Result<Option<TokenRecord>>;
    /// Platform-wide (the hash of a random token): spends a refresh token and stores its
    /// successors, in one transaction. Presenting an already rotated refresh token again
    /// within the grace answers `Repeated` with its successors' nonce; after it, revokes
    /// the whole family.
    async fn rotate_refresh_token(&self, rotation: &RefreshRotation<'_>) -> Result<Rotation>;
    /// Revokes a grant and every token of its family.
    async fn revoke_grant(&self, org: &OrgId, grant: &GrantId, now: Timestamp) -> Result<()>;
    /// Revokes one token.
    async fn revoke_token(&self, org: &OrgId, token_hash: &str, now: Timestamp) -> Result<()>;
    /// Platform-wide housekeeping: deletes login sessions, codes and tokens that expired
    /// before `cutoff`, code sends older than it, and grants left with neither.
    async fn delete_expired_auth_records(&self, cutoff: Timestamp) -> Result<u64>;

    // --- people ---------------------------------------------------------------------

    /// The end user with this verified email, created on first sign-in; `last_seen_at` is
    /// brought up to `now`.
    async fn end_user_for_verified_email(
        &self,
        org: &OrgId,
        email: &Email,
        now: Timestamp,
    ) -> Result<EndUser>;
    /// De-anonymization, in one transaction: moves the anonymous end user's
    /// walkthrough progress to `person` (where both have progress on the same walkthrough
    /// and server, the more advanced one is kept), points its sessions at `person`, and
    /// records the link. Does nothing if `anonymous` has a verified email or is linked.
    async fn link_end_users(
        &self,
        org: &OrgId,
        anonymous: &EndUserId,
        person: &EndUserId,
        now: Timestamp,
    ) -> Result<LinkOutcome>;
}
