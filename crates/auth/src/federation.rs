//! Sign-in at the organization's own OpenID Connect provider (`custom_oauth`, SPEC §3):
//! the login page sends the browser to the provider (`email` → `upstream`), and the
//! provider sends it back to `{issuer}/oidc/callback`, where the code is exchanged and the
//! verified email moves the login session to `consent`. From there on it is the same
//! consent page and the same platform tokens as `platform_oauth`; the provider's tokens
//! never leave `upstream::IdentityProviders::finish`.
//!
//! Each trip to the provider has a random salt, stored in the login session. With the
//! browser's cookie secret (which only the browser has) it derives the trip's `state`,
//! `nonce` and PKCE verifier, so none of them is stored, and a callback is accepted only
//! in the browser that left, for the latest trip, once.

use axum::extract::RawQuery;
use axum::response::{IntoResponse, Redirect, Response};
use guidepost_core::authorization::logins;
use guidepost_core::oidc::{CALLBACK_PATH, secret_context};
use guidepost_domain::{Email, LoginSession, LoginStage, hash_secret, random_token};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::AuthState;
use crate::back::{Back, server_name};
use crate::crypto::constant_time_eq;
use crate::error::Params;
use crate::login_session::{self, Opened, START_AGAIN};
use crate::pages::error_page;
use crate::tenant::Tenant;
use crate::upstream::{Relying, Trip, UpstreamError};

/// The values of a session's current trip, from the cookie secret and the trip's salt.
fn trip(cookie_secret: &str, session: &LoginSession, salt: &str) -> Trip {
    let derive = |purpose: &str| {
        hash_secret(&format!(
            "guidepost-upstream-{purpose}:{cookie_secret}:{salt}"
        ))
    };
    Trip {
        // The session id lets the callback find the session; the rest binds it.
        state: format!("{}.{}", session.id, &derive("state")[..32]),
        nonce: derive("nonce"),
        pkce_verifier: derive("pkce"),
    }
}

fn unavailable(tenant: &Tenant, text: &str) -> Response {
    error_page(StatusCode::SERVICE_UNAVAILABLE, &server_name(tenant), text)
}

/// The server's provider, with its client secret opened.
#[allow(clippy::result_large_err)] // the error is the page to answer with
async fn relying_party(
    state: &AuthState,
    tenant: &Tenant,
) -> Result<(String, String, Option<String>), Response> {
    let server = &tenant.server;
    let sorry =
        "Sign-in to this server is not set up correctly. Tell the organization that runs it.";
    let provider = match guidepost_core::oidc::provider_of(&state.platform, server).await {
        Ok(Some(provider)) => provider,
        Ok(None) => {
            tracing::error!(server = %server.id, "a custom_oauth server has no identity provider");
            return Err(unavailable(tenant, sorry));
        }
        Err(error) => {
            tracing::error!(%error, "could not read an identity provider");
            return Err(unavailable(
                tenant,
                "Something went wrong. Please try again.",
            ));
        }
    };
    let secret = match (
        &provider.client_secret_sealed,
        &state.platform.config.master_key,
    ) {
        (None, _) => None,
        (Some(sealed), Some(key)) => match key.open(sealed, &secret_context(&server.id)) {
            Ok(secret) => Some(secret),
            Err(error) => {
                tracing::error!(%error, server = %server.id, "cannot open an identity provider's client secret");
                return Err(unavailable(tenant, sorry));
            }
        },
        (Some(_), None) => {
            tracing::error!(server = %server.id, "an identity provider's client secret needs --master-key");
            return Err(unavailable(tenant, sorry));
        }
    };
    Ok((provider.issuer_url, provider.client_id, secret))
}

fn provider_failed(tenant: &Tenant, error: &UpstreamError) -> Response {
    let name = server_name(tenant);
    match error {
        UpstreamError::Refused(why) => {
            tracing::warn!(%why, "the identity provider did not confirm a person");
            let text = format!(
                "Your organization's sign-in did not confirm who you are: {why}. {START_AGAIN}"
            );
            error_page(StatusCode::FORBIDDEN, &name, &text)
        }
        UpstreamError::Unreachable(why) | UpstreamError::Unusable(why) => {
            tracing::error!(%why, "the identity provider cannot be used");
            let text =
                "Your organization's sign-in service could not be reached. Try again in a moment.";
            error_page(StatusCode::BAD_GATEWAY, &name, text)
        }
    }
}

/// `GET {issuer}/login/{id}` on a `custom_oauth` server, before the person is known: a new
/// trip to the provider.
pub(crate) async fn start(state: &AuthState, tenant: &Tenant, opened: Opened) -> Response {
    let (issuer_url, client_id, client_secret) = match relying_party(state, tenant).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let salt = random_token("");
    let trip = trip(&opened.secret, &opened.session, &salt);
    let rp = Relying {
        issuer_url: &issuer_url,
        client_id: &client_id,
        client_secret,
        redirect_uri: tenant.address.endpoint(CALLBACK_PATH),
    };
    let url = match state.providers.authorization_url(&rp, &trip).await {
        Ok(url) => url,
        Err(error) => return provider_failed(tenant, &error),
    };
    let mut next = opened.session.clone();
    next.stage = LoginStage::Upstream;
    next.upstream_salt = Some(salt);
    match login_session::save(state, &next).await {
        Ok(Some(_)) => {}
        Ok(None) => return login_session::conflict(tenant),
        Err(response) => return response,
    }
    let mut response = Redirect::to(&url).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET {issuer}/oidc/callback?code&state` (or `error`): where the provider sends the
/// person back.
pub(crate) async fn callback(
    state: crate::State,
    tenant: Tenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let name = server_name(&tenant);
    let bad = |text: &str| error_page(StatusCode::BAD_REQUEST, &name, text);
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(why) => return bad(&format!("The sign-in response is invalid: {why}.")),
    };
    let Some(sent_state) = params.get("state") else {
        return bad(&format!("The sign-in response has no state. {START_AGAIN}"));
    };
    let id = sent_state.split('.').next().unwrap_or_default();
    let opened = match login_session::open_id(&state, &tenant, id, &headers).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let session = &opened.session;
    let (LoginStage::Upstream, Some(salt)) = (session.stage, session.upstream_salt.as_deref())
    else {
        return match session.stage {
            // A reload after signing in: show where things stand.
            LoginStage::Consent | LoginStage::Done => login_session::to_page(&tenant, session),
            _ => bad(&format!(
                "This sign-in response was not expected. {START_AGAIN}"
            )),
        };
    };
    let trip = trip(&opened.secret, session, salt);
    if !constant_time_eq(sent_state.as_bytes(), trip.state.as_bytes()) {
        return bad(&format!(
            "This sign-in response belongs to an older attempt. {START_AGAIN}"
        ));
    }
    if let Some(error) = params.get("error") {
        return provider_error(
            &state,
            &tenant,
            session,
            error,
            params.get("error_description"),
        )
        .await;
    }
    let Some(code) = params.get("code") else {
        return bad(&format!("The sign-in response has no code. {START_AGAIN}"));
    };
    let (issuer_url, client_id, client_secret) = match relying_party(&state, &tenant).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // RFC 9207: a response that names another issuer is a mix-up, not this provider's.
    if params.get("iss").is_some_and(|iss| iss != issuer_url) {
        return bad(&format!(
            "The sign-in response came from another identity provider. {START_AGAIN}"
        ));
    }
    let rp = Relying {
        issuer_url: &issuer_url,
        client_id: &client_id,
        client_secret,
        redirect_uri: tenant.address.endpoint(CALLBACK_PATH),
    };
    let person = match state.providers.finish(&rp, &trip, code).await {
        Ok(person) => person,
        Err(error) => return provider_failed(&tenant, &error),
    };
    let email = match Email::parse(&person.email) {
        Ok(email) => email,
        Err(_) => {
            let error =
                UpstreamError::Refused(format!("{:?} is not a usable email address", person.email));
            return provider_failed(&tenant, &error);
        }
    };
    signed_in(&state, &tenant, session, email).await
}

/// The provider vouched for `email`: the person is known, on to consent.
async fn signed_in(
    state: &AuthState,
    tenant: &Tenant,
    session: &LoginSession,
    email: Email,
) -> Response {
    let server = &tenant.server;
    let person = match logins::person(&state.platform, &server.org_id, &email).await {
        Ok(person) => person,
        Err(error) => {
            tracing::error!(%error, "could not record a signed-in person");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut next = session.clone();
    next.stage = LoginStage::Consent;
    next.email = Some(email);
    next.end_user_id = Some(person.id);
    // The trip is over: its state cannot be used again.
    next.upstream_salt = None;
    match login_session::save(state, &next).await {
        Ok(Some(saved)) => {
            metrics::counter!("guidepost_oauth_upstream_sign_ins_total").increment(1);
            login_session::to_page(tenant, &saved)
        }
        Ok(None) => login_session::conflict(tenant),
        Err(response) => response,
    }
}

/// The provider answered with an error. A person who declined there declines here too:
/// the client hears `access_denied`. Anything else is shown.
async fn provider_error(
    state: &AuthState,
    tenant: &Tenant,
    session: &LoginSession,
    error: &str,
    description: Option<&str>,
) -> Response {
    if error == "access_denied" {
        let mut next = session.clone();
        next.stage = LoginStage::Done;
        next.upstream_salt = None;
        match login_session::save(state, &next).await {
            Ok(Some(_)) => {}
            Ok(None) => return login_session::conflict(tenant),
            Err(response) => return response,
        }
        let request = &session.request;
        let back = Back {
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            issuer: tenant.address.issuer(),
        };
        return back.error(
            "access_denied",
            "the person declined at the identity provider",
        );
    }
    let shown: String = description
        .unwrap_or(error)
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    tracing::warn!(%error, %shown, "the identity provider answered with an error");
    let text = format!("Your organization's sign-in answered: {shown}. {START_AGAIN}");
    error_page(StatusCode::BAD_GATEWAY, &server_name(tenant), &text)
}

#[cfg(test)]
mod tests {
    use guidepost_domain::{AuthorizationRequest, Id, Timestamp};

    use super::*;

    fn session() -> LoginSession {
        LoginSession {
            id: Id::from_trusted("ls_test".into()),
            org_id: Id::from_trusted("org_test".into()),
            server_id: Id::from_trusted("ms_test".into()),
            secret_hash: String::new(),
            request: AuthorizationRequest {
                client_id: "c".into(),
                redirect_uri: "http://127.0.0.1:9/cb".into(),
                state: None,
                code_challenge: "x".into(),
                scope: "mcp".into(),
                resource: "http://h/mcp".into(),
            },
            client_name: None,
            stage: LoginStage::Upstream,
            email: None,
            code_hash: None,
            code_expires_at: None,
            code_attempts: 0,
            codes_sent: 0,
            end_user_id: None,
            upstream_salt: Some("salt".into()),
            created_at: Timestamp::now(),
            expires_at: Timestamp::now(),
            revision: 1,
        }
    }

    #[test]
    fn trips_differ_by_browser_and_by_salt_and_stay_within_pkce_rules() {
        let session = session();
        let a = trip("cookie-a", &session, "s1");
        let b = trip("cookie-b", &session, "s1");
        let c = trip("cookie-a", &session, "s2");
        assert!(a.state.starts_with("ls_test."));
        assert_ne!(a.state, b.state);
        assert_ne!(a.state, c.state);
        assert_ne!(a.nonce, a.pkce_verifier);
        assert!(crate::crypto::is_pkce_value(&a.pkce_verifier));
        assert_eq!(
            trip("cookie-a", &session, "s1").state,
            a.state,
            "derived, not random"
        );
    }
}
