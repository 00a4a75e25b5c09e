//! The records the platform keeps. Every one belongs to exactly one organization.

use serde::Serialize;
use utoipa::ToSchema;

use crate::id::*;
use crate::{ApiKeyScopes, AuthMode, Email, ServerKind, Slug, SupportStatus, Timestamp};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
    /// Whether a new, clean upstream tool waits for an administrator.
    #[schema(value_type = String)]
    pub tool_approval: crate::ToolApproval,
    /// Whether upstream tool results reach agents as the upstream sent them. Off (the
    /// default), control, invisible and bidirectional characters are stripped from their
    /// text, as from walkthrough content.
    pub raw_tool_results: bool,
    /// Whether its hosted servers are listed in the platform's registry API
    /// (`GET /v0.1/servers` on the platform host). Off by default.
    pub registry_listed: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    /// The first characters of the key, to tell keys apart; never enough to use it.
    pub display_prefix: String,
    /// What the key may do; `read` is in every key's.
    pub scopes: ApiKeyScopes,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A hosted MCP server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpServer {
    pub id: ServerId,
    pub org_id: OrgId,
    pub kind: ServerKind,
    pub name: String,
    pub slug: Slug,
    /// The custom domain the server is served at: only a verified one.
    pub custom_domain: Option<String>,
    /// A custom domain asked for and not yet verified, with its challenge.
    #[serde(skip)]
    pub pending_domain: Option<PendingDomain>,
    pub auth_mode: AuthMode,
    pub walkthrough_tools_enabled: bool,
    pub support_tool_enabled: bool,
    /// Whether it offers `send_feedback` (off until its team turns it on).
    pub feedback_tool_enabled: bool,
    pub product_name: Option<String>,
    pub instructions: Option<String>,
    pub allowed_origins: Vec<String>,
    /// The tools switched off on this server (exposed names, sorted): not listed, and a
    /// call is refused with a tool error. Set one at a time (`tool_switches`).
    pub disabled_tools: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The settable fields of a server; used both to create one and, with every field
/// present, to store an update.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub name: String,
    pub slug: Slug,
    /// Verified; only core's domain verification puts a domain here.
    pub custom_domain: Option<String>,
    pub pending_domain: Option<PendingDomain>,
    pub auth_mode: AuthMode,
    pub walkthrough_tools_enabled: bool,
    pub support_tool_enabled: bool,
    /// Whether it offers `send_feedback` (off until its team turns it on).
    pub feedback_tool_enabled: bool,
    pub product_name: Option<String>,
    pub instructions: Option<String>,
    pub allowed_origins: Vec<String>,
}

/// A custom domain that serves once its owner proves control of it: a DNS TXT record at
/// `_guidepost-challenge.{domain}` whose value is `token` (not a secret: it is published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDomain {
    pub domain: String,
    pub token: String,
}

/// A person behind MCP clients, known by tracking id and/or email.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndUser {
    pub id: EndUserId,
    pub org_id: OrgId,
    /// The tracking id of their personal URL: a bearer of their progress, so `(hidden)`
    /// to all but administrators (owners, and keys with the `admin` scope).
    pub tracking_id: Option<String>,
    pub email: Option<Email>,
    pub email_verified: bool,
    /// The signed-in person this (anonymous) end user was linked to, when a request
    /// carried both a token and this end user's tracking id (de-anonymization).
    pub linked_end_user_id: Option<EndUserId>,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// An end user as a list shows them: with how much they used the servers ("end
/// users with their sessions and calls").
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndUserSummary {
    #[serde(flatten)]
    pub end_user: EndUser,
    /// Their MCP sessions still stored (a session is removed when it expires).
    pub session_count: i64,
    /// Their tool calls still stored (calls are pruned after the retention window).
    pub tool_call_count: i64,
}

/// One session-era MCP session, persisted so that any node can continue it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct McpSession {
    pub id: SessionId,
    /// The transport's `Mcp-Session-Id`.
    pub transport_id: String,
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub end_user_id: Option<EndUserId>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub protocol_version: Option<String>,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// What is known about a session when the transport opens it.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub transport_id: String,
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub end_user_id: Option<EndUserId>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub protocol_version: Option<String>,
    /// The transport's own record of the handshake (opaque JSON), replayed on other nodes.
    pub transport_state: String,
    /// The client's address prefix, as per-address limits key it (`None`: unknown).
    pub client_prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupportRequest {
    pub id: SupportRequestId,
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub end_user_id: Option<EndUserId>,
    pub email: Email,
    pub title: String,
    pub description: String,
    pub context: Option<String>,
    pub status: SupportStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewSupportRequest {
    pub org_id: OrgId,
    pub server_id: ServerId,
    pub end_user_id: Option<EndUserId>,
    pub email: Email,
    pub title: String,
    pub description: String,
    pub context: Option<String>,
}

/// One recorded `tools/call`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolCall {
    pub id: ToolCallId,
    pub org_id: OrgId,
    pub server_id: ServerId,
    /// The session it was made in, by its id (`mss_…`): never the transport's
    /// `Mcp-Session-Id`, with which whoever reads it could go on in that session.
    #[schema(value_type = Option<String>)]
    pub session_id: Option<SessionId>,
    pub end_user_id: Option<EndUserId>,
    pub tool_name: String,
    /// The call's arguments as JSON text, truncated to `Limits::RECORDED_ARGUMENTS`.
    pub arguments: String,
    pub result_summary: String,
    pub is_error: bool,
    pub error_code: Option<i64>,
    pub duration_us: i64,
    pub created_at: Timestamp,
    /// The upstream MCP server that answered, for a gateway tool.
    #[schema(value_type = Option<String>)]
    pub upstream_id: Option<crate::UpstreamId>,
    /// Made from the dashboard's tool tester, not by an agent.
    pub is_test: bool,
    /// Why the call was refused before any tool ran, if it was.
    pub refusal: Option<CallRefusal>,
}

string_enum! {
    /// Why a call was refused before any tool ran, what a server's missing-capabilities
    /// report groups: the server offers no tool by that name, or the tool (or its
    /// upstream, with `-32602`) refused the arguments; or, not a missing capability, the
    /// organization's call-time policies or one of its interceptors refused the call, or the
    /// caller reached a quota.
    CallRefusal {
        UnknownTool => "unknown_tool",
        InvalidArguments => "invalid_arguments",
        Policy => "policy",
        Quota => "quota",
        Interceptor => "interceptor",
        Approval => "approval",
    }
}

/// One page of a list, with the opaque cursor of the next page if there is one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// One page of a short list held whole (one with a cap, read in one statement) and
    /// sorted oldest first by `(created_at, id)`: the items after the cursor's, at most
    /// `limit`, and a cursor when more follow. A cursor whose item is gone still places
    /// the page, by its time and id.
    pub fn of_oldest_first(items: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> Cursor) -> Self {
        let after = |item: &T| match &page.after {
            None => true,
            Some(cursor) => {
                let at = key(item);
                (at.created_at, at.id.as_str()) > (cursor.created_at, cursor.id.as_str())
            }
        };
        let mut rest: Vec<T> = items.into_iter().filter(after).collect();
        let limit = (page.limit as usize).max(1);
        let next_cursor = (rest.len() > limit).then(|| key(&rest[limit - 1]).encode());
        rest.truncate(limit);
        Self {
            items: rest,
            next_cursor,
        }
    }
}

/// Where a list continues: after the row with this time and id (lists run newest first,
/// except those `Page::of_oldest_first` cuts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Timestamp,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at.micros(), self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('.')?;
        let ok_id = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok_id.then_some(())?;
        Some(Self {
            created_at: Timestamp::from_micros(micros.parse().ok()?),
            id: id.to_owned(),
        })
    }
}

/// Paging parameters, already clamped to the limits.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl PageRequest {
    /// The first page of at most `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            after: None,
            limit: crate::Limits::PAGE_SIZE_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = Cursor {
            created_at: Timestamp::from_micros(42),
            id: "sr_abc123".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("x.sr_1"), None);
        assert_eq!(Cursor::decode("42.sr'1"), None);
    }

    #[test]
    fn a_short_list_is_cut_into_pages_after_the_cursor() {
        let key = |n: &i64| Cursor {
            created_at: Timestamp::from_micros(*n / 10),
            id: format!("k_{n}"),
        };
        // Two items share a time: the id orders them.
        let items = vec![10, 11, 20, 30, 40];
        let first = Page::of_oldest_first(items.clone(), &PageRequest::first(2), key);
        assert_eq!(first.items, [10, 11]);
        let after = Cursor::decode(first.next_cursor.as_deref().unwrap());
        let second = Page::of_oldest_first(items.clone(), &PageRequest { after, limit: 2 }, key);
        assert_eq!(second.items, [20, 30]);
        let after = Cursor::decode(second.next_cursor.as_deref().unwrap());
        let last = Page::of_oldest_first(items.clone(), &PageRequest { after, limit: 2 }, key);
        assert_eq!((last.items, last.next_cursor), (vec![40], None));
        // The cursor's item deleted meanwhile: the page still starts after its place.
        let gone = vec![10, 20, 30, 40];
        let after = Some(key(&11));
        let page = Page::of_oldest_first(gone, &PageRequest { after, limit: 50 }, key);
        assert_eq!(page.items, [20, 30, 40]);
        assert!(
            Page::of_oldest_first(items, &PageRequest::first(0), key)
                .items
                .len()
                == 1
        );
    }
}
