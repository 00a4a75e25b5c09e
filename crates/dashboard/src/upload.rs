//! A posted `multipart/form-data` form (a file upload) of a signed-in member. The body is
//! read up to [`UPLOAD_LIMIT`]; a larger one is not an error page but an
//! [`Upload::TooLarge`], so the form can say so in place. What the request lacks (a
//! multipart body, the right form token) is kept for the handler to answer after its own
//! permission check ([`SignedUpload::checked`]), so that a member who may not act hears
//! that first, as on every other form. Hand-written rather than a multipart crate: the
//! dashboard takes one small file and a few text fields, whole in memory.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::response::Response;
use http::header;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Signed;

/// The largest upload request, file and fields together.
pub(crate) const UPLOAD_LIMIT: usize = 1024 * 1024 + 16 * 1024;
/// The most parts a form may have.
const MAX_PARTS: usize = 16;

/// One field of the form: its name, the file name for a file, and its bytes.
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// What was posted.
pub(crate) enum Upload {
    Parts(Vec<Part>),
    /// The request was larger than [`UPLOAD_LIMIT`]; nothing of it was kept.
    TooLarge,
}

pub(crate) struct SignedUpload {
    pub signed: Signed,
    /// The upload, or why it cannot be read or trusted.
    upload: Result<Upload, PageError>,
}

impl SignedUpload {
    /// The upload, once the handler has checked the member may act: a malformed request
    /// or a wrong form token is refused here.
    pub fn checked(self) -> Result<(Signed, Upload), PageError> {
        Ok((self.signed, self.upload?))
    }
}

impl Upload {
    /// The field `name`, if posted.
    pub fn part(&self, name: &str) -> Option<&Part> {
        match self {
            Upload::Parts(parts) => parts.iter().find(|p| p.name == name),
            Upload::TooLarge => None,
        }
    }

    /// A text field, empty when absent or not UTF-8.
    pub fn text(&self, name: &str) -> String {
        self.part(name)
            .and_then(|p| std::str::from_utf8(&p.data).ok())
            .unwrap_or_default()
            .to_owned()
    }
}

impl<S> FromRequest<S> for SignedUpload
where
    Dashboard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let boundary = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(boundary_of);
        let upload = read(body, boundary, &signed.csrf).await;
        Ok(SignedUpload { signed, upload })
    }
}

async fn read(
    body: axum::body::Body,
    boundary: Option<String>,
    csrf: &str,
) -> Result<Upload, PageError> {
    let bad = |why: &str| PageError::BadForm(why.to_owned());
    let boundary = boundary.ok_or_else(|| bad("expected a multipart/form-data upload"))?;
    let Ok(body) = axum::body::to_bytes(body, UPLOAD_LIMIT).await else {
        // Said beside the file input; nothing is changed, so no token is needed.
        return Ok(Upload::TooLarge);
    };
    let upload =
        Upload::Parts(parse(&body, &boundary).ok_or_else(|| bad("the upload is malformed"))?);
    if !constant_time_eq(upload.text("csrf_token").as_bytes(), csrf.as_bytes()) {
        return Err(PageError::FormToken);
    }
    Ok(upload)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `boundary` parameter of a `multipart/form-data` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        let value = value.trim().trim_matches('"');
        (key.trim().eq_ignore_ascii_case("boundary") && (1..=70).contains(&value.len()))
            .then(|| value.to_owned())
    })
}

/// The parts of a body delimited by `--{boundary}` lines (RFC 7578); `None` if malformed.
fn parse(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may open the body without the line break before it.
    let mut rest = body.strip_prefix(&delimiter.as_bytes()[2..])?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, delimiter.as_bytes())?;
        let (part, after) = rest.split_at(end);
        rest = &after[delimiter.len()..];
        if parts.len() == MAX_PARTS {
            return None;
        }
        parts.push(read_part(part)?);
    }
}

/// One part: its header lines, a blank line, its bytes.
fn read_part(part: &[u8]) -> Option<Part> {
    let split = find(part, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&part[..split]).ok()?;
    let data = part[split + 4..].to_vec();
    let disposition = head.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    let param = |wanted: &str| {
        disposition.split(';').find_map(|p| {
            let (key, value) = p.trim().split_once('=')?;
            (key.trim() == wanted).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    Some(Part {
        name: param("name")?,
        filename: param("filename"),
        data,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_upload_is_read_part_by_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"start.json\"\r\n\
Content-Type: application/json\r\n\r\n{\"a\":\r\n1}\r\n--XyZ--\r\n";
        let boundary = boundary_of("multipart/form-data; boundary=XyZ").unwrap();
        let parts = parse(body, &boundary).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].data, b"abc");
        assert_eq!(parts[1].filename.as_deref(), Some("start.json"));
        assert_eq!(parts[1].data, b"{\"a\":\r\n1}");
        assert!(parse(b"--XyZ\r\nno blank line", "XyZ").is_none());
        assert!(boundary_of("application/x-www-form-urlencoded").is_none());
    }
}
