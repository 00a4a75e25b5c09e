//! Interceptors: an organization's own HTTP services that Guidepost asks at call time,
//! before a tool runs (`request`: allow, deny or rewrite the arguments) and before its
//! result reaches the agent (`result`: allow, deny or rewrite the result), and at
//! discovery on an upstream's new or changed definitions (`definition`: allow, or deny,
//! which holds the definition for review). This is where a
//! slower judge than Guidepost's own (an organization's classifier) plugs in.
//!
//! Shaped after the MCP interceptors proposal (SEP-1763: events and phases, validators
//! and mutators, an audit mode), over plain HTTPS with the webhooks' signature: the
//! proposal's `interceptor/invoke` is not settled, and an HTTP hook is what an
//! organization can run today.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{InterceptorId, OrgId, Timestamp};

string_enum! {
    /// When an interceptor is asked: before a tool runs, on its result, or on an
    /// upstream's new or changed definition at discovery (before it is offered).
    InterceptPhase {
        Request => "request",
        Result => "result",
        Definition => "definition",
    }
}

string_enum! {
    /// What a call meets when its interceptor fails (no answer in time, an error status,
    /// an answer that is not the contract's): it goes on (`open`) or is refused (`closed`).
    InterceptFailure {
        Open => "open",
        Closed => "closed",
    }
}

string_enum! {
    /// Whether an interceptor's answers are carried out (`enforce`) or only recorded in the
    /// audit log (`audit`), to try one on real traffic before it decides.
    InterceptMode {
        Enforce => "enforce",
        Audit => "audit",
    }
}

/// The shortest and longest wait for an interceptor's answer, and the default.
pub const INTERCEPT_TIMEOUT_MS: (u32, u32, u32) = (50, 10_000, 2_000);

/// An organization's interceptor, as the API shows it (its secret never again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Interceptor {
    #[schema(value_type = String)]
    pub id: InterceptorId,
    #[serde(skip)]
    pub org_id: OrgId,
    /// A name for people and for the agent's refusal text.
    pub name: String,
    /// Where Guidepost POSTs, signed with `Guidepost-Signature`.
    pub url: String,
    pub phases: Vec<InterceptPhase>,
    /// How long a call waits for the answer, in milliseconds.
    pub timeout_ms: u32,
    pub on_failure: InterceptFailure,
    pub mode: InterceptMode,
    pub created_at: Timestamp,
}

impl Interceptor {
    pub fn asked_on(&self, phase: InterceptPhase) -> bool {
        self.phases.contains(&phase)
    }
}

/// An interceptor the platform's operator runs for every organization
/// (`--operator-interceptors`): asked before the organization's own, signed with the
/// secret the operator chose. Its id is [`Self::ID_PREFIX`] and its place in the file.
#[derive(Clone)]
pub struct OperatorInterceptor {
    /// Its organization is each one it is asked for.
    pub interceptor: Interceptor,
    pub secret: String,
}

impl OperatorInterceptor {
    pub const ID_PREFIX: &str = "icp_operator_";
}

impl std::fmt::Debug for OperatorInterceptor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OperatorInterceptor")
            .field("interceptor", &self.interceptor)
            .field("secret", &"(hidden)")
            .finish()
    }
}

/// What an interceptor answers, in the body of a 2xx response.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum InterceptAnswer {
    /// Go on unchanged.
    Allow,
    /// Refuse the call (request) or withhold the result (result); the reason is shown to
    /// the agent.
    Deny {
        #[serde(default)]
        reason: Option<String>,
    },
    /// Go on with this payload instead: the request's `arguments` object, or the result
    /// (`content`, `structuredContent`, `isError`).
    Modify { payload: serde_json::Value },
}
