//! Reading what an upstream lists (its tools, prompts, resources and resource
//! templates), page by page, within bounds: an upstream that serves pages
//! forever, or pages of endless items, must not exhaust the platform. rmcp's
//! `list_all_*` follow `nextCursor` with no limit, so each list is read here instead,
//! and one that goes past [`BOUNDS`] ends as an error that names the bound passed.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;

use rmcp::RoleClient;
use rmcp::model::{PaginatedRequestParams, Prompt, Resource, ResourceTemplate, Tool};
use rmcp::service::{Peer, ServiceError};
use serde::Serialize;

/// How much of one list Guidepost reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// Pages (responses) read for one list.
    pub pages: usize,
    /// Items kept of one list.
    pub items: usize,
    /// Bytes kept of one list: the items as JSON, and the cursors remembered to see a
    /// list that loops.
    pub bytes: usize,
}

/// Far above what real servers list (the largest list a few hundred tools, well under a
/// MiB), and low enough that the four lists of an upstream hold a few tens of MiB at
/// most while they are read.
pub(crate) const BOUNDS: Bounds = Bounds {
    pages: 100,
    items: 10_000,
    bytes: 8 * 1024 * 1024,
};

/// Why a list could not be read.
#[derive(Debug)]
pub(crate) enum ListError {
    /// The upstream answered with an error, or the connection failed.
    Failed {
        list: &'static str,
        error: ServiceError,
    },
    /// It had more pages after the last one Guidepost reads.
    TooManyPages { list: &'static str, limit: usize },
    /// It had more items than Guidepost keeps.
    TooManyItems { list: &'static str, limit: usize },
    /// Its items (and cursors) came to more bytes than Guidepost keeps.
    TooManyBytes { list: &'static str, limit: usize },
    /// It gave a cursor it had given before: read on, it would never end.
    CursorRepeated { list: &'static str },
}

impl ListError {
    /// Whether the list went past a bound (the upstream's doing, which no retry mends),
    /// rather than failing.
    pub fn is_past_bounds(&self) -> bool {
        !matches!(self, Self::Failed { .. })
    }
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { list, error } => write!(f, "{list} failed: {error}"),
            Self::TooManyPages { list, limit } => write!(
                f,
                "the upstream's {list} went past {limit} pages; Guidepost reads at most {limit}"
            ),
            Self::TooManyItems { list, limit } => write!(
                f,
                "the upstream's {list} went past {limit} items; Guidepost keeps at most {limit}"
            ),
            Self::TooManyBytes { list, limit } => {
                let mib = limit / (1024 * 1024);
                write!(
                    f,
                    "the upstream's {list} went past {mib} MiB; Guidepost keeps at most \
                     {mib} MiB of one list"
                )
            }
            Self::CursorRepeated { list } => write!(
                f,
                "the upstream's {list} gave a cursor it had given before; Guidepost stops \
                 reading a list that loops"
            ),
        }
    }
}

impl std::error::Error for ListError {}

/// The upstream's tools.
pub(crate) async fn tools(peer: &Peer<RoleClient>) -> Result<Vec<Tool>, ListError> {
    read_pages("tools/list", BOUNDS, |cursor| async move {
        let page = peer.list_tools(Some(from(cursor))).await?;
        Ok((page.tools, page.next_cursor))
    })
    .await
}

/// The upstream's prompts.
pub(crate) async fn prompts(peer: &Peer<RoleClient>) -> Result<Vec<Prompt>, ListError> {
    read_pages("prompts/list", BOUNDS, |cursor| async move {
        let page = peer.list_prompts(Some(from(cursor))).await?;
        Ok((page.prompts, page.next_cursor))
    })
    .await
}

/// The upstream's resources.
pub(crate) async fn resources(peer: &Peer<RoleClient>) -> Result<Vec<Resource>, ListError> {
    read_pages("resources/list", BOUNDS, |cursor| async move {
        let page = peer.list_resources(Some(from(cursor))).await?;
        Ok((page.resources, page.next_cursor))
    })
    .await
}

/// The upstream's resource templates.
pub(crate) async fn resource_templates(
    peer: &Peer<RoleClient>,
) -> Result<Vec<ResourceTemplate>, ListError> {
    read_pages("resources/templates/list", BOUNDS, |cursor| async move {
        let page = peer.list_resource_templates(Some(from(cursor))).await?;
        Ok((page.resource_templates, page.next_cursor))
    })
    .await
}

fn from(cursor: Option<String>) -> PaginatedRequestParams {
    PaginatedRequestParams::default().with_cursor(cursor)
}

/// Reads `list` through `page` (which asks for the page at a cursor and answers its
/// items and next cursor) until a page has no next cursor, or a bound is passed.
async fn read_pages<T, F, Fut>(
    list: &'static str,
    bounds: Bounds,
    mut page: F,
) -> Result<Vec<T>, ListError>
where
    T: Serialize,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ServiceError>>,
{
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let mut seen = HashSet::new();
    let mut cursor = None;
    let mut read = 0usize;
    loop {
        read += 1;
        let (listed, next) = page(cursor)
            .await
            .map_err(|error| ListError::Failed { list, error })?;
        if items.len().saturating_add(listed.len()) > bounds.items {
            return Err(ListError::TooManyItems {
                list,
                limit: bounds.items,
            });
        }
        for item in listed {
            bytes = bytes.saturating_add(json_size(&item));
            if bytes > bounds.bytes {
                return Err(ListError::TooManyBytes {
                    list,
                    limit: bounds.bytes,
                });
            }
            items.push(item);
        }
        let Some(next) = next else {
            return Ok(items);
        };
        if read >= bounds.pages {
            return Err(ListError::TooManyPages {
                list,
                limit: bounds.pages,
            });
        }
        // The cursors are kept to see a loop, so they count against the bytes too.
        bytes = bytes.saturating_add(next.len());
        if bytes > bounds.bytes {
            return Err(ListError::TooManyBytes {
                list,
                limit: bounds.bytes,
            });
        }
        if !seen.insert(next.clone()) {
            return Err(ListError::CursorRepeated { list });
        }
        cursor = Some(next);
    }
}

/// The size of `item` as JSON, counted without writing it anywhere.
fn json_size<T: Serialize>(item: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // What does not serialize is not stored either (`client::store` skips it).
    match serde_json::to_writer(&mut counter, item) {
        Ok(()) => counter.0,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Bounds = Bounds {
        pages: 3,
        items: 5,
        bytes: 1024,
    };

    /// Reads pages of `items` items each, cursors named by `cursor` of the page number,
    /// `pages` of them (`None`: without end).
    async fn read(
        bounds: Bounds,
        items: usize,
        item: &str,
        pages: Option<usize>,
        cursor: fn(usize) -> String,
    ) -> Result<Vec<String>, ListError> {
        let mut asked = Vec::new();
        let result = read_pages("tools/list", bounds, |at: Option<String>| {
            asked.push(at);
            let n = asked.len();
            let next = match pages {
                Some(last) if n >= last => None,
                _ => Some(cursor(n)),
            };
            let page = vec![item.to_owned(); items];
            async move { Ok((page, next)) }
        })
        .await;
        // Each page but the first was asked for at the cursor the one before gave.
        for (n, at) in asked.iter().enumerate().skip(1) {
            assert_eq!(at.as_deref(), Some(cursor(n).as_str()));
        }
        result
    }

    fn fresh(n: usize) -> String {
        format!("page-{n}")
    }

    #[tokio::test]
    async fn a_list_within_its_bounds_is_read_whole() {
        let listed = read(SMALL, 1, "t", Some(3), fresh).await.unwrap();
        assert_eq!(listed, vec!["t"; 3]);
        let listed = read(SMALL, 5, "t", Some(1), fresh).await.unwrap();
        assert_eq!(listed.len(), 5);
    }

    #[tokio::test]
    async fn endless_pages_stop_at_the_page_bound() {
        let error = read(SMALL, 0, "t", None, fresh).await.unwrap_err();
        assert!(matches!(error, ListError::TooManyPages { limit: 3, .. }));
        assert!(error.is_past_bounds());
        assert_eq!(
            error.to_string(),
            "the upstream's tools/list went past 3 pages; Guidepost reads at most 3"
        );
    }

    #[tokio::test]
    async fn too_many_items_stop_at_the_item_bound() {
        let error = read(SMALL, 2, "t", None, fresh).await.unwrap_err();
        assert!(matches!(error, ListError::TooManyItems { limit: 5, .. }));
        assert!(error.to_string().contains("Guidepost keeps at most 5"));
    }

    #[tokio::test]
    async fn large_items_stop_at_the_byte_bound() {
        let large = "x".repeat(600);
        let error = read(SMALL, 1, &large, None, fresh).await.unwrap_err();
        assert!(matches!(error, ListError::TooManyBytes { limit: 1024, .. }));
        // One item of the byte bound's size on its own is past it too.
        let whole = "x".repeat(1024);
        let error = read(SMALL, 1, &whole, Some(1), fresh).await.unwrap_err();
        assert!(matches!(error, ListError::TooManyBytes { .. }));
        let bounds = Bounds {
            bytes: 8 * 1024 * 1024,
            ..SMALL
        };
        let error = read_pages("prompts/list", bounds, |_| async {
            Ok((vec!["x".repeat(9 * 1024 * 1024)], None))
        })
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the upstream's prompts/list went past 8 MiB; Guidepost keeps at most 8 MiB of one list"
        );
    }

    #[tokio::test]
    async fn long_cursors_count_against_the_byte_bound() {
        let error = read(SMALL, 0, "t", None, |n| format!("{n}{}", "c".repeat(700)))
            .await
            .unwrap_err();
        assert!(matches!(error, ListError::TooManyBytes { .. }));
    }

    #[tokio::test]
    async fn a_repeated_cursor_ends_the_list() {
        let error = read(SMALL, 1, "t", None, |n| format!("page-{}", n.min(1)))
            .await
            .unwrap_err();
        assert!(matches!(error, ListError::CursorRepeated { .. }));
        assert!(error.is_past_bounds());
    }

    #[tokio::test]
    async fn an_error_of_the_upstream_is_a_failure_not_a_bound() {
        let error = read_pages::<String, _, _>("tools/list", SMALL, |_| async {
            Err(ServiceError::TransportClosed)
        })
        .await
        .unwrap_err();
        assert!(!error.is_past_bounds());
        assert!(error.to_string().starts_with("tools/list failed: "));
    }

    #[test]
    fn sizes_are_those_of_the_json() {
        assert_eq!(json_size(&"ab"), 4);
        assert_eq!(json_size(&serde_json::json!({"a": [1, 2]})), 11);
    }
}
