//! Errors as RFC 9457 problem documents (`application/problem+json`). Every failure of the
//! API, including rejected bodies, queries and unknown routes, becomes an [`ApiError`], and
//! this file is the one place that turns those into responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use guidepost_core::CoreError;
use guidepost_domain::ValidationError;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status code carries the meaning.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The status code's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, for a person to read.
    pub detail: String,
    /// For invalid input: each field and what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name, or its path in the body (`allowed_origins[2]`); `body` or `query`
    /// when the error is not about one field.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a request failed, in terms of HTTP.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("A valid API key is required: send `Authorization: Bearer gp_…`.")]
    Unauthorized,
    #[error("The requested object does not exist in this organization.")]
    NotFound,
    #[error("No such endpoint; the API is described at /api/v1/openapi.json.")]
    NoRoute,
    #[error("This endpoint does not support this method.")]
    MethodNotAllowed,
    #[error("The request is invalid: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// The body is not JSON at all.
    #[error("{0}")]
    Malformed(String),
    #[error("The request body must be JSON, sent with `Content-Type: application/json`.")]
    UnsupportedMediaType,
    #[error(
        "The request body is larger than the limit of {} bytes.",
        crate::BODY_LIMIT
    )]
    TooLarge,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// A failure of ours; the cause is logged, never shown.
    #[error("The server could not complete the request; it has been logged.")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

fn describe(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    parts.join("; ")
}

impl ApiError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors: match self {
                ApiError::Invalid(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::NotFound => ApiError::NotFound,
            CoreError::Invalid(invalid) => invalid.into(),
            CoreError::Conflict(message) => ApiError::Conflict(message),
            CoreError::Forbidden(message) => ApiError::Forbidden(message),
            CoreError::Store(store) => ApiError::Internal(store),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::invalid(error.field, error.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = %cause, "management API request failed");
        }
        metrics::counter!("guidepost_api_errors_total", "status" => status.as_str().to_owned())
            .increment(1);
        let body =
            serde_json::to_vec(&self.problem()).expect("a problem document always serializes");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The fallback for paths under `/api/v1` that match no route.
pub(crate) async fn no_route() -> ApiError {
    ApiError::NoRoute
}

/// The fallback for known paths called with a method they do not support.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_are_hidden_behind_a_generic_detail() {
        let cause = std::io::Error::other("postgres://user:secret@db");
        let error = ApiError::from(CoreError::Store(Box::new(cause)));
        let problem = error.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("secret"), "{}", problem.detail);
    }

    #[test]
    fn core_errors_map_to_their_statuses() {
        let cases = [
            (ApiError::from(CoreError::NotFound), 404),
            (
                ApiError::from(CoreError::Conflict("slug is already taken".into())),
                409,
            ),
            (ApiError::from(CoreError::Forbidden("no".into())), 403),
            (
                ApiError::from(CoreError::Invalid(ValidationError::new("slug", "bad"))),
                422,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
        }
    }

    #[test]
    fn validation_errors_name_their_field() {
        let problem = ApiError::from(ValidationError::new("slug", "must be short")).problem();
        assert_eq!(
            problem.errors,
            vec![FieldError::new("slug", "must be short")]
        );
    }
}
