//! Signing in by an emailed one-time code, signing out, and switching organization.
//!
//! Before there is a session, the forms carry a double-submit token: a random value in
//! the `__Host-gp_dashboard_signin` cookie that the form must repeat (with the origin
//! check in `security.rs`, this keeps other sites from signing a browser in).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use guidepost_core::{CoreError, accounts::members};
use guidepost_domain::random_token;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;

use crate::Dashboard;
use crate::assets;
use crate::page::Notice;
use crate::page::{self, PageError, PageResult};
use crate::session::{
    COOKIE, SIGN_IN_COOKIE, SignedForm, cookie_value, host_cookie, session_cookie,
};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    title: &'a str,
    stage: &'a str,
    email: &'a str,
    next: &'a str,
    csrf: &'a str,
    error: Option<String>,
    field: &'a str,
    assets: &'static str,
}

#[derive(Deserialize, Default)]
pub(crate) struct SignInQuery {
    #[serde(default)]
    email: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// The longest page address kept to go back to after signing in; a longer one (no page of
/// ours has one) is dropped for the overview rather than echoed into a header and a page.
const NEXT_MAX: usize = 2048;

/// Only our own pages are places to go back to.
fn safe_next(next: &str) -> &str {
    let printable = next.bytes().all(|b| b.is_ascii_graphic());
    if printable && next.len() <= NEXT_MAX && next.starts_with("/app/") && !next.contains('\\') {
        next
    } else {
        "/app/"
    }
}

/// The pre-session form token: the cookie's, or a fresh one to set.
/// How long a sign-in form stays usable before its page must be loaded again.
const SIGN_IN_COOKIE_SECS: u64 = 60 * 60;

fn form_token(headers: &HeaderMap) -> (String, Option<String>) {
    match cookie_value(headers, SIGN_IN_COOKIE) {
        Some(token) if token.len() >= 20 => (token.to_owned(), None),
        _ => {
            let token = random_token("");
            let cookie = host_cookie(SIGN_IN_COOKIE, &token, SIGN_IN_COOKIE_SECS);
            (token, Some(cookie))
        }
    }
}

fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn page(
    stage: &str,
    query: &SignInQuery,
    csrf: &str,
    failure: Option<(StatusCode, String, &str)>,
) -> Response {
    let (status, error, field) = match failure {
        Some((status, error, field)) => (status, Some(error), field),
        None => (StatusCode::OK, None, "email"),
    };
    let title = if stage == "email" {
        "Sign in"
    } else {
        "Enter your code"
    };
    page::render_with(
        status,
        &SignInPage {
            title,
            stage,
            email: &query.email,
            next: safe_next(&query.next),
            csrf,
            error,
            field,
            assets: assets::prefix(),
        },
    )
}

pub(crate) async fn email_page(headers: HeaderMap, Query(query): Query<SignInQuery>) -> Response {
    let (csrf, cookie) = form_token(&headers);
    with_cookies(page("email", &query, &csrf, None), cookie)
}

pub(crate) async fn code_page(headers: HeaderMap, Query(query): Query<SignInQuery>) -> Response {
    let (csrf, cookie) = form_token(&headers);
    with_cookies(page("code", &query, &csrf, None), cookie)
}

fn token_matches(headers: &HeaderMap, form: &SignInForm) -> bool {
    cookie_value(headers, SIGN_IN_COOKIE)
        .is_some_and(|cookie| !cookie.is_empty() && cookie == form.csrf_token)
}

pub(crate) async fn send_code(
    State(app): State<Dashboard>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<SignInForm>,
) -> PageResult {
    if !token_matches(&headers, &form) {
        return Err(PageError::FormToken);
    }
    let query = SignInQuery {
        email: form.email.trim().to_owned(),
        next: form.next.clone(),
    };
    match members::start_sign_in(&app.platform, app.mail.as_ref(), &query.email).await {
        Ok(()) => Ok(Redirect::to(&format!(
            "/app/sign-in/code?{}",
            serde_urlencoded::to_string([("email", &query.email), ("next", &query.next)])
                .unwrap_or_default()
        ))
        .into_response()),
        Err(CoreError::Invalid(invalid)) => Ok(page(
            "email",
            &query,
            &form.csrf_token,
            Some((StatusCode::UNPROCESSABLE_ENTITY, invalid.message, "email")),
        )),
        Err(other) => Err(other.into()),
    }
}

pub(crate) async fn check_code(
    State(app): State<Dashboard>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<SignInForm>,
) -> PageResult {
    if !token_matches(&headers, &form) {
        return Err(PageError::FormToken);
    }
    match members::finish_sign_in(&app.platform, &form.email, &form.code).await {
        Ok((token, _)) => {
            let response = Redirect::to(safe_next(&form.next)).into_response();
            let cookies = [session_cookie(&token), host_cookie(SIGN_IN_COOKIE, "", 0)];
            Ok(with_cookies(response, cookies))
        }
        Err(CoreError::Invalid(invalid)) => {
            let query = SignInQuery {
                email: form.email.clone(),
                next: form.next.clone(),
            };
            Ok(page(
                "code",
                &query,
                &form.csrf_token,
                Some((StatusCode::UNPROCESSABLE_ENTITY, invalid.message, "code")),
            ))
        }
        Err(other) => Err(other.into()),
    }
}

pub(crate) async fn sign_out(
    State(app): State<Dashboard>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    members::sign_out(&app.platform, &signed.token).await?;
    let response = Redirect::to("/app/sign-in").into_response();
    Ok(with_cookies(response, [host_cookie(COOKIE, "", 0)]))
}

#[derive(Deserialize)]
pub(crate) struct SwitchForm {
    org_id: String,
}

pub(crate) async fn switch_organization(
    State(app): State<Dashboard>,
    SignedForm { signed, form }: SignedForm<SwitchForm>,
) -> PageResult {
    let org = page::id_or_not_found(&form.org_id)?;
    members::switch_organization(&app.platform, &signed.signed_in, &org).await?;
    Ok(page::done("/app/", Notice::Switched))
}
