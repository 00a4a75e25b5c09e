//! Errors in place, for every form: a refusal a person can fix re-renders the form's own
//! page (in the normal frame, with what they typed kept) with the message beside the
//! field, under its human name, and a summary at the top that links to it. Handlers turn
//! a core refusal into a [`FormError`] with [`FormError::refused`], render their page with
//! it and [`FormError::status`]; templates use the macros of `templates/form.html`.

use guidepost_core::CoreError;
use http::StatusCode;

use crate::field_label::label;
use crate::page::PageError;

/// How a form names its fields in the page: the prefix of its inputs' ids, and the field
/// a conflict (a name already taken, a guard) is about.
#[derive(Clone, Copy)]
pub(crate) struct FormSpec {
    /// Inputs' ids are `{prefix}-{field}` (dashes for underscores), or the field's own
    /// key when the prefix is empty.
    pub prefix: &'static str,
    pub conflict_field: &'static str,
}

/// Why a form was refused: which field, in words, and what to do.
#[derive(Debug, Clone)]
pub(crate) struct FormError {
    /// The field's name as the page shows it ("Custom domain", never `custom_domain`).
    pub label: String,
    pub message: String,
    /// The id of the field's input, which the summary links to.
    pub anchor: String,
    pub status: StatusCode,
}

impl FormError {
    /// A refusal on `field` of the form `spec`.
    pub fn new(
        spec: FormSpec,
        field: &str,
        message: impl Into<String>,
        status: StatusCode,
    ) -> Self {
        let base = field
            .split(['[', '.'])
            .next()
            .filter(|base| !base.is_empty())
            .unwrap_or(spec.conflict_field);
        let anchor = if spec.prefix.is_empty() {
            base.to_owned()
        } else {
            format!("{}-{}", spec.prefix, base.replace('_', "-"))
        };
        FormError {
            label: label(base),
            message: message.into(),
            anchor,
            status,
        }
    }

    /// The refusals a person can fix on the form (invalid input, a conflict such as a
    /// taken name or the last-owner guard) as a `FormError`; anything else stays a page
    /// error.
    pub fn refused(error: CoreError, spec: FormSpec) -> Result<Self, PageError> {
        match error {
            CoreError::Invalid(why) => Ok(Self::new(
                spec,
                why.field,
                why.message,
                StatusCode::UNPROCESSABLE_ENTITY,
            )),
            CoreError::Conflict(message) => Ok(Self::new(
                spec,
                spec.conflict_field,
                message,
                StatusCode::CONFLICT,
            )),
            other => Err(other.into()),
        }
    }

    /// A dashboard-side refusal ([`PageError::Invalid`]) the same way.
    pub fn of_page(error: PageError, spec: FormSpec) -> Result<Self, PageError> {
        match error {
            PageError::Invalid { field, message } => Ok(Self::new(
                spec,
                &field,
                message,
                StatusCode::UNPROCESSABLE_ENTITY,
            )),
            other => Err(other),
        }
    }

    /// Whether this error is about the input whose id is `input`.
    pub fn on(&self, input: &str) -> bool {
        self.anchor == input
    }
}

/// The error of a form page, if any; what templates ask.
#[derive(Debug, Clone, Default)]
pub(crate) struct Errors(pub Option<FormError>);

impl Errors {
    pub fn none() -> Self {
        Errors(None)
    }

    pub fn first(&self) -> Option<&FormError> {
        self.0.as_ref()
    }

    /// The error beside the input whose id is `input`, if it is about that input (two
    /// forms on a page may both have a `title` field; their inputs' ids differ).
    pub fn on(&self, input: &str) -> Option<&FormError> {
        self.0.as_ref().filter(|e| e.on(input))
    }

    /// The attributes of the input whose id is `input`: marked invalid and described by
    /// its message.
    pub fn attrs(&self, input: &str) -> String {
        match self.on(input) {
            Some(e) => format!(
                " aria-invalid=\"true\" aria-describedby=\"{}-error\"",
                e.anchor
            ),
            None => String::new(),
        }
    }

    /// The status of the page that shows them: 200 without an error.
    pub fn status(&self) -> StatusCode {
        self.0.as_ref().map_or(StatusCode::OK, |e| e.status)
    }
}

impl From<FormError> for Errors {
    fn from(error: FormError) -> Self {
        Errors(Some(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: FormSpec = FormSpec {
        prefix: "",
        conflict_field: "slug",
    };
    const KEY: FormSpec = FormSpec {
        prefix: "key",
        conflict_field: "name",
    };

    #[test]
    fn fields_are_named_in_words_and_linked_to_their_input() {
        let error = FormError::new(SERVER, "custom_domain", "is not a domain", StatusCode::OK);
        assert_eq!(error.label, "Custom domain");
        assert_eq!(error.anchor, "custom_domain");
        let error = FormError::new(KEY, "display_name", "is too long", StatusCode::OK);
        assert_eq!(error.label, "Display name");
        assert_eq!(error.anchor, "key-display-name");
        let nested = FormError::new(
            SERVER,
            "allowed_origins[2]",
            "is not an origin",
            StatusCode::OK,
        );
        assert_eq!(nested.anchor, "allowed_origins");
    }

    #[test]
    fn a_conflict_is_about_the_forms_conflict_field_and_other_errors_stay_pages() {
        let refused = FormError::refused(CoreError::Conflict("slug is taken".into()), SERVER);
        let refused = refused.unwrap();
        assert_eq!(
            (refused.anchor.as_str(), refused.status),
            ("slug", StatusCode::CONFLICT)
        );
        let errors = Errors::from(refused);
        assert!(errors.attrs("slug").contains("aria-invalid"));
        let errors = Errors::from(FormError::new(KEY, "name", "is empty", StatusCode::OK));
        assert!(errors.on("key-name").is_some() && errors.on("name").is_none());
        assert_eq!(errors.attrs("name"), "");
        assert!(FormError::refused(CoreError::NotFound, SERVER).is_err());
    }
}
