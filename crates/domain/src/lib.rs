//! Guidepost's domain: identifiers, validated values and the records the platform keeps.
//!
//! Architecture invariant: this crate does no I/O. It knows nothing about HTTP, SQL or MCP;
//! values are validated here once, at the border, and trusted everywhere after.

#[macro_use]
mod macros;

mod agent_text;
mod approval;
mod audit_action;
mod auth;
mod call_policy;
mod canonical;
mod connection;
mod diagnosis;
mod feedback;
mod gateway;
mod id;
mod interceptor;
mod latency;
mod launch_spec;
mod limits;
mod member;
mod model;
mod net;
mod quota;
mod registry;
mod registry_version;
mod scope;
mod secret;
mod support_message;
mod task;
mod time;
mod upstream_launch;
mod value;
mod walkthrough;
mod webhook;

pub use agent_text::*;
pub use approval::*;
pub use audit_action::AuditAction;
pub use auth::*;
pub use call_policy::*;
pub use canonical::{canonical_json, definition_hash};
pub use connection::*;
pub use diagnosis::{FailureCause, UpstreamDiagnosis, UpstreamFault};
pub use feedback::*;
pub use gateway::builtin_tools;
pub use gateway::*;
pub use id::{
    ApiKeyId, ApprovalId, AuditEventId, EndUserId, FeedbackId, GrantId, Id, IdKind, InterceptorId,
    LoginSessionId, MemberId, OAuthClientId, OrgId, ProgressId, ServerId, SessionId, StepId,
    SupportMessageId, SupportRequestId, TaskId, ToolCallId, UpstreamId, WalkthroughId,
    WebhookDeliveryId, WebhookId,
};
pub use interceptor::*;
pub use latency::{LATENCY_BOUNDS_US, LATENCY_BUCKETS, LatencyHistogram, latency_bucket};
pub use launch_spec::*;
pub use limits::{Limits, OrgCap, prefix_chars, without_nul};
pub use member::*;
pub use model::*;
pub use net::is_public;
pub use quota::*;
pub use registry::*;
pub use registry_version::{VersionFacts, compare_semver, compare_versions, is_upgrade};
pub use scope::{ApiKeyScope, ApiKeyScopes, UnknownApiKeyScope};
pub use secret::{ApiKeySecret, hash_secret, random_alphanumeric, random_token};
pub use support_message::*;
pub use task::*;
pub use time::Timestamp;
pub use upstream_launch::*;
pub use value::{
    AuthMode, Email, ServerKind, Slug, SupportStatus, TrackingId, ValidationError, validate_domain,
    validate_origin, validate_text,
};
pub use walkthrough::*;
pub use webhook::*;
