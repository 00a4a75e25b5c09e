//! A person's data: everything stored about one end user, read a page at a
//! time for an export, and erased on request while the records that count (tool calls, support
//! requests, walkthrough progress) stay as anonymous ones.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// One stored row, column by column (secrets such as token hashes and transport ids left
/// out).
pub type ExportedRow = serde_json::Map<String, serde_json::Value>;

/// The tables an export reads, in the order it writes them (by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportedTable {
    AuditEvents,
    EndUsers,
    Feedback,
    McpSessions,
    OauthCodeSends,
    OauthCodes,
    OauthGrants,
    OauthLoginSessions,
    OauthTokens,
    SupportMessages,
    SupportRequests,
    Tasks,
    ToolCalls,
    UpstreamConnectFlows,
    UpstreamConnections,
    WalkthroughProgress,
    WebhookDeliveries,
}

impl ExportedTable {
    /// Every table, by name.
    pub const ALL: [ExportedTable; 17] = [
        Self::AuditEvents,
        Self::EndUsers,
        Self::Feedback,
        Self::McpSessions,
        Self::OauthCodeSends,
        Self::OauthCodes,
        Self::OauthGrants,
        Self::OauthLoginSessions,
        Self::OauthTokens,
        Self::SupportMessages,
        Self::SupportRequests,
        Self::Tasks,
        Self::ToolCalls,
        Self::UpstreamConnectFlows,
        Self::UpstreamConnections,
        Self::WalkthroughProgress,
        Self::WebhookDeliveries,
    ];

    /// The table's name in the store and in the export.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuditEvents => "audit_events",
            Self::EndUsers => "end_users",
            Self::Feedback => "feedback",
            Self::McpSessions => "mcp_sessions",
            Self::OauthCodeSends => "oauth_code_sends",
            Self::OauthCodes => "oauth_codes",
            Self::OauthGrants => "oauth_grants",
            Self::OauthLoginSessions => "oauth_login_sessions",
            Self::OauthTokens => "oauth_tokens",
            Self::SupportMessages => "support_messages",
            Self::SupportRequests => "support_requests",
            Self::Tasks => "tasks",
            Self::ToolCalls => "tool_calls",
            Self::UpstreamConnectFlows => "upstream_connect_flows",
            Self::UpstreamConnections => "upstream_connections",
            Self::WalkthroughProgress => "walkthrough_progress",
            Self::WebhookDeliveries => "webhook_deliveries",
        }
    }
}

/// Where the export of a table goes on. Opaque outside the store, and never shown: a key
/// may be a token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportCursor(pub(crate) ExportResume);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportResume {
    /// In a table of rows per end user: the people whose rows are read, one at a time
    /// (the person and the anonymous end users linked to them), and which one is.
    pub(crate) people: Vec<String>,
    pub(crate) person: usize,
    /// The last row read of the table (or of the current person's rows).
    pub(crate) after: Option<ExportKey>,
}

/// A row's place in the order an export reads its table in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExportKey {
    /// The row's unique key.
    Text(String),
    /// A recorded call's time and id.
    Time(i64, String),
    /// How many rows were read, in the one table without a key.
    Skip(i64),
}

/// A page of one table's rows about a person, in the table's key order.
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    pub rows: Vec<ExportedRow>,
    /// Where the next page starts; `None` when this page ends the table.
    pub next: Option<ExportCursor>,
}

/// What an erasure changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erasure {
    /// The anonymous end user the person's calls, requests and progress now belong to.
    pub tombstone: Option<EndUserId>,
    pub sessions_deleted: u64,
    pub grants_deleted: u64,
    pub login_sessions_deleted: u64,
    pub progress_kept_anonymous: u64,
    pub tool_calls_kept_anonymous: u64,
    pub support_requests_kept_anonymous: u64,
    pub feedback_kept_anonymous: u64,
}

#[async_trait]
pub trait PersonalDataStore: Send + Sync {
    /// Up to `limit` rows of `table` about `person` (and the anonymous end users linked to
    /// them, their personal URLs), from `after` on: an export reads each table a page at a
    /// time, in the order of its key, so that a person with any number of rows is exported
    /// whole in bounded memory. Each page is one statement.
    async fn export_page(
        &self,
        person: &EndUser,
        table: ExportedTable,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage>;
    /// Erases the end user `id` of `org` in one transaction (see the implementation for
    /// what is deleted and what is kept anonymous). `NotFound` when there is no such end
    /// user.
    async fn erase_end_user(&self, org: &OrgId, id: &EndUserId) -> Result<Erasure>;
    /// Platform-wide diagnostics (tests, an operator's check after an erasure): the
    /// `(table, column)` pairs of every table whose text holds `needle`, compared without
    /// regard to case.
    async fn find_text_anywhere(&self, needle: &str) -> Result<Vec<(String, String)>>;
}
