//! Asking an organization's interceptors at call time, in the order they were registered:
//! before the tool runs (`before`: they may refuse the call or rewrite its arguments,
//! which the policies then judge) and on its result (`after`: they may withhold or
//! rewrite it). A call on an organization without interceptors costs one cache lookup.
//!
//! The contract (docs/user/interceptors.md): Guidepost POSTs a JSON body signed like a
//! webhook delivery; a 2xx answer carries `{"action": "allow" | "deny" | "modify"}`. No
//! answer in time, another status or another body is a failure, which lets the call go
//! on or refuses it as the interceptor is set (`on_failure`). In `audit` mode answers are
//! recorded in the audit log and not carried out.
//!
//! How a request leaves the host (the outbound fence) is the binary's business
//! ([`HookTransport`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use guidepost_domain::*;
use serde_json::{Value, json};

use super::decide::{PolicyCaller, ToolFacts};
use crate::{CoreError, Platform};

/// POSTs one interceptor request and reads its answer.
#[async_trait]
pub trait HookTransport: Send + Sync {
    /// `body` to `url` with `headers`, waiting at most `timeout` for the whole answer.
    async fn exchange(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
        timeout: Duration,
    ) -> Result<HookReply, HookFault>;
}

/// An interceptor's HTTP answer.
pub struct HookReply {
    pub status: u16,
    pub body: String,
}

/// Why an interceptor gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum HookFault {
    /// The outbound fence refused the URL, or this process calls no interceptors.
    #[error("its URL cannot be reached from here: {0}")]
    Refused(String),
    #[error("no answer within {0} ms")]
    TimedOut(u32),
    #[error("no answer: {0}")]
    NoAnswer(String),
    #[error("its answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// The transport of a process that serves no tool calls (an operator's command).
pub struct NoHooks;

#[async_trait]
impl HookTransport for NoHooks {
    async fn exchange(
        &self,
        _url: &str,
        _headers: &[(&'static str, String)],
        _body: &str,
        _timeout: Duration,
    ) -> Result<HookReply, HookFault> {
        Err(HookFault::Refused(
            "this process does not call interceptors".into(),
        ))
    }
}

/// An organization's interceptors as a node holds them for its servers.
pub struct Interceptors(Vec<Armed>);

/// An interceptor with its secret opened, or why it cannot be (then every request to it
/// fails, and its `on_failure` decides).
pub(super) struct Armed {
    pub(super) interceptor: Interceptor,
    secret: Result<String, String>,
}

/// One call as the MCP layer knows it.
pub struct InterceptedCall<'a> {
    pub server: &'a McpServer,
    pub caller: PolicyCaller<'a>,
    pub tool: ToolFacts<'a>,
    pub client: &'a (dyn Fn() -> String + Sync),
}

/// What the interceptors make of a call, or of its result.
#[derive(Debug)]
pub enum Verdict {
    /// Go on: unchanged (`None`), or with this payload instead.
    Go(Option<Value>),
    /// Refused (before) or withheld (after), with the text the agent reads.
    Refused(String),
}

/// Whether any interceptor of `server`'s organization is asked in `phase`: when none is,
/// a call builds nothing for them.
pub async fn asks(
    platform: &Platform,
    server: &McpServer,
    phase: InterceptPhase,
) -> Result<bool, CoreError> {
    let chain = in_force(platform, server).await?;
    Ok(chain
        .0
        .iter()
        .any(|armed| armed.interceptor.asked_on(phase)))
}

/// Before the tool runs: the call's `arguments`, as the interceptors let it go on.
pub async fn before(
    platform: &Platform,
    call: &InterceptedCall<'_>,
    arguments: &Value,
) -> Result<Verdict, CoreError> {
    let payload = || json!({"name": call.tool.name, "arguments": arguments});
    ask_all(platform, call, InterceptPhase::Request, payload, None).await
}

/// On the tool's `result` (`content`, `structuredContent`, `isError`, as MCP writes it):
/// the result as the interceptors let it reach the agent. Build it only when [`asks`]
/// says some interceptor reads it.
pub async fn after(
    platform: &Platform,
    call: &InterceptedCall<'_>,
    arguments: &Value,
    result: Value,
) -> Result<Verdict, CoreError> {
    let request = json!({"name": call.tool.name, "arguments": arguments});
    ask_all(
        platform,
        call,
        InterceptPhase::Result,
        || result,
        Some(request),
    )
    .await
}

async fn ask_all(
    platform: &Platform,
    call: &InterceptedCall<'_>,
    phase: InterceptPhase,
    payload: impl FnOnce() -> Value,
    request: Option<Value>,
) -> Result<Verdict, CoreError> {
    let chain = in_force(platform, call.server).await?;
    // Collected: a peeked filter held across the awaits below makes the future not
    // `Send` for every lifetime, as the server's handler needs.
    let asked: Vec<&Armed> = chain
        .0
        .iter()
        .filter(|armed| armed.interceptor.asked_on(phase))
        .collect();
    if asked.is_empty() {
        // Nothing is built for interceptors that are not there.
        return Ok(Verdict::Go(None));
    }
    let mut payload = payload();
    let mut changed = false;
    for armed in asked {
        let question = Question {
            phase,
            call,
            payload: &payload,
            request: request.as_ref(),
        };
        let answer = ask(platform, armed, &question).await;
        match judge(platform, armed, &question, answer).await {
            Step::Next => {}
            Step::Replace(new) => {
                payload = new;
                changed = true;
            }
            Step::Stop(text) => {
                metrics::counter!("guidepost_interceptor_refusals_total").increment(1);
                return Ok(Verdict::Refused(text));
            }
        }
    }
    Ok(Verdict::Go(changed.then_some(payload)))
}

/// What one interceptor is asked.
struct Question<'a> {
    phase: InterceptPhase,
    call: &'a InterceptedCall<'a>,
    payload: &'a Value,
    request: Option<&'a Value>,
}

enum Step {
    Next,
    Replace(Value),
    Stop(String),
}

/// Why an answer could not be used.
pub(super) enum Failure {
    Fault(HookFault),
    Status(u16),
    Unreadable(String),
    NoSecret(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Fault(fault) => write!(f, "{fault}"),
            Failure::Status(status) => write!(f, "it answered HTTP {status}"),
            Failure::Unreadable(why) => write!(f, "its answer is not the contract's: {why}"),
            Failure::NoSecret(why) => write!(f, "its signing secret cannot be opened: {why}"),
        }
    }
}

async fn ask(
    platform: &Platform,
    armed: &Armed,
    question: &Question<'_>,
) -> Result<InterceptAnswer, Failure> {
    let answer = exchange(platform, armed, &body(&armed.interceptor, question)).await?;
    if let InterceptAnswer::Modify { payload } = &answer {
        check_payload(question.phase, payload)?;
    }
    Ok(answer)
}

/// Sends `body` to the interceptor, signed, and reads its answer as the contract says.
pub(super) async fn exchange(
    platform: &Platform,
    armed: &Armed,
    body: &Value,
) -> Result<InterceptAnswer, Failure> {
    let secret = armed
        .secret
        .as_ref()
        .map_err(|why| Failure::NoSecret(why.clone()))?;
    let interceptor = &armed.interceptor;
    let body = body.to_string();
    let unix_seconds = Timestamp::now().micros() / 1_000_000;
    let headers = [
        ("content-type", "application/json".to_owned()),
        (SIGNATURE_HEADER, signature(secret, unix_seconds, &body)),
        ("guidepost-interceptor", interceptor.id.to_string()),
    ];
    let timeout = Duration::from_millis(u64::from(interceptor.timeout_ms));
    let reply = platform
        .hooks
        .exchange(&interceptor.url, &headers, &body, timeout)
        .await
        .map_err(Failure::Fault)?;
    if !(200..300).contains(&reply.status) {
        return Err(Failure::Status(reply.status));
    }
    let answer: InterceptAnswer = serde_json::from_str(&reply.body)
        .map_err(|error| Failure::Unreadable(error.to_string()))?;
    match &answer {
        InterceptAnswer::Deny {
            reason: Some(reason),
        } if reason.len() > REASON_MAX => Err(Failure::Unreadable(format!(
            "a reason has at most {REASON_MAX} bytes"
        ))),
        _ => Ok(answer),
    }
}

/// The longest reason an interceptor may give the agent.
const REASON_MAX: usize = 1_000;

/// What a `modify` may put in place: the arguments object, or a result with its
/// `content` list.
fn check_payload(phase: InterceptPhase, payload: &Value) -> Result<(), Failure> {
    let fits = match phase {
        InterceptPhase::Request => payload.is_object(),
        InterceptPhase::Result => payload
            .get("content")
            .and_then(Value::as_array)
            .is_some_and(|blocks| blocks.iter().all(|block| block.get("type").is_some())),
        InterceptPhase::Definition => false,
    };
    match (fits, phase) {
        (true, _) => Ok(()),
        (false, InterceptPhase::Request) => Err(Failure::Unreadable(
            "a request's payload is the arguments object".into(),
        )),
        (false, InterceptPhase::Result) => Err(Failure::Unreadable(
            "a result's payload has a `content` list of typed blocks".into(),
        )),
        (false, InterceptPhase::Definition) => Err(Failure::Unreadable(
            "a definition is not rewritten: pinning judges what the upstream sent".into(),
        )),
    }
}

fn body(interceptor: &Interceptor, question: &Question<'_>) -> Value {
    let call = question.call;
    let caller = json!(call.caller);
    let hints = call.tool.hints;
    let mut body = json!({
        "event": "tools/call",
        "phase": question.phase,
        "mode": interceptor.mode,
        "interceptor": {"id": interceptor.id, "name": interceptor.name},
        "payload": question.payload,
        "context": {
            "server": {"id": call.server.id, "slug": call.server.slug},
            "tool": {
                "name": call.tool.name,
                "tool": call.tool.tool,
                "upstream": call.tool.upstream,
                "hints": {
                    "read_only": hints.read_only,
                    "destructive": hints.destructive,
                    "idempotent": hints.idempotent,
                    "open_world": hints.open_world,
                },
            },
            "caller": caller,
            "client": (call.client)(),
            "time": Timestamp::now().to_rfc3339_millis(),
        },
    });
    if let Some(request) = question.request {
        body["request"] = request.clone();
    }
    body
}

/// What the call does with one interceptor's answer, as the interceptor is set.
async fn judge(
    platform: &Platform,
    armed: &Armed,
    question: &Question<'_>,
    answer: Result<InterceptAnswer, Failure>,
) -> Step {
    let interceptor = &armed.interceptor;
    let enforced = interceptor.mode == InterceptMode::Enforce;
    let answer = match answer {
        Ok(answer) => answer,
        Err(failure) => {
            failed(platform, interceptor, question, &failure).await;
            let refuses = enforced && interceptor.on_failure == InterceptFailure::Closed;
            return match refuses {
                true => Step::Stop(failure_text(interceptor, question, &failure)),
                false => Step::Next,
            };
        }
    };
    if answer == InterceptAnswer::Allow {
        return Step::Next;
    }
    if !enforced {
        audited(platform, interceptor, question, &answer).await;
        return Step::Next;
    }
    match answer {
        InterceptAnswer::Allow => Step::Next,
        InterceptAnswer::Modify { payload } => Step::Replace(payload),
        InterceptAnswer::Deny { reason } => Step::Stop(denial_text(
            interceptor,
            question,
            reason.as_deref().map(clean_reason).as_deref(),
        )),
    }
}

/// The reason as one line of visible text: an interceptor's words reach the model.
fn clean_reason(reason: &str) -> String {
    let visible: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !is_hidden_char(*c))
        .collect();
    visible.trim().to_owned()
}

/// Whose interceptor it is, as the agent is told.
fn whose(interceptor: &Interceptor) -> &'static str {
    match interceptor
        .id
        .as_str()
        .starts_with(OperatorInterceptor::ID_PREFIX)
    {
        true => "the platform's",
        false => "the organization's",
    }
}

fn denial_text(interceptor: &Interceptor, question: &Question<'_>, reason: Option<&str>) -> String {
    let name = &interceptor.name;
    let whose = whose(interceptor);
    let tool = question.call.tool.name;
    let because = reason
        .filter(|reason| !reason.is_empty())
        .map(|reason| format!(": {reason}"))
        .unwrap_or_else(|| ".".to_owned());
    match question.phase {
        InterceptPhase::Result => {
            format!("The result of {tool} was withheld by {whose} interceptor `{name}`{because}")
        }
        // A call is asked before it runs and on its result only.
        InterceptPhase::Request | InterceptPhase::Definition => {
            format!("Refused by {whose} interceptor `{name}`{because}")
        }
    }
}

fn failure_text(interceptor: &Interceptor, question: &Question<'_>, failure: &Failure) -> String {
    let name = &interceptor.name;
    let whose = whose(interceptor);
    let what = match question.phase {
        InterceptPhase::Result => "the result",
        InterceptPhase::Request | InterceptPhase::Definition => "the call",
    };
    format!(
        "Refused: {whose} interceptor `{name}` could not judge {what} ({failure}), and it is \
         set to refuse when it cannot. Retry later, or tell the organization."
    )
}

/// A failure is counted and logged each time, and audited at most once an hour per
/// interceptor on each node.
async fn failed(
    platform: &Platform,
    interceptor: &Interceptor,
    question: &Question<'_>,
    failure: &Failure,
) {
    metrics::counter!("guidepost_interceptor_failures_total").increment(1);
    tracing::warn!(interceptor = %interceptor.id, %failure, "an interceptor failed");
    let key = format!("interceptor-failed/{}", interceptor.id);
    if !platform.result_findings.due(&key) {
        return;
    }
    let detail = json!({
        "phase": question.phase,
        "failure": failure.to_string(),
        "on_failure": interceptor.on_failure,
        "mode": interceptor.mode,
    });
    record(
        platform,
        interceptor,
        question,
        AuditAction::InterceptorFailed,
        detail,
    )
    .await;
}

/// In audit mode, what the interceptor would have done.
async fn audited(
    platform: &Platform,
    interceptor: &Interceptor,
    question: &Question<'_>,
    answer: &InterceptAnswer,
) {
    let detail = match answer {
        InterceptAnswer::Deny { reason } => {
            json!({"phase": question.phase, "action": "deny", "reason": reason})
        }
        InterceptAnswer::Modify { payload } => {
            json!({"phase": question.phase, "action": "modify", "payload": payload})
        }
        InterceptAnswer::Allow => return,
    };
    record(
        platform,
        interceptor,
        question,
        AuditAction::InterceptorAudited,
        detail,
    )
    .await;
}

async fn record(
    platform: &Platform,
    interceptor: &Interceptor,
    question: &Question<'_>,
    action: AuditAction,
    detail: Value,
) {
    let about = About {
        server: Some(&question.call.server.id),
        upstream: None,
        tool: Some(question.call.tool.name),
    };
    record_about(platform, interceptor, about, action, detail).await;
}

/// What an interceptor's audit event is about besides the interceptor.
pub(super) struct About<'a> {
    pub server: Option<&'a ServerId>,
    pub upstream: Option<&'a UpstreamId>,
    pub tool: Option<&'a str>,
}

pub(super) async fn record_about(
    platform: &Platform,
    interceptor: &Interceptor,
    about: About<'_>,
    action: AuditAction,
    detail: Value,
) {
    let event = AuditEvent {
        id: AuditEventId::generate(),
        org_id: interceptor.org_id.clone(),
        created_at: Timestamp::now(),
        actor: Actor::Platform.to_string(),
        actor_name: None,
        action: action.as_str().to_owned(),
        object_type: Some("interceptor".to_owned()),
        object_id: Some(interceptor.id.to_string()),
        object_name: Some(interceptor.name.clone()),
        upstream_id: about.upstream.cloned(),
        server_id: about.server.cloned(),
        tool: about.tool.map(str::to_owned),
        detail,
        upstream_name: None,
        server_name: None,
        text: String::new(),
    };
    if let Err(error) = platform.store.record_audit_event(&event).await {
        tracing::warn!(interceptor = %interceptor.id, %error, "could not audit an interceptor");
    }
}

/// The organization's interceptors for `server`: from this node's cache, or read and
/// their secrets opened once.
async fn in_force(platform: &Platform, server: &McpServer) -> Result<Arc<Interceptors>, CoreError> {
    if let Some(cached) = platform.cache.interceptors(&server.id) {
        return Ok(cached);
    }
    let read_at = platform.cache.epoch();
    let armed = armed(platform, &server.org_id).await?;
    let chain = Arc::new(Interceptors(armed));
    platform
        .cache
        .keep_interceptors(&server.id, &chain, read_at);
    Ok(chain)
}

/// The operator's interceptors, then the organization's, read now, their secrets opened.
pub(super) async fn armed(platform: &Platform, org: &OrgId) -> Result<Vec<Armed>, CoreError> {
    let stored = platform.store.interceptors(org).await?;
    let operator = platform
        .config
        .operator_interceptors
        .iter()
        .map(|run| Armed {
            interceptor: Interceptor {
                org_id: org.clone(),
                ..run.interceptor.clone()
            },
            secret: Ok(run.secret.clone()),
        });
    let armed = operator
        .chain(stored.into_iter().map(|sealed| {
            let context = super::interceptors::sealing_context(
                &sealed.interceptor.org_id,
                &sealed.interceptor.id,
            );
            let secret = match &platform.config.master_key {
                Some(key) => key
                    .open(&sealed.secret_sealed, &context)
                    .map_err(|why| why.to_string()),
                None => Err("this node runs without the master key".to_owned()),
            };
            Armed {
                interceptor: sealed.interceptor,
                secret,
            }
        }))
        .collect();
    Ok(armed)
}
