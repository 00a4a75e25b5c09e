//! A person's own connections page on the platform host: `GET /connect/mine`
//! with `?server={slug}` signs them in through that hosted server, then lists their
//! connections with a disconnect button each. The rules are core's
//! (`upstreams::connections::mine`); these only read cookies and forms and render.

use axum::extract::{Form, Query, State};
use axum::response::Response;
use guidepost_core::Platform;
use guidepost_core::upstreams::connections::mine::{self, Session};
use guidepost_core::upstreams::connections::{
    FlowError, MINE_CALLBACK_PATH, MINE_DISCONNECT_PATH, MINE_PATH, platform_origin,
};
use guidepost_domain::ConnectionView;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use crate::pages::{escape, html, layout, message_page, uncached_redirect};

const BRAND: &str = "Guidepost";
/// The sign-in trip's cookie, and the page's session after it.
const TRIP_COOKIE: &str = "gp_connections_trip";
const SESSION_COOKIE: &str = "gp_connections";

#[derive(Deserialize)]
pub(crate) struct MineQuery {
    server: Option<String>,
    done: Option<String>,
}

/// `GET /connect/mine`: the person's connections, or the sign-in that leads to them.
pub(crate) async fn page(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<MineQuery>,
) -> Response {
    let session = mine::session(&platform, cookie(&headers, SESSION_COOKIE));
    match (session, query.server) {
        (Some(session), None) => listed(&platform, &session, query.done.as_deref()).await,
        (Some(session), Some(slug)) if slug == session.server_slug => {
            listed(&platform, &session, query.done.as_deref()).await
        }
        (_, Some(slug)) => match mine::start(&platform, &slug).await {
            Ok(started) => {
                let mut response = uncached_redirect(&started.redirect);
                set_cookie(
                    &mut response,
                    &platform,
                    TRIP_COOKIE,
                    &started.trip_cookie,
                    600,
                );
                response
            }
            Err(error) => refused(error),
        },
        (None, None) => html(
            StatusCode::OK,
            message_page(
                "Your connections",
                BRAND,
                "Open this page from the link your app gave you, or add ?server= and the \
                 name of the server you sign in to.",
            ),
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /connect/mine/callback`: signed in; on to the page.
pub(crate) async fn callback(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    if let Some(error) = query.error {
        return refused(FlowError::Denied(error.chars().take(200).collect()));
    }
    let trip = cookie(&headers, TRIP_COOKIE);
    match mine::finish(
        &platform,
        trip,
        query.code.as_deref(),
        query.state.as_deref(),
    )
    .await
    {
        Ok(session) => {
            let mut response = uncached_redirect(MINE_PATH);
            set_cookie(&mut response, &platform, TRIP_COOKIE, "", 0);
            set_cookie(&mut response, &platform, SESSION_COOKIE, &session, 1800);
            response
        }
        Err(error) => refused(error),
    }
}

#[derive(Deserialize)]
pub(crate) struct DisconnectForm {
    upstream: String,
    form_token: String,
}

/// `POST /connect/mine/disconnect`: one of the person's connections, removed.
pub(crate) async fn disconnect(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<DisconnectForm>,
) -> Response {
    let Some(session) = mine::session(&platform, cookie(&headers, SESSION_COOKIE)) else {
        return refused(FlowError::Unknown);
    };
    match mine::disconnect(&platform, &session, &form.form_token, &form.upstream).await {
        Ok(name) => {
            let done: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("done", &name)
                .finish();
            uncached_redirect(&format!("{MINE_PATH}?{done}"))
        }
        Err(error) => refused(error),
    }
}

async fn listed(platform: &Platform, session: &Session, done: Option<&str>) -> Response {
    match mine::list(platform, session).await {
        Ok(connections) => html(
            StatusCode::OK,
            layout(
                "Your connections",
                BRAND,
                &list_body(session, &connections, done),
            ),
        ),
        Err(error) => refused(FlowError::Core(error)),
    }
}

fn list_body(session: &Session, connections: &[ConnectionView], done: Option<&str>) -> String {
    let notice = done
        .map(|name| {
            format!(
                "<p role=\"status\">Disconnected from {}.</p>\n",
                escape(name)
            )
        })
        .unwrap_or_default();
    if connections.is_empty() {
        return format!("{notice}<p>You have no connected accounts.</p>\n");
    }
    let rows: String = connections
        .iter()
        .map(|c| {
            let account = c.account.as_deref().unwrap_or("(not named by the server)");
            format!(
                "<tr><td>{name}</td><td>{account}</td><td>{status}</td><td>\
                 <form method=\"post\" action=\"{action}\">\
                 <input type=\"hidden\" name=\"upstream\" value=\"{id}\">\
                 <input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
                 <button type=\"submit\">Disconnect</button></form></td></tr>\n",
                name = escape(&c.upstream_name),
                account = escape(account),
                status = if c.status.as_str() == "active" {
                    "connected"
                } else {
                    "connect again"
                },
                action = MINE_DISCONNECT_PATH,
                id = escape(c.upstream_id.as_str()),
                token = escape(&session.form_token),
            )
        })
        .collect();
    format!(
        "{notice}<p>The accounts you connected, used with your own calls only. Disconnecting \
         revokes the access at that server.</p>\n<table>\n<thead><tr><th>Server</th>\
         <th>Account</th><th>Status</th><th></th></tr></thead>\n<tbody>\n{rows}</tbody>\n\
         </table>\n"
    )
}

/// A cookie the browser sent.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Sets (or, with `max_age` 0, clears) one of the page's cookies: HttpOnly, this path
/// only, Lax (the sign-in returns by a top-level redirect), Secure over https.
fn set_cookie(response: &mut Response, platform: &Platform, name: &str, value: &str, max_age: u32) {
    set_cookie_at(response, platform, (name, value), MINE_PATH, max_age);
}

/// Sets a cookie of the platform host's pages under `path`, as [`set_cookie`] says.
pub(crate) fn set_cookie_at(
    response: &mut Response,
    platform: &Platform,
    (name, value): (&str, &str),
    path: &str,
    max_age: u32,
) {
    let secure = if platform_origin(&platform.config).starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The page's routes, at the root of the platform host.
pub fn routes() -> axum::Router<Platform> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(MINE_PATH, get(page))
        .route(MINE_CALLBACK_PATH, get(callback))
        .route(MINE_DISCONNECT_PATH, post(disconnect))
}

/// A connect step that failed, as a page: the status its kind calls for, in words a
/// person can read (a fault of ours is logged, not shown).
pub(crate) fn refused(error: FlowError) -> Response {
    let status = match &error {
        FlowError::Unknown => StatusCode::BAD_REQUEST,
        FlowError::Denied(_) | FlowError::OtherBrowser => StatusCode::FORBIDDEN,
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
