//! What a policy may read of one call: who calls, the tool and its hints, the arguments,
//! the client and the time, as the caller of [`crate::CallPolicies::decide`] states them.

use serde::Serialize;
use serde_json::Value;

/// Who calls, as far as the request shows; serialized as interceptors receive it
/// (`{"kind": "person", "id": …, "email": …, …}`).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caller<'a> {
    /// Signed in through the platform's authorization server: the email is verified.
    Person {
        id: &'a str,
        email: &'a str,
        /// How they signed in: `platform` (an emailed code) or the issuer URL of the
        /// organization's identity provider.
        identity_provider: &'a str,
        /// The groups the provider's ID token named at sign-in.
        groups: &'a [String],
        /// Their role in the organization, when their email is a member's.
        role: Option<&'a str>,
    },
    /// Known by the tracking id of their personal URL only.
    EndUser {
        id: &'a str,
    },
    Anonymous,
}

/// What a tool's definition says of itself, with the MCP specification's defaults for
/// the hints it does not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ToolHints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl ToolHints {
    /// From a definition's `annotations` object, if it has one.
    pub fn from_annotations(annotations: Option<&Value>) -> Self {
        let hint = |name: &str, default: bool| {
            annotations
                .and_then(|annotations| annotations.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        Self {
            read_only: hint("readOnlyHint", false),
            destructive: hint("destructiveHint", true),
            idempotent: hint("idempotentHint", false),
            open_world: hint("openWorldHint", true),
        }
    }
}

/// The tool called.
#[derive(Debug, Clone, Copy)]
pub struct ToolFacts<'a> {
    /// As the agent called it.
    pub name: &'a str,
    /// Its own name (the upstream's, for an upstream's tool).
    pub tool: &'a str,
    /// The prefix of its upstream server, if it is an upstream's.
    pub upstream: Option<&'a str>,
    pub hints: ToolHints,
}

/// Everything a policy may read about one call.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    pub caller: Caller<'a>,
    pub server_id: &'a str,
    pub server_slug: &'a str,
    pub tool: ToolFacts<'a>,
    /// The call's arguments: an object (anything else is read as no arguments).
    pub arguments: &'a Value,
    /// The client's name from its `clientInfo`, or empty.
    pub client: &'a str,
    /// When the call is made, RFC 3339 in UTC (`2026-11-29T07:00:00Z`).
    pub time: &'a str,
}
