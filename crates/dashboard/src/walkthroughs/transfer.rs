//! A walkthrough as one JSON file in the browser: `GET …/{id}/export` downloads
//! its draft (`content::to_json`: the fields of the content-as-code directory, the steps in
//! order), and `POST /app/walkthroughs/import` uploads such a file and imports it under a
//! key, as `guidepost walkthrough import` does with a directory: a new key creates the
//! walkthrough, a key used before updates that one. A refused file comes back beside the
//! file input on the list page, with the key kept.

use axum::extract::State;
use axum::response::IntoResponse;
use guidepost_core::walkthroughs::content;
use guidepost_core::{CoreError, Permission};
use guidepost_domain::*;
use http::{StatusCode, header};

use super::{ImportState, editor_path, list_page};
use crate::Dashboard;
use crate::form::{Errors, FormError};
use crate::page::{self, IdPath, ListQuery, Notice, PageResult};
use crate::session::Signed;
use crate::upload::{SignedUpload, Upload};

/// `GET /app/walkthroughs/{id}/export`: the draft as `{slug of the title}.json`.
pub(crate) async fn export(
    State(app): State<Dashboard>,
    signed: Signed,
    IdPath(id): IdPath<WalkthroughId>,
) -> PageResult {
    let source = content::export(&app.platform, signed.caller(), &id).await?;
    let disposition = format!(
        "attachment; filename=\"{}.json\"",
        content::slugify(&source.title)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        content::to_json(&source),
    )
        .into_response())
}

/// `POST /app/walkthroughs/import` (multipart): `file`, and an optional `key` (the file's
/// name without `.json` when blank).
pub(crate) async fn import(State(app): State<Dashboard>, upload: SignedUpload) -> PageResult {
    upload.signed.caller().require(Permission::Edit)?;
    let (signed, upload) = upload.checked()?;
    let key = upload.text("key").trim().to_owned();
    match imported(&app, &signed, &upload, &key).await? {
        Ok(report) => {
            let notice = if report.created {
                Notice::Created
            } else {
                Notice::Saved
            };
            Ok(page::done(&editor_path(&report.walkthrough_id), notice))
        }
        Err(error) => {
            let state = ImportState {
                key,
                errors: Errors::from(error),
            };
            let (form, errors) = Default::default();
            list_page(&app, &signed, &ListQuery::default(), form, errors, state).await
        }
    }
}

/// The import's report, or why the form is refused (a store failure stays a page error).
async fn imported(
    app: &Dashboard,
    signed: &Signed,
    upload: &Upload,
    key: &str,
) -> Result<Result<content::ImportReport, FormError>, crate::page::PageError> {
    let file = match upload {
        Upload::TooLarge => {
            let limit = content::MAX_JSON_BYTES / 1024;
            let why = format!("is larger than {limit} KiB; split the walkthrough or use the API");
            return Ok(Err(refused("file", why, StatusCode::PAYLOAD_TOO_LARGE)));
        }
        Upload::Parts(_) => upload.part("file").filter(|f| !f.data.is_empty()),
    };
    let Some(file) = file else {
        let why = "choose a walkthrough's JSON file (exported from a walkthrough's page)";
        return Ok(Err(refused("file", why, StatusCode::UNPROCESSABLE_ENTITY)));
    };
    let key = if key.is_empty() {
        let name = file.filename.as_deref().unwrap_or_default();
        let stem = name.rsplit(['/', '\\']).next().unwrap_or_default();
        let stem = stem.strip_suffix(".json").unwrap_or(stem);
        content::slugify(stem)
    } else {
        key.to_owned()
    };
    let source = match content::from_json(&file.data) {
        Ok(source) => source,
        Err(why) => return Ok(Err(invalid(why))),
    };
    match content::import(&app.platform, signed.caller(), &key, source, false).await {
        Ok(report) => Ok(Ok(report)),
        Err(CoreError::Invalid(why)) => Ok(Err(invalid(why))),
        Err(other) => Err(other.into()),
    }
}

/// A refusal of the file's contents is said beside the file input, naming what was wrong;
/// the key's beside the key.
fn invalid(why: ValidationError) -> FormError {
    let (input, message) = match why.field {
        "key" => ("key", why.message),
        "file" => ("file", why.message),
        field => (
            "file",
            format!("its {}: {}", field.replace('_', " "), why.message),
        ),
    };
    refused(input, message, StatusCode::UNPROCESSABLE_ENTITY)
}

fn refused(input: &str, message: impl Into<String>, status: StatusCode) -> FormError {
    FormError {
        label: if input == "key" {
            "Key"
        } else {
            "Walkthrough file"
        }
        .to_owned(),
        message: message.into(),
        anchor: format!("import-{input}"),
        status,
    }
}
