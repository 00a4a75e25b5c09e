//! Which client the platform is at an upstream's authorization server, in the order of
//! MCP authorization (2025-11-25, "Client Registration Approaches"):
//!
//! 1. the client an editor registered there and gave at install (`preregistered`);
//! 2. the platform's Client ID Metadata Document, where the server takes one and the
//!    platform is served over https (`metadata_document`): its URL is the `client_id`,
//!    nothing to register;
//! 3. RFC 7591 dynamic registration, where the server has an endpoint (`dynamic`);
//!
//! else nothing works, and the editor is told to register a client.

use guidepost_core::upstreams::connections::{AuthorizerError, Discovery};
use serde::Deserialize;

use super::discovery::ServerMetadata;
use super::{UpstreamAuthorizer, failed, token};

pub(super) struct Registered {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub registration: &'static str,
}

#[derive(Debug, Deserialize)]
struct RegistrationAnswer {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

pub(super) async fn register(
    client: &UpstreamAuthorizer,
    request: &Discovery,
    server: &ServerMetadata,
) -> Result<Registered, AuthorizerError> {
    if let Some(client_id) = request
        .client_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
    {
        return Ok(Registered {
            client_id: client_id.to_owned(),
            client_secret: request.client_secret.clone().filter(|s| !s.is_empty()),
            registration: "preregistered",
        });
    }
    // A metadata document's URL must be https (with a path) to be a client ID; a platform
    // served over plain http (development) registers dynamically instead.
    let document_usable = request.client_metadata_url.starts_with("https://");
    if server.client_id_metadata_document_supported && document_usable {
        return Ok(Registered {
            client_id: request.client_metadata_url.clone(),
            client_secret: None,
            registration: "metadata_document",
        });
    }
    let Some(endpoint) = &server.registration_endpoint else {
        return Err(failed(format!(
            "the authorization server {} takes neither client metadata documents nor dynamic \
             registration: register a client there (redirect URI {}) and give its client ID \
             (and secret, if it has one) when installing the server",
            server.issuer, request.redirect_uri
        )));
    };
    dynamic(client, endpoint, &request.redirect_uri).await
}

/// RFC 7591: a public client with the platform's callback, for codes and refreshes.
async fn dynamic(
    client: &UpstreamAuthorizer,
    endpoint: &str,
    redirect_uri: &str,
) -> Result<Registered, AuthorizerError> {
    const WHAT: &str = "the registration endpoint";
    let url = client.check_url(endpoint, WHAT)?;
    let metadata = serde_json::json!({
        "client_name": "Guidepost",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    let answer = client
        .send(&url, WHAT, |http, url| {
            http.post(url)
                .header(http::header::ACCEPT, "application/json")
                .json(&metadata)
        })
        .await?;
    if !answer.status.is_success() {
        return Err(token::oauth_error(&answer, WHAT));
    }
    let registered: RegistrationAnswer = answer.json("the registration's answer")?;
    if registered.client_id.is_empty() {
        return Err(failed("the registration's answer has an empty client_id"));
    }
    Ok(Registered {
        client_id: registered.client_id,
        client_secret: registered.client_secret.filter(|s| !s.is_empty()),
        registration: "dynamic",
    })
}
