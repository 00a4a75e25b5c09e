//! The authorization endpoint (OAuth 2.1 §4.1.1): authorization code with PKCE S256
//! only, an exact redirect URI, RFC 8707 `resource` required (this server's MCP URL), and
//! RFC 9207 `iss` on every response. Until the client and its redirect URI are known to
//! be good, errors are shown as a page; after, they are shown on a page with a link back to
//! the client (`back.rs`: no client is trusted with an automatic bounce).

use axum::extract::RawQuery;
use axum::response::Response;
use guidepost_core::accounts::authorization::clients::RedirectUriRefusal;
use guidepost_core::accounts::authorization::crypto::is_pkce_value;
use guidepost_core::accounts::authorization::logins;
use guidepost_core::accounts::authorization::scopes;
use guidepost_domain::AuthorizationRequest;
use http::{HeaderMap, StatusCode, header};

use crate::back::Back;
use crate::clients::{ClientProblem, find_client};
use crate::error::Params;
use crate::login_cookie::LoginCookie;
use crate::pages::{error_page, uncached_redirect};
use crate::tenant::Tenant;

pub(crate) async fn authorize(
    state: crate::State,
    tenant: Tenant,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let page = |status, message: &str| error_page(status, tenant.name(), message);
    let query = query.unwrap_or_default();
    if query.len() > 16 * 1024 {
        return page(
            StatusCode::URI_TOO_LONG,
            "The authorization request is too long.",
        );
    }
    let params = match Params::parse(query.as_bytes()) {
        Ok(params) => params,
        Err(why) => {
            return page(
                StatusCode::BAD_REQUEST,
                &format!("The app sent an invalid request: {why}."),
            );
        }
    };
    let Some(client_id) = params.get("client_id") else {
        return page(StatusCode::BAD_REQUEST, "The app sent no client_id.");
    };
    let client = match find_client(&state, &tenant, client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The app is not registered with this server. Try connecting again from the app.",
            );
        }
        Err(ClientProblem::Document(why)) => {
            return page(
                StatusCode::BAD_REQUEST,
                &format!("The app could not be verified: {why}."),
            );
        }
        Err(ClientProblem::Core(error)) => {
            tracing::error!(%error, "could not look up an OAuth client");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. Please try again.",
            );
        }
    };
    let redirect_uri = match client.redirect_uri(params.get("redirect_uri")) {
        Ok(uri) => uri,
        Err(RedirectUriRefusal::Missing) => {
            return page(StatusCode::BAD_REQUEST, "The app sent no redirect_uri.");
        }
        Err(RedirectUriRefusal::Unregistered) => {
            return page(
                StatusCode::BAD_REQUEST,
                "The app asked to be sent back to an address it did not register (redirect_uri mismatch).",
            );
        }
    };
    // The redirect URI is the client's own: from here on, errors name it as the way back.
    let back = Back {
        redirect_uri: &redirect_uri,
        state: params.get("state"),
        issuer: tenant.address.issuer(),
    };
    let request = match check_request(&params, &tenant, &redirect_uri) {
        Ok(request) => request,
        Err((error, description)) => {
            return back.error_page(StatusCode::BAD_REQUEST, tenant.name(), error, &description);
        }
    };
    if !client.may_use_codes() {
        return back.error_page(
            StatusCode::BAD_REQUEST,
            tenant.name(),
            "unauthorized_client",
            "the client may not use the authorization code grant",
        );
    }
    let started = logins::start(&state.platform, &tenant.server, request, client.name).await;
    let started = match started {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(%error, "could not start a login session");
            return back.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                tenant.name(),
                "server_error",
                "the authorization server failed; please retry",
            );
        }
    };
    let session = &started.session;
    let login_url = tenant.address.endpoint(&format!("/login/{}", session.id));
    let mut response = uncached_redirect(&login_url);
    let cookie = LoginCookie::of(&tenant.address).adding(&headers, &session.id, &started.secret);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// Checks the parameters that matter once the redirect URI is trusted.
fn check_request(
    params: &Params,
    tenant: &Tenant,
    redirect_uri: &str,
) -> Result<AuthorizationRequest, (&'static str, String)> {
    let invalid = |d: &str| ("invalid_request", d.to_owned());
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ));
        }
        None => return Err(invalid("response_type is required")),
    }
    let Some(challenge) = params.get("code_challenge") else {
        return Err(invalid(
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") => {
            return Err(invalid(
                "code_challenge_method plain is not allowed; use S256",
            ));
        }
        Some(_) => return Err(invalid("code_challenge_method must be S256")),
        None => {
            return Err(invalid(
                "code_challenge_method is required and must be S256",
            ));
        }
    }
    if !is_pkce_value(challenge) {
        return Err(invalid(
            "code_challenge must be 43 to 128 characters of base64url",
        ));
    }
    let resource = tenant.address.resource();
    match params.get("resource") {
        Some(r) if r == resource => {}
        Some(_) => {
            return Err((
                "invalid_target",
                format!("resource must be this server's MCP URL, {resource}"),
            ));
        }
        None => {
            return Err((
                "invalid_target",
                format!("resource is required (RFC 8707): {resource}"),
            ));
        }
    }
    let scope = scopes::requested(params.get("scope"))
        .map_err(|unknown| ("invalid_scope", unknown.to_string()))?;
    let state = params.get("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(invalid("state is longer than 1024 characters"));
    }
    Ok(AuthorizationRequest {
        client_id: params.get("client_id").unwrap_or_default().to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        code_challenge: challenge.to_owned(),
        scope,
        resource,
    })
}
