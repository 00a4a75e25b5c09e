//! A login session as the browser that started it holds it: a cookie with the session's
//! secret (only its hash is stored, so only this browser can open the session), the CSRF
//! token of its forms (derived from that secret), and the pages that any step of a
//! sign-in may answer with.

use std::collections::HashMap;

use axum::response::{IntoResponse, Redirect, Response};
use guidepost_core::CoreError;
use guidepost_core::accounts::authorization::crypto::constant_time_eq;
use guidepost_core::accounts::authorization::logins::{self, Step, Unopened};
use guidepost_domain::{LoginSession, hash_secret};
use http::{HeaderMap, StatusCode};

use crate::AuthState;
use crate::error::Params;
use crate::login_cookie::LoginCookie;
use crate::pages::{self, error_page, html};
use crate::tenant::Tenant;

pub(crate) const START_AGAIN: &str = "Start again from your app.";

/// The CSRF token of the forms of a login session: derived from the session's cookie
/// secret, so only the browser holding the cookie can know it.
pub(crate) fn csrf_token(cookie_secret: &str) -> String {
    hash_secret(&format!("guidepost-login-csrf:{cookie_secret}"))[..32].to_owned()
}

/// A login session opened by the browser that owns it.
pub(crate) struct Opened {
    pub session: LoginSession,
    /// The browser's cookie secret (only its hash is stored).
    pub secret: String,
}

/// The login session `id` of this server, if this browser holds its cookie and it has
/// not expired; otherwise the page that says why not.
pub(crate) async fn open_id(
    state: &AuthState,
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
) -> Result<Opened, Response> {
    let cookie = LoginCookie::of(&tenant.address);
    let secret = cookie.secret(headers, id).unwrap_or_default().to_owned();
    match logins::open(&state.platform, &tenant.server, id, &secret).await {
        Ok(Ok(session)) => Ok(Opened { session, secret }),
        Ok(Err(unopened)) => Err(unopened_page(tenant, unopened)),
        Err(error) => {
            tracing::error!(%error, "could not read a login session");
            Err(error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                tenant.name(),
                "Something went wrong. Please try again.",
            ))
        }
    }
}

/// The login session named by the `{id}` of the path.
pub(crate) async fn open(
    state: &AuthState,
    tenant: &Tenant,
    path: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Opened, Response> {
    let id = path.get("id").map(String::as_str).unwrap_or_default();
    open_id(state, tenant, id, headers).await
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
fn form(tenant: &Tenant, opened: &Opened, body: &[u8]) -> Result<Params, Response> {
    let params = Params::parse(body)
        .map_err(|why| error_page(StatusCode::BAD_REQUEST, tenant.name(), &why.to_string()))?;
    let expected = csrf_token(&opened.secret);
    let sent = params.get("csrf_token").unwrap_or_default();
    if !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            tenant.name(),
            "The form is out of date. Go back, reload the page and try again.",
        ));
    }
    Ok(params)
}

/// Why a login session could not be opened, as a page.
pub(crate) fn unopened_page(tenant: &Tenant, unopened: Unopened) -> Response {
    let (status, text) = match unopened {
        Unopened::NotFound => (
            StatusCode::NOT_FOUND,
            format!("This sign-in link is not valid. {START_AGAIN}"),
        ),
        Unopened::OtherBrowser => (
            StatusCode::FORBIDDEN,
            format!(
                "This sign-in page belongs to another browser, or cookies are blocked. {START_AGAIN}"
            ),
        ),
        Unopened::Expired => (
            StatusCode::GONE,
            format!("This sign-in attempt expired. {START_AGAIN}"),
        ),
    };
    error_page(status, tenant.name(), &text)
}

/// `{issuer}/login/{id}`: the page of the session's current stage.
pub(crate) fn page_url(tenant: &Tenant, session: &LoginSession) -> String {
    tenant.address.endpoint(&format!("/login/{}", session.id))
}

pub(crate) fn to_page(tenant: &Tenant, session: &LoginSession) -> Response {
    Redirect::to(&page_url(tenant, session)).into_response()
}

pub(crate) fn message(tenant: &Tenant, status: StatusCode, title: &str, text: &str) -> Response {
    html(status, pages::message_page(title, tenant.name(), text))
}

pub(crate) fn conflict(tenant: &Tenant) -> Response {
    message(
        tenant,
        StatusCode::CONFLICT,
        "Please try again",
        "This page changed in another tab. Go back, reload and try again.",
    )
}

/// A sign-in step failed on our side.
pub(crate) fn failed(error: &CoreError) -> Response {
    tracing::error!(%error, "a sign-in step failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// The session a step wrote; or, when it wrote nothing, the page to answer with: the
/// current one if the session was at another stage, "try again" if another write came
/// first.
#[allow(clippy::result_large_err)] // the error is the page to answer with
pub(crate) fn stepped(
    tenant: &Tenant,
    session: &LoginSession,
    step: Result<Step, CoreError>,
) -> Result<LoginSession, Response> {
    match step {
        Ok(Step::Taken(saved)) => Ok(*saved),
        Ok(Step::NotAwaited) => Err(to_page(tenant, session)),
        Ok(Step::Conflict) => Err(conflict(tenant)),
        Err(error) => Err(failed(&error)),
    }
}
