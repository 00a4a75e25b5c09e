//! The connect pages on the platform host: a connect link sends the browser to
//! the upstream's authorization server; its callback says which account is now connected.
//! The protocol's rules are core's (`upstreams::connections`); these only parse and
//! render. A server that takes a per-person key gets a form for it after the identity
//! check. The client metadata document the platform registers with is served here too.

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Response};
use guidepost_core::Platform;
use guidepost_core::upstreams::connections::{
    self, CallbackOutcome, CallbackParams, Connected, KeyForm, KeyGiven,
};
use http::{HeaderMap, StatusCode};

use crate::connections_page::{cookie, refused, set_cookie_at};
use crate::pages::{escape, html, layout, message_page, uncached_redirect};

const BRAND: &str = "Guidepost";
/// As long as a link and its trips stay good.
const BROWSER_COOKIE_SECONDS: u32 = 15 * 60;

/// `GET /connect/{token}`: on to the upstream's authorization server, once; the browser
/// keeps a cookie that its callbacks must bring back (`connections::browser_cookie`).
pub(crate) async fn open(State(platform): State<Platform>, Path(token): Path<String>) -> Response {
    match connections::open_link(&platform, &token).await {
        Ok(outcome) => {
            let mut response = answer(outcome);
            let kept = connections::browser_cookie(&token);
            let cookie = (kept.name.as_str(), kept.value.as_str());
            let path = connections::CONNECT_PATH;
            set_cookie_at(
                &mut response,
                &platform,
                cookie,
                path,
                BROWSER_COOKIE_SECONDS,
            );
            response
        }
        Err(error) => refused(error),
    }
}

/// `GET /connect/callback`: the upstream's answer; the account connected.
pub(crate) async fn callback(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let sent = |name: &str| cookie(&headers, name).map(str::to_owned);
    match connections::callback(&platform, params, &sent).await {
        Ok(outcome) => answer(outcome),
        Err(error) => refused(error),
    }
}

/// A step's page: on to the next trip, the key form, or the connection made.
fn answer(outcome: CallbackOutcome) -> Response {
    match outcome {
        CallbackOutcome::Continue(next) => uncached_redirect(&next),
        CallbackOutcome::AskKey(form) => key_page(&form),
        CallbackOutcome::Connected(connected) => connected_page(connected),
    }
}

/// The form that asks a person for their own key to a server that takes one.
fn key_page(form: &KeyForm) -> Response {
    let body = format!(
        "<p>{upstream} works with your own key. Paste it here: it is stored encrypted and \
         sent to {upstream} as <code>{header}</code> with your calls only.</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\n\
         <label for=\"key\">Your key</label>\n\
         <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"off\" required maxlength=\"4096\">\n\
         <button type=\"submit\">Connect</button>\n</form>\n",
        upstream = escape(&form.upstream_name),
        header = escape(&form.header),
        action = escape(connections::KEY_PATH),
        state = escape(&form.state),
    );
    html(StatusCode::OK, layout("Connect your account", BRAND, &body))
}

/// `POST /connect/key`: the person's key, stored as their connection.
pub(crate) async fn give_key(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(given): Form<KeyGiven>,
) -> Response {
    let sent = |name: &str| cookie(&headers, name).map(str::to_owned);
    match connections::give_key(&platform, given, &sent).await {
        Ok(connected) => connected_page(connected),
        Err(error) => refused(error),
    }
}

/// `GET /connect/client-metadata.json`: who the platform is as an OAuth client.
pub(crate) async fn client_metadata(State(platform): State<Platform>) -> Response {
    Json(connections::client_metadata(&platform.config)).into_response()
}

fn connected_page(connected: Connected) -> Response {
    let account = connected
        .account
        .map(|account| format!(" as {account}"))
        .unwrap_or_default();
    let message = format!(
        "Your account is connected to {}{account}. You can close this page and go back to your app.",
        connected.upstream_name
    );
    let Some(manage) = connected.manage_url else {
        return html(StatusCode::OK, message_page("Connected", BRAND, &message));
    };
    let body = format!(
        "<p>{}</p>\n<p><a href=\"{}\">See and manage your connections</a></p>\n",
        escape(&message),
        escape(&manage)
    );
    html(StatusCode::OK, layout("Connected", BRAND, &body))
}

/// The connect routes, and the approval pages, at the root of the platform host.
pub fn router(platform: Platform) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(connections::CLIENT_METADATA_PATH, get(client_metadata))
        .route(connections::CALLBACK_PATH, get(callback))
        .route(connections::KEY_PATH, axum::routing::post(give_key))
        .route("/connect/{token}", get(open))
        .merge(crate::connections_page::routes())
        .merge(crate::approval_pages::routes())
        .with_state(platform)
}
