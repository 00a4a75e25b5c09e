//! A policy set from its source: parsed, named, validated against the schema.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use cedar_policy::{Effect, Policy, PolicyId, PolicySet, ValidationMode, Validator};

use crate::approval::{Approvals, AskedOf};
use crate::request::Resources;
use crate::schema::PARSED;

/// How many policies one organization may have: each is evaluated on every call.
pub const MAX_POLICIES: usize = 200;
/// The longest `@id` and `@reason`: they are shown to agents and in the dashboard.
const MAX_NAME: usize = 100;
const MAX_REASON: usize = 500;

/// Why a policy set was not accepted, worded for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRejected {
    #[error("the policies do not parse: {0}")]
    Syntax(String),
    #[error("the policies do not match Guidepost's schema: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Annotation(String),
    #[error("{count} policies; an organization may have at most {MAX_POLICIES}")]
    TooMany { count: usize },
}

/// A compiled policy set, ready to decide calls.
#[derive(Debug, Clone)]
pub struct CallPolicies {
    pub(crate) set: PolicySet,
    /// Each policy's name and the reason a denial it makes gives.
    pub(crate) reasons: HashMap<PolicyId, Option<String>>,
    /// The entities of the tools called so far, shared by the set's copies.
    pub(crate) resources: Arc<Resources>,
    /// The policies that ask for approval instead of refusing.
    pub(crate) approvals: Approvals,
}

/// What compiling a source gives: the policies, and what the writer should know.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub policies: CallPolicies,
    /// Each policy's name, in the order written.
    pub names: Vec<String>,
    /// Legal but probably not meant: no `permit` at all, so every call is refused.
    pub warnings: Vec<String>,
}

impl CallPolicies {
    /// Compiles `source`: each policy is named by its `@id` annotation (or `policy N`,
    /// counting from 1, where it has none), names must differ, and the set must
    /// validate against [`crate::SCHEMA`] in strict mode, so a policy that reads an
    /// attribute the schema lacks, or a tag without asking `hasTag`, is refused here
    /// instead of failing on calls.
    pub fn compile(source: &str) -> Result<Compiled, PolicyRejected> {
        let parsed: PolicySet = source
            .parse()
            .map_err(|errors: cedar_policy::ParseErrors| {
                PolicyRejected::Syntax(errors.to_string())
            })?;
        let count = parsed.policies().count();
        if count > MAX_POLICIES {
            return Err(PolicyRejected::TooMany { count });
        }
        let (set, reasons, names, asks) = named(&parsed)?;
        let validation = Validator::new(PARSED.clone()).validate(&set, ValidationMode::Strict);
        let errors: Vec<String> = validation
            .validation_errors()
            .map(|error| error.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(PolicyRejected::Invalid(errors));
        }
        let mut warnings: Vec<String> = validation
            .validation_warnings()
            .map(|warning| warning.to_string())
            .collect();
        if count > 0
            && !set
                .policies()
                .any(|policy| policy.effect() == Effect::Permit)
        {
            warnings.push(
                "no policy permits anything, so every call is refused: add \
                 `permit(principal, action, resource);` to allow what no `forbid` forbids"
                    .to_owned(),
            );
        }
        let set = without_locations(set);
        Ok(Compiled {
            policies: CallPolicies {
                approvals: Approvals::of(&set, asks),
                set,
                reasons,
                resources: Arc::default(),
            },
            names,
            warnings,
        })
    }

    /// How many policies the set holds; none means calls are not evaluated at all.
    pub fn len(&self) -> usize {
        self.reasons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// `set` with each policy re-read from its JSON form, which has no source locations.
/// Cedar's evaluator copies the location of every expression it evaluates into the
/// value it computes, and a location holds the policies' whole source text behind one
/// reference count: an atomic write per step, shared by every policy and every thread
/// (see `examples/decide_cost.rs`). A policy whose JSON does not come back the same
/// keeps the set as written: slower, not different.
fn without_locations(set: PolicySet) -> PolicySet {
    let copies: Option<Vec<Policy>> = set.policies().map(bare_copy).collect();
    copies
        .and_then(|copies| PolicySet::from_policies(copies).ok())
        .unwrap_or(set)
}

fn bare_copy(policy: &Policy) -> Option<Policy> {
    let json = policy.to_json().ok()?;
    let copy = Policy::from_json(Some(policy.id().clone()), json.clone()).ok()?;
    (copy.to_json().ok()? == json).then_some(copy)
}

type Named = (
    PolicySet,
    HashMap<PolicyId, Option<String>>,
    Vec<String>,
    HashMap<PolicyId, AskedOf>,
);

/// The policies re-identified by their names (so that the validator's messages and a
/// denial name them as written), with their reasons.
fn named(parsed: &PolicySet) -> Result<Named, PolicyRejected> {
    let mut set = PolicySet::new();
    let mut reasons = HashMap::new();
    let mut names = Vec::new();
    let mut asks = HashMap::new();
    // Cedar numbers the policies of a parsed set `policy0`, `policy1`… in source order.
    let mut policies: Vec<&Policy> = parsed.policies().collect();
    policies.sort_by_key(|policy| position(policy.id()));
    for (index, policy) in policies.into_iter().enumerate() {
        let name = policy
            .annotation("id")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("policy {}", index + 1));
        check_annotations(&name, policy)?;
        if names.contains(&name) {
            return Err(PolicyRejected::Annotation(format!(
                "two policies are named `{name}`: each `@id` must be different"
            )));
        }
        let id = PolicyId::new(&name);
        let renamed = policy.new_id(id.clone());
        set.add(renamed).map_err(|error| {
            PolicyRejected::Annotation(format!("policy `{name}` cannot be added: {error}"))
        })?;
        if let Some(asked) = asked_of(&name, policy)? {
            asks.insert(id.clone(), asked);
        }
        reasons.insert(id, policy.annotation("reason").map(str::to_owned));
        names.push(name);
    }
    Ok((set, reasons, names, asks))
}

fn position(id: &PolicyId) -> usize {
    let text: &str = id.as_ref();
    text.trim_start_matches("policy")
        .parse()
        .unwrap_or(usize::MAX)
}

fn check_annotations(name: &str, policy: &Policy) -> Result<(), PolicyRejected> {
    let mut problem = String::new();
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        let _ = write!(
            problem,
            "a policy's `@id` must be 1 to {MAX_NAME} characters"
        );
    }
    if let Some(reason) = policy.annotation("reason")
        && (reason.trim().is_empty() || reason.chars().count() > MAX_REASON)
    {
        let _ = write!(
            problem,
            "policy `{name}`: its `@reason` must be 1 to {MAX_REASON} characters"
        );
    }
    if name.chars().any(char::is_control) {
        let _ = write!(problem, "a policy's `@id` may not hold control characters");
    }
    match problem.is_empty() {
        true => Ok(()),
        false => Err(PolicyRejected::Annotation(problem)),
    }
}

/// What `@approval` says of `policy`, checked: only on a `forbid`, and only `person` or
/// `member`.
pub(crate) fn asked_of(name: &str, policy: &Policy) -> Result<Option<AskedOf>, PolicyRejected> {
    let Some(value) = policy.annotation("approval") else {
        return Ok(None);
    };
    let refused = |why: &str| {
        Err(PolicyRejected::Annotation(format!(
            "policy `{name}`: {why}"
        )))
    };
    if policy.effect() != Effect::Forbid {
        return refused("`@approval` goes on a `forbid`: it turns its refusal into a question");
    }
    match value {
        "person" => Ok(Some(AskedOf::Person)),
        "member" => Ok(Some(AskedOf::Member)),
        _ => refused("`@approval` is \"person\" or \"member\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_named_by_their_id_or_their_place() {
        let compiled = CallPolicies::compile(
            r#"permit(principal, action, resource);
               @id("no-ssh") @reason("keys stay home")
               forbid(principal, action, resource) when { context.arguments_json like "*.ssh*" };
               forbid(principal is Guidepost::Anonymous, action, resource);"#,
        )
        .unwrap();
        assert_eq!(compiled.names, ["policy 1", "no-ssh", "policy 3"]);
        assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
        assert_eq!(compiled.policies.len(), 3);
    }

    #[test]
    fn the_set_decided_with_is_the_set_written_without_its_locations() {
        let parsed: PolicySet = r#"permit(principal, action, resource);
            @id("no-ssh") @reason("keys stay home")
            forbid(principal, action, resource) when { context.arguments_json like "*.ssh*" };"#
            .parse()
            .unwrap();
        let (set, _, _, _) = named(&parsed).unwrap();
        let bare = without_locations(set.clone());
        assert_eq!(bare.policies().count(), 2);
        for policy in set.policies() {
            let copy = bare.policy(policy.id()).unwrap();
            assert_eq!(copy.to_json().unwrap(), policy.to_json().unwrap());
            assert_eq!(copy.annotation("reason"), policy.annotation("reason"));
        }
    }

    #[test]
    fn a_set_that_permits_nothing_is_accepted_with_a_warning() {
        let compiled = CallPolicies::compile(
            r#"forbid(principal, action, resource) unless { resource.tool == "read_file" };"#,
        )
        .unwrap();
        assert_eq!(compiled.warnings.len(), 1);
        assert!(compiled.warnings[0].contains("every call is refused"));
        let empty = CallPolicies::compile("").unwrap();
        assert!(empty.policies.is_empty() && empty.warnings.is_empty());
    }

    #[test]
    fn a_policy_that_reads_what_the_schema_lacks_is_refused_naming_it() {
        let rejected = CallPolicies::compile(
            r#"@id("typo") forbid(principal, action, resource) when { resource.nmae == "x" };"#,
        )
        .unwrap_err();
        let PolicyRejected::Invalid(errors) = &rejected else {
            panic!("{rejected:?}");
        };
        assert!(
            errors[0].contains("typo") && errors[0].contains("nmae"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_tag_read_without_asking_for_it_is_refused() {
        let rejected = CallPolicies::compile(
            r#"forbid(principal, action, resource)
               when { context.arguments.getTag("path") like "/etc/*" };"#,
        )
        .unwrap_err();
        assert!(
            matches!(rejected, PolicyRejected::Invalid(_)),
            "{rejected:?}"
        );
        CallPolicies::compile(
            r#"forbid(principal, action, resource)
               when { context.arguments.hasTag("path")
                      && context.arguments.getTag("path") like "/etc/*" };"#,
        )
        .unwrap();
    }

    #[test]
    fn syntax_names_twice_and_too_many_are_refused() {
        let syntax = CallPolicies::compile("permit(principal, action, resource)").unwrap_err();
        assert!(matches!(syntax, PolicyRejected::Syntax(_)), "{syntax:?}");
        let twice = CallPolicies::compile(
            r#"@id("a") permit(principal, action, resource);
               @id("a") forbid(principal, action, resource);"#,
        )
        .unwrap_err();
        assert!(twice.to_string().contains("`a`"), "{twice}");
        let many = "permit(principal, action, resource);\n".repeat(MAX_POLICIES + 1);
        let too_many = CallPolicies::compile(&many).unwrap_err();
        assert_eq!(
            too_many,
            PolicyRejected::TooMany {
                count: MAX_POLICIES + 1
            }
        );
        let long_reason = format!(
            r#"@reason("{}") forbid(principal, action, resource);"#,
            "x".repeat(MAX_REASON + 1)
        );
        assert!(CallPolicies::compile(&long_reason).is_err());
    }
}
