//! Extractors whose rejections are problem documents. axum's own extractors reject with
//! plain text, which clients of a problem+json API should never have to parse.

use std::error::Error as _;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use guidepost_domain::{Id, IdKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON body in, or a JSON body out.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(body_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn body_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::TooLarge;
    }
    let cause = rejection
        .source()
        .map(ToString::to_string)
        .unwrap_or_else(|| rejection.body_text());
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::Invalid(vec![field_error("body", &cause)]),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::Malformed(format!("The request body is not valid JSON: {cause}"))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        _ => ApiError::Malformed(format!("The request body could not be read: {cause}")),
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let cause = rejection
        .source()
        .map(ToString::to_string)
        .unwrap_or_else(|| rejection.body_text());
    ApiError::Invalid(vec![field_error("query", &cause)])
}

/// The `{id}` of a path, parsed as an `Id<K>`. An id that cannot be one names no
/// object: 404, like an id of another organization.
pub struct IdPath<T>(pub T);

impl<K: IdKind + Send + Sync, S: Send + Sync> FromRequestParts<S> for IdPath<Id<K>> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        Id::parse(&raw).map(IdPath).ok_or(ApiError::NotFound)
    }
}

/// Two ids of a path such as `/servers/{id}/walkthroughs/{walkthrough_id}`, in order;
/// 404 when either cannot be an id of its kind.
impl<A, B, S> FromRequestParts<S> for IdPath<(Id<A>, Id<B>)>
where
    A: IdKind + Send + Sync,
    B: IdKind + Send + Sync,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((first, second)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        match (Id::parse(&first), Id::parse(&second)) {
            (Some(first), Some(second)) => Ok(IdPath((first, second))),
            _ => Err(ApiError::NotFound),
        }
    }
}

/// Three ids of a path such as `/end-users/{id}/progress/{server_id}/{walkthrough_id}`,
/// in order; 404 when any cannot be an id of its kind.
impl<A, B, C, S> FromRequestParts<S> for IdPath<(Id<A>, Id<B>, Id<C>)>
where
    A: IdKind + Send + Sync,
    B: IdKind + Send + Sync,
    C: IdKind + Send + Sync,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((first, second, third)) =
            Path::<(String, String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        match (Id::parse(&first), Id::parse(&second), Id::parse(&third)) {
            (Some(first), Some(second), Some(third)) => Ok(IdPath((first, second, third))),
            _ => Err(ApiError::NotFound),
        }
    }
}

/// An optional id from the query string, such as a filter; a malformed one is invalid input.
pub(crate) fn query_id<K: IdKind>(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<Id<K>>, ApiError> {
    raw.map(|text| {
        Id::parse(text)
            .ok_or_else(|| ApiError::invalid(field, format!("is not a valid `{}_…` id", K::PREFIX)))
    })
    .transpose()
}

/// Names the field of a deserialization error. serde reports `path: message` when the
/// error is inside a field, and names missing and unknown fields in backticks.
fn field_error(fallback: &str, text: &str) -> FieldError {
    let (path, message) = match text.split_once(": ") {
        Some((path, message)) if is_path(path) => (Some(path), message),
        _ => (None, text),
    };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let field = match (path, named) {
        // An unknown field's path already ends with it; a missing one's is its container.
        (Some(path), Some(name)) if path == name || path.ends_with(&format!(".{name}")) => {
            path.to_owned()
        }
        (Some(path), Some(name)) => format!("{path}.{name}"),
        (Some(path), None) => path.to_owned(),
        (None, Some(name)) => name.to_owned(),
        (None, None) => fallback.to_owned(),
    };
    FieldError::new(field, message)
}

fn is_path(text: &str) -> bool {
    !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || c == '`')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_the_field() {
        let cases = [
            (
                "auth_mode: unknown variant `x`, expected `none` at line 1 column 9",
                "auth_mode",
            ),
            (
                "unknown field `colour`, expected one of `name`, `slug` at line 1 column 9",
                "colour",
            ),
            (
                "colour: unknown field `colour`, expected one of `name`, `slug`",
                "colour",
            ),
            ("steps[1]: missing field `title`", "steps[1].title"),
            ("missing field `slug` at line 1 column 14", "slug"),
            (
                "allowed_origins[0]: invalid type: integer `1`, expected a string",
                "allowed_origins[0]",
            ),
            ("invalid type: map, expected a string", "body"),
        ];
        for (text, field) in cases {
            assert_eq!(field_error("body", text).field, field, "{text}");
        }
    }

    #[test]
    fn the_message_keeps_serdes_words() {
        let error = field_error("body", "auth_mode: unknown variant `x`, expected `none`");
        assert_eq!(error.message, "unknown variant `x`, expected `none`");
    }
}
