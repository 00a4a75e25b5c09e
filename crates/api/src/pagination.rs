//! Cursor pagination: `?cursor=&limit=` in, `{items, next_cursor}` out. Lists run newest
//! first; a cursor is opaque to clients and only ever comes from a previous page.

use guidepost_domain::{Cursor, Limits, PageRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// `?cursor=&limit=` of a list with nothing else to filter by.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); larger values are lowered to 200.
    #[param(minimum = 1)]
    limit: Option<u32>,
}

impl PageQuery {
    /// The page it asks for (422 for a cursor not ours or a limit of 0).
    pub(crate) fn request(&self) -> Result<PageRequest, ApiError> {
        page_request(self.cursor.as_deref(), self.limit)
    }
}

/// The page a list request asks for. A `limit` above the maximum is lowered to it.
pub(crate) fn page_request(
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<PageRequest, ApiError> {
    let after =
        match cursor.filter(|c| !c.is_empty()) {
            Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
                ApiError::invalid("cursor", "is not a cursor returned by this API")
            })?),
            None => None,
        };
    let limit = match limit {
        None => Limits::PAGE_SIZE_DEFAULT,
        Some(0) => {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {}", Limits::PAGE_SIZE_MAX),
            ));
        }
        Some(n) => n.min(Limits::PAGE_SIZE_MAX),
    };
    Ok(PageRequest { after, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_clamp() {
        assert_eq!(page_request(None, None).unwrap().limit, 50);
        assert_eq!(page_request(None, Some(10_000)).unwrap().limit, 200);
        assert!(page_request(None, Some(0)).is_err());
    }

    #[test]
    fn cursors_must_be_ours() {
        assert!(page_request(Some("garbage"), None).is_err());
        assert!(page_request(Some(""), None).unwrap().after.is_none());
        let cursor = page_request(Some("1700000000000000.ms_abc123"), None)
            .unwrap()
            .after
            .unwrap();
        assert_eq!(cursor.id, "ms_abc123");
    }
}
