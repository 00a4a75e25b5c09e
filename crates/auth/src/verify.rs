//! The resource server's side: is this bearer token good for this server (the
//! rule is core's, `core::accounts::authorization::access`), and what challenge to answer when it
//! is not (RFC 6750 §3, RFC 9728 §5.1).

use guidepost_core::accounts::authorization::access;
pub use guidepost_core::accounts::authorization::access::{TokenRefusal, VerifiedToken};
pub use guidepost_core::accounts::authorization::scopes::MCP_SCOPE;
use guidepost_core::{CoreError, Platform};
use guidepost_domain::McpServer;

use crate::Address;

/// Checks an access token for `server` reached at `address`, whose MCP URL is the
/// audience the token must have (RFC 8707).
pub async fn verify_access_token(
    platform: &Platform,
    server: &McpServer,
    address: &Address,
    token: &str,
) -> Result<Result<VerifiedToken, TokenRefusal>, CoreError> {
    access::verify(platform, server, &address.resource(), token).await
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
