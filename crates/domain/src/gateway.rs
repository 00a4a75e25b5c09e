//! The gateway's records: upstream MCP servers an organization installed, the
//! tools they offer, and their attachments to hosted servers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::LaunchSpec;
use crate::id::*;
use crate::launch_spec::serialize_redacted;
use crate::time::Timestamp;

/// The names of Guidepost's own tools on every hosted server. An upstream's
/// definition that names one is shadowing it.
pub mod builtin_tools {
    pub const LIST_WALKTHROUGHS: &str = "list_walkthroughs";
    pub const SELECT_WALKTHROUGH: &str = "select_walkthrough";
    pub const NEXT_WALKTHROUGH_STEP: &str = "next_walkthrough_step";
    pub const GET_WALKTHROUGH_STATUS: &str = "get_walkthrough_status";
    pub const RESET_WALKTHROUGH_PROGRESS: &str = "reset_walkthrough_progress";
    pub const GET_SUPPORT: &str = "get_support";
    pub const SEND_FEEDBACK: &str = "send_feedback";
    pub const ALL: [&str; 7] = [
        LIST_WALKTHROUGHS,
        SELECT_WALKTHROUGH,
        NEXT_WALKTHROUGH_STEP,
        GET_WALKTHROUGH_STATUS,
        RESET_WALKTHROUGH_PROGRESS,
        GET_SUPPORT,
        SEND_FEEDBACK,
    ];
}

string_enum! {
    /// Where an upstream is in its life.
    UpstreamStatus {
        Installing => "installing",
        Starting => "starting",
        Ready => "ready",
        Degraded => "degraded",
        Failed => "failed",
        Stopped => "stopped",
    }
}

string_enum! {
    /// An organization's rule for new, clean upstream tools: held `pending` until
    /// an administrator approves them, or trusted when first seen.
    ToolApproval {
        Manual => "manual",
        TrustOnFirstUse => "trust_on_first_use",
    }
}

string_enum! {
    /// When a node starts an upstream: when the node starts, or on its first call there.
    StartMode {
        Eager => "eager",
        OnDemand => "on_demand",
    }
}

string_enum! {
    /// Whether a tool definition may be offered (pinning).
    ToolState {
        Approved => "approved",
        Pending => "pending",
        Quarantined => "quarantined",
        Rejected => "rejected",
    }
}

string_enum! {
    /// What is done with what a result of this upstream carries (secrets in known formats,
    /// instructions aimed at the model): nothing, a warning added for the agent, the
    /// matched spans redacted, or the whole result withheld. Each finding is audited.
    ResultGuard {
        Off => "off",
        Flag => "flag",
        Redact => "redact",
        Refuse => "refuse",
    }
}

/// An installed upstream MCP server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Upstream {
    #[schema(value_type = String)]
    pub id: UpstreamId,
    #[schema(value_type = String)]
    pub org_id: OrgId,
    pub name: String,
    pub catalog_entry_id: Option<String>,
    /// The registry version it was installed or last upgraded from, when its entry is a
    /// registry's.
    pub catalog_entry_version: Option<String>,
    /// That registry entry's latest version (not stored: read with it).
    pub latest_version: Option<String>,
    /// Whether the registry has a newer version than `catalog_entry_version`
    /// (`PATCH` with `version` upgrades to it).
    pub upgrade_available: bool,
    /// How it is launched, with header and environment values hidden.
    #[serde(serialize_with = "serialize_redacted")]
    pub spec: LaunchSpec,
    /// Names of the secrets it holds (the values are sealed and never shown).
    pub secret_names: Vec<String>,
    #[serde(skip)]
    pub secrets_sealed: BTreeMap<String, String>,
    /// The settings it was installed or last reconfigured with, by name.
    #[schema(value_type = Object)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// The package version it runs (npm and PyPI upstreams), or the container image.
    pub version: Option<String>,
    /// The version it ran before its last upgrade or reconfiguration, when a rollback
    /// (`POST …/rollback`) can restore it; `"(same version)"` when only its settings or
    /// secrets changed.
    pub previous_version: Option<String>,
    pub status: UpstreamStatus,
    #[schema(value_type = String)]
    pub start: StartMode,
    /// Processes it runs on each node (a stateless entry may run more than one; calls go
    /// to the least busy).
    pub replicas: u32,
    /// What is done with a result that carries a secret or an instruction aimed at the
    /// model (`off` until the organization chooses).
    pub result_guard: ResultGuard,
    /// Why it last failed, in its own words (which may quote what it was given): shown
    /// only to callers who may manage the gateway, as its logs are.
    pub last_error: Option<String>,
    /// What Guidepost itself observed of that failure, when it did (a handshake that
    /// timed out, a program that could not start): the diagnosis matches on it.
    #[serde(skip)]
    pub last_fault: Option<crate::UpstreamFault>,
    pub restarts: i64,
    /// When someone last restarted it (`POST …/restart`, the CLI, a new connection):
    /// every node that runs it starts it afresh once it sees this newer than its own.
    pub restarted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// What confinement the answering node applies to it (a process of the host), in a
    /// line; not stored.
    pub confinement: Option<String>,
    /// Why it failed, in words, when it has a last error (from the last error and the
    /// answering node's log); not stored.
    pub diagnosis: Option<crate::UpstreamDiagnosis>,
}

/// An upstream about to be stored (already checked).
#[derive(Debug, Clone)]
pub struct NewUpstream {
    pub name: String,
    pub start: StartMode,
    pub replicas: u32,
    pub catalog_entry_id: Option<String>,
    pub catalog_entry_version: Option<String>,
    pub spec: LaunchSpec,
    pub secrets_sealed: BTreeMap<String, String>,
    pub config: BTreeMap<String, serde_json::Value>,
}

/// What an upstream offers, each kind hashed, scanned and reviewed alike.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionKind {
    Tool,
    Prompt,
    Resource,
    ResourceTemplate,
}

impl DefinitionKind {
    pub const ALL: [DefinitionKind; 4] = [
        DefinitionKind::Tool,
        DefinitionKind::Prompt,
        DefinitionKind::Resource,
        DefinitionKind::ResourceTemplate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::Tool => "tool",
            DefinitionKind::Prompt => "prompt",
            DefinitionKind::Resource => "resource",
            DefinitionKind::ResourceTemplate => "resource_template",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The field of a definition of this kind that names it uniquely within its
    /// upstream: a tool's or prompt's `name`, a resource's `uri`, a template's
    /// `uriTemplate`.
    pub fn key_field(self) -> &'static str {
        match self {
            DefinitionKind::Tool | DefinitionKind::Prompt => "name",
            DefinitionKind::Resource => "uri",
            DefinitionKind::ResourceTemplate => "uriTemplate",
        }
    }

    /// How a person reads it: `tool`, `prompt`, `resource`, `resource template`.
    pub fn label(self) -> &'static str {
        match self {
            DefinitionKind::ResourceTemplate => "resource template",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for DefinitionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A tool, prompt, resource or resource template as its upstream listed it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpstreamTool {
    /// What it is; `tool` for tools.
    pub kind: DefinitionKind,
    /// The upstream's own name for it (a resource's URI, a template's URI template).
    pub name: String,
    /// The whole definition as the upstream sent it.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// SHA-256 of the definition's canonical JSON (RFC 8785).
    pub definition_hash: String,
    pub state: ToolState,
    /// What the scanner found in it.
    pub findings: Vec<Finding>,
}

/// Where a finding matched: byte offsets into the text at the finding's `path`
/// (`start..end`, on character boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Something the scanner found in a tool definition. Two findings are the same when
/// their rule, severity, path and match are: the span only says where in the text, and
/// findings stored before spans existed have none.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// The rule's id (`crates/scan/src/scan_rules.toml`).
    pub rule: String,
    /// `high` (quarantines the tool) or `low` (reported). Findings stored before
    /// severities were only these two may say `medium`, which quarantines too.
    pub severity: String,
    /// Where in the definition, such as `inputSchema.properties.notes.description`.
    pub path: String,
    /// What matched (the span's text, at most 120 characters).
    pub matched: String,
    /// Where in the text at `path` it matched, when the finding is about a text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl PartialEq for Finding {
    fn eq(&self, other: &Self) -> bool {
        (&self.rule, &self.severity, &self.path, &self.matched)
            == (&other.rule, &other.severity, &other.path, &other.matched)
    }
}

/// An upstream attached to a hosted server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    #[schema(value_type = String)]
    pub server_id: ServerId,
    #[schema(value_type = String)]
    pub upstream_id: UpstreamId,
    /// Its tools appear as `{prefix}__{tool}`.
    pub prefix: String,
    /// Only these of the upstream's tools, when set.
    pub allowed_tools: Option<Vec<String>>,
    /// Only these of the upstream's prompts, when set.
    pub allowed_prompts: Option<Vec<String>>,
    pub timeout_ms: i64,
    pub attached_at: Timestamp,
}

/// One installable server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub description: String,
    pub spec: LaunchSpec,
    /// The secrets an installation must give: passed to a process as environment
    /// variables of their names, to an HTTP server as the headers its spec maps them to.
    #[serde(default)]
    pub secrets: Vec<SecretSlot>,
    /// The settings an installation gives (or leaves to their defaults), put into the
    /// spec wherever `${config.NAME}` appears.
    #[serde(default)]
    pub config: Vec<ConfigField>,
    /// Whether its server keeps nothing of a caller's in its process between calls, so
    /// that several processes may serve one installation (`replicas`). A server that
    /// keeps state there (the memory server's graph) is not. Only the platform's catalog
    /// (built in, or the operator's file) says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stateless: bool,
    /// Processes an installation runs on each node unless it asks for another number: 1
    /// if left out, more only when `stateless` (and at most the operator's maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

string_enum! {
    /// The type of an entry's setting.
    ConfigType {
        String => "string",
        Number => "number",
        Boolean => "boolean",
    }
}

/// A setting an entry takes at install.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    /// 1-40 of `a-z`, `0-9` and `_`, starting with a letter.
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ConfigType,
    /// Its value when the install gives none; without a default, the install must give it.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    pub default: Option<serde_json::Value>,
}

/// A secret an entry requires.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSlot {
    /// 1-64 of `A-Z`, `0-9` and `_`, starting with a letter.
    pub name: String,
    pub description: String,
    /// Whether an installation must give it; a registry entry may declare one optional.
    #[serde(default = "required_by_default", skip_serializing_if = "is_required")]
    pub required: bool,
}

fn required_by_default() -> bool {
    true
}

fn is_required(required: &bool) -> bool {
    *required
}

/// Who did something the audit log records. Its `Display` is what the log stores
/// (`api_key:key_…`, `member:mem_…`, `cli`, `platform`), so stored events read the same
/// whichever version wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request made with this API key.
    ApiKey(crate::ApiKeyId),
    /// A member of the organization, acting in the dashboard.
    Member(crate::MemberId),
    /// The command line, run by the platform's operator.
    Operator,
    /// The platform itself (the supervisor discovering tools, the scanner).
    Platform,
    /// An end user acting on what is theirs (their own connections page).
    EndUser(crate::EndUserId),
}

impl Actor {
    /// How an API key's stored form begins.
    pub const API_KEY_PREFIX: &'static str = "api_key:";
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::ApiKey(key) => write!(f, "{}{key}", Self::API_KEY_PREFIX),
            Actor::Member(member) => write!(f, "member:{member}"),
            Actor::Operator => f.write_str("cli"),
            Actor::Platform => f.write_str("platform"),
            Actor::EndUser(end_user) => write!(f, "end_user:{end_user}"),
        }
    }
}

/// One entry of an organization's audit log: who did what to which upstream,
/// server or tool, and when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    #[schema(value_type = String)]
    pub id: AuditEventId,
    #[serde(skip)]
    pub org_id: OrgId,
    pub created_at: Timestamp,
    /// `api_key:key_…`, `member:mem_…` (the dashboard), `cli`, `platform` or
    /// `end_user:msu_…` (a person on their own connections page).
    pub actor: String,
    /// Who acted, as a person reads it: an email, `API key ci`, the operator or the platform.
    pub actor_name: Option<String>,
    /// `{object type}.{what happened}`, such as `member.invited`, `api_key.revoked`,
    /// `server.deleted`, `upstream.installed`, `tool.approved`.
    pub action: String,
    /// What the event is about besides an upstream, a server or a tool: `member`,
    /// `api_key`, `server`, `walkthrough`, `webhook`, `organization`, `end_user`,
    /// `support_request`.
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    /// The object's name when the event was recorded (it may be gone since).
    pub object_name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub upstream_id: Option<UpstreamId>,
    #[schema(value_type = Option<String>)]
    pub server_id: Option<ServerId>,
    pub tool: Option<String>,
    /// What else the action carries (findings, a hash, a prefix).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The upstream's and the server's names where they still exist (filled when read).
    pub upstream_name: Option<String>,
    pub server_name: Option<String>,
    /// The event in words, such as `ada@example.com revoked the API key “ci”.` (filled
    /// when read).
    pub text: String,
}
