//! Interceptors asked at discovery (`definition` phase): each new or changed definition
//! an upstream lists is put to the organization's interceptors before it is judged, a
//! few at a time. A refusal becomes a finding of high severity (`interceptor`), which
//! holds the definition for review like the scanner's do; so does an interceptor set to
//! refuse when it fails. Definitions are not rewritten: pinning judges what the upstream
//! sent. An unchanged definition is not asked again.

use std::collections::HashMap;

use guidepost_domain::*;
use serde_json::{Value, json};

use super::intercept::{About, Armed, Failure, armed, exchange, record_about};
use crate::{CoreError, Platform};

/// How many definitions are asked at once, per interceptor.
const AT_ONCE: usize = 8;
/// The rule of an interceptor's finding.
pub const INTERCEPTOR_RULE: &str = "interceptor";

/// One definition to ask about: its name and what the upstream listed.
pub struct Listed<'a> {
    pub name: &'a str,
    pub definition: &'a Value,
}

/// The findings the organization's interceptors make on `listed` (new or changed
/// definitions of `upstream`), by definition name; none when no interceptor is asked at
/// discovery.
pub async fn judge(
    platform: &Platform,
    upstream: &Upstream,
    kind: DefinitionKind,
    listed: &[Listed<'_>],
) -> Result<HashMap<String, Vec<Finding>>, CoreError> {
    let mut found: HashMap<String, Vec<Finding>> = HashMap::new();
    if listed.is_empty() {
        return Ok(found);
    }
    let chain = armed(platform, &upstream.org_id).await?;
    for armed in chain
        .iter()
        .filter(|armed| armed.interceptor.asked_on(InterceptPhase::Definition))
    {
        // A few at a time: the futures are made at once, so that none is generic over
        // the borrow (which a lazily mapped stream would be, and not `Send` for it).
        let mut asked = Vec::with_capacity(listed.len());
        for chunk in listed.chunks(AT_ONCE) {
            let asking: Vec<_> = chunk
                .iter()
                .map(|one| ask(platform, armed, upstream, kind, one))
                .collect();
            asked.extend(futures::future::join_all(asking).await);
        }
        for (name, answer) in asked {
            if let Some(finding) = finding(platform, armed, upstream, name, answer).await {
                found.entry(name.to_owned()).or_default().push(finding);
            }
        }
    }
    Ok(found)
}

async fn ask<'a>(
    platform: &Platform,
    armed: &Armed,
    upstream: &Upstream,
    kind: DefinitionKind,
    one: &Listed<'a>,
) -> (&'a str, Result<InterceptAnswer, Failure>) {
    let body = body(armed, upstream, kind, one);
    (one.name, exchange(platform, armed, &body).await)
}

fn body(armed: &Armed, upstream: &Upstream, kind: DefinitionKind, one: &Listed<'_>) -> Value {
    let interceptor = &armed.interceptor;
    json!({
        "event": list_method(kind),
        "phase": InterceptPhase::Definition,
        "mode": interceptor.mode,
        "interceptor": {"id": interceptor.id, "name": interceptor.name},
        "payload": one.definition,
        "context": {
            "upstream": {"id": upstream.id, "name": upstream.name},
            "kind": kind,
            "name": one.name,
            "time": Timestamp::now().to_rfc3339_millis(),
        },
    })
}

/// The MCP method an upstream listed the definition with.
fn list_method(kind: DefinitionKind) -> &'static str {
    match kind {
        DefinitionKind::Tool => "tools/list",
        DefinitionKind::Prompt => "prompts/list",
        DefinitionKind::Resource => "resources/list",
        DefinitionKind::ResourceTemplate => "resources/templates/list",
    }
}

/// What one answer makes of a definition: a finding, or nothing. Audited as at call time.
async fn finding(
    platform: &Platform,
    armed: &Armed,
    upstream: &Upstream,
    name: &str,
    answer: Result<InterceptAnswer, Failure>,
) -> Option<Finding> {
    let interceptor = &armed.interceptor;
    let about = || About {
        server: None,
        upstream: Some(&upstream.id),
        tool: Some(name),
    };
    let enforced = interceptor.mode == InterceptMode::Enforce;
    let held = |matched: String| Finding {
        rule: INTERCEPTOR_RULE.to_owned(),
        severity: "high".to_owned(),
        path: String::new(),
        matched,
        span: None,
    };
    let failure = match answer {
        Ok(InterceptAnswer::Allow) => return None,
        Ok(InterceptAnswer::Deny { reason }) => {
            let reason = reason.unwrap_or_default();
            let detail = json!({"phase": "definition", "action": "deny", "reason": reason});
            if !enforced {
                let action = AuditAction::InterceptorAudited;
                record_about(platform, interceptor, about(), action, detail).await;
                return None;
            }
            let said = format!("{}: {}", interceptor.name, reason.trim());
            return Some(held(prefix_chars(&said, 120).to_owned()));
        }
        Ok(InterceptAnswer::Modify { .. }) => Failure::Unreadable(
            "a definition is not rewritten: pinning judges what the upstream sent".into(),
        ),
        Err(failure) => failure,
    };
    metrics::counter!("guidepost_interceptor_failures_total").increment(1);
    // At most once an hour per interceptor and node, as at call time: a discovery may
    // ask about hundreds of definitions.
    if platform
        .result_findings
        .due(&format!("interceptor-failed/{}", interceptor.id))
    {
        let detail = json!({"phase": "definition", "failure": failure.to_string(),
            "on_failure": interceptor.on_failure, "mode": interceptor.mode});
        let action = AuditAction::InterceptorFailed;
        record_about(platform, interceptor, about(), action, detail).await;
    }
    let refuses = enforced && interceptor.on_failure == InterceptFailure::Closed;
    refuses.then(|| {
        held(format!(
            "{}: could not judge it ({failure})",
            interceptor.name
        ))
    })
}
