//! The review queue (pending and quarantined tools of every upstream, with a form per
//! upstream that approves its clean ones at once) and a tool's review page: what changed against the definition last approved, as a line diff with hidden
//! characters shown as badges, the scanner's findings, and the approve and reject forms.

use askama::Template;
use axum::extract::{Path, Query, State};
use guidepost_core::Permission;
use guidepost_core::upstreams::{self, overview};
use guidepost_domain::*;
use serde::Deserialize;

use super::state_tone;
use super::visible::{self, DiffBlock, DiffLine, Visible};
use crate::Dashboard;
use crate::confirm::{self, Confirm, Instead, Question};
use crate::page::{self, Chrome, Done, PageError, PageResult};
use crate::page::{Notice, Section};
use crate::session::{Signed, SignedForm};

#[derive(Template)]
#[template(path = "gateway/review.html")]
struct QueuePage {
    chrome: Chrome,
    tools: Vec<QueueRow>,
    /// Per upstream with clean tools waiting, for a member who runs the gateway.
    bulk: Vec<BulkRow>,
}

/// An upstream whose clean tools can be approved at once.
struct BulkRow {
    upstream_id: String,
    upstream_name: String,
    clean: usize,
}

struct QueueRow {
    upstream_id: String,
    upstream_name: String,
    /// `tool`, `prompt`, `resource`, `resource_template` (for links).
    kind: &'static str,
    kind_label: &'static str,
    name: String,
    state: &'static str,
    tone: &'static str,
    findings: usize,
}

/// `GET /app/gateway/review`.
pub(crate) async fn queue(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let title = "Review queue";
    let chrome = Chrome::new(&app, &signed, title, Section::Gateway, done.done.as_deref()).await?;
    let queue = overview::review_queue(&app.platform, signed.caller()).await?;
    let mut bulk: Vec<BulkRow> = Vec::new();
    for awaiting in queue.iter().filter(|a| upstreams::is_clean(&a.tool)) {
        match bulk
            .iter_mut()
            .find(|b| b.upstream_id == awaiting.upstream_id.as_str())
        {
            Some(row) => row.clean += 1,
            None => bulk.push(BulkRow {
                upstream_id: awaiting.upstream_id.to_string(),
                upstream_name: awaiting.upstream_name.clone(),
                clean: 1,
            }),
        }
    }
    if !chrome.can_run_gateway {
        bulk.clear();
    }
    let tools = queue
        .into_iter()
        .map(|awaiting| QueueRow {
            upstream_id: awaiting.upstream_id.to_string(),
            upstream_name: awaiting.upstream_name,
            kind: awaiting.tool.kind.as_str(),
            kind_label: awaiting.tool.kind.label(),
            state: awaiting.tool.state.as_str(),
            tone: state_tone(awaiting.tool.state),
            findings: awaiting.tool.findings.len(),
            name: awaiting.tool.name,
        })
        .collect();
    Ok(page::render(&QueuePage {
        chrome,
        tools,
        bulk,
    }))
}

/// `POST /app/gateway/upstreams/{id}/approve-clean`: every clean tool of the upstream is
/// approved; the others still wait in the queue.
pub(crate) async fn approve_clean(
    State(app): State<Dashboard>,
    Path(id): Path<String>,
    SignedForm { signed, .. }: SignedForm<serde::de::IgnoredAny>,
) -> PageResult {
    let id: UpstreamId = page::id_or_not_found(&id)?;
    upstreams::approve_clean(&app.platform, signed.caller(), &id).await?;
    Ok(page::done("/app/gateway/review", Notice::Approved))
}

#[derive(Template)]
#[template(path = "gateway/tool.html")]
struct ToolPage {
    chrome: Chrome,
    upstream_id: String,
    upstream_name: String,
    kind: &'static str,
    kind_label: &'static str,
    name: String,
    state: &'static str,
    tone: &'static str,
    awaits_review: bool,
    rejected: bool,
    hash: String,
    /// What changed against the approved definition (empty when nothing did).
    changes: Vec<DiffBlock>,
    /// Set when no definition was ever approved under this name: all of it is new.
    all_new: Option<Vec<DiffLine>>,
    findings: Vec<FindingRow>,
    definition: Vec<Visible>,
    hidden_in_definition: usize,
}

struct FindingRow {
    rule: String,
    severity: String,
    tone: &'static str,
    path: String,
    excerpt: Visible,
    /// The text at `path` around the finding's span, when it has one.
    context: Option<InContext>,
}

/// A finding's span in its text, with some text either side.
struct InContext {
    cut_before: bool,
    before: Visible,
    marked: Visible,
    after: Visible,
    cut_after: bool,
}

/// Characters shown either side of a finding's span.
const CONTEXT_CHARS: usize = 60;

/// The text at a finding's path around its span (`None` for a finding without a span,
/// or whose span does not fit the text, as after a change of definition).
fn in_context(definition: &serde_json::Value, finding: &Finding) -> Option<InContext> {
    let span = finding.span?;
    let text = upstreams::scan::text_at(definition, &finding.path)?;
    let marked = text.get(span.start..span.end)?;
    let head = &text[..span.start];
    let tail = &text[span.end..];
    let before_start = head
        .char_indices()
        .rev()
        .nth(CONTEXT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let after_end = tail
        .char_indices()
        .nth(CONTEXT_CHARS)
        .map_or(tail.len(), |(i, _)| i);
    Some(InContext {
        cut_before: before_start > 0,
        before: Visible::of(&head[before_start..]),
        marked: Visible::of(marked),
        after: Visible::of(&tail[..after_end]),
        cut_after: after_end < tail.len(),
    })
}

/// Which kind of definition a review page or decision is about (`?kind=` or a form
/// field; a tool when absent).
#[derive(serde::Deserialize, Default)]
pub(crate) struct KindOf {
    #[serde(default)]
    kind: Option<String>,
}

impl KindOf {
    fn kind(&self) -> Result<DefinitionKind, PageError> {
        match self.kind.as_deref() {
            None | Some("") => Ok(DefinitionKind::Tool),
            Some(kind) => DefinitionKind::parse(kind).ok_or(PageError::NotFound),
        }
    }
}

/// `GET /app/gateway/upstreams/{id}/tools/{name}?kind=`.
pub(crate) async fn tool(
    State(app): State<Dashboard>,
    signed: Signed,
    Path((id, name)): Path<(String, String)>,
    Query(of): Query<KindOf>,
) -> PageResult {
    let id: UpstreamId = page::id_or_not_found(&id)?;
    let kind = of.kind()?;
    let caller = signed.caller();
    let upstream = upstreams::get(&app.platform, caller, &id).await?;
    let review = overview::tool_review(&app.platform, caller, &id, kind, &name).await?;
    let tool = &review.tool;
    let title = format!("Review {}", tool.name);
    let chrome = Chrome::new(&app, &signed, title, Section::Gateway, None).await?;
    let definition = visible::pretty_lines(&tool.definition);
    Ok(page::render(&ToolPage {
        chrome,
        upstream_id: upstream.id.to_string(),
        upstream_name: upstream.name,
        kind: kind.as_str(),
        kind_label: kind.label(),
        name: tool.name.clone(),
        state: tool.state.as_str(),
        tone: state_tone(tool.state),
        awaits_review: overview::awaits_review(tool.state),
        rejected: tool.state == ToolState::Rejected,
        hash: tool.definition_hash.clone(),
        changes: visible::blocks(&review.changes),
        all_new: review
            .approved
            .is_none()
            .then(|| visible::all_added(&tool.definition)),
        findings: tool
            .findings
            .iter()
            .map(|f| FindingRow {
                rule: f.rule.clone(),
                severity: f.severity.clone(),
                tone: if upstreams::scan::quarantines(f) {
                    "danger"
                } else {
                    "warn"
                },
                path: f.path.clone(),
                excerpt: Visible::of(&f.matched),
                context: in_context(&tool.definition, f),
            })
            .collect(),
        hidden_in_definition: definition.iter().map(Visible::hidden_count).sum(),
        definition,
    }))
}

/// `POST …/tools/{name}/approve`: the tool's current definition is offered.
pub(crate) async fn approve(
    State(app): State<Dashboard>,
    Path((id, name)): Path<(String, String)>,
    SignedForm { signed, form }: SignedForm<ApproveForm>,
) -> PageResult {
    let kind = form.of.kind()?;
    if !form.confirm.given()
        && let Some(question) = approval_question(&app, &signed, &id, kind, &name).await?
    {
        return confirm::ask(&app, &signed, Permission::Gateway, question).await;
    }
    decide(&app, &signed, &id, kind, &name, ToolState::Approved).await?;
    Ok(page::done("/app/gateway/review", Notice::Approved))
}

/// An approval as posted: the definition's kind, and whether the person has confirmed it.
#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    #[serde(flatten)]
    of: KindOf,
    #[serde(flatten)]
    confirm: Confirm,
}

/// What to ask before approving a definition with findings of high severity (those that
/// quarantine it); `None` when it has none, and approving needs no second thought.
async fn approval_question(
    app: &Dashboard,
    signed: &Signed,
    id: &str,
    kind: DefinitionKind,
    name: &str,
) -> Result<Option<Question>, PageError> {
    let id: UpstreamId = page::id_or_not_found(id)?;
    let review = overview::tool_review(&app.platform, signed.caller(), &id, kind, name).await?;
    let high = review
        .tool
        .findings
        .iter()
        .filter(|f| upstreams::scan::quarantines(f))
        .count();
    if high == 0 {
        return Ok(None);
    }
    let path = format!(
        "/app/gateway/upstreams/{id}/tools/{}",
        page::percent_encode(name)
    );
    let findings = if high == 1 {
        "1 finding".to_owned()
    } else {
        format!("{high} findings")
    };
    Ok(Some(Question {
        title: format!("Approve {name} despite its findings?"),
        message: format!(
            "The scan found {findings} of high severity in this {}: text that may steer an \
             agent. Approved, agents see it exactly as it is. Reject it unless you have read \
             the highlighted text and trust it.",
            kind.label()
        ),
        action: format!("{path}/approve"),
        button: format!("Approve {name} anyway"),
        back: format!("{path}?kind={}", kind.as_str()),
        section: Section::Gateway,
        instead: Some(Instead {
            action: format!("{path}/reject"),
            button: format!("Reject {name}"),
        }),
        fields: vec![("kind", kind.as_str().to_owned())],
    }))
}

/// `POST …/tools/{name}/reject`: the tool is not offered and calls to it are refused.
pub(crate) async fn reject(
    State(app): State<Dashboard>,
    Path((id, name)): Path<(String, String)>,
    SignedForm { signed, form }: SignedForm<KindOf>,
) -> PageResult {
    decide(&app, &signed, &id, form.kind()?, &name, ToolState::Rejected).await?;
    Ok(page::done("/app/gateway/review", Notice::Rejected))
}

async fn decide(
    app: &Dashboard,
    signed: &Signed,
    id: &str,
    kind: DefinitionKind,
    name: &str,
    state: ToolState,
) -> Result<(), PageError> {
    let id: UpstreamId = page::id_or_not_found(id)?;
    upstreams::decide(&app.platform, signed.caller(), &id, kind, name, state).await?;
    Ok(())
}
