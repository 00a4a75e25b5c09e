//! The approval page on the platform host: the person whose call a policy asked them to
//! approve opens the link their client showed, sees the call exactly as the tool will
//! receive it (its arguments as canonical JSON, invisible characters shown as their code
//! points, not rendered), and approves or denies it. The link's token is the key: it
//! went only to the caller's client, and is kept hashed. The rules are core's
//! (`guardrails::approvals`); this page parses and renders.

use axum::extract::{Form, Path, State};
use axum::response::Response;
use guidepost_core::guardrails::approvals::{self, APPROVE_PATH};
use guidepost_core::{CoreError, Platform};
use guidepost_domain::{ApprovalStatus, CallApproval, Timestamp, is_hidden_char};
use http::StatusCode;
use serde::Deserialize;

use crate::pages::{escape, html, layout, message_page};

const BRAND: &str = "Guidepost";

/// `GET /approve/{token}`: the call, and the two buttons.
async fn show(State(platform): State<Platform>, Path(token): Path<String>) -> Response {
    match approvals::by_token(&platform, &token).await {
        Ok(approval) => html(StatusCode::OK, page(&approval, &token)),
        Err(error) => failed(error),
    }
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
}

/// `POST /approve/{token}`: the person's decision.
async fn decide(
    State(platform): State<Platform>,
    Path(token): Path<String>,
    Form(form): Form<Decision>,
) -> Response {
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return message(StatusCode::BAD_REQUEST, "Choose approve or deny."),
    };
    match approvals::decide_by_token(&platform, &token, approve).await {
        Ok(decided) if decided.status == ApprovalStatus::Approved => message(
            StatusCode::OK,
            "Approved. Your agent may now make exactly this call, once; go back to it.",
        ),
        Ok(_) => message(
            StatusCode::OK,
            "Denied. The call will not run; your agent is told so if it tries again.",
        ),
        Err(error) => failed(error),
    }
}

fn page(approval: &CallApproval, token: &str) -> String {
    let state = match approval.status {
        ApprovalStatus::Pending if approval.expired(Timestamp::now()) => Some("It has expired."),
        ApprovalStatus::Pending => None,
        ApprovalStatus::Approved => Some("You approved it."),
        ApprovalStatus::Denied => Some("You denied it."),
        ApprovalStatus::Used => Some("It was approved, and has run."),
    };
    let reason = approval
        .reason
        .as_deref()
        .map(|reason| format!(": {}", escape(reason.trim_end_matches('.'))))
        .unwrap_or_default();
    let mut body = format!(
        "<p>An agent asks to call <code>{tool}</code> as {caller}. The organization's policy \
         <code>{policy}</code> asks you to approve this exact call{reason}.</p>\n\
         <dl><dt>Arguments, exactly as the tool receives them</dt>\
         <dd><pre id=\"arguments\"><code>{arguments}</code></pre></dd>\
         <dt>Expires</dt><dd>{expires}</dd></dl>\n",
        tool = escape(&approval.tool),
        caller = escape(&approval.caller_name),
        policy = escape(&approval.policy),
        arguments = shown(&approval.arguments),
        expires = escape(&approval.expires_at.to_rfc3339()),
    );
    match state {
        Some(state) => body.push_str(&format!("<p class=\"note\">{state}</p>\n")),
        None => body.push_str(&format!(
            "<form method=\"post\" action=\"{APPROVE_PATH}/{token}\">\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Approve this call</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
             </form>\n",
            token = escape(token),
        )),
    }
    layout("Approve a call?", BRAND, &body)
}

/// `text` for HTML, with every invisible character shown as its code point, so that what
/// the person approves is what the tool reads.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden_char(c) {
            out.push_str(&format!("<mark>U+{:04X}</mark>", c as u32));
        } else {
            out.push_str(&escape(c.encode_utf8(&mut [0; 4])));
        }
    }
    out
}

fn message(status: StatusCode, text: &str) -> Response {
    html(status, message_page("Approval", BRAND, text))
}

fn failed(error: CoreError) -> Response {
    match error {
        CoreError::NotFound => message(
            StatusCode::NOT_FOUND,
            "This approval link is not known: it may be mistyped.",
        ),
        CoreError::Conflict(refused) => message(StatusCode::CONFLICT, &refused),
        other => {
            tracing::error!(error = %other, "an approval page failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong. Please try again.",
            )
        }
    }
}

/// The approval routes, at the root of the platform host.
pub(crate) fn routes() -> axum::Router<Platform> {
    axum::Router::new().route(
        &format!("{APPROVE_PATH}/{{token}}"),
        axum::routing::get(show).post(decide),
    )
}
