//! The resource server's check: is a bearer token good for this server. The
//! MCP endpoint runs it on every request that carries a token.

use guidepost_domain::*;

use super::scopes::MCP_SCOPE;
use crate::{CoreError, Platform};

/// Longest token worth looking up.
const TOKEN_MAX: usize = 512;

/// A token that is good for this server: the person it names.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The signed-in person (verified email).
    pub end_user: EndUser,
    pub client_id: String,
    pub grant_id: GrantId,
    pub scopes: Vec<String>,
    /// How the person signed in for this grant.
    pub sign_in: SignInFacts,
    /// Their role in the organization, when their verified email is a member's.
    pub member_role: Option<Role>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Unknown, expired, revoked, or for another server or resource: 401 `invalid_token`.
    Invalid(&'static str),
    /// Good, but without the `mcp` scope: 403 `insufficient_scope`.
    InsufficientScope,
}

/// Checks an access token for `server`, whose MCP URL as the client reached it is
/// `resource`: the token must exist, be an access token, be live (not expired, not
/// revoked, its grant not revoked), belong to this server, have `resource` as its
/// audience (RFC 8707), and carry the `mcp` scope. One indexed lookup by the token's
/// hash.
pub async fn verify(
    platform: &Platform,
    server: &McpServer,
    resource: &str,
    token: &str,
) -> Result<Result<VerifiedToken, TokenRefusal>, CoreError> {
    if token.is_empty() || token.len() > TOKEN_MAX {
        return Ok(Err(TokenRefusal::Invalid("The access token is malformed")));
    }
    let Some(record) = platform.store.find_token(&hash_secret(token)).await? else {
        return Ok(Err(TokenRefusal::Invalid("The access token is not known")));
    };
    Ok(accepted(record, server, resource, Timestamp::now()))
}

fn accepted(
    record: TokenRecord,
    server: &McpServer,
    resource: &str,
    now: Timestamp,
) -> Result<VerifiedToken, TokenRefusal> {
    let grant = &record.grant;
    let refusal = if record.kind != TokenKind::Access {
        Some("This is not an access token")
    } else if record.expires_at <= now {
        Some("The access token expired")
    } else if !record.is_live(now) {
        Some("The access token was revoked")
    } else if grant.server_id != server.id || grant.org_id != server.org_id {
        Some("The access token was issued for another server")
    } else if grant.resource != resource {
        Some("The access token was issued for another resource")
    } else {
        None
    };
    if let Some(why) = refusal {
        return Err(TokenRefusal::Invalid(why));
    }
    let scopes: Vec<String> = grant.scope.split_whitespace().map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == MCP_SCOPE) {
        return Err(TokenRefusal::InsufficientScope);
    }
    Ok(VerifiedToken {
        client_id: grant.client_id.clone(),
        grant_id: grant.id.clone(),
        scopes,
        sign_in: record.grant.sign_in,
        member_role: record.member_role,
        end_user: record.end_user,
    })
}
