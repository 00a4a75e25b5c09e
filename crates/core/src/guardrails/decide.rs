//! The decision on one tool call, on the hot path: the organization's policies in force,
//! compiled once per node and server (`cache`), asked about the call's facts. A call on
//! an organization without policies costs one cache lookup.
//!
//! Also the same decision on a sample call ("would this call pass?"), against the
//! policies in force or a draft.

use std::sync::Arc;

use guidepost_domain::*;
use guidepost_policy::{CallFacts, CallPolicies};
pub use guidepost_policy::{Decision, Denial};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{Caller, CoreError, Platform};

pub use guidepost_policy::Caller as PolicyCaller;
pub use guidepost_policy::{ToolFacts, ToolHints};

/// An organization's policies as a node holds them for its servers.
pub(crate) enum InForce {
    /// None published, or turned off: calls are not evaluated.
    Nothing,
    /// Boxed: a compiled set is large, and most organizations have none. With the
    /// version it was published as (what an approval is bound to).
    Policies(Box<CallPolicies>, i64),
    /// Stored, but this build cannot compile them (published by another version): every
    /// call is refused, rather than let through unguarded.
    Unreadable(String),
}

/// One call as the MCP layer knows it.
pub struct CallToDecide<'a> {
    pub server: &'a McpServer,
    pub caller: PolicyCaller<'a>,
    pub tool: ToolFacts<'a>,
    pub arguments: &'a Value,
    /// The client's name, or empty: asked only when there are policies to read it.
    pub client: &'a (dyn Fn() -> String + Sync),
}

/// The decision on a call, and the version of the policies that made it (0 when none
/// are in force).
pub struct Decided {
    pub decision: Decision,
    pub version: i64,
}

/// Whether `call` may go on under its organization's policies in force.
pub async fn decide(platform: &Platform, call: &CallToDecide<'_>) -> Result<Decided, CoreError> {
    let in_force = in_force(platform, call.server).await?;
    let (decision, version) = match &*in_force {
        InForce::Nothing => {
            return Ok(Decided {
                decision: Decision::Allow,
                version: 0,
            });
        }
        InForce::Unreadable(why) => (
            Decision::Deny(Denial {
                policy: None,
                message: format!(
                    "Refused: this organization's policies cannot be read by this version of \
                     Guidepost ({why}); ask the organization to publish them again."
                ),
            }),
            0,
        ),
        InForce::Policies(policies, version) => {
            let time = Timestamp::now().to_rfc3339_millis();
            let client = (call.client)();
            (policies.decide(&facts(call, &client, &time)), *version)
        }
    };
    if let Decision::Deny(_) = decision {
        metrics::counter!("guidepost_policy_refusals_total").increment(1);
    }
    Ok(Decided { decision, version })
}

fn facts<'a>(call: &'a CallToDecide<'a>, client: &'a str, time: &'a str) -> CallFacts<'a> {
    CallFacts {
        caller: call.caller,
        server_id: call.server.id.as_str(),
        server_slug: call.server.slug.as_str(),
        tool: call.tool,
        arguments: call.arguments,
        client,
        time,
    }
}

/// The policies in force for `server`'s organization: from this node's cache, or read
/// and compiled once.
async fn in_force(platform: &Platform, server: &McpServer) -> Result<Arc<InForce>, CoreError> {
    if let Some(cached) = platform.cache.call_policies(&server.id) {
        return Ok(cached);
    }
    let read_at = platform.cache.epoch();
    let stored = platform.store.current_policies(&server.org_id).await?;
    let compiled = Arc::new(match stored {
        None => InForce::Nothing,
        Some(version) if version.source.trim().is_empty() => InForce::Nothing,
        Some(version) => match CallPolicies::compile(&version.source) {
            Ok(compiled) if compiled.policies.is_empty() => InForce::Nothing,
            Ok(compiled) => InForce::Policies(Box::new(compiled.policies), version.version),
            Err(why) => InForce::Unreadable(why.to_string()),
        },
    });
    platform
        .cache
        .keep_call_policies(&server.id, &compiled, read_at);
    Ok(compiled)
}

/// Who a sample call is made as.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SampleCaller {
    /// A signed-in person with this (verified) email.
    Person {
        email: String,
        /// The issuer URL of the identity provider they signed in at; the platform's
        /// emailed code when left out.
        #[serde(default)]
        identity_provider: Option<String>,
        /// The groups that provider's ID token named.
        #[serde(default)]
        groups: Vec<String>,
        /// Their role in the organization (`owner`, `editor`, `viewer`), if they are a
        /// member.
        #[serde(default)]
        role: Option<String>,
    },
    /// An end user known by tracking id only.
    EndUser,
    Anonymous,
}

/// A sample call to put to the policies.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SampleCall {
    /// A draft to try instead of the policies in force.
    #[serde(default)]
    pub source: Option<String>,
    /// The server the call is made on.
    #[schema(value_type = String)]
    pub server_id: ServerId,
    /// The tool as the agent calls it; an upstream's tool attached to the server is
    /// found with its upstream and hints.
    pub tool: String,
    #[serde(default)]
    pub arguments: Value,
    pub caller: SampleCaller,
    #[serde(default)]
    pub client: String,
    /// The tool's MCP annotations, for a tool that is not an upstream's (Guidepost's own).
    #[serde(default)]
    pub annotations: Option<Value>,
}

/// What the policies decide on a sample call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SampleDecision {
    /// `allow`, `deny`, or `approval` (the call waits for the approval a policy asks).
    pub decision: &'static str,
    /// The policy that refused it, if one did.
    pub policy: Option<String>,
    /// What the agent would read.
    pub message: Option<String>,
    /// The version the call was put to; none for a draft or when none is in force.
    pub version: Option<i64>,
}

/// Puts a sample call to the policies in force, or to a draft: what a call like it would
/// meet. Nothing is published or recorded; it is for who may publish (drafting).
pub async fn try_call(
    platform: &Platform,
    caller: &Caller,
    sample: &SampleCall,
) -> Result<SampleDecision, CoreError> {
    caller.require(crate::Permission::Gateway)?;
    let server = platform
        .store
        .get_server(caller.org(), &sample.server_id)
        .await?;
    let (source, version) = match &sample.source {
        Some(draft) => (draft.clone(), None),
        None => match platform.store.current_policies(caller.org()).await? {
            Some(current) => (current.source, Some(current.version)),
            None => (String::new(), None),
        },
    };
    NewPolicyVersion::check_source(&source)?;
    check_sample(sample)?;
    let compiled = CallPolicies::compile(&source).map_err(super::policies::rejected)?;
    let offered = crate::upstreams::offered_tool(platform, &server, &sample.tool).await?;
    let (own_name, upstream, annotations) = match &offered {
        Some((tool, _)) => (
            tool.tool.as_str(),
            Some(tool.prefix.as_str()),
            tool.definition.get("annotations"),
        ),
        None => (sample.tool.as_str(), None, sample.annotations.as_ref()),
    };
    let person_id = format!("sample-{}", sample.server_id);
    let policy_caller = match &sample.caller {
        SampleCaller::Person {
            email,
            identity_provider,
            groups,
            role,
        } => PolicyCaller::Person {
            id: &person_id,
            email,
            identity_provider: identity_provider.as_deref().unwrap_or("platform"),
            groups,
            role: role.as_deref(),
        },
        SampleCaller::EndUser => PolicyCaller::EndUser { id: &person_id },
        SampleCaller::Anonymous => PolicyCaller::Anonymous,
    };
    let call = CallToDecide {
        server: &server,
        caller: policy_caller,
        tool: ToolFacts {
            name: &sample.tool,
            tool: own_name,
            upstream,
            hints: ToolHints::from_annotations(annotations),
        },
        arguments: &sample.arguments,
        client: &|| sample.client.clone(),
    };
    let decision = match compiled.policies.is_empty() {
        true => Decision::Allow,
        false => compiled.policies.decide(&facts(
            &call,
            &sample.client,
            &Timestamp::now().to_rfc3339_millis(),
        )),
    };
    Ok(match decision {
        Decision::Allow => SampleDecision {
            decision: "allow",
            policy: None,
            message: None,
            version,
        },
        Decision::Deny(denial) => SampleDecision {
            decision: "deny",
            policy: denial.policy,
            message: Some(denial.message),
            version,
        },
        Decision::Ask(asked) => SampleDecision {
            decision: "approval",
            message: Some(asked.message()),
            policy: Some(asked.policy),
            version,
        },
    })
}

fn check_sample(sample: &SampleCall) -> Result<(), CoreError> {
    validate_text("tool", &sample.tool, Limits::TOOL_NAME)?;
    if sample.client.len() > Limits::CLIENT_INFO {
        let message = format!("At most {} characters.", Limits::CLIENT_INFO);
        return Err(ValidationError::new("client", message).into());
    }
    if let SampleCaller::Person {
        email,
        identity_provider,
        groups,
        role,
    } = &sample.caller
    {
        validate_text("caller.email", email, Limits::EMAIL)?;
        if let Some(issuer) = identity_provider {
            validate_text("caller.identity_provider", issuer, Limits::ORIGIN)?;
        }
        if SignInFacts::usable_groups(groups.iter().cloned()).len() != groups.len() {
            let message = format!(
                "At most {} distinct groups, each of 1 to {} characters without control \
                 characters.",
                SignInFacts::MAX_GROUPS,
                SignInFacts::MAX_GROUP_LEN
            );
            return Err(ValidationError::new("caller.groups", message).into());
        }
        if role
            .as_deref()
            .is_some_and(|role| Role::parse(role).is_none())
        {
            let message = "One of owner, editor, viewer.";
            return Err(ValidationError::new("caller.role", message).into());
        }
    }
    if !(sample.arguments.is_object() || sample.arguments.is_null()) {
        return Err(ValidationError::new("arguments", "must be an object").into());
    }
    if sample.arguments.to_string().len() > Limits::RECORDED_ARGUMENTS {
        let message = format!("At most {} bytes of JSON.", Limits::RECORDED_ARGUMENTS);
        return Err(ValidationError::new("arguments", message).into());
    }
    Ok(())
}
