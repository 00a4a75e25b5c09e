//! Discovery documents: RFC 9728 protected resource metadata (what the MCP endpoint
//! is, and who issues its tokens) and RFC 8414 authorization server metadata, also served
//! at the OpenID discovery locations that MCP clients try.

use axum::Json;
use axum::response::{IntoResponse, Response};
use guidepost_core::accounts::authorization::scopes::{KNOWN_SCOPES, MCP_SCOPE};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::tenant::Tenant;

/// RFC 9728 §2: the MCP endpoint as a protected resource.
pub(crate) async fn protected_resource(tenant: Tenant) -> Response {
    let address = &tenant.address;
    let document = json!({
        "resource": address.resource(),
        "authorization_servers": [address.issuer()],
        "scopes_supported": [MCP_SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": tenant.name(),
    });
    public_json(document)
}

/// RFC 8414 §2.
pub(crate) async fn authorization_server(tenant: Tenant) -> Response {
    public_json(oauth_metadata(&tenant))
}

/// OpenID Connect Discovery §3: the RFC 8414 metadata with the members OpenID discovery
/// requires. No ID token is ever issued (`openid` is not a scope here), so the key set at
/// `jwks_uri` is empty; the members are there because clients that read this location
/// (the MCP TypeScript SDK among them) refuse a document without them.
pub(crate) async fn openid_configuration(tenant: Tenant) -> Response {
    let mut document = oauth_metadata(&tenant);
    document["jwks_uri"] = json!(tenant.address.endpoint("/jwks"));
    document["subject_types_supported"] = json!(["public"]);
    document["id_token_signing_alg_values_supported"] = json!(["RS256"]);
    public_json(document)
}

/// The key set `jwks_uri` names: empty, as no token the platform issues is signed (its
/// tokens are opaque and checked against their stored hashes).
pub(crate) async fn key_set(_tenant: Tenant) -> Response {
    public_json(json!({"keys": []}))
}

fn oauth_metadata(tenant: &Tenant) -> Value {
    let address = &tenant.address;
    let auth_methods = ["none", "client_secret_post", "client_secret_basic"];
    json!({
        "issuer": address.issuer(),
        "authorization_endpoint": address.endpoint("/authorize"),
        "token_endpoint": address.endpoint("/token"),
        "registration_endpoint": address.endpoint("/register"),
        "revocation_endpoint": address.endpoint("/revoke"),
        "scopes_supported": KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    })
}

fn public_json(document: Value) -> Response {
    let mut response = Json(document).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Browser-based MCP clients call the JSON endpoints from another origin. They send no
/// cookies (the login pages are not open to other origins), so any origin may call.
pub(crate) async fn allow_any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The CORS preflight of the JSON endpoints.
pub(crate) async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}
