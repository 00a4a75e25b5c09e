//! The export of a person's data as one JSON document, written a page of rows at a time:
//! `{"end_user_id": …, "exported_at": …, "tables": {"audit_events": [ … ], …}}`, tables
//! by name, each table's rows in the order of its key. No table is cut short, whatever
//! the number of rows (a person may make 120 calls a minute for the whole retention), and
//! memory holds one page, never the whole export.

use std::time::Duration;

use futures::Stream;
use guidepost_domain::*;
use guidepost_store::{ExportCursor, ExportedTable};

use crate::{CoreError, Platform};

/// Rows read per statement: a page of the largest rows (recorded calls of 16 KiB of
/// arguments) stays a few MiB.
pub const EXPORT_PAGE_ROWS: usize = 500;

/// The export of one person, as the document's bytes a chunk at a time.
pub struct Export {
    platform: Platform,
    person: EndUser,
    exported_at: Timestamp,
    next: Next,
    rows: usize,
    /// The request's `--store-timeout` per statement: the pages are read after its handler
    /// has returned, outside the scope that bounds its statements.
    statement_limit: Option<Duration>,
}

/// What the next chunk of the document is.
enum Next {
    Opening,
    /// A page of the table `ExportedTable::ALL[at]` (its first when `after` is `None`);
    /// `written` when a row of it was written already.
    Page {
        at: usize,
        after: Option<ExportCursor>,
        written: bool,
    },
    Closing,
    Done,
}

impl Export {
    pub(super) fn new(platform: &Platform, person: EndUser) -> Self {
        Self {
            platform: platform.clone(),
            person,
            exported_at: Timestamp::now(),
            next: Next::Opening,
            rows: 0,
            statement_limit: guidepost_store::statement_limit(),
        }
    }

    /// The document, a chunk at a time; a failure of the store ends it with the error (the
    /// answer is cut, and is not valid JSON, rather than incomplete and valid).
    pub fn into_stream(self) -> impl Stream<Item = Result<Vec<u8>, CoreError>> + Send + 'static {
        futures::stream::try_unfold(self, |mut export| async move {
            Ok(export.chunk().await?.map(|chunk| (chunk, export)))
        })
    }

    /// The next chunk of the document, `None` after its end.
    async fn chunk(&mut self) -> Result<Option<Vec<u8>>, CoreError> {
        let mut out = Vec::new();
        match std::mem::replace(&mut self.next, Next::Done) {
            Next::Opening => {
                out.extend_from_slice(b"{\"end_user_id\":");
                write_json(&mut out, &self.person.id)?;
                out.extend_from_slice(b",\"exported_at\":");
                write_json(&mut out, &self.exported_at)?;
                out.extend_from_slice(b",\"tables\":{");
                self.next = Next::Page {
                    at: 0,
                    after: None,
                    written: false,
                };
            }
            Next::Page { at, after, written } => {
                self.page(&mut out, at, after, written).await?;
            }
            Next::Closing => {
                out.extend_from_slice(b"}}");
                tracing::debug!(end_user = %self.person.id, rows = self.rows, "export written");
            }
            Next::Done => return Ok(None),
        }
        Ok(Some(out))
    }

    /// One page of the table `ExportedTable::ALL[at]`, with the table's opening or closing as it falls.
    async fn page(
        &mut self,
        out: &mut Vec<u8>,
        at: usize,
        after: Option<ExportCursor>,
        mut written: bool,
    ) -> Result<(), CoreError> {
        let table = ExportedTable::ALL[at];
        let read =
            self.platform
                .store
                .export_page(&self.person, table, after.as_ref(), EXPORT_PAGE_ROWS);
        let page = match self.statement_limit {
            Some(limit) => guidepost_store::within_statement_limit(limit, read).await?,
            None => read.await?,
        };
        if after.is_none() {
            if at > 0 {
                out.push(b',');
            }
            write_json(out, table.name())?;
            out.extend_from_slice(b":[");
        }
        for row in &page.rows {
            if written {
                out.push(b',');
            }
            write_json(out, row)?;
            written = true;
        }
        self.rows += page.rows.len();
        self.next = match page.next {
            Some(after) => Next::Page {
                at,
                after: Some(after),
                written,
            },
            None => {
                out.push(b']');
                if at + 1 < ExportedTable::ALL.len() {
                    Next::Page {
                        at: at + 1,
                        after: None,
                        written: false,
                    }
                } else {
                    Next::Closing
                }
            }
        };
        Ok(())
    }
}

/// Serializing the store's own values fails only on a map key that is not text, which
/// none has: a failure is reported as the store's.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), CoreError> {
    serde_json::to_writer(out, value).map_err(|error| CoreError::Store(Box::new(error)))
}
