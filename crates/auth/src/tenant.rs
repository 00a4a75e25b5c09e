//! Which server's authorization server a request is for, resolved from the Host header
//! and the path exactly as the MCP endpoint resolves it (`guidepost_core::hosting::routing`).

use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::{IntoResponse, Response};
use guidepost_domain::McpServer;
use http::StatusCode;
use http::request::Parts;

use crate::AuthState;
use crate::address::{Address, path_slug};

/// The server a request is for, and how it was reached.
pub(crate) struct Tenant {
    pub server: McpServer,
    pub address: Address,
}

impl Tenant {
    /// The server's name as the person knows it, for the pages.
    pub fn name(&self) -> &str {
        let server = &self.server;
        server.product_name.as_deref().unwrap_or(&server.name)
    }
}

impl FromRequestParts<Arc<AuthState>> for Tenant {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AuthState>,
    ) -> Result<Self, Self::Rejection> {
        // Nested routes see their path without the `/s/{slug}` prefix; the original has it.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned());
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(parts.uri.host())
            .map(guidepost_core::hosting::routing::normalize_host);
        let slug = path_slug(&path);
        let platform = &state.platform;
        let found =
            guidepost_core::hosting::routing::server_for_address(platform, host.as_deref(), slug)
                .await;
        match found {
            // Only servers that require sign-in have an authorization server.
            Ok(Some(server)) if server.auth_mode.requires_token() => {
                // Every log line of the request says whose it was.
                let span = tracing::Span::current();
                span.record("org", tracing::field::display(&server.org_id));
                span.record("server", tracing::field::display(&server.id));
                Ok(Tenant {
                    address: Address::of_request(&platform.config, &server, host.as_deref(), slug),
                    server: std::sync::Arc::unwrap_or_clone(server),
                })
            }
            Ok(_) => Err(not_found()),
            Err(error) => {
                tracing::error!(%error, "could not resolve the server of an OAuth request");
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

/// The same answer for an unknown host, an unknown slug and a server without sign-in: it
/// names nothing about other tenants.
fn not_found() -> Response {
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": "No authorization server is served at this address",
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
