//! Asking the person behind a request to open a link of the platform host (to connect an
//! account, to approve a call) by URL-mode elicitation, where their client opens URLs
//! (`elicitation.url`): the session era's `URLElicitationRequiredError`, or the
//! 2026-07-28 era's `input_required` round. The client's retry is a request afresh, which
//! finds the thing done or asks again. Clients that open no URLs get a tool error with
//! the link in its text instead (the caller's business).

use rmcp::model::{ErrorCode, InputRequiredResult};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

/// The MCP error code of `URLElicitationRequiredError` (2025-11-25).
const URL_ELICITATION_REQUIRED: i32 = -32042;

/// What the link is for.
pub(crate) struct Asking<'a> {
    pub url: &'a str,
    /// What the client shows the person.
    pub message: String,
    /// The error's text, as a tool error would say it.
    pub text: String,
    /// The elicitation id's prefix (`conn_`, `apr_`).
    pub id_prefix: &'static str,
    /// The round's `requestState` prefix: opaque to the client, not a task's.
    pub state_prefix: &'static str,
}

/// A URL elicitation ready to be sent one way or the other.
pub(crate) struct UrlElicitation {
    text: String,
    params: Value,
    state_prefix: &'static str,
}

impl UrlElicitation {
    /// `asking` as a URL elicitation, if the request's client opens URLs.
    pub(crate) fn offered(
        request: &RequestContext<RoleServer>,
        asking: Asking<'_>,
    ) -> Option<Self> {
        let opens_urls = request
            .client_capabilities()
            .is_some_and(|c| c.elicitation.as_ref().is_some_and(|e| e.url.is_some()));
        if !opens_urls {
            return None;
        }
        let params = json!({
            "mode": "url",
            "elicitationId": guidepost_domain::random_token(asking.id_prefix),
            "url": asking.url,
            "message": asking.message,
        });
        Some(Self {
            text: asking.text,
            params,
            state_prefix: asking.state_prefix,
        })
    }

    /// The elicitation's id, which its completion notification names.
    pub(crate) fn id(&self) -> Option<&str> {
        self.params["elicitationId"].as_str()
    }

    /// The session era's `URLElicitationRequiredError`.
    pub(crate) fn error(self) -> ErrorData {
        let data = json!({"elicitations": [self.params]});
        ErrorData::new(ErrorCode(URL_ELICITATION_REQUIRED), self.text, Some(data))
    }

    /// The 2026-07-28 era's `input_required` round with one `elicitation/create`.
    pub(crate) fn round(self) -> InputRequiredResult {
        let key = self.state_prefix.trim_end_matches(':');
        let requests = json!({
            key: {"method": "elicitation/create", "params": self.params}
        });
        let state = format!(
            "{}{}",
            self.state_prefix,
            guidepost_domain::random_token("")
        );
        let requests = serde_json::from_value(requests).ok();
        InputRequiredResult::new(requests, Some(state))
    }
}
