//! The signed-in member: the `__Host-` session cookie, the [`Signed`] extractor that
//! every page takes, and the form token that every form carries.
//!
//! The cookie is `__Host-gp_dashboard` (Secure, HttpOnly, SameSite=Lax, Path=/, no
//! Domain): bound to the platform's exact host, never sent to tenants' hosts. Browsers
//! accept `Secure` cookies over plain HTTP on `localhost` only, so a deployment serves the
//! dashboard over HTTPS (development on localhost works as is). The form token is derived
//! from the session token (a hash of it with a fixed label), so it needs no storage and
//! differs from the cookie's value.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Redirect, Response};
use guidepost_core::accounts::members::{self, SignedIn};
use guidepost_domain::Member;
use http::request::Parts;
use http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::Dashboard;
use crate::error::PageError;

pub(crate) const COOKIE: &str = "__Host-gp_dashboard";

/// A member with a live session; pages without one send the browser to sign in.
pub(crate) struct Signed {
    pub member: Member,
    pub signed_in: SignedIn,
    /// The form token every form of this session carries.
    pub csrf: String,
    pub token: String,
}

impl Signed {
    /// Who acts for the organization on this member's requests; core decides what it may do.
    pub fn caller(&self) -> &guidepost_core::Caller {
        &self.signed_in.caller
    }
}

pub(crate) fn csrf_for(token: &str) -> String {
    hex::encode(Sha256::digest(format!("dashboard-form:{token}").as_bytes()))
}

/// The pre-session form token's cookie (sign-in pages only).
pub(crate) const SIGN_IN_COOKIE: &str = "__Host-gp_dashboard_signin";

/// A `Set-Cookie` value for one of the dashboard's `__Host-` cookies; an empty value
/// with `max_age_secs` 0 clears it.
pub(crate) fn host_cookie(name: &str, value: &str, max_age_secs: u64) -> String {
    format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Lax")
}

pub(crate) fn session_cookie(token: &str) -> String {
    host_cookie(COOKIE, token, members::SESSION_LIFETIME.as_secs())
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Where to go back to after signing in: this page, when it is one of ours.
fn sign_in_redirect(parts: &Parts) -> Response {
    // Inside the nested router the URI has lost its `/app` prefix; the original has it.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let here = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/app/");
    let next = if parts.method == http::Method::GET && here.starts_with("/app/") {
        here
    } else {
        "/app/"
    };
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Redirect::to(&format!("/app/sign-in?{query}")).into_response()
}

impl<S> FromRequestParts<S> for Signed
where
    Dashboard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let dashboard = Dashboard::from_ref(state);
        let Some(token) = cookie_value(&parts.headers, COOKIE).map(str::to_owned) else {
            return Err(sign_in_redirect(parts));
        };
        match members::signed_in(&dashboard.platform, &token).await {
            Ok(Some(signed_in)) => {
                // Every log line of the request says whose it was.
                let org = tracing::field::display(&signed_in.member.org_id);
                tracing::Span::current().record("org", org);
                Ok(Signed {
                    member: signed_in.member.clone(),
                    signed_in,
                    csrf: csrf_for(&token),
                    token,
                })
            }
            Ok(None) => Err(sign_in_redirect(parts)),
            Err(error) => Err(PageError::from(error).into_response()),
        }
    }
}

/// A posted form of a signed-in member whose form token is right. `T` is the form's
/// fields (it need not name `csrf_token`).
pub(crate) struct SignedForm<T> {
    pub signed: Signed,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct Token {
    #[serde(default)]
    csrf_token: String,
}

impl<S, T> FromRequest<S> for SignedForm<T>
where
    Dashboard: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let body = axum::body::to_bytes(body, crate::BODY_LIMIT)
            .await
            .map_err(|_| PageError::TooLarge.into_response())?;
        let token: Token = serde_urlencoded::from_bytes(&body).unwrap_or(Token {
            csrf_token: String::new(),
        });
        if !constant_time_eq(token.csrf_token.as_bytes(), signed.csrf.as_bytes()) {
            return Err(PageError::FormToken.into_response());
        }
        let form = serde_urlencoded::from_bytes(&body)
            .map_err(|e| PageError::BadForm(e.to_string()).into_response())?;
        Ok(SignedForm { signed, form })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
