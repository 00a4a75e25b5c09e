//! The client against a small authorization server of its own (axum on 127.0.0.1, so
//! `allow_private`): resource metadata, server metadata, registration, token and
//! revocation endpoints, each request recorded.

//! Discovery and registration in `discovery`; the code exchange, refresh and revocation
//! in `tokens`.

mod discovery;
mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_core::upstreams::connections::{AuthorizerError, Discovery};
use guidepost_domain::UpstreamAuthorization;
use serde_json::{Value, json};

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
    /// Name this origin's authorization and registration endpoints in its metadata
    /// instead of its own (a mix-up: another server's), keeping its token endpoint.
    endpoints_at: Option<String>,
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
    let elsewhere = mock.setup.endpoints_at.as_deref().unwrap_or(&mock.base);
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{elsewhere}/as/authorize"),
        "token_endpoint": format!("{}/as/token", mock.base),
        "revocation_endpoint": format!("{}/as/revoke", mock.base),
        "code_challenge_methods_supported": methods,
        "client_id_metadata_document_supported": mock.setup.cimd,
        "authorization_response_iss_parameter_supported": true,
    });
    if !mock.setup.no_registration {
        metadata["registration_endpoint"] = json!(format!("{elsewhere}/as/register"));
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
        allow_foreign_endpoints: false,
    }
}

fn failure(result: Result<impl std::fmt::Debug, AuthorizerError>) -> String {
    match result {
        Err(AuthorizerError::Failed(why)) => why,
        other => panic!("expected a failure, got {other:?}"),
    }
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
