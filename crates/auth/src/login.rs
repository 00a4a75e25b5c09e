//! The sign-in pages over a login session (`core::accounts::authorization::logins`): `email` →
//! `code` → `consent` → `done`, or `locked` after too many wrong codes. Each handler opens
//! the session for the browser that owns it (`browser.rs`), asks core for the step, and
//! answers with a page or a redirect.
//!
//! The email one-time code is the way to reach `consent` on `platform_oauth` servers. On
//! `custom_oauth` servers the organization's own OIDC provider is the only way
//! (`federation.rs`): the login page sends the browser there instead of asking for an
//! email, and the email and code forms are refused.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use guidepost_core::accounts::authorization::codes::{
    self, CODE_DIGITS, Checked, CodeToMail, Sending,
};
use guidepost_core::accounts::authorization::consent::{self, Decided};
use guidepost_domain::{AuthMode, Email, LoginSession, LoginStage};
use http::{HeaderMap, StatusCode};

use crate::AuthState;
use crate::back::Back;
use crate::browser::{
    Opened, START_AGAIN, conflict, csrf_token, failed, message, open, open_form, page_url, to_page,
    unopened_page,
};
use crate::email::CodeMail;
use crate::pages::{self, ConsentFacts, Form, error_page, html, redirect_target};
use crate::tenant::Tenant;
use crate::throttle::ClientIp;

/// The page of the session's current stage, with an error to show if any.
fn render(tenant: &Tenant, opened: &Opened, status: StatusCode, error: Option<&str>) -> Response {
    let session = &opened.session;
    let action_base = page_url(tenant, session);
    let csrf = csrf_token(&opened.secret);
    let form = Form {
        server_name: tenant.name(),
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
            // Client ids that are URLs are metadata documents (CIMD).
            let host = document_host(&request.client_id);
            let facts = ConsentFacts {
                client_name: session.client_name.as_deref(),
                client_id: &request.client_id,
                document_host: host.as_deref(),
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
fn codes_not_offered(tenant: &Tenant) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        tenant.name(),
        "This server signs people in through their organization's identity provider only.",
    )
}

fn too_many_codes(tenant: &Tenant, text: &str) -> Response {
    message(
        tenant,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many codes",
        text,
    )
}

/// `POST {issuer}/login/{id}/email` (`email`): mails a one-time code.
pub(crate) async fn submit_email(
    state: crate::State,
    tenant: Tenant,
    Path(path): Path<HashMap<String, String>>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !codes::offered(&tenant.server) {
        return codes_not_offered(&tenant);
    }
    let (mut opened, params) = match open_form(&state, &tenant, &path, &headers, &body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let email = params.get("email").unwrap_or_default();
    let sending = codes::send(
        &state.platform,
        &tenant.server,
        &opened.session,
        email,
        client_ip,
    )
    .await;
    match sending {
        Ok(Sending::Mail(to_mail)) => mail_code(&state, &tenant, *to_mail).await,
        Ok(Sending::InvalidEmail(error)) => {
            opened.session.stage = LoginStage::Email;
            let error = Some(error.message.as_str());
            render(&tenant, &opened, StatusCode::BAD_REQUEST, error)
        }
        Ok(Sending::TooManyForSignIn) => too_many_codes(
            &tenant,
            &format!("Too many codes were requested for this sign-in. {START_AGAIN}"),
        ),
        Ok(Sending::TooManyForAddress) => too_many_codes(
            &tenant,
            "Too many codes were sent to this address in the last hour. Try again later.",
        ),
        Ok(Sending::TooManyFromClient) => too_many_codes(
            &tenant,
            "Too many codes were asked for from your network in the last hour. Try again later.",
        ),
        Ok(Sending::TooManyForOrganization) => too_many_codes(
            &tenant,
            "This server's organization has sent as many sign-in codes as it may this hour. \
             Try again later.",
        ),
        Ok(Sending::NotAwaited) => to_page(&tenant, &opened.session),
        Ok(Sending::NotOffered) => codes_not_offered(&tenant),
        Ok(Sending::Conflict) => conflict(&tenant),
        Err(error) => failed(&error),
    }
}

async fn mail_code(state: &AuthState, tenant: &Tenant, to_mail: CodeToMail) -> Response {
    let mail = CodeMail {
        to: &to_mail.email,
        code: &to_mail.code,
        server_name: tenant.name(),
        valid_minutes: to_mail.valid_minutes,
    };
    if let Err(why) = state.mailer.send_code(&mail).await {
        let text =
            format!("We could not send the email ({why}). Wait a moment, then ask for a new code.");
        return message(
            tenant,
            StatusCode::SERVICE_UNAVAILABLE,
            "Email not sent",
            &text,
        );
    }
    to_page(tenant, &to_mail.session)
}

/// `POST {issuer}/login/{id}/code` (`code`): checks the one-time code; core counts every
/// guess and locks the session after the last one allowed.
pub(crate) async fn submit_code(
    state: crate::State,
    tenant: Tenant,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !codes::offered(&tenant.server) {
        return codes_not_offered(&tenant);
    }
    let (opened, params) = match open_form(&state, &tenant, &path, &headers, &body).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let typed = params.get("code").unwrap_or_default();
    let checked = codes::check(&state.platform, &tenant.server, opened.session, typed).await;
    let secret = opened.secret;
    let show = |session: LoginSession, status, error: Option<&str>| {
        let opened = Opened {
            session,
            secret: secret.clone(),
        };
        render(&tenant, &opened, status, error)
    };
    match checked {
        Ok(Checked::Accepted(session)) => to_page(&tenant, &session),
        Ok(Checked::Locked(session)) => show(session, StatusCode::FORBIDDEN, None),
        Ok(Checked::NotAwaited(session)) if session.stage == LoginStage::Locked => {
            show(session, StatusCode::FORBIDDEN, None)
        }
        Ok(Checked::NotAwaited(session)) => to_page(&tenant, &session),
        Ok(Checked::Expired(session)) => show(
            session,
            StatusCode::BAD_REQUEST,
            Some("That code expired. Ask for a new code below."),
        ),
        Ok(Checked::Wrong {
            session,
            attempts_left,
        }) => {
            let plural = if attempts_left == 1 { "" } else { "s" };
            let text = format!("That code is not right. {attempts_left} attempt{plural} left.");
            show(session, StatusCode::BAD_REQUEST, Some(&text))
        }
        Ok(Checked::NotOffered) => codes_not_offered(&tenant),
        Ok(Checked::Conflict) => conflict(&tenant),
        Ok(Checked::Unopened(unopened)) => unopened_page(&tenant, unopened),
        Err(error) => failed(&error),
    }
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
    // A decision posted at another stage shows that stage's page, whatever it says.
    if session.stage != LoginStage::Consent {
        return to_page(&tenant, session);
    }
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return render(&tenant, &opened, StatusCode::BAD_REQUEST, None),
    };
    let back = Back::to(&session.request, &tenant);
    match consent::decide(&state.platform, session, approve).await {
        Ok(Decided::Approved { code }) => back.code(&code),
        Ok(Decided::Denied) => back.error("access_denied", "the person denied access"),
        Ok(Decided::PersonUnknown) => {
            back.error("server_error", "the sign-in lost track of the person")
        }
        Ok(Decided::NotRecorded) => back.error(
            "server_error",
            "the authorization server failed; please retry",
        ),
        Ok(Decided::NotAwaited) => to_page(&tenant, session),
        Ok(Decided::Conflict) => conflict(&tenant),
        Err(error) => failed(&error),
    }
}

/// The host serving a client's metadata document, for a client id that is its URL.
fn document_host(client_id: &str) -> Option<String> {
    let url = url::Url::parse(client_id).ok()?;
    url.host_str().map(str::to_owned)
}
