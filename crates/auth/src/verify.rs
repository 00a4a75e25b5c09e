//! The resource server's side (SPEC §3): is this bearer token good for this server, and
//! what challenge to answer when it is not (RFC 6750 §3, RFC 9728 §5.1).

use guidepost_core::authorization::tokens;
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{EndUser, GrantId, McpServer, Timestamp, TokenKind, hash_secret};

use crate::Address;

/// The one scope that lets a client use a hosted MCP server's tools.
pub const MCP_SCOPE: &str = "mcp";

/// Scopes an authorization may ask for: `offline_access` is accepted (clients add it to
/// get refresh tokens) but changes nothing.
pub(crate) const KNOWN_SCOPES: &[&str] = &[MCP_SCOPE, "offline_access"];

/// A token that is good for this server: the person it names.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The signed-in person (verified email).
    pub end_user: EndUser,
    pub client_id: String,
    pub grant_id: GrantId,
    pub scopes: Vec<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Unknown, expired, revoked, or for another server or resource: 401 `invalid_token`.
    Invalid(&'static str),
    /// Good, but without the `mcp` scope: 403 `insufficient_scope`.
    InsufficientScope,
}

/// Checks an access token for `server` reached at `address`: it must exist, be an access
/// token, be live (not expired, not revoked, its grant not revoked), belong to this server
/// and have this server's MCP URL as its audience (RFC 8707), and carry the `mcp` scope.
/// One indexed lookup by the token's hash.
pub async fn verify_access_token(
    platform: &Platform,
    server: &McpServer,
    address: &Address,
    token: &str,
) -> Result<Result<VerifiedToken, TokenRefusal>, CoreError> {
    if token.is_empty() || token.len() > 512 {
        return Ok(Err(TokenRefusal::Invalid("The access token is malformed")));
    }
    let Some(record) = tokens::find(platform, &hash_secret(token)).await? else {
        return Ok(Err(TokenRefusal::Invalid("The access token is not known")));
    };
    let grant = &record.grant;
    let refusal = if record.kind != TokenKind::Access {
        Some("This is not an access token")
    } else if record.expires_at <= Timestamp::now() {
        Some("The access token expired")
    } else if !record.is_live(Timestamp::now()) {
        Some("The access token was revoked")
    } else if grant.server_id != server.id || grant.org_id != server.org_id {
        Some("The access token was issued for another server")
    } else if grant.resource != address.resource() {
        Some("The access token was issued for another resource")
    } else {
        None
    };
    if let Some(why) = refusal {
        return Ok(Err(TokenRefusal::Invalid(why)));
    }
    let scopes: Vec<String> = grant.scope.split_whitespace().map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == MCP_SCOPE) {
        return Ok(Err(TokenRefusal::InsufficientScope));
    }
    Ok(Ok(VerifiedToken {
        end_user: record.end_user,
        client_id: grant.client_id.clone(),
        grant_id: grant.id.clone(),
        scopes,
    }))
}

/// The `WWW-Authenticate` value of a refusal: where to find the protected resource
/// metadata, which scope to ask for, and (when a token was presented) what was wrong.
pub fn challenge(address: &Address, refusal: Option<&TokenRefusal>) -> String {
    let mut value = format!(
        "Bearer resource_metadata=\"{}\", scope=\"{MCP_SCOPE}\"",
        address.protected_resource_metadata()
    );
    match refusal {
        Some(TokenRefusal::Invalid(why)) => {
            value.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{why}\""
            ));
        }
        Some(TokenRefusal::InsufficientScope) => value.push_str(
            ", error=\"insufficient_scope\", error_description=\"The token lacks the mcp scope\"",
        ),
        None => {}
    }
    value
}
