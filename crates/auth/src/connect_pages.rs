//! The connect pages on the platform host (issue 32): a connect link sends the browser to
//! the upstream's authorization server; its callback says which account is now connected.
//! The protocol's rules are core's (`upstreams::connections`); these only parse and
//! render. The client metadata document the platform registers with is served here too.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use guidepost_core::Platform;
use guidepost_core::upstreams::connections::{self, CallbackOutcome, CallbackParams, FlowError};
use http::StatusCode;

use crate::pages::{html, message_page, uncached_redirect};

const BRAND: &str = "Guidepost";

/// `GET /connect/{token}`: on to the upstream's authorization server, once.
pub(crate) async fn open(State(platform): State<Platform>, Path(token): Path<String>) -> Response {
    match connections::open_link(&platform, &token).await {
        Ok(url) => uncached_redirect(&url),
        Err(error) => refused(error),
    }
}

/// `GET /connect/callback`: the upstream's answer; the account connected.
pub(crate) async fn callback(
    State(platform): State<Platform>,
    Query(params): Query<CallbackParams>,
) -> Response {
    match connections::callback(&platform, params).await {
        Ok(CallbackOutcome::Continue(next)) => uncached_redirect(&next),
        Ok(CallbackOutcome::Connected(connected)) => {
            let account = connected
                .account
                .map(|account| format!(" as {account}"))
                .unwrap_or_default();
            let message = format!(
                "Your account is connected to {}{account}. You can close this page and go back to your app.",
                connected.upstream_name
            );
            html(StatusCode::OK, message_page("Connected", BRAND, &message))
        }
        Err(error) => refused(error),
    }
}

/// `GET /connect/client-metadata.json`: who the platform is as an OAuth client.
pub(crate) async fn client_metadata(State(platform): State<Platform>) -> Response {
    Json(connections::client_metadata(&platform.config)).into_response()
}

fn refused(error: FlowError) -> Response {
    let status = match &error {
        FlowError::Unknown => StatusCode::BAD_REQUEST,
        FlowError::Denied(_) => StatusCode::FORBIDDEN,
        FlowError::Upstream(_) => StatusCode::BAD_GATEWAY,
        FlowError::Core(inner) => {
            tracing::error!(error = %inner, "a connect step failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let message = match &error {
        FlowError::Core(_) => "Something went wrong. Please try again.".to_owned(),
        other => format!("{}{}", capitalized(&other.to_string()), "."),
    };
    html(status, message_page("Not connected", BRAND, &message))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The connect routes, at the root of the platform host.
pub fn router(platform: Platform) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(connections::CLIENT_METADATA_PATH, get(client_metadata))
        .route(connections::CALLBACK_PATH, get(callback))
        .route("/connect/{token}", get(open))
        .with_state(platform)
}
