//! Errors as pages: every refusal and failure a person can meet, with the status that
//! says what happened and a message that says what to do.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use guidepost_core::CoreError;
use http::StatusCode;

use crate::assets;
use crate::section::Section;

#[derive(Debug)]
pub(crate) enum PageError {
    NotFound,
    Forbidden(String),
    Invalid { field: String, message: String },
    Conflict(String),
    CrossOrigin,
    FormToken,
    BadForm(String),
    TooLarge,
    Internal,
}

impl From<CoreError> for PageError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::NotFound => PageError::NotFound,
            CoreError::Forbidden(message) => PageError::Forbidden(message),
            CoreError::Invalid(v) => PageError::Invalid {
                field: v.field.to_string(),
                message: v.message,
            },
            CoreError::Conflict(message) => PageError::Conflict(message),
            CoreError::Store(error) => {
                tracing::error!(%error, "the dashboard could not reach the store");
                PageError::Internal
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
    /// The field the message is about, in words.
    field: Option<String>,
    assets: &'static str,
    /// The main navigation, so that an error is never a dead end.
    sections: [Section; 9],
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message, field) = match self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it belongs to another organization.".to_owned(),
                None,
            ),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message, None),
            PageError::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please correct this",
                message,
                Some(field),
            ),
            PageError::Conflict(message) => {
                (StatusCode::CONFLICT, "That did not work", message, None)
            }
            PageError::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was sent from another site, so it was not accepted.".to_owned(),
                None,
            ),
            PageError::FormToken => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form is from an older session. Go back, reload the page and try again."
                    .to_owned(),
                None,
            ),
            PageError::BadForm(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please correct this",
                format!("The form could not be read: {detail}."),
                None,
            ),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                format!("A form may carry at most {} KiB.", crate::BODY_LIMIT / 1024),
                None,
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The dashboard could not do that just now. Try again in a moment.".to_owned(),
                None,
            ),
        };
        let page = ErrorPage {
            title,
            message,
            field: field.map(|key| crate::field_label::label(&key)),
            assets: assets::prefix(),
            sections: Section::ALL,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

pub(crate) async fn not_found() -> PageError {
    PageError::NotFound
}
