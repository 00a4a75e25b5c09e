//! One call's facts as a Cedar request and the entities it names.
//!
//! This is on the path of every tool call, so what does not change from call to call is
//! built once: the server and tool entities, with their hierarchy computed, are kept per
//! tool ([`Resources`]); a call adds its caller and its arguments to a copy of them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{PoisonError, RwLock};

use cedar_policy::{Context, Entities, Entity, EntityId, EntityUid, Request, RestrictedExpression};
use serde_json::Value;

use crate::facts::{CallFacts, Caller, ToolFacts, ToolHints};
use crate::schema::NAMES;

/// Why a call could not be put to the policies: Cedar's message.
pub(crate) type Problem = String;

/// How many tools' entities a policy set keeps; past that it forgets them all and starts
/// again, which bounds the memory a server with many tools, or calls naming tools that
/// change, can take.
const MAX_RESOURCES: usize = 256;

/// The server and tool entities of the tools called so far, each as an [`Entities`]
/// whose transitive closure is computed: copying one is a few reference counts, where
/// building it is most of what putting a call to the policies costs.
#[derive(Default)]
pub(crate) struct Resources {
    /// By the hash of the facts they are built from; each holds those facts, so that a
    /// hash collision is a miss and never another tool's entities.
    built: RwLock<HashMap<u64, Kept>>,
    hasher: RandomState,
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = self.built.read().unwrap_or_else(PoisonError::into_inner);
        formatter
            .debug_struct("Resources")
            .field("kept", &built.len())
            .finish()
    }
}

/// A tool called: the facts it was built from, and what was built.
struct Kept {
    facts: Facts<Box<str>>,
    resource: Resource,
}

/// The request's resource, and the entities of it and its server.
#[derive(Clone)]
struct Resource {
    tool: EntityUid,
    entities: Entities,
}

/// What the server and tool entities are built from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Facts<S> {
    server_id: S,
    server_slug: S,
    name: S,
    tool: S,
    upstream: Option<S>,
    hints: ToolHints,
}

impl<'a> Facts<&'a str> {
    fn of(call: &CallFacts<'a>) -> Self {
        Self {
            server_id: call.server_id,
            server_slug: call.server_slug,
            name: call.tool.name,
            tool: call.tool.tool,
            upstream: call.tool.upstream,
            hints: call.tool.hints,
        }
    }

    fn owned(&self) -> Facts<Box<str>> {
        Facts {
            server_id: self.server_id.into(),
            server_slug: self.server_slug.into(),
            name: self.name.into(),
            tool: self.tool.into(),
            upstream: self.upstream.map(Into::into),
            hints: self.hints,
        }
    }
}

impl Facts<Box<str>> {
    fn borrowed(&self) -> Facts<&str> {
        Facts {
            server_id: &self.server_id,
            server_slug: &self.server_slug,
            name: &self.name,
            tool: &self.tool,
            upstream: self.upstream.as_deref(),
            hints: self.hints,
        }
    }
}

impl Resources {
    /// The tool `call` names, from those kept or built now.
    fn resource(&self, call: &CallFacts<'_>) -> Result<Resource, Problem> {
        let facts = Facts::of(call);
        let hash = self.hasher.hash_one(facts);
        if let Some(kept) = self.kept(hash, &facts) {
            return Ok(kept);
        }
        let resource = Resource::of(call)?;
        let kept = Kept {
            facts: facts.owned(),
            resource: resource.clone(),
        };
        let mut built = self.built.write().unwrap_or_else(PoisonError::into_inner);
        if built.len() >= MAX_RESOURCES {
            built.clear();
        }
        built.insert(hash, kept);
        Ok(resource)
    }

    fn kept(&self, hash: u64, facts: &Facts<&str>) -> Option<Resource> {
        let built = self.built.read().unwrap_or_else(PoisonError::into_inner);
        built
            .get(&hash)
            .filter(|kept| kept.facts.borrowed() == *facts)
            .map(|kept| kept.resource.clone())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.built
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Resource {
    /// The tool `call` names, in its server.
    fn of(call: &CallFacts<'_>) -> Result<Self, Problem> {
        let server = uid(&NAMES.server, call.server_id);
        let server_entity = Entity::new_with_tags(
            server.clone(),
            [("slug".to_owned(), string(call.server_slug))],
            [],
            [],
        )
        .map_err(|error| error.to_string())?;
        let tool = uid(&NAMES.tool, call.tool.name);
        let tool_entity = tool_entity(tool.clone(), server, &call.tool)?;
        let entities = Entities::from_entities([server_entity, tool_entity], None)
            .map_err(|error| error.to_string())?;
        Ok(Self { tool, entities })
    }
}

/// The request for `call`, and the entities it reads.
pub(crate) fn request(
    call: &CallFacts<'_>,
    resources: &Resources,
) -> Result<(Request, Entities), Problem> {
    let caller = caller_entity(call.caller)?;
    let principal = caller.uid();
    let arguments =
        Entity::new_with_tags(NAMES.arguments_call.clone(), [], [], tags(call.arguments))
            .map_err(|error| error.to_string())?;
    let resource = resources.resource(call)?;
    // Adding entities no other entity descends from leaves the kept hierarchy as it is,
    // so Cedar's check of it stays small.
    let entities = resource
        .entities
        .add_entities([caller, arguments], None)
        .map_err(|error| error.to_string())?;
    let request = Request::new(
        principal,
        NAMES.call_tool.clone(),
        resource.tool,
        context(call)?,
        None,
    )
    .map_err(|error| error.to_string())?;
    Ok((request, entities))
}

fn context(call: &CallFacts<'_>) -> Result<Context, Problem> {
    Context::from_pairs([
        (
            "arguments".to_owned(),
            RestrictedExpression::new_entity_uid(NAMES.arguments_call.clone()),
        ),
        (
            "arguments_json".to_owned(),
            RestrictedExpression::new_string(arguments_json(call.arguments)),
        ),
        ("client".to_owned(), string(call.client)),
        ("time".to_owned(), time_of(call.time)),
    ])
    .map_err(|error| error.to_string())
}

/// `context.time`, to the second: `2026-11-29T07:00:00.123Z` is read as
/// `2026-11-29T07:00:00Z`. Building a datetime makes Cedar parse its constructor's name
/// with its whole grammar (about a third of what putting a call to the policies cost, in
/// a profile of the benchmark), so each thread keeps the one of the second it last saw;
/// a time in another form is built as it is.
fn time_of(time: &str) -> RestrictedExpression {
    let whole_second = time.get(..19).filter(|_| {
        let after = time.as_bytes().get(19);
        time.ends_with('Z') && (after == Some(&b'.') || after == Some(&b'Z'))
    });
    let Some(second) = whole_second else {
        return RestrictedExpression::new_datetime(time);
    };
    thread_local! {
        static KEPT: RefCell<Option<(String, RestrictedExpression)>> = const { RefCell::new(None) };
    }
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if let Some((at, expression)) = kept.as_ref()
            && at == second
        {
            return expression.clone();
        }
        let expression = RestrictedExpression::new_datetime(format!("{second}Z"));
        *kept = Some((second.to_owned(), expression.clone()));
        expression
    })
}

fn uid(kind: &cedar_policy::EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

fn string(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_owned())
}

fn caller_entity(caller: Caller<'_>) -> Result<Entity, Problem> {
    match caller {
        Caller::Person {
            id,
            email,
            identity_provider,
            groups,
            role,
        } => {
            let domain = email.rsplit_once('@').map_or("", |(_, domain)| domain);
            let groups = groups.iter().map(|group| string(group));
            let mut attributes = vec![
                ("email".to_owned(), string(email)),
                (
                    "email_domain".to_owned(),
                    RestrictedExpression::new_string(domain.to_ascii_lowercase()),
                ),
                ("identity_provider".to_owned(), string(identity_provider)),
                ("groups".to_owned(), RestrictedExpression::new_set(groups)),
            ];
            if let Some(role) = role {
                attributes.push(("role".to_owned(), string(role)));
            }
            Entity::new_with_tags(uid(&NAMES.person, id), attributes, [], [])
                .map_err(|error| error.to_string())
        }
        Caller::EndUser { id } => Ok(Entity::with_uid(uid(&NAMES.end_user, id))),
        Caller::Anonymous => Ok(Entity::with_uid(uid(&NAMES.anonymous, "anonymous"))),
    }
}

fn tool_entity(
    tool: EntityUid,
    server: EntityUid,
    facts: &ToolFacts<'_>,
) -> Result<Entity, Problem> {
    let hints = RestrictedExpression::new_record([
        (
            "read_only".to_owned(),
            RestrictedExpression::new_bool(facts.hints.read_only),
        ),
        (
            "destructive".to_owned(),
            RestrictedExpression::new_bool(facts.hints.destructive),
        ),
        (
            "idempotent".to_owned(),
            RestrictedExpression::new_bool(facts.hints.idempotent),
        ),
        (
            "open_world".to_owned(),
            RestrictedExpression::new_bool(facts.hints.open_world),
        ),
    ])
    .map_err(|error| error.to_string())?;
    let mut attributes = vec![
        ("name".to_owned(), string(facts.name)),
        ("tool".to_owned(), string(facts.tool)),
        ("hints".to_owned(), hints),
    ];
    if let Some(upstream) = facts.upstream {
        attributes.push(("upstream".to_owned(), string(upstream)));
    }
    Entity::new_with_tags(tool, attributes, [server], []).map_err(|error| error.to_string())
}

/// Each top-level argument as a tag: a string as itself, anything else as its JSON.
fn tags(arguments: &Value) -> impl Iterator<Item = (String, RestrictedExpression)> + '_ {
    let object = arguments.as_object().into_iter().flatten();
    object.map(|(name, value)| {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        (name.clone(), RestrictedExpression::new_string(text))
    })
}

fn arguments_json(arguments: &Value) -> String {
    match arguments {
        Value::Object(_) => arguments.to_string(),
        _ => "{}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compile::CallPolicies;
    use crate::decide::Decision;

    fn call<'a>(tool: &'a str, upstream: Option<&'a str>, hints: ToolHints) -> CallFacts<'a> {
        CallFacts {
            caller: Caller::EndUser { id: "eu_1" },
            server_id: "srv_1",
            server_slug: "acme",
            tool: ToolFacts {
                name: tool,
                tool,
                upstream,
                hints,
            },
            arguments: &Value::Null,
            client: "",
            time: "2026-11-29T07:00:00Z",
        }
    }

    const READ_ONLY: ToolHints = ToolHints {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    };

    #[test]
    fn a_tool_whose_facts_change_is_built_again() {
        let set = CallPolicies::compile(
            r#"permit(principal, action, resource);
               @id("no-destruction") forbid(principal, action, resource)
               when { resource.hints.destructive };
               @id("not-from-files") forbid(principal, action, resource)
               when { resource has upstream && resource.upstream == "files" };
               @id("not-at-other") forbid(principal, action, resource)
               when { Guidepost::Server::"srv_1".slug == "other" };"#,
        )
        .unwrap()
        .policies;
        let denied_by = |call: &CallFacts<'_>| match set.decide(call) {
            Decision::Allow => None,
            Decision::Deny(denial) => denial.policy,
            Decision::Ask(asked) => panic!("asked {asked:?}"),
        };
        let read_only = call("x", None, READ_ONLY);
        assert_eq!(denied_by(&read_only), None);
        let destructive = ToolHints::from_annotations(None);
        assert_eq!(
            denied_by(&call("x", None, destructive)).as_deref(),
            Some("no-destruction")
        );
        assert_eq!(
            denied_by(&call("x", Some("files"), READ_ONLY)).as_deref(),
            Some("not-from-files")
        );
        let mut renamed = read_only;
        renamed.server_slug = "other";
        assert_eq!(denied_by(&renamed).as_deref(), Some("not-at-other"));
        assert_eq!(denied_by(&read_only), None);
        assert_eq!(set.resources.len(), 4);
    }

    #[test]
    fn a_kept_tool_is_still_in_its_server_and_calls_keep_their_own_arguments() {
        let set = CallPolicies::compile(
            r#"permit(principal, action, resource);
               @id("not-on-srv-2") forbid(principal, action, resource)
               when { resource in Guidepost::Server::"srv_2" };
               @id("no-secrets") forbid(principal, action, resource)
               when { context.arguments.hasTag("secret") };"#,
        )
        .unwrap()
        .policies;
        let secret = json!({"secret": "x"});
        let plain = json!({"other": "x"});
        for _ in 0..2 {
            let mut on_two = call("x", None, READ_ONLY);
            on_two.server_id = "srv_2";
            assert!(matches!(set.decide(&on_two), Decision::Deny(_)));
            let mut with_secret = call("x", None, READ_ONLY);
            with_secret.arguments = &secret;
            assert!(matches!(set.decide(&with_secret), Decision::Deny(_)));
            let mut without = call("x", None, READ_ONLY);
            without.arguments = &plain;
            assert_eq!(set.decide(&without), Decision::Allow);
        }
    }

    #[test]
    fn policies_are_shared_by_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<CallPolicies>();
    }

    #[test]
    fn the_time_is_read_to_the_second_and_kept_only_for_its_second() {
        let set = CallPolicies::compile(
            r#"permit(principal, action, resource);
               @id("not-at-seven") forbid(principal, action, resource)
               when { context.time == datetime("2026-11-29T07:00:00Z") };"#,
        )
        .unwrap()
        .policies;
        let at = |time| {
            let mut facts = call("x", None, READ_ONLY);
            facts.time = time;
            matches!(set.decide(&facts), Decision::Deny(_))
        };
        assert!(at("2026-11-29T07:00:00.999Z"));
        assert!(
            !at("2026-11-29T07:00:01.000Z"),
            "the next second is another time"
        );
        assert!(at("2026-11-29T07:00:00Z"));
        assert!(!at("2026-11-29T06:59:59.999Z"));
        assert!(
            at("2026-11-29T07:00:00.000+0000"),
            "another form, read as it is"
        );
        assert!(
            at("2026-11-29T09:00:00.000+0200"),
            "its offset kept (07:00 UTC)"
        );
        assert!(
            !at("2026-11-29T07:00:00.000+0200"),
            "its offset kept (05:00 UTC)"
        );
    }

    #[test]
    fn the_tools_kept_are_bounded() {
        let resources = Resources::default();
        let names: Vec<String> = (0..=MAX_RESOURCES).map(|n| format!("tool_{n}")).collect();
        for name in &names {
            request(&call(name, None, READ_ONLY), &resources).unwrap();
        }
        assert_eq!(resources.len(), 1);
    }
}
