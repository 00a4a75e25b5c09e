//! The dashboard's own stylesheet, script and mark (its icon), compiled into the binary
//! and served under a path named by their content's hash, so browsers may keep them
//! forever. Nothing is loaded from anywhere else.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "mark.svg",
        "image/svg+xml",
        include_bytes!("../assets/mark.svg"),
    ),
];

static PREFIX: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (_, _, bytes) in FILES {
        hash.update(bytes);
    }
    format!("/app/assets/{}", &hex::encode(hash.finalize())[..16])
});

/// `/app/assets/{hash}`: where this build's assets are.
pub(crate) fn prefix() -> &'static str {
    &PREFIX
}

pub(crate) async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    let current = PREFIX.rsplit('/').next().unwrap_or_default();
    let file = FILES.iter().find(|(file, _, _)| *file == name);
    match file {
        Some((_, content_type, bytes)) if hash == current => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
