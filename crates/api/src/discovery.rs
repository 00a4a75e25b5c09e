//! Public discovery documents, outside `/api/v1` and without a key: each
//! hosted server's Server Card (at its MCP URL plus `core::hosting::discovery::SERVER_CARD_SUFFIX`)
//! and its host's AI Catalog, and, on the platform's own host, the registry listing of
//! the hosted servers of organizations that opted in (`GET /v0.1/servers`, the generic
//! MCP registry API). Handlers are thin: the documents are core's.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use guidepost_core::Platform;
use guidepost_core::hosting::discovery::{self, RegistryQuery, RegistryQueryError};
use guidepost_core::hosting::routing::{is_platform_host, normalize_host, server_for_address};
use guidepost_domain::McpServer;
use serde::Deserialize;
use serde_json::{Value, json};

/// The discovery routes; no fallback of their own, so the binary merges them.
pub fn router(platform: Platform) -> Router {
    let card = format!("/mcp{}", discovery::SERVER_CARD_SUFFIX);
    Router::new()
        .route(&card, get(card_by_host))
        .route(&format!("/s/{{slug}}{card}"), get(card_by_path))
        .route(discovery::AI_CATALOG_PATH, get(ai_catalog))
        .route("/v0.1/servers", get(registry))
        .with_state(platform)
}

fn host_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(normalize_host)
}

/// The server at this address and its MCP URL as reached; `None` when none is served.
async fn reached(
    platform: &Platform,
    headers: &HeaderMap,
    slug: Option<&str>,
) -> Result<Option<(McpServer, String)>, Response> {
    let Some(host) = host_of(headers) else {
        return Ok(None);
    };
    let found = server_for_address(platform, Some(&host), slug)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not resolve the server of a discovery request");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })?;
    Ok(found.map(|server| {
        let prefix = slug.map(|s| format!("/s/{s}")).unwrap_or_default();
        let url = format!("{}{prefix}/mcp", platform.config.origin_for_host(&host));
        (std::sync::Arc::unwrap_or_clone(server), url)
    }))
}

async fn card_by_host(State(platform): State<Platform>, headers: HeaderMap) -> Response {
    card(&platform, &headers, None).await
}

async fn card_by_path(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    card(&platform, &headers, Some(&slug)).await
}

async fn card(platform: &Platform, headers: &HeaderMap, slug: Option<&str>) -> Response {
    match reached(platform, headers, slug).await {
        Ok(Some((server, url))) => public(
            discovery::server_card(&platform.config, &server, &url),
            discovery::SERVER_CARD_MEDIA_TYPE,
        ),
        Ok(None) => not_found(),
        Err(response) => response,
    }
}

async fn ai_catalog(State(platform): State<Platform>, headers: HeaderMap) -> Response {
    match reached(&platform, &headers, None).await {
        Ok(Some((server, url))) => public(
            discovery::ai_catalog(&platform.config, &server, &url),
            discovery::AI_CATALOG_MEDIA_TYPE,
        ),
        Ok(None) => not_found(),
        Err(response) => response,
    }
}

/// `GET /v0.1/servers`'s query.
#[derive(Debug, Deserialize)]
struct RegistryParams {
    cursor: Option<String>,
    limit: Option<u32>,
    search: Option<String>,
    updated_since: Option<String>,
}

async fn registry(
    State(platform): State<Platform>,
    headers: HeaderMap,
    params: Result<Query<RegistryParams>, QueryRejection>,
) -> Response {
    let on_platform_host = match host_of(&headers) {
        Some(host) => is_platform_host(&platform, &host).await.unwrap_or(false),
        None => false,
    };
    if !on_platform_host {
        return not_found();
    }
    let Ok(Query(params)) = params else {
        return bad_request("cursor, limit, search and updated_since are the parameters taken");
    };
    let query = RegistryQuery {
        cursor: params.cursor,
        limit: params.limit,
        search: params.search,
        updated_since: params.updated_since,
    };
    match discovery::registry_page(&platform, query).await {
        Ok(page) => public(page, "application/json"),
        Err(RegistryQueryError::Core(error)) => {
            tracing::error!(%error, "could not list the registry's servers");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(refused) => bad_request(&refused.to_string()),
    }
}

/// A public document: any origin may read it (the draft's CORS), and caches may keep it
/// a few minutes.
fn public(document: Value, media_type: &'static str) -> Response {
    let mut response = axum::Json(document).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, If-None-Match"),
    );
    response
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or_default(),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Nothing is published at this address",
    )
}

fn bad_request(detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, detail)
}
