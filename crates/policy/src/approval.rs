//! Policies that ask for approval instead of refusing: a `forbid` annotated
//! `@approval("person")` or `@approval("member")`. When the only policies that refuse a
//! call ask for approval, and the call is otherwise permitted, the decision is to ask
//! (who approves is core's business). A member's approval is asked for when any of them
//! asks for one: the stricter wins.

use std::collections::HashMap;

use cedar_policy::{PolicyId, PolicySet};

/// Who a policy asks to approve a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskedOf {
    /// The person making the call.
    Person,
    /// A member of the organization.
    Member,
}

/// A call that waits for approval: the policy that asked, its reason, and who approves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub policy: String,
    pub reason: Option<String>,
    pub of: AskedOf,
}

impl Asked {
    /// What the agent reads of it before anything is asked.
    pub fn message(&self) -> String {
        let who = match self.of {
            AskedOf::Person => "the person making it",
            AskedOf::Member => "a member of the organization",
        };
        let because = match &self.reason {
            Some(reason) => format!(": {reason}"),
            None => ".".to_owned(),
        };
        format!(
            "This call needs the approval of {who} (policy `{}`){because}",
            self.policy
        )
    }
}

/// The policies that ask for approval, and the set without them (what decides whether
/// the call would be permitted once approved); `None` when no policy asks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Approvals {
    pub asks: HashMap<PolicyId, AskedOf>,
    pub unasked: Option<PolicySet>,
}

impl Approvals {
    pub(crate) fn of(set: &PolicySet, asks: HashMap<PolicyId, AskedOf>) -> Self {
        if asks.is_empty() {
            return Self::default();
        }
        let mut unasked = PolicySet::new();
        for policy in set.policies().filter(|p| !asks.contains_key(p.id())) {
            // Copied from a valid set: adding it again cannot clash.
            if unasked.add(policy.clone()).is_err() {
                return Self::default();
            }
        }
        Self {
            asks,
            unasked: Some(unasked),
        }
    }

    /// Who approves, when every policy that refused (`by`) asks for approval: the policy
    /// named is the first by name (Cedar reports them as a set, in no order).
    pub(crate) fn asked_by<'a>(
        &self,
        by: impl Iterator<Item = &'a PolicyId>,
    ) -> Option<(&'a PolicyId, AskedOf)> {
        let mut first: Option<&PolicyId> = None;
        let mut of = AskedOf::Person;
        for id in by {
            let asked = *self.asks.get(id)?;
            if asked == AskedOf::Member {
                of = AskedOf::Member;
            }
            if first.is_none_or(|named| AsRef::<str>::as_ref(id) < AsRef::<str>::as_ref(named)) {
                first = Some(id);
            }
        }
        first.map(|id| (id, of))
    }

    /// Of the policies that refused, one that refuses outright rather than asks, if any:
    /// the one a refusal names.
    pub(crate) fn refusing<'a>(
        &self,
        mut by: impl Iterator<Item = &'a PolicyId>,
    ) -> Option<&'a PolicyId> {
        by.find(|id| !self.asks.contains_key(*id))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{CallFacts, CallPolicies, Caller, Decision, ToolFacts, ToolHints};

    use super::*;

    fn decide(source: &str, tool: &str, message: &str) -> Decision {
        let arguments = json!({ "message": message });
        let facts = CallFacts {
            caller: Caller::EndUser { id: "eu_1" },
            server_id: "srv_1",
            server_slug: "acme",
            tool: ToolFacts {
                name: tool,
                tool,
                upstream: None,
                hints: ToolHints::from_annotations(None),
            },
            arguments: &arguments,
            client: "",
            time: "2026-11-29T07:00:00Z",
        };
        let compiled = CallPolicies::compile(source).unwrap();
        compiled.policies.decide(&facts)
    }

    const ASKS: &str = r#"permit(principal, action, resource) when { resource.tool != "never" };
        @id("deploys") @approval("person") @reason("you approve deploys.")
        forbid(principal, action, resource) when { context.arguments.hasTag("message")
            && context.arguments.getTag("message") like "deploy*" };
        @id("big-deploys") @approval("member")
        forbid(principal, action, resource) when { context.arguments.hasTag("message")
            && context.arguments.getTag("message") like "deploy all*" };
        @id("no-drops") forbid(principal, action, resource)
        when { context.arguments.hasTag("message") && context.arguments.getTag("message") like "*drop*" };"#;

    #[test]
    fn a_forbid_that_asks_asks_and_the_stricter_approver_wins() {
        assert_eq!(decide(ASKS, "echo", "status"), Decision::Allow);
        let Decision::Ask(asked) = decide(ASKS, "echo", "deploy v2") else {
            panic!("not asked");
        };
        assert_eq!(asked.policy, "deploys");
        assert_eq!(asked.of, AskedOf::Person);
        assert_eq!(asked.reason.as_deref(), Some("you approve deploys."));
        let Decision::Ask(asked) = decide(ASKS, "echo", "deploy all") else {
            panic!("not asked");
        };
        assert_eq!(
            asked.of,
            AskedOf::Member,
            "a member's approval is the stricter"
        );
    }

    #[test]
    fn a_refusal_beside_the_question_or_no_permit_refuses() {
        assert!(
            matches!(decide(ASKS, "echo", "deploy and drop"), Decision::Deny(d) if d.policy.as_deref() == Some("no-drops"))
        );
        // Asked, but not permitted even once approved: refused.
        assert!(matches!(
            decide(ASKS, "never", "deploy v2"),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn approval_goes_on_a_forbid_and_names_person_or_member() {
        for source in [
            r#"@approval("person") permit(principal, action, resource);"#,
            r#"@approval("anyone") forbid(principal, action, resource);"#,
        ] {
            let refused = CallPolicies::compile(source).unwrap_err();
            assert!(refused.to_string().contains("`@approval`"), "{refused}");
        }
    }
}
