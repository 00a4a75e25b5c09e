//! The export of a person's data as one JSON document, written a page of rows at a time:
//! `{"end_user_id": …, "exported_at": …, "tables": {"audit_events": [ … ], …}}`, tables
//! by name, each table's rows in the order of its key. No table is cut short, whatever
//! the number of rows (a person may make 120 calls a minute for the whole retention), and
//! memory holds one page, never the whole export.

use std::time::Duration;

use futures::Stream;
use guidepost_domain::*;
use guidepost_store::{ExportCursor, ExportedRow, ExportedTable};
use serde_json::Value;

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
    /// Leave out the upstreams' own words that audit events and webhook deliveries quote,
    /// for a caller who may not read them (`Permission::Gateway`), as the audit log does.
    upstream_words_kept: bool,
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
    pub(super) fn new(platform: &Platform, person: EndUser, upstream_words_kept: bool) -> Self {
        Self {
            platform: platform.clone(),
            person,
            exported_at: Timestamp::now(),
            next: Next::Opening,
            rows: 0,
            statement_limit: guidepost_store::statement_limit(),
            upstream_words_kept,
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
        let mut page = match self.statement_limit {
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
        for row in &mut page.rows {
            if written {
                out.push(b',');
            }
            if self.upstream_words_kept {
                keep_upstream_words_from(table, row);
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

/// Takes out of an audit event's detail, or a webhook delivery's data, the field that
/// quotes an upstream's own words (`audit::upstream_words`, `WebhookEvent::upstream_words`).
fn keep_upstream_words_from(table: ExportedTable, row: &mut ExportedRow) {
    let text = |row: &ExportedRow, column: &str| {
        row.get(column).and_then(|v| v.as_str()).map(str::to_owned)
    };
    let (column, path, key) = match table {
        ExportedTable::AuditEvents => {
            let Some(key) = text(row, "action").and_then(|a| crate::audit::upstream_words(&a))
            else {
                return;
            };
            ("detail", None, key)
        }
        ExportedTable::WebhookDeliveries => {
            let event = text(row, "event").and_then(|e| WebhookEvent::parse(&e));
            let Some(key) = event.and_then(WebhookEvent::upstream_words) else {
                return;
            };
            ("payload", Some("data"), key)
        }
        _ => return,
    };
    let Some(mut value) = text(row, column).and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return;
    };
    let holder = match path {
        Some(field) => value.get_mut(field),
        None => Some(&mut value),
    };
    if let Some(fields) = holder.and_then(Value::as_object_mut) {
        fields.remove(key);
        row.insert(column.to_owned(), Value::String(value.to_string()));
    }
}

/// Serializing the store's own values fails only on a map key that is not text, which
/// none has: a failure is reported as the store's.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), CoreError> {
    serde_json::to_writer(out, value).map_err(|error| CoreError::Store(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(fields: Value) -> ExportedRow {
        fields.as_object().unwrap().clone()
    }

    #[test]
    fn an_upstreams_words_are_taken_out_of_the_events_that_quote_them_only() {
        let detail = json!({"owner": "eu_1", "reason": "invalid_grant: revoked"}).to_string();
        let mut refused = row(json!({"action": "connection.needs_reconnect", "detail": detail}));
        keep_upstream_words_from(ExportedTable::AuditEvents, &mut refused);
        let kept: Value = serde_json::from_str(refused["detail"].as_str().unwrap()).unwrap();
        assert_eq!(kept, json!({"owner": "eu_1"}));

        let other = json!({"end_user_id": "eu_1", "reason": "theirs"}).to_string();
        let mut exported = row(json!({"action": "end_user.exported", "detail": other}));
        let before = exported.clone();
        keep_upstream_words_from(ExportedTable::AuditEvents, &mut exported);
        assert_eq!(exported, before);

        let payload = json!({"id": "evt_1", "type": "upstream.failed",
            "data": {"name": "files", "last_error": "token=abc", "restarts": 3}});
        let mut delivery = row(json!({"event": "upstream.failed", "payload": payload.to_string()}));
        keep_upstream_words_from(ExportedTable::WebhookDeliveries, &mut delivery);
        let kept: Value = serde_json::from_str(delivery["payload"].as_str().unwrap()).unwrap();
        assert_eq!(kept["data"], json!({"name": "files", "restarts": 3}));
        assert_eq!(kept["id"], "evt_1");

        let mut same_columns =
            row(json!({"action": "connection.needs_reconnect", "detail": detail}));
        keep_upstream_words_from(ExportedTable::WebhookDeliveries, &mut same_columns);
        assert!(
            same_columns["detail"]
                .as_str()
                .unwrap()
                .contains("invalid_grant")
        );
    }
}
