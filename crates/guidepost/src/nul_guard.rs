//! A request whose path or query holds a NUL character (`%00`) is refused before anything
//! reads it. No name, id or filter the platform takes may hold one, and PostgreSQL refuses
//! it in a text parameter: a filter or a name that carried one to the store would answer
//! 500 (and count as a failure of the store, which alerts) instead of saying what is wrong.
//! One check here covers every route: the API's, the dashboard's, the registry's, MCP's.

use axum::extract::Request;
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub(crate) async fn refuse_nul(request: Request, next: Next) -> Response {
    if holds_nul(request.uri()) {
        return refusal();
    }
    next.run(request).await
}

/// Whether the path or query, percent-decoded, would hold a NUL (`%00`, any case of the
/// digits being the same). `%2500` is the text `%00`, not a NUL, and passes.
fn holds_nul(uri: &Uri) -> bool {
    let text = uri.path_and_query().map_or("", |pq| pq.as_str());
    text.as_bytes().windows(3).any(|w| w == b"%00")
}

fn refusal() -> Response {
    let problem = serde_json::json!({
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The URL holds a NUL character (%00), which no path, id or parameter may hold",
    });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/problem+json")],
        problem.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_encoded_nul_is_refused() {
        let holds = |text: &str| holds_nul(&text.parse::<Uri>().unwrap());
        assert!(holds("/api/v1/tool-calls?tool_name=%00"));
        assert!(holds("/api/v1/upstreams/us_1/tools/a%00b/approve"));
        assert!(holds("/v0.1/servers?search=x%00"));
        assert!(!holds("/v0.1/servers?search=%2500"), "the text %00");
        assert!(!holds("/v0.1/servers?search=100%25"));
        assert!(!holds("/api/v1/servers?limit=100"));
    }
}
