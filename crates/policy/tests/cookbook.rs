//! The cookbook of docs/user/call-policies.md: every `cedar` block of the page compiles
//! as a whole policy set, and decides a call it is about both ways.

use guidepost_policy::{CallFacts, CallPolicies, Caller, Decision, ToolFacts, ToolHints};
use serde_json::{Value, json};

const PAGE: &str = include_str!("../../../docs/user/call-policies.md");

fn blocks() -> Vec<&'static str> {
    let cookbook = PAGE
        .split("\n## Cookbook\n")
        .nth(1)
        .expect("a Cookbook section");
    let cookbook = cookbook.split("\n## ").next().unwrap();
    cedar_blocks(cookbook)
}

fn cedar_blocks(text: &'static str) -> Vec<&'static str> {
    text.split("```cedar\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect()
}

/// Every policy the page shows, in the cookbook or not, is one Guidepost accepts.
#[test]
fn every_policy_on_the_page_compiles() {
    let all = cedar_blocks(PAGE);
    assert!(
        all.len() > blocks().len(),
        "the approvals section shows one too"
    );
    for block in all {
        let compiled = CallPolicies::compile(block).unwrap_or_else(|why| panic!("{why}\n{block}"));
        assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
    }
}

/// A call by `caller` of `upstream__tool` with `arguments` at `time`.
struct Sample {
    caller: Caller<'static>,
    upstream: &'static str,
    tool: &'static str,
    hints: ToolHints,
    arguments: Value,
    time: &'static str,
}

impl Sample {
    fn of(upstream: &'static str, tool: &'static str, arguments: Value) -> Self {
        Self {
            caller: Caller::Person {
                id: "eu_1",
                email: "ada@example.com",
                identity_provider: "platform",
                groups: &[],
                role: None,
            },
            upstream,
            tool,
            hints: ToolHints::from_annotations(Some(&json!({"readOnlyHint": true}))),
            arguments,
            time: "2026-11-30T10:00:00.000Z",
        }
    }

    fn decided_by(&self, policies: &CallPolicies) -> Decision {
        let name = format!("{}__{}", self.upstream, self.tool);
        policies.decide(&CallFacts {
            caller: self.caller,
            server_id: "ms_1",
            server_slug: "acme",
            tool: ToolFacts {
                name: &name,
                tool: self.tool,
                upstream: Some(self.upstream),
                hints: self.hints,
            },
            arguments: &self.arguments,
            client: "claude-code",
            time: self.time,
        })
    }
}

/// The groups of a person in the on-call group, for as long as the test runs.
fn oncall_group() -> &'static [String] {
    static GROUPS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["eng".to_owned(), "oncall".to_owned()]);
    &GROUPS
}

/// For each policy of the page: a call it refuses, and a call it lets through.
fn cases(name: &str) -> (Sample, Sample) {
    match name {
        "files-stay-in-workspace" => (
            Sample::of(
                "files",
                "read_file",
                json!({"path": "/workspace/../etc/passwd"}),
            ),
            Sample::of("files", "read_file", json!({"path": "/workspace/notes.md"})),
        ),
        "mail-stays-inside" => (
            Sample::of("mail", "send_email", json!({"to": "eve@elsewhere.net"})),
            Sample::of("mail", "send_email", json!({"to": "bob@example.com"})),
        ),
        "destructive-needs-a-colleague" => {
            let mut anonymous = Sample::of("db", "drop_table", json!({}));
            anonymous.caller = Caller::Anonymous;
            anonymous.hints = ToolHints::from_annotations(None);
            let mut colleague = Sample::of("db", "drop_table", json!({}));
            colleague.hints = ToolHints::from_annotations(None);
            (anonymous, colleague)
        }
        "no-keys-in-arguments" => (
            Sample::of(
                "cloud",
                "configure",
                json!({"config": {"key": "AKIAIOSFODNN7EXAMPLE"}}),
            ),
            Sample::of(
                "cloud",
                "configure",
                json!({"config": {"region": "eu-west-1"}}),
            ),
        ),
        "deploys-in-office-hours" => {
            let mut night = Sample::of("deploy", "run", json!({}));
            night.time = "2026-11-30T22:30:00.000Z";
            (night, Sample::of("deploy", "run", json!({})))
        }
        "prod-by-oncall" => {
            let mut emailed = Sample::of("prod", "restart", json!({}));
            emailed.hints = ToolHints::from_annotations(None);
            let mut oncall = Sample::of("prod", "restart", json!({}));
            oncall.hints = ToolHints::from_annotations(None);
            oncall.caller = Caller::Person {
                id: "eu_2",
                email: "bob@example.com",
                identity_provider: "https://login.example.com",
                groups: oncall_group(),
                role: Some("viewer"),
            };
            (emailed, oncall)
        }
        other => panic!("the cookbook's policy `{other}` has no test case here"),
    }
}

#[test]
fn every_policy_of_the_cookbook_compiles_and_decides() {
    let blocks = blocks();
    assert_eq!(blocks.len(), 6, "the page promises six policies");
    for block in &blocks {
        let compiled = CallPolicies::compile(block).unwrap_or_else(|why| panic!("{why}\n{block}"));
        assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
        let name = compiled.names.last().unwrap().clone();
        let (refused, allowed) = cases(&name);
        match refused.decided_by(&compiled.policies) {
            Decision::Deny(denial) => assert_eq!(denial.policy.as_deref(), Some(name.as_str())),
            Decision::Allow => panic!("`{name}` let through the call it is about"),
            Decision::Ask(asked) => panic!("`{name}` asked {asked:?} instead of refusing"),
        }
        assert_eq!(
            allowed.decided_by(&compiled.policies),
            Decision::Allow,
            "`{name}`"
        );
    }
    // They combine: one permit and every forbid.
    let forbids: String = blocks
        .iter()
        .map(|block| block.replacen("permit(principal, action, resource);", "", 1))
        .collect();
    let all = format!("permit(principal, action, resource);\n{forbids}");
    assert_eq!(CallPolicies::compile(&all).unwrap().names.len(), 7);
}
