//! The export of a person's data, a page at a time: each table's rows about them in the
//! order of a key, so that a page starts where the last one ended (keyset paging) and any
//! number of rows is read in bounded memory, one short statement a page.
//!
//! The tables of rows per end user (the recorded calls above all: 120 a minute for the
//! whole retention is millions) are read one person at a time (the person, then each
//! anonymous end user linked to them), so that each page is a range of the index by end
//! user: across several people at once, the database would read all their rows and sort
//! them for every page. Recorded calls are in the order of that index, their time (then
//! their id, for calls of the same microsecond).

use sqlx::{Column, TypeInfo, ValueRef};

use super::*;
use crate::personal_data::{ExportKey, ExportResume};
use crate::{ExportCursor, ExportPage, ExportedRow, ExportedTable};

/// The end user and the anonymous end users linked to them (their personal URLs); `$1` is
/// the organization, `$2` the end user.
const PEOPLE: &str =
    "SELECT id FROM end_users WHERE org_id = $1 AND (id = $2 OR linked_end_user_id = $2)";

/// Columns an export leaves out: secrets (hashes of tokens and codes, the session
/// transport's id that lets its holder continue a session) and transport state.
const SECRET_COLUMNS: &[&str] = &[
    "transport_id",
    "transport_state",
    "secret_hash",
    "code_hash",
    "token_hash",
    "successor_nonce",
    "upstream_salt",
    "code_challenge",
    "tokens_sealed",
    "sealed",
    "state_hash",
];

/// A value bound to an export query, in order.
#[derive(Clone, Copy)]
enum Param {
    Org,
    Id,
    /// The one of the people whose rows are being read.
    Person,
    Address,
    MailboxKey,
    IdLike,
    AddressLike,
}

/// The order a table is read in.
#[derive(Clone, Copy)]
enum Order {
    /// By a column unique among the rows read.
    Key(&'static str),
    /// By `created_at`, then `id`: the index by end user and time.
    Time,
    /// By every column, past the rows read: the one table without a key, a few rows a
    /// person (the sign-in codes sent to their address, pruned within a day).
    Offset(&'static str),
}

/// A table's rows about the person: `SELECT *` with this `WHERE` clause and its binds.
struct ExportQuery {
    filter: String,
    params: &'static [Param],
    order: Order,
    /// Read one person at a time (`Param::Person`).
    per_person: bool,
}

/// The query of `table`'s rows about the person.
fn export_query(table: ExportedTable) -> ExportQuery {
    use ExportedTable::*;
    let by_id = &[Param::Org, Param::Id][..];
    let with_address = &[Param::Org, Param::Id, Param::Address][..];
    let with_text = &[Param::Org, Param::IdLike, Param::AddressLike][..];
    let grants = format!(
        "org_id = $1 AND grant_id IN \
         (SELECT id FROM oauth_grants WHERE org_id = $1 AND end_user_id IN ({PEOPLE}))"
    );
    let (filter, params, order) = match table {
        McpSessions | WalkthroughProgress | ToolCalls | Tasks | OauthGrants | Feedback => {
            let order = if table == ToolCalls {
                Order::Time
            } else {
                Order::Key("id")
            };
            let filter = "org_id = $1 AND end_user_id = $2".to_owned();
            return ExportQuery {
                filter,
                params: &[Param::Org, Param::Person],
                order,
                per_person: true,
            };
        }
        EndUsers => (
            "org_id = $1 AND (id = $2 OR linked_end_user_id = $2)".to_owned(),
            by_id,
            Order::Key("id"),
        ),
        OauthTokens => (grants, by_id, Order::Key("token_hash")),
        OauthCodes => (grants, by_id, Order::Key("code_hash")),
        SupportRequests | OauthLoginSessions => (
            format!("org_id = $1 AND (end_user_id IN ({PEOPLE}) OR email = $3)"),
            with_address,
            Order::Key("id"),
        ),
        SupportMessages => (
            format!(
                "org_id = $1 AND request_id IN (SELECT id FROM support_requests \
                 WHERE org_id = $1 AND (end_user_id IN ({PEOPLE}) OR email = $3))"
            ),
            with_address,
            Order::Key("id"),
        ),
        UpstreamConnections => (
            "org_id = $1 AND owner = $2".to_owned(),
            by_id,
            Order::Key("upstream_id"),
        ),
        UpstreamConnectFlows => (
            "org_id = $1 AND owner = $2".to_owned(),
            by_id,
            Order::Key("id"),
        ),
        OauthCodeSends => (
            "org_id = $1 AND address_key = $2".to_owned(),
            &[Param::Org, Param::MailboxKey][..],
            Order::Offset("sent_at, client_ip"),
        ),
        WebhookDeliveries => (
            "org_id = $1 AND (payload LIKE $2 OR payload LIKE $3)".to_owned(),
            with_text,
            Order::Key("id"),
        ),
        AuditEvents => (
            "org_id = $1 AND (detail LIKE $2 OR detail LIKE $3)".to_owned(),
            with_text,
            Order::Key("id"),
        ),
    };
    ExportQuery {
        filter,
        params,
        order,
        per_person: false,
    }
}

/// Up to `limit` rows of `table` about `person`, from `after` on (see
/// `PersonalDataStore::export_page`).
pub(super) async fn page(
    store: &ThisStore,
    person: &EndUser,
    table: ExportedTable,
    after: Option<&ExportCursor>,
    limit: usize,
) -> Result<ExportPage> {
    let query = export_query(table);
    let limit = limit.max(1);
    let resume = match after {
        Some(cursor) => cursor.0.clone(),
        None => ExportResume {
            people: if query.per_person {
                people(store, person).await?
            } else {
                Vec::new()
            },
            person: 0,
            after: None,
        },
    };
    // Nobody left to read (the person was erased meanwhile).
    if query.per_person && resume.person >= resume.people.len() {
        return Ok(ExportPage::default());
    }
    let sql = query.page_sql(table.name(), resume.after.as_ref(), limit);
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
    for param in query.params {
        statement = bind(statement, *param, person, &resume);
    }
    match &resume.after {
        Some(ExportKey::Text(key)) => statement = statement.bind(key.clone()),
        Some(ExportKey::Time(at, id)) => statement = statement.bind(*at).bind(id.clone()),
        Some(ExportKey::Skip(_)) | None => {}
    }
    let found = statement.fetch_all(store.run()).await?;
    Ok(ExportPage {
        rows: found.iter().map(exported).collect::<Result<Vec<_>>>()?,
        next: query.next(&found, resume, limit)?.map(ExportCursor),
    })
}

/// The person and the anonymous end users linked to them, in the order they are read.
async fn people(store: &ThisStore, person: &EndUser) -> Result<Vec<String>> {
    let sql = format!("{PEOPLE} ORDER BY id");
    let ids = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(person.org_id.as_str())
        .bind(person.id.as_str())
        .fetch_all(store.run())
        .await?;
    Ok(ids)
}

type Statement<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

fn bind<'q>(
    statement: Statement<'q>,
    param: Param,
    person: &EndUser,
    resume: &ExportResume,
) -> Statement<'q> {
    let email = person.email.as_ref().map(|e| e.as_str().to_owned());
    // A pattern that matches nothing stands in for a missing email.
    let id_like = containing(person.id.as_str());
    match param {
        Param::Org => statement.bind(person.org_id.as_str().to_owned()),
        Param::Id => statement.bind(person.id.as_str().to_owned()),
        Param::Person => statement.bind(resume.people[resume.person].clone()),
        Param::Address => statement.bind(email),
        Param::MailboxKey => statement.bind(person.email.as_ref().map(Email::mailbox_key)),
        Param::AddressLike => statement.bind(email.as_deref().map_or(id_like, containing)),
        Param::IdLike => statement.bind(id_like),
    }
}

impl ExportQuery {
    /// The statement of the page of `limit` rows after `after`; the key's binds follow
    /// the query's own.
    fn page_sql(&self, table: &str, after: Option<&ExportKey>, limit: usize) -> String {
        let filter = &self.filter;
        let at = self.params.len() + 1;
        match (self.order, after) {
            (Order::Key(key), Some(ExportKey::Text(_))) => format!(
                "SELECT * FROM {table} WHERE {filter} AND {key} > ${at} \
                 ORDER BY {key} LIMIT {limit}"
            ),
            (Order::Key(key), _) => {
                format!("SELECT * FROM {table} WHERE {filter} ORDER BY {key} LIMIT {limit}")
            }
            // `created_at >= ` is the range of the index; the rest breaks ties.
            (Order::Time, Some(ExportKey::Time(..))) => format!(
                "SELECT * FROM {table} WHERE {filter} AND created_at >= ${at} \
                 AND (created_at > ${at} OR id > ${}) ORDER BY created_at, id LIMIT {limit}",
                at + 1
            ),
            (Order::Time, _) => format!(
                "SELECT * FROM {table} WHERE {filter} ORDER BY created_at, id LIMIT {limit}"
            ),
            (Order::Offset(columns), after) => {
                let skip = match after {
                    Some(ExportKey::Skip(skip)) => *skip,
                    _ => 0,
                };
                format!(
                    "SELECT * FROM {table} WHERE {filter} ORDER BY {columns} \
                     LIMIT {limit} OFFSET {skip}"
                )
            }
        }
    }

    /// Where the page after `rows` (read from `resume` on, `limit` at most) starts: after
    /// its last row when it is full, else at the next person's first, else nowhere.
    fn next(
        &self,
        rows: &[DbRow],
        mut resume: ExportResume,
        limit: usize,
    ) -> Result<Option<ExportResume>> {
        if let Some(last) = rows.last().filter(|_| rows.len() == limit) {
            resume.after = Some(match self.order {
                Order::Key(key) => ExportKey::Text(text(last, key)?),
                Order::Time => {
                    ExportKey::Time(last.try_get::<i64, _>("created_at")?, text(last, "id")?)
                }
                Order::Offset(_) => {
                    let before = match resume.after {
                        Some(ExportKey::Skip(skip)) => skip,
                        _ => 0,
                    };
                    ExportKey::Skip(before + rows.len() as i64)
                }
            });
            return Ok(Some(resume));
        }
        if self.per_person && resume.person + 1 < resume.people.len() {
            resume.person += 1;
            resume.after = None;
            return Ok(Some(resume));
        }
        Ok(None)
    }
}

/// A row as JSON, by the type of each value (SQLite's are per value, PostgreSQL's per
/// column).
fn exported(row: &DbRow) -> Result<ExportedRow> {
    let mut out = ExportedRow::new();
    for (at, column) in row.columns().iter().enumerate() {
        let name = column.name();
        if SECRET_COLUMNS.contains(&name) {
            continue;
        }
        let raw = row.try_get_raw(at)?;
        let kind = if raw.is_null() {
            None
        } else {
            Some(raw.type_info().name().to_ascii_uppercase())
        };
        let value = match kind.as_deref() {
            None => serde_json::Value::Null,
            Some("BOOL" | "BOOLEAN") => row.try_get::<bool, _>(at)?.into(),
            Some("INT2" | "INT4") => row.try_get::<i32, _>(at)?.into(),
            Some("INTEGER" | "INT8" | "BIGINT") => row.try_get::<i64, _>(at)?.into(),
            Some("REAL" | "FLOAT4" | "FLOAT8") => row.try_get::<f64, _>(at)?.into(),
            Some(_) => row.try_get::<String, _>(at)?.into(),
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

/// `%text%` for LIKE (a `_` or `%` in the text matches more, never less).
pub(super) fn containing(text: &str) -> String {
    format!("%{text}%")
}
