//! Connections: an HTTP upstream that wants its callers signed in is reached
//! with an account of the organization's or of each person, which the platform obtains
//! through the upstream's own OAuth authorization server and keeps sealed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::*;
use crate::time::Timestamp;

string_enum! {
    /// Whose account an HTTP upstream is reached with: `none` (static headers only, the
    /// same for everyone), `organization` (one connection, made once by an editor, used
    /// for every person's calls) or `person` (each end user connects their own account;
    /// only on servers whose people are signed in, so that a connection is bound to a
    /// verified person).
    UpstreamSignIn {
        None => "none",
        Organization => "organization",
        Person => "person",
    }
}

// `string_enum!` takes no attributes on its variants, so `#[default]` cannot be derived.
#[allow(clippy::derivable_impls)]
impl Default for UpstreamSignIn {
    fn default() -> Self {
        UpstreamSignIn::None
    }
}

impl UpstreamSignIn {
    pub fn is_none(&self) -> bool {
        *self == UpstreamSignIn::None
    }
}

/// The rule between a `person` upstream and the servers that attach it: each of them
/// signs its people in (`AuthMode::requires_token`). With anonymous tracking ids, whoever
/// opened a connect link could bind their account to someone else's identity. The store
/// keeps it in the transactions that attach, switch an upstream to `person` and change a
/// server's sign-in, so that two such changes at once cannot both pass.
pub mod person_sign_in {
    const WHY: &str = "person sign-in is only for servers whose people sign in \
        (auth_mode platform_oauth or custom_oauth): with tracking ids, whoever opened a \
        connect link could bind their account to someone else";

    /// A `person` upstream attached (or switched to `person` while attached) to the
    /// server named `server`, whose people do not sign in.
    pub fn refused_on(server: &str) -> String {
        format!("{server}: {WHY}")
    }

    /// A server switched to let people in unsigned while `upstream`, a `person` one, is
    /// attached to it.
    pub fn refused_off(upstream: &str) -> String {
        format!("{upstream} is attached with person sign-in; detach it first: {WHY}")
    }
}

string_enum! {
    /// Whether a connection's tokens may be used: `needs_reconnect` after a refresh was
    /// refused (or the grant revoked), until the owner connects again.
    ConnectionStatus {
        Active => "active",
        NeedsReconnect => "needs_reconnect",
    }
}

/// Whose connection to an upstream: the organization's, or one person's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectionOwner {
    Organization,
    Person(EndUserId),
}

impl ConnectionOwner {
    const ORGANIZATION: &'static str = "organization";

    /// How the store keys it.
    pub fn key(&self) -> &str {
        match self {
            ConnectionOwner::Organization => Self::ORGANIZATION,
            ConnectionOwner::Person(end_user) => end_user.as_str(),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        if key == Self::ORGANIZATION {
            return Some(ConnectionOwner::Organization);
        }
        EndUserId::parse(key).map(ConnectionOwner::Person)
    }

    pub fn end_user(&self) -> Option<&EndUserId> {
        match self {
            ConnectionOwner::Person(end_user) => Some(end_user),
            ConnectionOwner::Organization => None,
        }
    }
}

/// A stored connection; its tokens are sealed with the master key and opened by core
/// only to make or refresh a call.
#[derive(Debug, Clone)]
pub struct UpstreamConnection {
    pub org_id: OrgId,
    pub upstream_id: UpstreamId,
    pub owner: ConnectionOwner,
    pub status: ConnectionStatus,
    /// Which account at the upstream it is (the name its authorization server gave, or
    /// the token's subject), shown to the person.
    pub account: Option<String>,
    /// The tokens, sealed (`ConnectionTokens` as JSON).
    pub tokens_sealed: String,
    /// When the access token expires, if the server said.
    pub expires_at: Option<Timestamp>,
    /// Bumped at every write of the tokens; a refresh writes only over the revision it
    /// read, so exactly one node's refresh wins.
    pub revision: i64,
    /// Set while one node refreshes; the others wait for its result until then.
    pub refreshing_until: Option<Timestamp>,
    /// A person's connection: the sign-in that vouched for them when they made it
    /// (`platform`, `oidc <issuer>`, or `server <id>`); it serves calls only from
    /// servers whose people sign in the same way. `None` for the organization's.
    pub signed_in_with: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a connection shows: never its tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionView {
    #[schema(value_type = String)]
    pub upstream_id: UpstreamId,
    pub upstream_name: String,
    /// `organization`, or the person's end-user id.
    pub owner: String,
    pub status: ConnectionStatus,
    pub account: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The tokens an upstream's authorization server issued, as they are sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// A static key the person gave (the upstream takes an API key header, not OAuth):
    /// sent as the entry's header; never refreshed.
    #[serde(default)]
    pub static_key: bool,
}

string_enum! {
    /// Where a connect flow is: its link made, the person's identity being checked at the
    /// hosted server's own sign-in, sent to the upstream's authorization server, or done.
    ConnectStage {
        Link => "link",
        Identity => "identity",
        Authorizing => "authorizing",
        Done => "done",
    }
}

/// One run of the connect flow, from its link to the callback. Its link token and its
/// `state` are random and stored only as hashes; each stage is written compare-and-set,
/// so a link or a callback works once.
#[derive(Debug, Clone)]
pub struct ConnectFlow {
    /// The hash of the link's token.
    pub id: String,
    pub org_id: OrgId,
    pub upstream_id: UpstreamId,
    pub owner: ConnectionOwner,
    /// The hosted server whose sign-in proves the person (person connections).
    pub server_id: Option<ServerId>,
    pub stage: ConnectStage,
    /// The hash of the current trip's `state` (identity check, then upstream).
    pub state_hash: Option<String>,
    /// The trip's secrets (PKCE verifier, the authorization server it went to), sealed.
    pub sealed: Option<String>,
    /// Who started it, for the audit log (`member:…`, `api_key:…`, `end_user:…`).
    pub started_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An upstream's authorization server as the platform knows it, with the client it is
/// registered as there; sealed whole (it may hold a client secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamAuthorization {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// The resource the tokens are for (RFC 8707): the upstream's MCP URL or what its
    /// protected resource metadata names.
    pub resource: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the server says it sends `iss` with its answers (RFC 9207).
    #[serde(default)]
    pub iss_parameter_supported: bool,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// How the client came to be: `metadata_document`, `dynamic` or `preregistered`.
    pub registration: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_key_both_ways() {
        let person = ConnectionOwner::Person(EndUserId::generate());
        for owner in [ConnectionOwner::Organization, person] {
            assert_eq!(ConnectionOwner::from_key(owner.key()), Some(owner));
        }
        assert_eq!(ConnectionOwner::from_key("eu_nope"), None);
    }
}
