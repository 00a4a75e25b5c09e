//! Call quotas: how many calls each caller may make of a tool, of an upstream's tools, of
//! destructive tools or of any tool, per minute, hour or day. Counted per caller (a
//! signed-in person, a tracked end user, or an anonymous caller's address) in fixed
//! windows, shared by every node through the store.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Limits, ValidationError};

string_enum! {
    /// A quota's window: calls are counted from the start of the current minute, hour or
    /// day (UTC).
    QuotaWindow {
        Minute => "minute",
        Hour => "hour",
        Day => "day",
    }
}

impl QuotaWindow {
    pub fn seconds(self) -> i64 {
        match self {
            QuotaWindow::Minute => 60,
            QuotaWindow::Hour => 3_600,
            QuotaWindow::Day => 86_400,
        }
    }
}

/// The calls a quota counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum QuotaTarget {
    /// One tool, by the name agents call it (`fx__read_file`, `get_support`).
    Tool { name: String },
    /// Every tool of the upstream attached under this prefix.
    Upstream { prefix: String },
    /// Every tool whose annotations say it may destroy (destructive and not read-only).
    Destructive,
    /// Every tool.
    Any,
}

/// At most `limit` calls of `target` per caller per `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaRule {
    pub target: QuotaTarget,
    #[schema(minimum = 1, maximum = 1000000)]
    pub limit: u32,
    pub window: QuotaWindow,
}

impl QuotaRule {
    /// What the rule's counts are kept under: its target and window, not its limit, so
    /// that raising a limit keeps the calls already counted.
    pub fn counter_name(&self) -> String {
        let target = match &self.target {
            QuotaTarget::Tool { name } => format!("tool:{name}"),
            QuotaTarget::Upstream { prefix } => format!("upstream:{prefix}"),
            QuotaTarget::Destructive => "destructive".to_owned(),
            QuotaTarget::Any => "any".to_owned(),
        };
        format!("{target}/{}", self.window)
    }

    /// The rule in words, for an agent that reached it.
    pub fn describe(&self) -> String {
        let what = match &self.target {
            QuotaTarget::Tool { name } => format!("of `{name}`"),
            QuotaTarget::Upstream { prefix } => format!("of the tools of `{prefix}`"),
            QuotaTarget::Destructive => "of tools that change or delete data".to_owned(),
            QuotaTarget::Any => "of any tool".to_owned(),
        };
        format!("{} calls per {} {what}", self.limit, self.window)
    }
}

/// An organization's quotas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallQuotas {
    pub rules: Vec<QuotaRule>,
}

impl CallQuotas {
    /// The most rules an organization may have: each call counts every rule it meets.
    pub const MAX_RULES: usize = 50;
    pub const MAX_LIMIT: u32 = 1_000_000;

    /// Checks the rules: how many, their limits and names, and no two alike.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.rules.len() > Self::MAX_RULES {
            let message = format!("at most {} rules", Self::MAX_RULES);
            return Err(ValidationError::new("rules", message));
        }
        let mut seen = Vec::new();
        for rule in &self.rules {
            if !(1..=Self::MAX_LIMIT).contains(&rule.limit) {
                let message = format!("must be from 1 to {}", Self::MAX_LIMIT);
                return Err(ValidationError::new("limit", message));
            }
            let name = match &rule.target {
                QuotaTarget::Tool { name } => Some(name),
                QuotaTarget::Upstream { prefix } => Some(prefix),
                _ => None,
            };
            if let Some(name) = name
                && (name.trim().is_empty() || name.len() > Limits::TOOL_NAME)
            {
                let message = format!("a name of 1 to {} characters", Limits::TOOL_NAME);
                return Err(ValidationError::new("target", message));
            }
            let counter = rule.counter_name();
            if seen.contains(&counter) {
                let message = format!("two rules count {counter}; keep one");
                return Err(ValidationError::new("rules", message));
            }
            seen.push(counter);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(target: QuotaTarget, limit: u32) -> QuotaRule {
        QuotaRule {
            target,
            limit,
            window: QuotaWindow::Hour,
        }
    }

    #[test]
    fn rules_are_checked_and_described() {
        let tool = QuotaTarget::Tool {
            name: "fx__read_file".into(),
        };
        let quotas = CallQuotas {
            rules: vec![rule(tool.clone(), 5), rule(QuotaTarget::Destructive, 2)],
        };
        quotas.check().unwrap();
        assert_eq!(quotas.rules[0].counter_name(), "tool:fx__read_file/hour");
        assert_eq!(
            quotas.rules[0].describe(),
            "5 calls per hour of `fx__read_file`"
        );
        let twice = CallQuotas {
            rules: vec![rule(tool.clone(), 5), rule(tool.clone(), 9)],
        };
        assert!(twice.check().is_err());
        let zero = CallQuotas {
            rules: vec![rule(QuotaTarget::Any, 0)],
        };
        assert!(zero.check().is_err());
        let nameless = CallQuotas {
            rules: vec![rule(QuotaTarget::Upstream { prefix: " ".into() }, 1)],
        };
        assert!(nameless.check().is_err());
    }

    #[test]
    fn the_api_form_reads_back() {
        let text = r#"{"rules": [{"target": {"kind": "upstream", "prefix": "fx"},
                                   "limit": 5, "window": "hour"}]}"#;
        let quotas: CallQuotas = serde_json::from_str(text).unwrap();
        assert_eq!(quotas.rules[0].window.seconds(), 3600);
        assert!(serde_json::from_str::<CallQuotas>(r#"{"rules": [], "x": 1}"#).is_err());
    }
}
