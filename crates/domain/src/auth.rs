//! The records of the platform's OAuth 2.1 authorization server: registered
//! clients, login sessions (a pending authorization while the person signs in), grants
//! (one approved authorization: a client acting for a person on one server), the
//! authorization codes and tokens issued under a grant.
//!
//! Secrets (client secrets, codes, tokens, login cookies, one-time codes) never appear
//! here in plain text: only their hashes are records.

use serde::Serialize;

use crate::id::*;
use crate::{Email, EndUser, Role, Timestamp};

string_enum! {
    /// How a client authenticates at the token endpoint (RFC 7591 §2).
    TokenEndpointAuthMethod {
        None => "none",
        ClientSecretPost => "client_secret_post",
        ClientSecretBasic => "client_secret_basic",
    }
}

string_enum! {
    TokenKind { Access => "access", Refresh => "refresh" }
}

string_enum! {
    /// Where a login session stands. `email` → `code` (a one-time code was mailed) →
    /// `consent` (the person is known) → `done` (a code went back to the client).
    /// Too many wrong codes → `locked`. With the organization's identity provider
    /// (`custom_oauth`): `email` → `upstream` (the browser was sent to the provider) →
    /// `consent` when it comes back with a verified email.
    LoginStage {
        Email => "email",
        Code => "code",
        Upstream => "upstream",
        Consent => "consent",
        Locked => "locked",
        Done => "done",
    }
}

/// A client registered by RFC 7591 dynamic registration at one server's authorization
/// server. Clients identified by a metadata document URL (CIMD) are not stored.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthClient {
    pub id: OAuthClientId,
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub scope: Option<String>,
    /// SHA-256 of the client secret, for the secret-based methods.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub created_at: Timestamp,
}

/// A client about to be registered (validated by the authorization server).
#[derive(Debug, Clone)]
pub struct NewOAuthClient {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub scope: Option<String>,
    pub secret_hash: Option<String>,
}

/// A validated authorization request (`/authorize`), kept while the person signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// Space-separated granted scopes.
    pub scope: String,
    /// RFC 8707: the protected resource, the server's canonical MCP URL; the audience of
    /// every token issued under this authorization.
    pub resource: String,
}

/// A person signing in for one authorization request, in one browser (bound to it by a
/// cookie whose hash is `secret_hash`).
#[derive(Debug, Clone)]
pub struct LoginSession {
    pub id: LoginSessionId,
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub secret_hash: String,
    pub request: AuthorizationRequest,
    /// The client's name as shown on the consent page.
    pub client_name: Option<String>,
    pub stage: LoginStage,
    pub email: Option<Email>,
    /// Hash of the one-time code mailed to `email`, salted with the session id.
    pub code_hash: Option<String>,
    pub code_expires_at: Option<Timestamp>,
    pub code_attempts: i64,
    pub codes_sent: i64,
    /// The person, once the code (or the identity provider) proved the email.
    pub end_user_id: Option<EndUserId>,
    /// Random salt of the current trip to the organization's identity provider: with the
    /// browser's cookie secret it derives that trip's `state`, `nonce` and PKCE verifier,
    /// so none of them is stored.
    pub upstream_salt: Option<String>,
    /// How the person proved who they are, once they have (kept on their grant).
    pub sign_in: SignInFacts,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Bumped by every write; a write applies only to the revision it read.
    pub revision: i64,
}

#[derive(Debug, Clone)]
pub struct NewLoginSession {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub secret_hash: String,
    pub request: AuthorizationRequest,
    pub client_name: Option<String>,
    pub expires_at: Timestamp,
}

/// One approved authorization: a client may act for a person on a server, for a scope
/// and an audience. Every token issued from its code and refreshes is of its family;
/// revoking the grant revokes them all.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub id: GrantId,
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub client_id: String,
    pub end_user_id: EndUserId,
    pub scope: String,
    pub resource: String,
    /// As of the sign-in that made the grant: what call-time policies read of the person.
    #[serde(skip)]
    pub sign_in: SignInFacts,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewGrant {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub client_id: String,
    pub end_user_id: EndUserId,
    pub scope: String,
    pub resource: String,
    pub sign_in: SignInFacts,
}

/// How a person proved who they are at sign-in, kept on their grant for the call-time
/// policies: the organization's identity provider (none for the platform's own emailed
/// code) and the groups its ID token named. They are as of the sign-in: a person moved
/// out of a group keeps it until they sign in again (their grant's lifetime).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInFacts {
    /// The issuer URL of the organization's identity provider; `None` when the platform
    /// mailed the person a code.
    pub identity_provider: Option<String>,
    /// The `groups` claim of the provider's ID token: at most [`Self::MAX_GROUPS`], each
    /// at most [`Self::MAX_GROUP_LEN`] bytes (longer ones are left out).
    pub groups: Vec<String>,
}

impl SignInFacts {
    pub const MAX_GROUPS: usize = 100;
    pub const MAX_GROUP_LEN: usize = 256;

    /// A sign-in at `issuer` whose ID token named `groups`, kept as [`Self::usable_groups`]
    /// keeps them.
    pub fn at_provider(issuer: &str, groups: impl IntoIterator<Item = String>) -> Self {
        Self {
            identity_provider: Some(issuer.to_owned()),
            groups: Self::usable_groups(groups),
        }
    }

    /// `groups` within the bounds, without empty names, control characters or repeats,
    /// in their order.
    pub fn usable_groups(groups: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut kept: Vec<String> = Vec::new();
        for group in groups {
            let usable = !group.is_empty()
                && group.len() <= Self::MAX_GROUP_LEN
                && !group.chars().any(char::is_control);
            if usable && !kept.contains(&group) {
                kept.push(group);
            }
            if kept.len() == Self::MAX_GROUPS {
                break;
            }
        }
        kept
    }

    /// The name policies read for the provider: its issuer, or `platform`.
    pub fn provider_name(&self) -> &str {
        self.identity_provider.as_deref().unwrap_or("platform")
    }
}

/// An authorization code, stored by hash until its single use.
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub grant: Grant,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewAuthorizationCode {
    pub code_hash: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: Timestamp,
}

/// A token about to be stored: only its hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: String,
    pub kind: TokenKind,
    pub expires_at: Timestamp,
}

/// A stored token with its grant and its person, as one lookup returns them.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub grant: Grant,
    pub end_user: EndUser,
    /// The person's role in the grant's organization, when their verified email is a
    /// member's.
    pub member_role: Option<Role>,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// For refresh tokens: when it was exchanged (rotated) for a new pair.
    pub used_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Whether the token can be used at `now`: not expired, not revoked, grant not revoked.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
            && self.revoked_at.is_none()
            && self.grant.revoked_at.is_none()
            && self.used_at.is_none()
    }
}

/// What presenting an authorization code found.
#[derive(Debug, Clone)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Fresh(Box<AuthorizationCode>),
    /// Second use: the grant and every token issued from the code are revoked.
    Replayed,
    Unknown,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The old token is spent and the new tokens are stored.
    Rotated,
    /// The token was rotated within the grace, and its family stands: its successors are
    /// the ones derived with this nonce, rotated at `rotated_at`.
    Repeated {
        successor_nonce: String,
        rotated_at: Timestamp,
    },
    /// The token was already rotated: the whole family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// A refresh token presented for rotation.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRotation<'a> {
    /// The hash of the presented refresh token.
    pub token_hash: &'a str,
    /// What the successors were derived with, kept on the spent token.
    pub successor_nonce: &'a str,
    pub successors: &'a [NewToken],
    pub now: Timestamp,
    /// A token rotated at or after this time may be presented again (a concurrent
    /// refresh) and gets the same successors; before it, presenting it is a reuse.
    pub grace_since: Timestamp,
}

/// What linking an anonymous end user to a signed-in person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkOutcome {
    /// False when the anonymous end user was already linked, or is not anonymous.
    pub linked: bool,
    /// Progress records that moved to the person.
    pub moved: u32,
    /// Progress records that met one of the person's own: the more advanced one was kept.
    pub merged: u32,
}

/// The organization's own OpenID Connect provider, to which a `custom_oauth` server
/// federates sign-in. The client secret is stored only sealed (encrypted with
/// the platform's master key) and is never shown again.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub org_id: OrgId,
    pub server_id: ServerId,
    /// The provider's issuer identifier, as its discovery document states it.
    pub issuer_url: String,
    pub client_id: String,
    /// The client secret, sealed; `None` for a public client (PKCE only).
    pub client_secret_sealed: Option<String>,
    /// Accept an email the provider does not say it verified (no `email_verified`).
    pub accept_unverified_email: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An identity provider configuration about to be stored (already checked).
#[derive(Debug, Clone)]
pub struct NewOidcProvider {
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret_sealed: Option<String>,
    pub accept_unverified_email: bool,
}

/// A one-time code about to be mailed, as the per-mailbox, per-address and organization
/// limits count it.
#[derive(Debug, Clone)]
pub struct CodeSend {
    pub org_id: OrgId,
    /// `Email::mailbox_key` of the address the code goes to.
    pub address_key: String,
    /// Who asked for it, when known.
    pub client_ip: Option<String>,
    pub at: Timestamp,
}

/// Codes allowed per hour and organization: to one mailbox, asked from one client
/// address, and in all.
#[derive(Debug, Clone, Copy)]
pub struct CodeSendLimits {
    pub per_mailbox: i64,
    pub per_client_ip: i64,
    pub per_organization: i64,
}

/// Codes sent within the hour, and whether this one was recorded (within the limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSends {
    pub to_mailbox: i64,
    pub from_client_ip: i64,
    pub in_organization: i64,
    pub recorded: bool,
}

impl CodeSends {
    /// The first of `limits` these sends have reached, if any.
    pub fn limit_reached(&self, limits: CodeSendLimits) -> Option<CodeSendLimit> {
        if self.to_mailbox >= limits.per_mailbox {
            Some(CodeSendLimit::Mailbox)
        } else if self.from_client_ip >= limits.per_client_ip {
            Some(CodeSendLimit::ClientIp)
        } else if self.in_organization >= limits.per_organization {
            Some(CodeSendLimit::Organization)
        } else {
            None
        }
    }
}

/// Which of the code-send limits was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSendLimit {
    Mailbox,
    ClientIp,
    Organization,
}

impl CodeSendLimit {
    /// Its name as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::ClientIp => "client_ip",
            Self::Organization => "organization",
        }
    }
}
