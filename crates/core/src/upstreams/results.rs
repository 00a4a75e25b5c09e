//! What an upstream's tool result may carry to an agent. Control, invisible and
//! bidirectional characters hide text from the person reading along but not from the
//! model, so they are stripped from every string of a result, as from walkthrough
//! content (`domain::is_hidden_char`), unless the organization keeps results raw. A
//! result that carried any is a finding about its upstream, recorded in the audit log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use guidepost_domain::*;
use serde_json::{Map, Value};

use super::audit::{About, record};
use super::runtime::UpstreamAnswer;
use crate::Platform;

/// At most one finding per upstream per this long, per node: an upstream that sends
/// hidden characters in every result must not write an audit row per call.
const FINDING_INTERVAL: Duration = Duration::from_secs(3600);

/// When each upstream's last finding was recorded on this node.
/// Keyed by upstream, or by upstream and rules (`result_guard`).
#[derive(Default)]
pub(crate) struct FindingGate(Mutex<HashMap<String, Instant>>);

impl FindingGate {
    /// Whether a finding under `key` is due now (and, if so, marks it recorded).
    pub(crate) fn due(&self, key: &str) -> bool {
        let mut last = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        match last.get(key) {
            Some(at) if now.duration_since(*at) < FINDING_INTERVAL => false,
            _ => {
                last.insert(key.to_owned(), now);
                true
            }
        }
    }
}

/// `upstream`'s answer for `tool` as the organization lets it reach the agent: without
/// hidden characters, then through the upstream's result guard (`result_guard`). The
/// common answer, without hidden characters and with the guard off, costs one scan and
/// no store statement.
pub(crate) async fn filter(
    platform: &Platform,
    upstream: &Upstream,
    tool: &str,
    answer: UpstreamAnswer,
) -> UpstreamAnswer {
    let answer = without_hidden(platform, upstream, tool, answer).await;
    super::result_guard::guarded(platform, upstream, tool, answer).await
}

async fn without_hidden(
    platform: &Platform,
    upstream: &Upstream,
    tool: &str,
    mut answer: UpstreamAnswer,
) -> UpstreamAnswer {
    let found = hidden_in_answer(&answer);
    if found == 0 {
        return answer;
    }
    let org = &upstream.org_id;
    // Unknown (the store failed): the safe side, stripped.
    let keep_raw = platform
        .store
        .get_organization(org)
        .await
        .is_ok_and(|organization| organization.raw_tool_results);
    if !keep_raw {
        answer.content.iter_mut().for_each(strip_value);
        if let Some(structured) = &mut answer.structured_content {
            strip_value(structured);
        }
    }
    if platform.result_findings.due(upstream.id.as_str()) {
        let about = About {
            upstream: Some(&upstream.id),
            tool: Some(tool),
            detail: serde_json::json!({"hidden_characters": found, "kept_raw": keep_raw}),
            ..Default::default()
        };
        let action = AuditAction::UpstreamResultHiddenCharacters;
        if let Err(error) = record(platform, org, &Actor::Platform, action, about).await {
            tracing::warn!(upstream = %upstream.id, %error, "could not record a result finding");
        }
    }
    answer
}

/// How many hidden characters the answer's content and structured content carry.
fn hidden_in_answer(answer: &UpstreamAnswer) -> usize {
    answer.content.iter().map(hidden_in).sum::<usize>()
        + answer.structured_content.as_ref().map_or(0, hidden_in)
}

fn hidden_in(value: &Value) -> usize {
    let count = |text: &str| text.chars().filter(|c| is_hidden_char(*c)).count();
    match value {
        Value::String(text) => count(text),
        Value::Array(items) => items.iter().map(hidden_in).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| count(k) + hidden_in(v)).sum(),
        _ => 0,
    }
}

/// Strips hidden characters from every string and key in `value`.
fn strip_value(value: &mut Value) {
    match value {
        Value::String(text) => *text = agent_safe_text(text),
        Value::Array(items) => items.iter_mut().for_each(strip_value),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            *map = entries
                .into_iter()
                .map(|(key, mut item)| {
                    strip_value(&mut item);
                    (agent_safe_text(&key), item)
                })
                .collect::<Map<String, Value>>();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_of_a_result_loses_its_hidden_characters() {
        let mut answer = UpstreamAnswer {
            content: vec![serde_json::json!({
                "type": "text",
                "text": "Done.\u{200B}\u{202E}\u{E0049}gnore\u{1b}]0;x\u{7}\nnext\tline"
            })],
            structured_content: Some(serde_json::json!({"note\u{2060}": ["a\u{FEFF}b", 3]})),
            ..Default::default()
        };
        assert_eq!(hidden_in_answer(&answer), 7);
        answer.content.iter_mut().for_each(strip_value);
        strip_value(answer.structured_content.as_mut().unwrap());
        assert_eq!(answer.content[0]["text"], "Done.gnore]0;x\nnext\tline");
        assert_eq!(
            answer.structured_content,
            Some(serde_json::json!({"note": ["ab", 3]}))
        );
        assert_eq!(hidden_in_answer(&answer), 0);
    }

    #[test]
    fn a_finding_is_due_once_per_upstream_per_interval() {
        let gate = FindingGate::default();
        let (a, b) = (UpstreamId::generate(), UpstreamId::generate());
        assert!(gate.due(a.as_str()));
        assert!(!gate.due(a.as_str()), "not again within the hour");
        assert!(gate.due(b.as_str()), "another upstream has its own");
    }
}
