//! Session-era sessions that `initialize` opens: the bound on what one stores, and the
//! stored session that lets any node continue it (rmcp replays the stored `initialize`
//! params on a node that does not hold the session, `session_store`).

use guidepost_core::{Platform, hosting::sessions};
use guidepost_domain::{Limits, NewSession, prefix_chars, without_nul};
use http::StatusCode;
use serde_json::Value;

use crate::jsonrpc::{self, Inbound, Refusal};
use crate::scope::RequestScope;
use crate::surface;

/// Refuses an `initialize` whose params, which its session stores, are longer than
/// [`Limits::INITIALIZE_PARAMS`] as JSON: without the bound, each `initialize` could
/// store a whole body (a megabyte) in the store until the session expires.
pub(crate) fn check_size(initialize: &Inbound) -> Result<(), Refusal> {
    let limit = Limits::INITIALIZE_PARAMS;
    if json_length_up_to(&initialize.params, limit) <= limit {
        return Ok(());
    }
    let message = format!(
        "initialize params are larger than the limit of {limit} bytes (as JSON); \
         send a shorter clientInfo and fewer experimental capabilities"
    );
    Err(Refusal::new(
        StatusCode::BAD_REQUEST,
        initialize.id.clone(),
        jsonrpc::INVALID_PARAMS,
        message,
    ))
}

/// The length of `value` as compact JSON, counted without writing it out; past `limit`
/// the count stops (at some length above it).
fn json_length_up_to(value: &Value, limit: usize) -> usize {
    struct Counter {
        length: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.length += buf.len();
            if self.length > self.limit {
                return Err(std::io::ErrorKind::FileTooLarge.into());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { length: 0, limit };
    // Stops with an error once past the limit: the length counted so far says so.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.length
}

/// Stores a session that rmcp has just opened, so that any node can continue it. This
/// runs before the response reaches the client, so no follow-up request can arrive first.
pub(crate) async fn remember(
    platform: &Platform,
    scope: &RequestScope,
    inbound: &Inbound,
    transport_id: &str,
    stored_per_ip: u32,
) {
    if let Err(error) = store_session(platform, scope, inbound, transport_id).await {
        tracing::error!(%error, "could not store a new MCP session");
        return;
    }
    if let Some(prefix) = scope.client_ip {
        match sessions::keep_newest_of_client(platform, &prefix.to_string(), stored_per_ip).await {
            Ok(0) => {}
            Ok(forgotten) => {
                metrics::counter!("guidepost_mcp_sessions_forgotten_total").increment(forgotten)
            }
            Err(error) => {
                tracing::warn!(%error, "could not bound the sessions of a client address")
            }
        }
    }
}

async fn store_session(
    platform: &Platform,
    scope: &RequestScope,
    inbound: &Inbound,
    transport_id: &str,
) -> Result<(), guidepost_core::CoreError> {
    // The session's end user: the signed-in person. A tracking id's end user is written
    // on the first call that needs one, not here (initialize alone grows no
    // end-user rows).
    let end_user_id = scope.token.as_ref().map(|t| t.end_user.id.clone());
    let client = inbound.params.get("clientInfo");
    let client_text = |key: &str| {
        client
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
            .map(|s| without_nul(prefix_chars(s, Limits::CLIENT_INFO)).into_owned())
    };
    let session = NewSession {
        transport_id: transport_id.to_owned(),
        org_id: scope.server.org_id.clone(),
        server_id: scope.server.id.clone(),
        end_user_id,
        client_name: client_text("name"),
        client_version: client_text("version"),
        protocol_version: Some(surface::negotiated_version(
            inbound
                .params
                .get("protocolVersion")
                .and_then(Value::as_str),
        )),
        transport_state: inbound.params.to_string(),
        client_prefix: scope.client_ip.map(|ip| ip.to_string()),
    };
    sessions::open(platform, &session).await?;
    metrics::counter!("guidepost_mcp_sessions_created_total").increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_is_measured_up_to_just_past_the_limit() {
        let small = json!({"clientInfo": {"name": "é"}});
        assert_eq!(json_length_up_to(&small, 100), small.to_string().len());
        let large = json!({"pad": "x".repeat(10_000)});
        assert!(json_length_up_to(&large, 100) > 100);
        let at_the_limit = json!("x".repeat(98));
        assert_eq!(json_length_up_to(&at_the_limit, 100), 100);
    }
}
