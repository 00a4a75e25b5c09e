//! The resource server's check, run by the gate before rmcp.
//!
//! - On servers whose auth mode requires a token (`platform_oauth`, `custom_oauth`): no
//!   bearer token → 401 with `WWW-Authenticate: Bearer resource_metadata=…, scope=…`; an
//!   unknown, expired, revoked, or other server's or other resource's token → 401
//!   `invalid_token`; a token without the `mcp` scope → 403 `insufficient_scope`.
//! - On open servers (`none`, `collect_email`) a bearer token is never required and never
//!   refused: one that is valid for this server identifies the person (it can only exist
//!   if the server required sign-in before); any other is ignored, since the header may
//!   be meant for something else on the way (a proxy, a gateway).

use guidepost_auth::{Address, TokenRefusal, VerifiedToken, challenge, verify_access_token};
use guidepost_core::Platform;
use guidepost_domain::McpServer;
use http::StatusCode;
use http::request::Parts;
use serde_json::Value;

use crate::jsonrpc::{self, Refusal};
use crate::routing;

/// The person a request's bearer token names, if it names one for this server.
pub(crate) async fn signed_in(
    platform: &Platform,
    server: &McpServer,
    parts: &Parts,
    id: &Value,
) -> Result<Option<VerifiedToken>, Refusal> {
    // Worked out only when a token or a challenge needs it: most calls carry neither.
    let address = || {
        let host = routing::request_host(parts);
        let slug = routing::path_slug(parts.uri.path());
        Address::of_request(&platform.config, server, host.as_deref(), slug)
    };
    let required = server.auth_mode.requires_token();
    let Some(token) = bearer_token(parts) else {
        if required {
            let message = "Sign-in required: this MCP server needs an OAuth access token";
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                id.clone(),
                jsonrpc::UNAUTHORIZED,
                message,
            )
            .with_challenge(challenge(&address(), None)));
        }
        return Ok(None);
    };
    let address = address();
    let verdict = verify_access_token(platform, server, &address, token)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not check an access token");
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                id.clone(),
                jsonrpc::INTERNAL_ERROR,
                "Internal error; please retry",
            )
        })?;
    match verdict {
        Ok(verified) => Ok(Some(verified)),
        Err(_) if !required => Ok(None),
        Err(refusal) => {
            let (status, code, message) = match &refusal {
                TokenRefusal::Invalid(why) => {
                    (StatusCode::UNAUTHORIZED, jsonrpc::UNAUTHORIZED, *why)
                }
                TokenRefusal::InsufficientScope => (
                    StatusCode::FORBIDDEN,
                    jsonrpc::FORBIDDEN,
                    "The access token lacks the mcp scope",
                ),
            };
            metrics::counter!("guidepost_mcp_tokens_refused_total", "status" => status.as_u16().to_string()).increment(1);
            Err(Refusal::new(status, id.clone(), code, message)
                .with_challenge(challenge(&address, Some(&refusal))))
        }
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
