//! A handler that panics answers 500 with the API's problem document, its message logged
//! and counted as an internal error, instead of dropping the connection with no answer
//! (hyper would end the connection's task). A panic is a bug: the answer says nothing of
//! it but that it was logged.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use guidepost_api::ApiError;
use tower_http::catch_panic::CatchPanicLayer;

type Answer = fn(Box<dyn Any + Send + 'static>) -> Response;

/// The layer, innermost around the routes so that the panic is logged in its request's
/// span.
pub(crate) fn answer_panics() -> CatchPanicLayer<Answer> {
    CatchPanicLayer::custom(answer as Answer)
}

fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let said = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(a value that is not text)");
    ApiError::Internal(format!("a request's handler panicked: {said}").into()).into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::answer_panics;

    async fn text() -> &'static str {
        panic!("boom")
    }

    async fn formatted() -> &'static str {
        panic!("boom {}", 2)
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_a_problem() {
        let routes: Router = Router::new()
            .route("/text", get(text))
            .route("/formatted", get(formatted))
            .layer(answer_panics());
        for path in ["/text", "/formatted"] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let answer = routes.clone().oneshot(request).await.unwrap();
            assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            let kind = &answer.headers()[header::CONTENT_TYPE];
            assert_eq!(kind, "application/problem+json", "{path}");
            let body = axum::body::to_bytes(answer.into_body(), 4096)
                .await
                .unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains("it has been logged"), "{path}: {body}");
            assert!(
                !body.contains("boom"),
                "the panic's words stay in the log: {body}"
            );
        }
    }
}
