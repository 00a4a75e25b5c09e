//! The client against a small authorization server of its own (axum on 127.0.0.1, so
//! `allow_private`): resource metadata, server metadata, registration, token and
//! revocation endpoints, each request recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use guidepost_core::upstreams::connections::{Authorizer, AuthorizerError, Discovery};
use guidepost_domain::UpstreamAuthorization;
use serde_json::{Value, json};

use super::UpstreamAuthorizer;

/// How the mock server behaves.
#[derive(Default, Clone)]
struct Setup {
    cimd: bool,
    no_registration: bool,
    /// The issuer its metadata claims, instead of its own.
    issuer: Option<String>,
    no_s256: bool,
    /// Publish metadata at the origin's well-known URL (for `/other/mcp`).
    root_metadata: bool,
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    form: HashMap<String, String>,
    json: Option<Value>,
}

struct Mock {
    base: String,
    setup: Setup,
    seen: Mutex<Vec<Seen>>,
}

impl Mock {
    fn record(
        &self,
        path: &str,
        headers: &HeaderMap,
        form: HashMap<String, String>,
        json: Option<Value>,
    ) {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.seen.lock().unwrap().push(Seen {
            path: path.into(),
            authorization,
            form,
            json,
        });
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }
}

type Shared = State<Arc<Mock>>;

async fn resource_metadata(State(mock): Shared) -> Json<Value> {
    mock.record(
        "/.well-known/oauth-protected-resource/s/acme/mcp",
        &HeaderMap::new(),
        HashMap::new(),
        None,
    );
    Json(json!({
        "resource": format!("{}/s/acme/mcp", mock.base),
        "authorization_servers": [format!("{}/as", mock.base)],
        "scopes_supported": ["mcp:read", "mcp:write"],
    }))
}

async fn root_metadata(State(mock): Shared) -> Response {
    if !mock.setup.root_metadata {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({
        "resource": mock.base,
        "authorization_servers": [format!("{}/as", mock.base)],
    }))
    .into_response()
}

async fn challenge(State(mock): Shared) -> Response {
    let header = format!(
        r#"Bearer error="invalid_token", resource_metadata="{}/meta/challenged""#,
        mock.base
    );
    (StatusCode::UNAUTHORIZED, [("www-authenticate", header)]).into_response()
}

/// A resource whose challenge asks for a narrower scope than its metadata names.
async fn scoped_challenge(State(mock): Shared) -> Response {
    let header = format!(
        r#"Bearer resource_metadata="{}/meta/scoped", scope="files:read mcp:read""#,
        mock.base
    );
    (StatusCode::UNAUTHORIZED, [("www-authenticate", header)]).into_response()
}

async fn scoped_metadata(State(mock): Shared) -> Json<Value> {
    Json(json!({
        "resource": format!("{}/scoped/mcp", mock.base),
        "authorization_servers": [format!("{}/as", mock.base)],
        "scopes_supported": ["mcp:read", "mcp:write", "files:read"],
    }))
}

async fn challenged_metadata(State(mock): Shared) -> Json<Value> {
    Json(json!({
        "resource": format!("{}/challenged/mcp", mock.base),
        "authorization_servers": [format!("{}/as", mock.base)],
    }))
}

async fn server_metadata(State(mock): Shared) -> Json<Value> {
    let issuer = mock
        .setup
        .issuer
        .clone()
        .unwrap_or_else(|| format!("{}/as", mock.base));
    let methods = if mock.setup.no_s256 {
        json!(["plain"])
    } else {
        json!(["S256"])
    };
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{}/as/authorize", mock.base),
        "token_endpoint": format!("{}/as/token", mock.base),
        "revocation_endpoint": format!("{}/as/revoke", mock.base),
        "code_challenge_methods_supported": methods,
        "client_id_metadata_document_supported": mock.setup.cimd,
        "authorization_response_iss_parameter_supported": true,
    });
    if !mock.setup.no_registration {
        metadata["registration_endpoint"] = json!(format!("{}/as/register", mock.base));
    }
    Json(metadata)
}

async fn register(State(mock): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    mock.record("/as/register", &headers, HashMap::new(), Some(body));
    let answer = json!({"client_id": "dynamic-client", "client_secret": "dynamic-secret"});
    (StatusCode::CREATED, Json(answer)).into_response()
}

fn id_token(claims: Value) -> String {
    format!(
        "eyJhbGciOiJub25lIn0.{}.",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

async fn token(
    State(mock): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    mock.record("/as/token", &headers, form.clone(), None);
    let said = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    match (said("grant_type"), said("refresh_token"), said("code")) {
        ("refresh_token", "revoked", _) => {
            let error =
                json!({"error": "invalid_grant", "error_description": "the grant was revoked"});
            (StatusCode::BAD_REQUEST, Json(error)).into_response()
        }
        ("refresh_token", "crash", _) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response()
        }
        (_, _, "mac") => Json(json!({"access_token": "a", "token_type": "MAC"})).into_response(),
        (_, _, "huge") => "x".repeat(300 * 1024).into_response(),
        _ => Json(json!({
            "access_token": "access-1",
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "refresh-1",
            "id_token": id_token(json!({"sub": "u-42", "email": "ada@example.com"})),
        }))
        .into_response(),
    }
}

async fn revoke(
    State(mock): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    mock.record("/as/revoke", &headers, form, None);
    StatusCode::OK
}

async fn start(setup: Setup) -> Arc<Mock> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mock = Arc::new(Mock {
        base,
        setup,
        seen: Mutex::default(),
    });
    let app = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/s/acme/mcp",
            get(resource_metadata),
        )
        .route("/.well-known/oauth-protected-resource", get(root_metadata))
        .route("/challenged/mcp", post(challenge))
        .route("/meta/challenged", get(challenged_metadata))
        .route("/scoped/mcp", post(scoped_challenge))
        .route("/meta/scoped", get(scoped_metadata))
        .route(
            "/.well-known/oauth-authorization-server/as",
            get(server_metadata),
        )
        .route("/as/register", post(register))
        .route("/as/token", post(token))
        .route("/as/revoke", post(revoke))
        .with_state(mock.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    mock
}

fn discovery(mock: &Mock, path: &str) -> Discovery {
    Discovery {
        resource_url: format!("{}{path}", mock.base),
        client_id: None,
        client_secret: None,
        redirect_uri: "https://guidepost.example/connect/callback".into(),
        client_metadata_url: "https://guidepost.example/connect/client-metadata.json".into(),
    }
}

fn failure(result: Result<impl std::fmt::Debug, AuthorizerError>) -> String {
    match result {
        Err(AuthorizerError::Failed(why)) => why,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_finds_the_server_and_registers_dynamically_without_cimd() {
    let mock = start(Setup::default()).await;
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/s/acme/mcp"))
        .await
        .unwrap();
    let base = &mock.base;
    assert_eq!(
        found,
        UpstreamAuthorization {
            issuer: format!("{base}/as"),
            authorization_endpoint: format!("{base}/as/authorize"),
            token_endpoint: format!("{base}/as/token"),
            revocation_endpoint: Some(format!("{base}/as/revoke")),
            resource: format!("{base}/s/acme/mcp"),
            scopes: vec!["mcp:read".into(), "mcp:write".into()],
            iss_parameter_supported: true,
            client_id: "dynamic-client".into(),
            client_secret: Some("dynamic-secret".into()),
            registration: "dynamic".into(),
        }
    );
    // The path-suffixed document was the one read.
    assert_eq!(
        mock.seen("/.well-known/oauth-protected-resource/s/acme/mcp")
            .len(),
        1
    );
    let registration = mock.seen("/as/register");
    let sent = registration[0].json.clone().unwrap();
    assert_eq!(sent["client_name"], "Guidepost");
    assert_eq!(
        sent["redirect_uris"],
        json!(["https://guidepost.example/connect/callback"])
    );
    assert_eq!(
        sent["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(sent["response_types"], json!(["code"]));
    assert_eq!(sent["token_endpoint_auth_method"], "none");
}

#[tokio::test]
async fn the_metadata_document_is_chosen_where_the_server_takes_it() {
    let mock = start(Setup {
        cimd: true,
        ..Setup::default()
    })
    .await;
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/s/acme/mcp"))
        .await
        .unwrap();
    assert_eq!(found.registration, "metadata_document");
    assert_eq!(
        found.client_id,
        "https://guidepost.example/connect/client-metadata.json"
    );
    assert_eq!(found.client_secret, None);
    assert!(mock.seen("/as/register").is_empty());

    // A platform on plain http has no document a server could fetch: it registers.
    let mut request = discovery(&mock, "/s/acme/mcp");
    request.client_metadata_url = "http://localhost:8080/connect/client-metadata.json".into();
    let found = UpstreamAuthorizer::new(true)
        .discover(&request)
        .await
        .unwrap();
    assert_eq!(found.registration, "dynamic");
}

#[tokio::test]
async fn a_preregistered_client_wins() {
    let mock = start(Setup {
        cimd: true,
        ..Setup::default()
    })
    .await;
    let mut request = discovery(&mock, "/s/acme/mcp");
    request.client_id = Some("pre-client".into());
    request.client_secret = Some("pre-secret".into());
    let found = UpstreamAuthorizer::new(true)
        .discover(&request)
        .await
        .unwrap();
    assert_eq!(found.registration, "preregistered");
    assert_eq!(found.client_id, "pre-client");
    assert_eq!(found.client_secret.as_deref(), Some("pre-secret"));
    assert!(mock.seen("/as/register").is_empty());
}

#[tokio::test]
async fn without_any_way_to_register_the_editor_is_told_to() {
    let mock = start(Setup {
        no_registration: true,
        ..Setup::default()
    })
    .await;
    let why = failure(
        UpstreamAuthorizer::new(true)
            .discover(&discovery(&mock, "/s/acme/mcp"))
            .await,
    );
    assert!(why.contains("register a client"), "{why}");
    assert!(why.contains("client ID"), "{why}");
}

#[tokio::test]
async fn the_origin_metadata_and_the_challenge_are_fallbacks() {
    let mock = start(Setup {
        root_metadata: true,
        ..Setup::default()
    })
    .await;
    let authorizer = UpstreamAuthorizer::new(true);
    let found = authorizer
        .discover(&discovery(&mock, "/other/mcp"))
        .await
        .unwrap();
    assert_eq!(found.resource, mock.base);

    let mock = start(Setup::default()).await;
    let found = authorizer
        .discover(&discovery(&mock, "/challenged/mcp"))
        .await
        .unwrap();
    assert_eq!(found.resource, format!("{}/challenged/mcp", mock.base));
    assert_eq!(found.issuer, format!("{}/as", mock.base));

    // Nothing anywhere: a failure that says where it looked.
    let why = failure(authorizer.discover(&discovery(&mock, "/nothing/mcp")).await);
    assert!(why.contains("no protected resource metadata"), "{why}");
    assert!(
        why.contains("/.well-known/oauth-protected-resource/nothing/mcp"),
        "{why}"
    );
}

#[tokio::test]
async fn the_challenge_is_read_first_and_its_scope_wins() {
    let mock = start(Setup::default()).await;
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/scoped/mcp"))
        .await
        .unwrap();
    assert_eq!(found.resource, format!("{}/scoped/mcp", mock.base));
    assert_eq!(
        found.scopes,
        ["files:read", "mcp:read"],
        "the challenge's, not all three"
    );
    // Without a scope in the challenge, everything the metadata names.
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/s/acme/mcp"))
        .await
        .unwrap();
    assert_eq!(found.scopes, ["mcp:read", "mcp:write"]);
}

#[tokio::test]
async fn metadata_for_another_resource_is_refused() {
    let mock = start(Setup::default()).await;
    // Asked by another name of the same host, the document names a resource that is not
    // the URL asked for (another origin).
    let mut request = discovery(&mock, "/s/acme/mcp");
    request.resource_url = request.resource_url.replace("127.0.0.1", "localhost");
    let why = failure(UpstreamAuthorizer::new(true).discover(&request).await);
    assert!(why.contains("is for"), "{why}");
}

#[tokio::test]
async fn an_issuer_mismatch_is_refused() {
    let setup = Setup {
        issuer: Some("https://elsewhere.example".into()),
        ..Setup::default()
    };
    let mock = start(setup).await;
    let why = failure(
        UpstreamAuthorizer::new(true)
            .discover(&discovery(&mock, "/s/acme/mcp"))
            .await,
    );
    assert!(why.contains("https://elsewhere.example"), "{why}");
    assert!(why.contains("issuer"), "{why}");
}

#[tokio::test]
async fn a_server_without_s256_is_refused() {
    let mock = start(Setup {
        no_s256: true,
        ..Setup::default()
    })
    .await;
    let why = failure(
        UpstreamAuthorizer::new(true)
            .discover(&discovery(&mock, "/s/acme/mcp"))
            .await,
    );
    assert!(why.contains("S256"), "{why}");
}

#[tokio::test]
async fn private_addresses_need_the_flag() {
    let mock = start(Setup::default()).await;
    let fenced = UpstreamAuthorizer::new(false);
    let port = mock.base.rsplit(':').next().unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/s/acme/mcp"),
        format!("https://127.0.0.1:{port}/s/acme/mcp"),
        format!("https://localhost:{port}/s/acme/mcp"),
    ] {
        let mut request = discovery(&mock, "");
        request.resource_url = url;
        let why = failure(fenced.discover(&request).await);
        assert!(why.contains("private or local address"), "{why}");
        assert!(why.contains("--upstream-allow-private"), "{why}");
    }
    // Plain http to a public name is refused too.
    let mut request = discovery(&mock, "");
    request.resource_url = "http://mcp.example.com/mcp".into();
    let why = failure(fenced.discover(&request).await);
    assert!(why.contains("https"), "{why}");
    // An authorization server stored earlier, now on a private address.
    let why = failure(fenced.refresh(&server(&mock, None), "refresh-1").await);
    assert!(
        why.contains("the token endpoint") && why.contains("private"),
        "{why}"
    );
    assert!(mock.seen("/as/token").is_empty());
}

fn server(mock: &Mock, secret: Option<&str>) -> UpstreamAuthorization {
    let base = &mock.base;
    UpstreamAuthorization {
        issuer: format!("{base}/as"),
        authorization_endpoint: format!("{base}/as/authorize"),
        token_endpoint: format!("{base}/as/token"),
        revocation_endpoint: Some(format!("{base}/as/revoke")),
        resource: format!("{base}/s/acme/mcp"),
        scopes: vec![],
        iss_parameter_supported: false,
        client_id: "the client".into(),
        client_secret: secret.map(str::to_owned),
        registration: "preregistered".into(),
    }
}

#[tokio::test]
async fn the_exchange_sends_the_verifier_the_resource_and_basic_auth() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    let redirect = "https://guidepost.example/connect/callback";
    let issued = authorizer
        .exchange(
            &server(&mock, Some("s3cr:t")),
            "code-1",
            "verifier-1",
            redirect,
        )
        .await
        .unwrap();
    assert_eq!(issued.access_token, "access-1");
    assert_eq!(issued.refresh_token.as_deref(), Some("refresh-1"));
    assert_eq!(issued.expires_in, Some(3600));
    assert_eq!(issued.account.as_deref(), Some("ada@example.com"));
    let sent = &mock.seen("/as/token")[0];
    let form = |name: &str| sent.form.get(name).cloned();
    assert_eq!(form("grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(form("code").as_deref(), Some("code-1"));
    assert_eq!(form("code_verifier").as_deref(), Some("verifier-1"));
    assert_eq!(form("redirect_uri").as_deref(), Some(redirect));
    assert_eq!(form("resource"), Some(format!("{}/s/acme/mcp", mock.base)));
    assert_eq!(form("client_id"), None);
    // RFC 6749 §2.3.1: form-encoded before Base64.
    let basic = format!("Basic {}", STANDARD.encode("the+client:s3cr%3At"));
    assert_eq!(sent.authorization.as_deref(), Some(basic.as_str()));

    // A public client names itself in the body.
    authorizer
        .exchange(&server(&mock, None), "code-2", "verifier-2", redirect)
        .await
        .unwrap();
    let sent = &mock.seen("/as/token")[1];
    assert_eq!(
        sent.form.get("client_id").map(String::as_str),
        Some("the client")
    );
    assert_eq!(sent.authorization, None);
}

#[tokio::test]
async fn unusable_token_answers_fail() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    let server = server(&mock, None);
    let why = failure(
        authorizer
            .exchange(&server, "mac", "v", "https://g/cb")
            .await,
    );
    assert!(why.contains("Bearer"), "{why}");
    let why = failure(
        authorizer
            .exchange(&server, "huge", "v", "https://g/cb")
            .await,
    );
    assert!(why.contains("larger than 256 KiB"), "{why}");
}

#[tokio::test]
async fn refresh_maps_invalid_grant_to_refused_and_500_to_failed() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    let server = server(&mock, None);
    let issued = authorizer.refresh(&server, "refresh-0").await.unwrap();
    assert_eq!(issued.access_token, "access-1");
    let sent = &mock.seen("/as/token")[0];
    let form = |name: &str| sent.form.get(name).map(String::as_str);
    assert_eq!(form("grant_type"), Some("refresh_token"));
    assert_eq!(form("refresh_token"), Some("refresh-0"));
    assert_eq!(form("client_id"), Some("the client"));
    assert_eq!(
        form("resource").map(str::to_owned),
        Some(server.resource.clone())
    );

    match authorizer.refresh(&server, "revoked").await {
        Err(AuthorizerError::Refused(why)) => {
            assert!(
                why.contains("invalid_grant") && why.contains("the grant was revoked"),
                "{why}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let why = failure(authorizer.refresh(&server, "crash").await);
    assert!(why.contains("500"), "{why}");
    assert!(matches!(
        authorizer.refresh(&server, "").await,
        Err(AuthorizerError::Refused(_))
    ));
}

#[tokio::test]
async fn revoke_posts_the_token_with_the_client() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    authorizer
        .revoke(&server(&mock, Some("secret")), "refresh-1")
        .await
        .unwrap();
    let sent = &mock.seen("/as/revoke")[0];
    assert_eq!(
        sent.form.get("token").map(String::as_str),
        Some("refresh-1")
    );
    assert!(
        sent.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );

    // No revocation endpoint: nothing to call.
    let mut without = server(&mock, None);
    without.revocation_endpoint = None;
    authorizer.revoke(&without, "access-1").await.unwrap();
    assert_eq!(mock.seen("/as/revoke").len(), 1);
}
