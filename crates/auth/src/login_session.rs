//! The login session as the sign-in pages hold it: bound to the browser by a cookie
//! (only its hash is stored), opened by id and cookie, its forms CSRF-checked, and
//! written compare-and-set. Shared by the email-code pages (`login.rs`) and the
//! federation to an organization's provider (`federation.rs`).

use std::collections::HashMap;

use axum::response::{IntoResponse, Redirect, Response};
use guidepost_core::authorization::logins;
use guidepost_domain::{LoginSession, LoginSessionId, Timestamp, hash_secret};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::AuthState;
use crate::back::server_name;
use crate::crypto::{constant_time_eq, csrf_token};
use crate::error::Params;
use crate::pages::{self, error_page, html};
use crate::tenant::Tenant;

/// How long a person has to finish signing in.
pub(crate) const LOGIN_TTL_SECS: i64 = 30 * 60;

const COOKIE_PREFIX: &str = "gp_login_";

/// The cookie that binds a login session to the browser that started it.
pub(crate) fn cookie_header(id: &LoginSessionId, secret: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE_PREFIX}{id}={secret}; Path=/; Max-Age={LOGIN_TTL_SECS}; HttpOnly; SameSite=Lax{secure}"
    );
    HeaderValue::from_str(&value).expect("ids and tokens are header-safe")
}

pub(crate) fn cookie_secret<'a>(headers: &'a HeaderMap, id: &LoginSessionId) -> Option<&'a str> {
    let name = format!("{COOKIE_PREFIX}{id}");
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// A login session opened by the browser that owns it.
pub(crate) struct Opened {
    pub session: LoginSession,
    /// The browser's cookie secret (only its hash is stored).
    pub secret: String,
}

pub(crate) fn message(tenant: &Tenant, status: StatusCode, title: &str, text: &str) -> Response {
    html(
        status,
        pages::message_page(title, &server_name(tenant), text),
    )
}

pub(crate) const START_AGAIN: &str = "Start again from your app.";

pub(crate) async fn open(
    state: &AuthState,
    tenant: &Tenant,
    path: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Opened, Response> {
    let id = path.get("id").map(String::as_str).unwrap_or_default();
    open_id(state, tenant, id, headers).await
}

/// The login session `id` of this server, if this browser holds its cookie and it has
/// not expired; otherwise the page that says why not.
pub(crate) async fn open_id(
    state: &AuthState,
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
) -> Result<Opened, Response> {
    let name = server_name(tenant);
    let not_found = || {
        error_page(
            StatusCode::NOT_FOUND,
            &name,
            &format!("This sign-in link is not valid. {START_AGAIN}"),
        )
    };
    let Some(id) = LoginSessionId::parse(id) else {
        return Err(not_found());
    };
    let server = &tenant.server;
    let session = match logins::find(&state.platform, server, &id).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(not_found()),
        Err(error) => {
            tracing::error!(%error, "could not read a login session");
            return Err(error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &name,
                "Something went wrong. Please try again.",
            ));
        }
    };
    let secret = cookie_secret(headers, &id).unwrap_or_default().to_owned();
    if !constant_time_eq(
        hash_secret(&secret).as_bytes(),
        session.secret_hash.as_bytes(),
    ) {
        let text = format!(
            "This sign-in page belongs to another browser, or cookies are blocked. {START_AGAIN}"
        );
        return Err(error_page(StatusCode::FORBIDDEN, &name, &text));
    }
    if session.expires_at <= Timestamp::now() {
        return Err(error_page(
            StatusCode::GONE,
            &name,
            &format!("This sign-in attempt expired. {START_AGAIN}"),
        ));
    }
    Ok(Opened { session, secret })
}

/// Opens the login session a form was posted to and reads the form, CSRF-checked: what
/// every form handler does first.
pub(crate) async fn open_form(
    state: &AuthState,
    tenant: &Tenant,
    path: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Opened, Params), Response> {
    let opened = open(state, tenant, path, headers).await?;
    let params = form(tenant, &opened, body)?;
    Ok((opened, params))
}

/// Reads a posted form and checks its CSRF token.
#[allow(clippy::result_large_err)] // the error is the page to answer with, built once
pub(crate) fn form(tenant: &Tenant, opened: &Opened, body: &[u8]) -> Result<Params, Response> {
    let name = server_name(tenant);
    let params =
        Params::parse(body).map_err(|why| error_page(StatusCode::BAD_REQUEST, &name, &why))?;
    let expected = csrf_token(&opened.secret);
    let sent = params.get("csrf_token").unwrap_or_default();
    if !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            &name,
            "The form is out of date. Go back, reload the page and try again.",
        ));
    }
    Ok(params)
}

pub(crate) fn page_url(tenant: &Tenant, session: &LoginSession) -> String {
    tenant.address.endpoint(&format!("/login/{}", session.id))
}

pub(crate) fn to_page(tenant: &Tenant, session: &LoginSession) -> Response {
    Redirect::to(&page_url(tenant, session)).into_response()
}

/// Writes `next` if the session is still at the revision it was read at.
pub(crate) async fn save(
    state: &AuthState,
    next: &LoginSession,
) -> Result<Option<LoginSession>, Response> {
    logins::advance(&state.platform, next)
        .await
        .map_err(|error| {
            tracing::error!(%error, "could not save a login session");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
}

pub(crate) fn conflict(tenant: &Tenant) -> Response {
    message(
        tenant,
        StatusCode::CONFLICT,
        "Please try again",
        "This page changed in another tab. Go back, reload and try again.",
    )
}
