//! A request whose path or query holds a NUL character (`%00`) is refused before anything
//! reads it. No name, id or filter the platform takes may hold one, and PostgreSQL refuses
//! it in a text parameter: a filter or a name that carried one to the store would answer
//! 500 (and count as a failure of the store, which alerts) instead of saying what is wrong.
//! One check here covers every route: the API's, the dashboard's, the registry's, MCP's.
//!
//! The answers are the API's own for such input: a path that holds one names nothing
//! (404, as an id that cannot be one), and a query parameter that holds one is invalid
//! (422, naming the query).

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use guidepost_api::ApiError;

pub(crate) async fn refuse_nul(request: Request, next: Next) -> Response {
    match nul_in(request.uri()) {
        Some(Place::Path) => ApiError::NoRoute.into_response(),
        Some(Place::Query) => ApiError::invalid(
            "query",
            "a query parameter holds a NUL character (%00), which no parameter may hold",
        )
        .into_response(),
        None => next.run(request).await,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Place {
    Path,
    Query,
}

/// Where the path or query, percent-decoded, would hold a NUL: `%00` (digits have no
/// case). `%2500` is the text `%00`, not a NUL, and passes.
fn nul_in(uri: &Uri) -> Option<Place> {
    let holds = |text: &str| text.as_bytes().windows(3).any(|w| w == b"%00");
    if holds(uri.path()) {
        Some(Place::Path)
    } else if uri.query().is_some_and(holds) {
        Some(Place::Query)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_encoded_nul_is_refused_and_its_place_named() {
        let place = |text: &str| nul_in(&text.parse::<Uri>().unwrap());
        assert_eq!(
            place("/api/v1/tool-calls?tool_name=%00"),
            Some(Place::Query)
        );
        assert_eq!(
            place("/api/v1/upstreams/us_1/tools/a%00b/approve"),
            Some(Place::Path)
        );
        assert_eq!(place("/v0.1/servers?search=x%00"), Some(Place::Query));
        assert_eq!(place("/v0.1/servers?search=%2500"), None, "the text %00");
        assert_eq!(place("/v0.1/servers?search=100%25"), None);
        assert_eq!(place("/api/v1/servers?limit=100"), None);
    }
}
