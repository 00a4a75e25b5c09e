//! Sign-in at the organization's own OpenID Connect provider (`custom_oauth`):
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
use axum::response::Response;
use guidepost_core::accounts::authorization::crypto::constant_time_eq;
use guidepost_core::accounts::authorization::upstream;
use guidepost_core::accounts::oidc::{self, CALLBACK_PATH, SignInClient};
use guidepost_domain::{Email, LoginSession, LoginStage, SignInFacts, hash_secret, random_token};
use http::{HeaderMap, StatusCode};

use crate::AuthState;
use crate::back::Back;
use crate::browser::{Opened, START_AGAIN, open_id, stepped, to_page};
use crate::error::Params;
use crate::pages::{error_page, uncached_redirect};
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
    error_page(StatusCode::SERVICE_UNAVAILABLE, tenant.name(), text)
}

/// The server's provider, with its client secret opened.
#[allow(clippy::result_large_err)] // the error is the page to answer with
async fn provider_client(state: &AuthState, tenant: &Tenant) -> Result<SignInClient, Response> {
    match oidc::sign_in_client(&state.platform, &tenant.server).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(unavailable(
            tenant,
            "Sign-in to this server is not set up correctly. Tell the organization that runs it.",
        )),
        Err(error) => {
            tracing::error!(%error, "could not read an identity provider");
            Err(unavailable(
                tenant,
                "Something went wrong. Please try again.",
            ))
        }
    }
}

/// The platform as the provider's client, for this server as the request reached it.
fn relying<'a>(client: &'a SignInClient, tenant: &Tenant) -> Relying<'a> {
    Relying {
        issuer_url: &client.issuer_url,
        client_id: &client.client_id,
        client_secret: client.client_secret.clone(),
        accept_unverified_email: client.accept_unverified_email,
        redirect_uri: tenant.address.endpoint(CALLBACK_PATH),
    }
}

fn provider_failed(tenant: &Tenant, error: &UpstreamError) -> Response {
    match error {
        UpstreamError::Refused(why) => {
            tracing::warn!(%why, "the identity provider did not confirm a person");
            let text = format!(
                "Your organization's sign-in did not confirm who you are: {why}. {START_AGAIN}"
            );
            error_page(StatusCode::FORBIDDEN, tenant.name(), &text)
        }
        UpstreamError::Unreachable(why) | UpstreamError::Unusable(why) => {
            tracing::error!(%why, "the identity provider cannot be used");
            let text =
                "Your organization's sign-in service could not be reached. Try again in a moment.";
            error_page(StatusCode::BAD_GATEWAY, tenant.name(), text)
        }
    }
}

/// `GET {issuer}/login/{id}` on a `custom_oauth` server, before the person is known: a new
/// trip to the provider.
pub(crate) async fn start(state: &AuthState, tenant: &Tenant, opened: Opened) -> Response {
    let client = match provider_client(state, tenant).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let salt = random_token("");
    let trip = trip(&opened.secret, &opened.session, &salt);
    let rp = relying(&client, tenant);
    let url = match state.providers.authorization_url(&rp, &trip).await {
        Ok(url) => url,
        Err(error) => return provider_failed(tenant, &error),
    };
    let session = &opened.session;
    let left = upstream::leave(&state.platform, session, salt).await;
    if let Err(response) = stepped(tenant, session, left) {
        return response;
    }
    uncached_redirect(&url)
}

/// `GET {issuer}/oidc/callback?code&state` (or `error`): where the provider sends the
/// person back.
pub(crate) async fn callback(
    state: crate::State,
    tenant: Tenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let bad = |text: &str| error_page(StatusCode::BAD_REQUEST, tenant.name(), text);
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(why) => return bad(&format!("The sign-in response is invalid: {why}.")),
    };
    let Some(sent_state) = params.get("state") else {
        return bad(&format!("The sign-in response has no state. {START_AGAIN}"));
    };
    let id = sent_state.split('.').next().unwrap_or_default();
    let opened = match open_id(&state, &tenant, id, &headers).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let session = &opened.session;
    let (LoginStage::Upstream, Some(salt)) = (session.stage, session.upstream_salt.as_deref())
    else {
        return match session.stage {
            // A reload after signing in: show where things stand.
            LoginStage::Consent | LoginStage::Done => to_page(&tenant, session),
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
        let description = params.get("error_description");
        return provider_error(&state, &tenant, session, error, description).await;
    }
    let Some(code) = params.get("code") else {
        return bad(&format!("The sign-in response has no code. {START_AGAIN}"));
    };
    let client = match provider_client(&state, &tenant).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    // RFC 9207: a response that names another issuer is a mix-up, not this provider's.
    if params
        .get("iss")
        .is_some_and(|iss| iss != client.issuer_url)
    {
        return bad(&format!(
            "The sign-in response came from another identity provider. {START_AGAIN}"
        ));
    }
    let rp = relying(&client, &tenant);
    let person = match state.providers.finish(&rp, &trip, code).await {
        Ok(person) => person,
        Err(error) => return provider_failed(&tenant, &error),
    };
    let Ok(email) = Email::parse(&person.email) else {
        let error =
            UpstreamError::Refused(format!("{:?} is not a usable email address", person.email));
        return provider_failed(&tenant, &error);
    };
    // The provider vouched for the email: the person is known, on to consent.
    let sign_in = SignInFacts::at_provider(&client.issuer_url, person.groups);
    let vouched = upstream::vouched(&state.platform, session, email, sign_in).await;
    match stepped(&tenant, session, vouched) {
        Ok(saved) => to_page(&tenant, &saved),
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
        let declined = upstream::declined(&state.platform, session).await;
        if let Err(response) = stepped(tenant, session, declined) {
            return response;
        }
        return Back::to(&session.request, tenant).error(
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
    error_page(StatusCode::BAD_GATEWAY, tenant.name(), &text)
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
            sign_in: Default::default(),
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
        assert!(guidepost_core::accounts::authorization::crypto::is_pkce_value(&a.pkce_verifier));
        assert_eq!(
            trip("cookie-a", &session, "s1").state,
            a.state,
            "derived, not random"
        );
    }
}
