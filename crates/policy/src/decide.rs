//! One call's facts, and the decision on them (the facts become a Cedar request in
//! [`crate::request`]).

use cedar_policy::{AuthorizationError, Authorizer, Entities, PolicyId, Request};

use crate::approval::{Asked, AskedOf};
use crate::compile::CallPolicies;
use crate::facts::CallFacts;
use crate::request::request;

/// Whether a call may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
    /// Refused only by policies that ask for approval, and permitted otherwise.
    Ask(Asked),
}

/// A refused call: which policy refused it, if one did, and why, worded for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub policy: Option<String>,
    pub message: String,
}

/// A call put as a Cedar request, before the policies are asked: public (hidden) only so
/// that `examples/decide_cost.rs` can time building it apart from evaluating it.
#[doc(hidden)]
pub struct Question {
    request: Request,
    entities: Entities,
}

impl CallPolicies {
    /// The decision on one call. A policy that errs on it denies it (fail closed).
    pub fn decide(&self, call: &CallFacts<'_>) -> Decision {
        match self.question(call) {
            Ok(question) => self.answer(&question, call),
            Err(problem) => Decision::Deny(unaskable(&problem)),
        }
    }

    /// The first half of [`Self::decide`]: `call` as a request and its entities.
    #[doc(hidden)]
    pub fn question(&self, call: &CallFacts<'_>) -> Result<Question, String> {
        let (request, entities) = request(call, &self.resources)?;
        Ok(Question { request, entities })
    }

    /// The second half of [`Self::decide`]: what the policies say to `question`.
    #[doc(hidden)]
    pub fn answer(&self, question: &Question, call: &CallFacts<'_>) -> Decision {
        let response =
            Authorizer::new().is_authorized(&question.request, &self.set, &question.entities);
        let diagnostics = response.diagnostics();
        if let Some(error) = diagnostics.errors().next() {
            return Decision::Deny(self.failed(error));
        }
        match response.decision() {
            cedar_policy::Decision::Allow => Decision::Allow,
            cedar_policy::Decision::Deny => match self.approvals.asked_by(diagnostics.reason()) {
                Some((policy, of)) => self.asked(question, call, policy, of),
                None => {
                    let by = self.approvals.refusing(diagnostics.reason());
                    let by = by.or_else(|| diagnostics.reason().next());
                    Decision::Deny(self.denied(by, call.tool.name))
                }
            },
        }
    }

    /// A call refused only by policies that ask for approval: asked, if the other
    /// policies permit it; else what they decide.
    fn asked(
        &self,
        question: &Question,
        call: &CallFacts<'_>,
        policy: &PolicyId,
        of: AskedOf,
    ) -> Decision {
        let Some(unasked) = &self.approvals.unasked else {
            return Decision::Deny(self.denied(Some(policy), call.tool.name));
        };
        let response =
            Authorizer::new().is_authorized(&question.request, unasked, &question.entities);
        let diagnostics = response.diagnostics();
        if let Some(error) = diagnostics.errors().next() {
            return Decision::Deny(self.failed(error));
        }
        match response.decision() {
            cedar_policy::Decision::Allow => Decision::Ask(Asked {
                policy: AsRef::<str>::as_ref(policy).to_owned(),
                reason: self.reasons.get(policy).cloned().flatten(),
                of,
            }),
            cedar_policy::Decision::Deny => {
                Decision::Deny(self.denied(diagnostics.reason().next(), call.tool.name))
            }
        }
    }

    fn denied(&self, by: Option<&PolicyId>, tool: &str) -> Denial {
        let Some(policy) = by else {
            return Denial {
                policy: None,
                message: format!(
                    "Refused: no policy of this organization permits calling `{tool}`. Ask \
                     the organization to allow it, or use another tool."
                ),
            };
        };
        let name: &str = policy.as_ref();
        let message = match self.reasons.get(policy).cloned().flatten() {
            Some(reason) => format!("Refused by policy `{name}`: {reason}"),
            None => format!("Refused by policy `{name}` of this organization."),
        };
        Denial {
            policy: Some(name.to_owned()),
            message,
        }
    }

    fn failed(&self, error: &AuthorizationError) -> Denial {
        let AuthorizationError::PolicyEvaluationError(error) = error;
        let name: &str = error.policy_id().as_ref();
        Denial {
            policy: Some(name.to_owned()),
            message: format!(
                "Refused: policy `{name}` could not be evaluated for this call ({error}), \
                 and a policy that cannot decide refuses."
            ),
        }
    }
}

fn unaskable(problem: &str) -> Denial {
    Denial {
        policy: None,
        message: format!(
            "Refused: the call could not be put to this organization's policies ({problem})."
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::facts::{Caller, ToolFacts, ToolHints};

    const WORKSPACE: &str = r#"
        permit(principal, action, resource);
        @id("files-stay-in-workspace")
        @reason("read_file may only read under /workspace/.")
        forbid(principal, action, resource)
        when { resource.tool == "read_file" }
        unless { context.arguments.hasTag("path")
                 && context.arguments.getTag("path") like "/workspace/*"
                 && !(context.arguments.getTag("path") like "*..*") };
        @id("signed-in-for-destructive")
        @reason("destructive tools need a signed-in person; sign in first.")
        forbid(principal, action, resource)
        when { resource.hints.destructive && !(principal is Guidepost::Person) };
    "#;

    fn call<'a>(caller: Caller<'a>, tool: &'a str, arguments: &'a Value) -> CallFacts<'a> {
        CallFacts {
            caller,
            server_id: "srv_1",
            server_slug: "acme",
            tool: ToolFacts {
                name: tool,
                tool: tool.rsplit("__").next().unwrap_or(tool),
                upstream: tool.split_once("__").map(|(prefix, _)| prefix),
                hints: ToolHints::from_annotations(Some(&json!({"readOnlyHint": true}))),
            },
            arguments,
            client: "claude-code",
            time: "2026-11-29T07:00:00Z",
        }
    }

    fn policies(source: &str) -> CallPolicies {
        CallPolicies::compile(source).unwrap().policies
    }

    const PERSON: Caller<'static> = Caller::Person {
        id: "eu_1",
        email: "ada@Example.com",
        identity_provider: "platform",
        groups: &[],
        role: None,
    };

    #[test]
    fn a_path_outside_the_workspace_is_refused_with_the_policy_and_its_reason() {
        let set = policies(WORKSPACE);
        let inside = json!({"path": "/workspace/notes.md"});
        assert_eq!(
            set.decide(&call(PERSON, "files__read_file", &inside)),
            Decision::Allow
        );
        for path in ["/home/ada/.ssh/id_rsa", "/workspace/../etc/passwd"] {
            let outside = json!({ "path": path });
            let Decision::Deny(denial) = set.decide(&call(PERSON, "files__read_file", &outside))
            else {
                panic!("{path} allowed");
            };
            assert_eq!(denial.policy.as_deref(), Some("files-stay-in-workspace"));
            assert_eq!(
                denial.message,
                "Refused by policy `files-stay-in-workspace`: read_file may only read under /workspace/."
            );
        }
        // Another tool with the same argument is not this policy's business.
        let other = json!({"path": "/etc/passwd"});
        assert_eq!(
            set.decide(&call(PERSON, "files__stat", &other)),
            Decision::Allow
        );
    }

    #[test]
    fn the_caller_and_the_hints_are_what_policies_read() {
        let set = policies(WORKSPACE);
        let arguments = json!({});
        let mut destructive = call(Caller::EndUser { id: "eu_2" }, "db__drop", &arguments);
        destructive.tool.hints = ToolHints::from_annotations(None);
        assert!(matches!(set.decide(&destructive), Decision::Deny(_)));
        destructive.caller = PERSON;
        assert_eq!(set.decide(&destructive), Decision::Allow);
        let domain = policies(
            r#"permit(principal is Guidepost::Person, action, resource)
               when { principal.email_domain == "example.com" && context.client == "claude-code" };"#,
        );
        assert_eq!(
            domain.decide(&call(PERSON, "x", &arguments)),
            Decision::Allow
        );
        let Decision::Deny(denial) = domain.decide(&call(Caller::Anonymous, "x", &arguments))
        else {
            panic!("an anonymous caller was let through");
        };
        assert!(denial.policy.is_none());
        assert!(
            denial
                .message
                .contains("no policy of this organization permits calling `x`")
        );
    }

    #[test]
    fn non_string_arguments_are_their_json_and_the_time_is_a_datetime() {
        let set = policies(
            r#"permit(principal, action, resource);
               @id("small-pages") forbid(principal, action, resource)
               when { context.arguments.hasTag("limit") && !(["1", "2", "3", "4", "5"].contains(context.arguments.getTag("limit"))) };
               @id("office-hours") forbid(principal, action, resource)
               when { context.time.toTime() < duration("7h") };"#,
        );
        let small = json!({"limit": 5});
        assert_eq!(set.decide(&call(PERSON, "x", &small)), Decision::Allow);
        let large = json!({"limit": 50});
        assert!(
            matches!(set.decide(&call(PERSON, "x", &large)), Decision::Deny(d) if d.policy.as_deref() == Some("small-pages"))
        );
        let mut early = call(PERSON, "x", &small);
        early.time = "2026-11-29T06:59:59Z";
        assert!(
            matches!(set.decide(&early), Decision::Deny(d) if d.policy.as_deref() == Some("office-hours"))
        );
    }

    #[test]
    fn a_policy_that_errs_refuses_the_call() {
        let overflow = policies(
            r#"permit(principal, action, resource);
               @id("overflows") forbid(principal, action, resource)
               when { 9223372036854775807 + 1 == 0 };"#,
        );
        let Decision::Deny(denial) = overflow.decide(&call(PERSON, "x", &json!({}))) else {
            panic!("an erring forbid was skipped");
        };
        assert_eq!(denial.policy.as_deref(), Some("overflows"));
        assert!(
            denial.message.contains("could not be evaluated"),
            "{}",
            denial.message
        );
    }

    #[test]
    fn a_persons_provider_groups_and_role_are_what_policies_read() {
        let set = policies(
            r#"permit(principal, action, resource);
               @id("oncall-deploys") @reason("Only the on-call group deploys.")
               forbid(principal, action, resource) when { resource.tool == "deploy" }
               unless { principal is Guidepost::Person && principal.groups.contains("oncall")
                        && principal.identity_provider == "https://login.acme.example" };
               @id("members-read-billing") forbid(principal, action, resource)
               when { resource.tool == "billing" }
               unless { principal is Guidepost::Person && principal has role
                        && ["owner", "editor"].contains(principal.role) };"#,
        );
        let arguments = json!({});
        let groups = ["eng".to_owned(), "oncall".to_owned()];
        let person = |identity_provider, groups, role| Caller::Person {
            id: "eu_1",
            email: "ada@example.com",
            identity_provider,
            groups,
            role,
        };
        let oncall = person("https://login.acme.example", &groups[..], None);
        assert_eq!(
            set.decide(&call(oncall, "deploy", &arguments)),
            Decision::Allow
        );
        let elsewhere = person("platform", &groups[..], None);
        let refused = |caller, tool| match set.decide(&call(caller, tool, &arguments)) {
            Decision::Deny(denial) => denial.policy,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(elsewhere, "deploy").as_deref(),
            Some("oncall-deploys")
        );
        assert_eq!(refused(PERSON, "deploy").as_deref(), Some("oncall-deploys"));
        assert_eq!(
            refused(PERSON, "billing").as_deref(),
            Some("members-read-billing")
        );
        let viewer = person("platform", &[], Some("viewer"));
        assert_eq!(
            refused(viewer, "billing").as_deref(),
            Some("members-read-billing")
        );
        let editor = person("platform", &[], Some("editor"));
        assert_eq!(
            set.decide(&call(editor, "billing", &arguments)),
            Decision::Allow
        );
    }
}
