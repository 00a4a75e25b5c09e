//! The sign-in pages as a small state machine over a stored login session
//! (`LoginStage`): `email` → `code` → `consent` → `done`, or `locked` after too many wrong
//! codes. A session belongs to the browser holding its cookie; every form carries a CSRF
//! token derived from that cookie; every write is conditional on the revision it read,
//! so that concurrent posts (say, two guesses of a code) are each counted.
//!
//! The email one-time code is the way to reach `consent` on `platform_oauth` servers. On
//! `custom_oauth` servers the organization's own OIDC provider is the only way
//! (`federation.rs`): the login page sends the browser there instead of asking for an
//! email, and the email and code forms are refused.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use guidepost_core::authorization::{logins, tokens};
use guidepost_domain::{
    AuthMode, Email, LoginStage, NewAuthorizationCode, NewGrant, Timestamp, hash_secret,
    random_token,
};
use http::{HeaderMap, StatusCode};

use crate::back::{Back, server_name};
use crate::crypto::{CODE_DIGITS, constant_time_eq, csrf_token, one_time_code, one_time_code_hash};
use crate::email::CodeMail;
use crate::login_session::{
    Opened, START_AGAIN, conflict, message, open, open_form, page_url, save, to_page,
};
use crate::pages::{self, ConsentFacts, Form, error_page, html};
use crate::redirect_uris::redirect_target;
use crate::tenant::Tenant;
/// How long a mailed code is good for.
const CODE_TTL_SECS: i64 = 10 * 60;

/// Wrong codes before the login session locks.
const MAX_ATTEMPTS: i64 = 5;

/// Codes one login session may have mailed.
const MAX_CODES_PER_SESSION: i64 = 3;

/// Codes one address may be sent per hour, over all login sessions of an organization.
const MAX_CODES_PER_EMAIL_HOUR: i64 = 10;

/// How long an authorization code is good for.
const AUTH_CODE_TTL_SECS: i64 = 120;

/// The page of the session's current stage, with an error to show if any.
fn render(tenant: &Tenant, opened: &Opened, status: StatusCode, error: Option<&str>) -> Response {
    let session = &opened.session;
    let name = server_name(tenant);
    let action_base = page_url(tenant, session);
    let csrf = csrf_token(&opened.secret);
    let form = Form {
        server_name: &name,
        action_base: &action_base,
        csrf_token: &csrf,
    };
    let email = session
        .email
        .as_ref()
        .map(Email::as_str)
        .unwrap_or_default();
    let page = match session.stage {
        LoginStage::Email => pages::email_page(&form, error, email),
        LoginStage::Code => pages::code_page(&form, email, error, CODE_DIGITS),
        LoginStage::Consent => {
            let request = &session.request;
            let facts = ConsentFacts {
                client_name: session.client_name.as_deref(),
                client_id: &request.client_id,
                // Client ids that are URLs are metadata documents (CIMD).
                name_is_verified: request.client_id.contains("://"),
                redirect_target: &redirect_target(&request.redirect_uri),
                email,
            };
            pages::consent_page(&form, &facts)
        }
        // A server switched away from custom_oauth while this person was at the provider:
        // start over by email.
        LoginStage::Upstream => pages::email_page(&form, error, email),
        LoginStage::Locked => {
            let text = format!("Too many wrong codes: this sign-in is locked. {START_AGAIN}");
            return message(tenant, StatusCode::FORBIDDEN, "Sign-in locked", &text);
        }
        LoginStage::Done => {
            return message(
                tenant,
                StatusCode::OK,
                "All done",
                "You can close this window and return to your app.",
            );
        }
    };
    html(status, page)
}

/// `GET {issuer}/login/{id}`: the page of the current stage.
pub(crate) async fn page(
    state: crate::State,
    tenant: Tenant,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match open(&state, &tenant, &path, &headers).await {
        Ok(opened) => {
            let at_start = matches!(
                opened.session.stage,
                LoginStage::Email | LoginStage::Upstream
            );
            if tenant.server.auth_mode == AuthMode::CustomOauth && at_start {
                return crate::federation::start(&state, &tenant, opened).await;
            }
            render(&tenant, &opened, StatusCode::OK, None)
        }
        Err(response) => response,
    }
}

/// On `custom_oauth` servers only the organization's provider proves who someone is: the
/// email and code forms do not exist there.
fn email_sign_in_refused(tenant: &Tenant) -> Option<Response> {
    (tenant.server.auth_mode == AuthMode::CustomOauth).then(|| {
        error_page(
            StatusCode::NOT_FOUND,
            &server_name(tenant),
            "This server signs people in through their organization's identity provider only.",
        )
    })
}

/// `POST {issuer}/login/{id}/email` (`email`): mails a one-time code.
pub(crate) async fn submit_email(
    state: crate::State,
    tenant: Tenant,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = email_sign_in_refused(&tenant) {
        return refused;
    }
    let (mut opened, params) = match open_form(&state, &tenant, &path, &headers, &body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let stage = opened.session.stage;
    if !matches!(
        stage,
        LoginStage::Email | LoginStage::Code | LoginStage::Upstream
    ) {
        return to_page(&tenant, &opened.session);
    }
    let email = match Email::parse(params.get("email").unwrap_or_default()) {
        Ok(email) => email,
        Err(error) => {
            opened.session.stage = LoginStage::Email;
            return render(
                &tenant,
                &opened,
                StatusCode::BAD_REQUEST,
                Some(&error.message),
            );
        }
    };
    let session = &opened.session;
    if session.codes_sent >= MAX_CODES_PER_SESSION {
        let text = format!("Too many codes were requested for this sign-in. {START_AGAIN}");
        return message(
            &tenant,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many codes",
            &text,
        );
    }
    let now = Timestamp::now();
    let server = &tenant.server;
    let since = now.plus_seconds(-3600);
    let sent = logins::codes_sent_since(&state.platform, &server.org_id, &email, since).await;
    match sent {
        Ok(count) if count >= MAX_CODES_PER_EMAIL_HOUR => {
            let text =
                "Too many codes were sent to this address in the last hour. Try again later.";
            return message(
                &tenant,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many codes",
                text,
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::error!(%error, "could not count sign-in codes");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let code = one_time_code();
    let mut next = session.clone();
    next.stage = LoginStage::Code;
    next.upstream_salt = None;
    next.email = Some(email.clone());
    next.code_hash = Some(one_time_code_hash(session.id.as_str(), &code));
    next.code_expires_at = Some(now.plus_seconds(CODE_TTL_SECS));
    next.codes_sent += 1;
    let saved = match save(&state, &next).await {
        Ok(Some(saved)) => saved,
        Ok(None) => return conflict(&tenant),
        Err(response) => return response,
    };
    let name = server_name(&tenant);
    let mail = CodeMail {
        to: &email,
        code: &code,
        server_name: &name,
        valid_minutes: CODE_TTL_SECS / 60,
    };
    if let Err(why) = state.mailer.send_code(&mail).await {
        let text =
            format!("We could not send the email ({why}). Wait a moment, then ask for a new code.");
        return message(
            &tenant,
            StatusCode::SERVICE_UNAVAILABLE,
            "Email not sent",
            &text,
        );
    }
    to_page(&tenant, &saved)
}

/// `POST {issuer}/login/{id}/code` (`code`): checks the one-time code. At most
/// `MAX_ATTEMPTS` guesses per login session, then it locks.
pub(crate) async fn submit_code(
    state: crate::State,
    tenant: Tenant,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = email_sign_in_refused(&tenant) {
        return refused;
    }
    let (mut opened, params) = match open_form(&state, &tenant, &path, &headers, &body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let typed: String = params
        .get("code")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    for _ in 0..5 {
        let session = &opened.session;
        if session.stage != LoginStage::Code {
            return match session.stage {
                LoginStage::Locked => render(&tenant, &opened, StatusCode::FORBIDDEN, None),
                _ => to_page(&tenant, session),
            };
        }
        let now = Timestamp::now();
        let attempts = session.code_attempts + 1;
        let expired = session.code_expires_at.is_none_or(|t| t <= now);
        let hash = one_time_code_hash(session.id.as_str(), &typed);
        let right = !expired
            && session.code_attempts < MAX_ATTEMPTS
            && session
                .code_hash
                .as_deref()
                .is_some_and(|h| constant_time_eq(h.as_bytes(), hash.as_bytes()));
        let mut next = session.clone();
        next.code_attempts = attempts;
        if right {
            let email = session.email.clone().expect("a code was sent to an email");
            let server = &tenant.server;
            match logins::person(&state.platform, &server.org_id, &email).await {
                Ok(person) => next.end_user_id = Some(person.id),
                Err(error) => {
                    tracing::error!(%error, "could not record a signed-in person");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            }
            next.stage = LoginStage::Consent;
            next.code_hash = None;
        } else if attempts >= MAX_ATTEMPTS {
            next.stage = LoginStage::Locked;
            next.code_hash = None;
        }
        match save(&state, &next).await {
            Ok(Some(saved)) => {
                opened.session = saved;
                let session = &opened.session;
                return match session.stage {
                    LoginStage::Consent => to_page(&tenant, session),
                    LoginStage::Locked => {
                        metrics::counter!("guidepost_oauth_logins_locked_total").increment(1);
                        render(&tenant, &opened, StatusCode::FORBIDDEN, None)
                    }
                    _ if expired => render(
                        &tenant,
                        &opened,
                        StatusCode::BAD_REQUEST,
                        Some("That code expired. Ask for a new code below."),
                    ),
                    _ => {
                        let left = MAX_ATTEMPTS - session.code_attempts;
                        let text = format!(
                            "That code is not right. {left} attempt{} left.",
                            if left == 1 { "" } else { "s" }
                        );
                        render(&tenant, &opened, StatusCode::BAD_REQUEST, Some(&text))
                    }
                };
            }
            // Someone else wrote first (another guess): read again and count this one too.
            Ok(None) => match open(&state, &tenant, &path, &headers).await {
                Ok(again) => opened = again,
                Err(response) => return response,
            },
            Err(response) => return response,
        }
    }
    conflict(&tenant)
}

/// `POST {issuer}/login/{id}/consent` (`decision` = `approve` | `deny`): sends the
/// browser back to the client with a code or `access_denied`.
pub(crate) async fn submit_consent(
    state: crate::State,
    tenant: Tenant,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (opened, params) = match open_form(&state, &tenant, &path, &headers, &body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let session = &opened.session;
    if session.stage != LoginStage::Consent {
        return to_page(&tenant, session);
    }
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return render(&tenant, &opened, StatusCode::BAD_REQUEST, None),
    };
    let mut next = session.clone();
    next.stage = LoginStage::Done;
    match save(&state, &next).await {
        Ok(Some(_)) => {}
        Ok(None) => return conflict(&tenant),
        Err(response) => return response,
    }
    let request = &session.request;
    let back = Back {
        redirect_uri: &request.redirect_uri,
        state: request.state.as_deref(),
        issuer: tenant.address.issuer(),
    };
    if !approve {
        return back.error("access_denied", "the person denied access");
    }
    let Some(person) = session.end_user_id.clone() else {
        return back.error("server_error", "the sign-in lost track of the person");
    };
    let code = random_token("gpc_");
    let grant = NewGrant {
        org_id: session.org_id.clone(),
        server_id: session.server_id.clone(),
        client_id: request.client_id.clone(),
        end_user_id: person,
        scope: request.scope.clone(),
        resource: request.resource.clone(),
    };
    let now = Timestamp::now();
    let new_code = NewAuthorizationCode {
        code_hash: hash_secret(&code),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        expires_at: now.plus_seconds(AUTH_CODE_TTL_SECS),
    };
    if let Err(error) = tokens::approve(&state.platform, &grant, &new_code).await {
        tracing::error!(%error, "could not record a grant");
        return back.error(
            "server_error",
            "the authorization server failed; please retry",
        );
    }
    metrics::counter!("guidepost_oauth_grants_total").increment(1);
    back.code(&code)
}
