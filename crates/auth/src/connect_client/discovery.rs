//! Where an upstream's tokens come from: its protected resource metadata (RFC 9728) names
//! its authorization server, whose metadata (RFC 8414, else OpenID discovery) names the
//! endpoints. Both documents are checked against what was asked for, so that a document
//! cannot speak for another resource or issuer.

use guidepost_core::upstreams::connections::{AuthorizerError, issuer as own_origin};
use serde::Deserialize;
use url::Url;

use super::{UpstreamAuthorizer, failed};

/// What discovery found: the resource the tokens are for, the scopes it names, and its
/// authorization server.
pub(super) struct Found {
    pub resource: String,
    pub scopes: Vec<String>,
    pub server: ServerMetadata,
}

#[derive(Debug, Deserialize)]
struct ResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

/// An authorization server's metadata, as far as the platform uses it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default, rename = "authorization_response_iss_parameter_supported")]
    pub iss_parameter_supported: bool,
}

/// `allow_foreign`: the editor's allowance for endpoints off the issuer's origin.
pub(super) async fn discover(
    client: &UpstreamAuthorizer,
    resource_url: &str,
    allow_foreign: bool,
) -> Result<Found, AuthorizerError> {
    let mcp = client.check_url(resource_url, "the upstream's URL")?;
    client.check_host(&mcp, "the upstream's URL").await?;
    let challenge = challenge(client, &mcp).await;
    let (metadata, at) = resource_metadata(client, &mcp, challenge.metadata_url).await?;
    let resource = client.check_url(
        &metadata.resource,
        "the protected resource metadata's resource",
    )?;
    if !covers(&resource, &mcp) {
        return Err(failed(format!(
            "the protected resource metadata at {at} is for {:?}, not for {mcp}",
            metadata.resource
        )));
    }
    let Some(issuer) = metadata.authorization_servers.first() else {
        return Err(failed(format!(
            "the protected resource metadata at {at} names no authorization server"
        )));
    };
    let server = server_metadata(client, issuer, allow_foreign).await?;
    // MCP's scope selection: what the challenge asks for, else all the resource names.
    let scopes = match challenge.scope {
        Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
        None => metadata.scopes_supported,
    };
    Ok(Found {
        resource: metadata.resource,
        scopes,
        server,
    })
}

/// The protected resource metadata: where the resource's own 401 challenge points (MCP
/// authorization: that comes first), then at the path-suffixed well-known URL, then at
/// the origin's.
async fn resource_metadata(
    client: &UpstreamAuthorizer,
    mcp: &Url,
    challenged: Option<String>,
) -> Result<(ResourceMetadata, Url), AuthorizerError> {
    const WHAT: &str = "the protected resource metadata";
    let mut candidates = Vec::new();
    if let Some(url) = challenged {
        candidates
            .push(client.check_url(&url, "the resource_metadata of the upstream's challenge")?);
    }
    candidates.extend(well_known(mcp, "oauth-protected-resource", Insert::Path));
    candidates.dedup();
    let tried = match first_document(client, candidates, WHAT).await {
        Ok(found) => return Ok(found),
        Err(tried) => tried,
    };
    Err(failed(format!(
        "the upstream publishes no protected resource metadata ({}); it may not use OAuth, \
         or not the MCP authorization flow",
        listed(&tried)
    )))
}

/// Why one candidate URL did not give the document; the error lists each.
#[derive(Debug, thiserror::Error)]
enum Missed {
    /// The request was refused or failed: the client's words.
    #[error("{0}")]
    Unanswered(String),
    #[error("{url}: HTTP {status}")]
    Status {
        url: Url,
        status: reqwest::StatusCode,
    },
    #[error("{url}: not {what}: {why}")]
    NotTheDocument {
        url: Url,
        what: &'static str,
        why: serde_json::Error,
    },
}

/// What each candidate answered, in one line.
fn listed(tried: &[Missed]) -> String {
    let texts: Vec<String> = tried.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// The first of `candidates` that holds the document, else what each answered.
async fn first_document<T: serde::de::DeserializeOwned>(
    client: &UpstreamAuthorizer,
    candidates: Vec<Url>,
    what: &'static str,
) -> Result<(T, Url), Vec<Missed>> {
    let mut tried = Vec::new();
    for url in candidates {
        match fetch_json::<T>(client, &url, what).await {
            Ok(found) => return Ok((found, url)),
            Err(why) => tried.push(why),
        }
    }
    Err(tried)
}

/// What a resource's `WWW-Authenticate` challenge says.
#[derive(Default)]
struct Challenge {
    /// Where its protected resource metadata is.
    metadata_url: Option<String>,
    /// The scope it asks for, space-separated.
    scope: Option<String>,
}

/// The resource's challenge when an `initialize` without a token gets a 401 (MCP
/// authorization, "Protected Resource Metadata Discovery Requirements" and "Scope
/// Selection Strategy"). Any failure here means "it says nothing".
async fn challenge(client: &UpstreamAuthorizer, mcp: &Url) -> Challenge {
    let Some(headers) = challenge_headers(client, mcp).await else {
        return Challenge::default();
    };
    let bearer = |name: &str| {
        headers
            .iter()
            .find_map(|value| challenge_param(value, name))
    };
    Challenge {
        metadata_url: bearer("resource_metadata"),
        scope: bearer("scope"),
    }
}

/// The `WWW-Authenticate` values of the resource's 401 to a tokenless `initialize`.
async fn challenge_headers(client: &UpstreamAuthorizer, mcp: &Url) -> Option<Vec<String>> {
    let initialize = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "Guidepost", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    let answer = client
        .send(mcp, "the upstream", |http, url| {
            http.post(url)
                .header(http::header::ACCEPT, "application/json, text/event-stream")
                .json(&initialize)
        })
        .await
        .ok()?;
    if answer.status != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    let values = answer
        .headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect();
    Some(values)
}

/// A parameter of a `WWW-Authenticate` challenge (`Bearer resource_metadata="…"`), quoted
/// or not; its name in any case (RFC 9110 §11.2).
pub(super) fn challenge_param(header: &str, name: &str) -> Option<String> {
    // ASCII lowercasing keeps every byte where it was, so positions in `lower` are
    // positions in `header`.
    let lower = header.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(&name) {
        let at = from + found;
        from = at + name.len();
        let starts_a_name = header[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c == ' ' || c == ',');
        let Some(value) = header[from..].trim_start().strip_prefix('=') else {
            continue;
        };
        if !starts_a_name {
            continue;
        }
        let value = value.trim_start();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next(),
            None => value.split([',', ' ']).next(),
        };
        return value.filter(|v| !v.is_empty()).map(str::to_owned);
    }
    None
}

/// The authorization server's metadata: RFC 8414's well-known URL, then OpenID
/// discovery's (path-inserted, then appended), checked.
async fn server_metadata(
    client: &UpstreamAuthorizer,
    issuer: &str,
    allow_foreign: bool,
) -> Result<ServerMetadata, AuthorizerError> {
    let issuer_url = client.check_url(issuer, "the authorization server")?;
    client
        .check_host(&issuer_url, "the authorization server")
        .await?;
    let mut candidates = well_known(&issuer_url, "oauth-authorization-server", Insert::Path);
    candidates.extend(well_known(
        &issuer_url,
        "openid-configuration",
        Insert::Path,
    ));
    candidates.extend(well_known(
        &issuer_url,
        "openid-configuration",
        Insert::Append,
    ));
    candidates.dedup();
    match first_document::<ServerMetadata>(client, candidates, "the authorization server metadata")
        .await
    {
        Ok((metadata, at)) => check_server(client, issuer, metadata, &at, allow_foreign),
        Err(tried) => Err(failed(format!(
            "the authorization server {issuer} publishes no metadata ({})",
            listed(&tried)
        ))),
    }
}

/// RFC 8414 §3.3: the document is the issuer's own; MCP: PKCE with S256; every endpoint
/// the platform uses is a URL it may use, and on the issuer's origin unless allowed
/// (`allow_foreign`; RFC 9700 §4.4, see `issuer` in core).
fn check_server(
    client: &UpstreamAuthorizer,
    issuer: &str,
    metadata: ServerMetadata,
    at: &Url,
    allow_foreign: bool,
) -> Result<ServerMetadata, AuthorizerError> {
    // Identical, but for a trailing slash that URL parsers add or drop.
    if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(failed(format!(
            "the authorization server metadata at {at} is for the issuer {:?}, not for {issuer:?}",
            metadata.issuer
        )));
    }
    if !metadata
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        return Err(failed(format!(
            "the authorization server {issuer} does not say it supports PKCE with S256 \
             (code_challenge_methods_supported), which MCP requires"
        )));
    }
    client.check_url(
        &metadata.authorization_endpoint,
        "the authorization endpoint",
    )?;
    client.check_url(&metadata.token_endpoint, "the token endpoint")?;
    if let Some(url) = &metadata.revocation_endpoint {
        client.check_url(url, "the revocation endpoint")?;
    }
    if let Some(url) = &metadata.registration_endpoint {
        client.check_url(url, "the registration endpoint")?;
    }
    // Before anything is sent to any of them: a hostile document could point its
    // registration and authorization endpoints at an honest server.
    if !allow_foreign
        && let Some(why) = own_origin::foreign_endpoint(&metadata.issuer, endpoints(&metadata))
    {
        return Err(failed(why));
    }
    Ok(metadata)
}

/// The endpoints of `metadata` the platform would use, named.
fn endpoints(metadata: &ServerMetadata) -> impl Iterator<Item = (&'static str, &str)> {
    [
        (
            "authorization endpoint",
            Some(&metadata.authorization_endpoint),
        ),
        ("token endpoint", Some(&metadata.token_endpoint)),
        (
            "registration endpoint",
            metadata.registration_endpoint.as_ref(),
        ),
        ("revocation endpoint", metadata.revocation_endpoint.as_ref()),
    ]
    .into_iter()
    .filter_map(|(what, url)| Some((what, url?.as_str())))
}

#[derive(Clone, Copy)]
enum Insert {
    /// `{origin}/.well-known/{name}{path}` (RFC 8414 §3.1, RFC 9728 §3.1).
    Path,
    /// `{issuer}/.well-known/{name}` (OpenID Connect Discovery 1.0 §4).
    Append,
}

/// The well-known URLs of a resource or issuer: with its path, then (for `Path`) at the
/// origin alone.
fn well_known(base: &Url, name: &str, insert: Insert) -> Vec<Url> {
    let path = base.path().trim_end_matches('/');
    let mut found = Vec::new();
    let mut push = |path: String| {
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);
        if !found.contains(&url) {
            found.push(url);
        }
    };
    match insert {
        Insert::Path => {
            if !path.is_empty() {
                push(format!("/.well-known/{name}{path}"));
            }
            // RFC 8414 has no fallback to the origin for an issuer with a path, but RFC
            // 9728 names the origin's document for a resource; the issuer check makes
            // the fallback harmless for authorization servers.
            push(format!("/.well-known/{name}"));
        }
        Insert::Append => {
            if !path.is_empty() {
                push(format!("{path}/.well-known/{name}"));
            }
        }
    }
    found
}

/// Whether the metadata's `resource` covers the upstream's URL: the same origin, and its
/// path the URL's or a parent of it (as the MCP SDKs accept: a server's metadata may
/// name its origin).
fn covers(resource: &Url, mcp: &Url) -> bool {
    if resource.origin() != mcp.origin() {
        return false;
    }
    let theirs = resource.path().trim_end_matches('/');
    let ours = mcp.path().trim_end_matches('/');
    ours == theirs
        || ours
            .strip_prefix(theirs)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The JSON document at `url`, else why not (shown in the error, with the others tried).
async fn fetch_json<T: serde::de::DeserializeOwned>(
    client: &UpstreamAuthorizer,
    url: &Url,
    what: &'static str,
) -> Result<T, Missed> {
    let answer = client
        .send(url, what, |http, url| {
            http.get(url)
                .header(http::header::ACCEPT, "application/json")
        })
        .await
        .map_err(|why| match why {
            AuthorizerError::Failed(why) | AuthorizerError::Refused(why) => Missed::Unanswered(why),
        })?;
    if answer.status != reqwest::StatusCode::OK {
        return Err(Missed::Status {
            url: url.clone(),
            status: answer.status,
        });
    }
    serde_json::from_slice(&answer.body).map_err(|why| Missed::NotTheDocument {
        url: url.clone(),
        what,
        why,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn well_known_urls_insert_the_path() {
        let found = well_known(
            &url("https://h/s/acme/mcp"),
            "oauth-protected-resource",
            Insert::Path,
        );
        let found: Vec<&str> = found.iter().map(Url::as_str).collect();
        assert_eq!(
            found,
            [
                "https://h/.well-known/oauth-protected-resource/s/acme/mcp",
                "https://h/.well-known/oauth-protected-resource",
            ]
        );
        let root = well_known(&url("https://h/"), "openid-configuration", Insert::Append);
        assert!(root.is_empty());
        let appended = well_known(
            &url("https://h/tenant/"),
            "openid-configuration",
            Insert::Append,
        );
        assert_eq!(
            appended[0].as_str(),
            "https://h/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn resources_cover_their_urls_and_children_only() {
        let mcp = url("https://h/s/acme/mcp");
        assert!(covers(&url("https://h/s/acme/mcp"), &mcp));
        assert!(covers(&url("https://h/s/acme/mcp/"), &mcp));
        assert!(covers(&url("https://h"), &mcp));
        assert!(!covers(&url("https://h/s/acme/mc"), &mcp));
        assert!(!covers(&url("https://h/s/other/mcp"), &mcp));
        assert!(!covers(&url("https://evil/s/acme/mcp"), &mcp));
        assert!(!covers(&url("http://h/s/acme/mcp"), &mcp));
    }

    #[test]
    fn challenges_name_their_metadata() {
        let header = r#"Bearer error="invalid_token", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#;
        assert_eq!(
            challenge_param(header, "resource_metadata").as_deref(),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            challenge_param(
                "Bearer resource_metadata=https://h/m, scope=x",
                "resource_metadata"
            )
            .as_deref(),
            Some("https://h/m")
        );
        assert_eq!(
            challenge_param(
                r#"bearer Resource_Metadata="https://h/M""#,
                "resource_metadata"
            )
            .as_deref(),
            Some("https://h/M")
        );
        assert_eq!(
            challenge_param("Bearer realm=\"x\"", "resource_metadata"),
            None
        );
        assert_eq!(
            challenge_param("Bearer xresource_metadata=\"u\"", "resource_metadata"),
            None
        );
    }
}
