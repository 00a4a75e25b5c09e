//! An attached upstream's prompts, resources and resource templates as a hosted server
//! offers them: prompts under `{prefix}__{name}` in attach order like
//! tools (within the attachment's `allowed_prompts`), resources and templates under the
//! URIs of `uris`. Only approved definitions are listed or reached (`pinning` judges
//! them as it judges tools); a read of a URI no listed resource has (a template's
//! expansion) goes to the attachment its prefix names.

use std::sync::Arc;
use std::time::Duration;

use guidepost_domain::*;
use serde_json::Value;

use super::connections;
use super::names::exposed_name;
use super::runtime::{CallingPerson, Subscriber, UpstreamCallError, UpstreamRequest};
use super::uris;
use crate::{CoreError, Platform};

/// A prompt, resource or resource template of an attached upstream, as a hosted server
/// offers it.
#[derive(Debug, Clone)]
pub(crate) struct OfferedFeature {
    pub kind: DefinitionKind,
    /// The name (prompts) or URI (resources, templates) clients see.
    pub exposed: String,
    pub prefix: String,
    pub upstream: Arc<Upstream>,
    /// The upstream's own name or URI for it.
    pub name: String,
    pub definition: Value,
    pub state: ToolState,
    pub timeout: Duration,
}

/// Why a prompt, resource or completion request has no answer; each says, for an agent,
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// No attachment offers it here.
    #[error("Unknown {kind}: {name}. Call {list} to see what this server offers.")]
    Unknown {
        kind: DefinitionKind,
        name: String,
        list: &'static str,
    },
    /// It is offered but not approved (awaiting review, quarantined or rejected).
    #[error(
        "The {kind} {name} is {state}: its definition awaits review by the organization's \
         administrators, or was rejected. Try another meanwhile."
    )]
    NotApproved {
        kind: DefinitionKind,
        name: String,
        state: ToolState,
    },
    /// A name or URI longer than any definition's: refused before anything is read or
    /// kept, and not echoed.
    #[error("A {kind} name or URI is at most {max} bytes; this one has {length}.")]
    TooLong {
        kind: DefinitionKind,
        length: usize,
        max: usize,
    },
    #[error(transparent)]
    Upstream(#[from] UpstreamCallError),
    /// The store could not say: the detail is for the log.
    #[error("could not read this server's upstreams; please retry")]
    Store(#[from] CoreError),
}

/// An upstream's answer to a prompt get, resource read or completion, with the upstream
/// that gave it (for the recording).
#[derive(Debug, Clone)]
pub struct Answered {
    pub result: Value,
    pub upstream: UpstreamId,
}

/// Every prompt, resource and template of the server's attachments, with its state.
async fn attached(
    platform: &Platform,
    server: &McpServer,
) -> Result<Vec<OfferedFeature>, CoreError> {
    let attached = platform
        .store
        .attached_upstreams(&server.org_id, &server.id)
        .await?;
    let mut offered = Vec::new();
    for entry in attached {
        let attachment = &entry.attachment;
        let upstream = Arc::new(entry.upstream);
        let allowed_prompt = |name: &str| {
            attachment
                .allowed_prompts
                .as_ref()
                .is_none_or(|list| list.iter().any(|a| a == name))
        };
        for feature in entry.features {
            let exposed = match feature.kind {
                DefinitionKind::Prompt if !allowed_prompt(&feature.name) => continue,
                DefinitionKind::Prompt => exposed_name(&attachment.prefix, &feature.name),
                _ => uris::exposed_uri(&attachment.prefix, &feature.name),
            };
            offered.push(OfferedFeature {
                kind: feature.kind,
                exposed,
                prefix: attachment.prefix.clone(),
                upstream: upstream.clone(),
                name: feature.name,
                definition: feature.definition,
                state: feature.state,
                timeout: Duration::from_millis(attachment.timeout_ms as u64),
            });
        }
    }
    Ok(offered)
}

/// The approved definitions of `kind` on `server`, as clients see them (under their
/// exposed names or URIs): what `prompts/list`, `resources/list` and
/// `resources/templates/list` show.
pub async fn listed(
    platform: &Platform,
    server: &McpServer,
    kind: DefinitionKind,
) -> Result<Vec<Value>, CoreError> {
    let offered = attached(platform, server).await?;
    Ok(offered
        .into_iter()
        .filter(|feature| feature.kind == kind && feature.state == ToolState::Approved)
        .map(|feature| {
            let mut definition = feature.definition;
            definition[kind.key_field()] = Value::String(feature.exposed);
            definition
        })
        .collect())
}

/// The approved feature of `kind` exposed as `exposed`, or why it may not be reached.
async fn approved(
    platform: &Platform,
    server: &McpServer,
    kind: DefinitionKind,
    exposed: &str,
    list: &'static str,
) -> Result<OfferedFeature, FeatureError> {
    let offered = attached(platform, server).await?;
    let found = offered
        .into_iter()
        .find(|feature| feature.kind == kind && feature.exposed == exposed);
    match found {
        Some(feature) if feature.state == ToolState::Approved => Ok(feature),
        Some(feature) => Err(FeatureError::NotApproved {
            kind,
            name: exposed.to_owned(),
            state: feature.state,
        }),
        None => Err(FeatureError::Unknown {
            kind,
            name: exposed.to_owned(),
            list,
        }),
    }
}

/// Sends `request` to `upstream`. One with `person` sign-in is asked as `person`, through
/// their own connection (a person with none gets the error that carries the link to
/// connect it, as a tool call does), never through the organization's.
async fn ask(
    platform: &Platform,
    upstream: &Upstream,
    request: UpstreamRequest,
    timeout: Duration,
    person: Option<&CallingPerson>,
) -> Result<Value, UpstreamCallError> {
    let person = as_person(platform, upstream, person).await?;
    platform
        .upstreams
        .request(platform, upstream, request, timeout, person.as_ref())
        .await
}

/// Whom `upstream` is asked as: for one with `person` sign-in, `person`, once their own
/// connection is found usable (else the error carrying the link to connect it); for any
/// other, nobody (the organization's connection, if any, serves every caller).
async fn as_person(
    platform: &Platform,
    upstream: &Upstream,
    person: Option<&CallingPerson>,
) -> Result<Option<CallingPerson>, UpstreamCallError> {
    match connections::sign_in_of(upstream) {
        UpstreamSignIn::Person => {
            let checked = connections::person_connected(platform, upstream, person.cloned());
            Ok(Some(checked.await?))
        }
        _ => Ok(None),
    }
}

/// `prompts/get` of an attached prompt, asked by `person` (if anyone signed in): the
/// upstream's messages, their resource URIs exposed.
pub async fn get_prompt(
    platform: &Platform,
    server: &McpServer,
    exposed: &str,
    arguments: Option<serde_json::Map<String, Value>>,
    person: Option<&CallingPerson>,
) -> Result<Answered, FeatureError> {
    let prompt = approved(
        platform,
        server,
        DefinitionKind::Prompt,
        exposed,
        "prompts/list",
    )
    .await?;
    let request = UpstreamRequest::GetPrompt {
        name: prompt.name.clone(),
        arguments,
    };
    let mut result = ask(platform, &prompt.upstream, request, prompt.timeout, person).await?;
    uris::expose_prompt_result(&prompt.prefix, &mut result);
    Ok(Answered {
        result,
        upstream: prompt.upstream.id.clone(),
    })
}

/// `resources/read` of an exposed URI (`target`) by `person`; the contents come back
/// under exposed URIs.
pub async fn read_resource(
    platform: &Platform,
    server: &McpServer,
    exposed: &str,
    person: Option<&CallingPerson>,
) -> Result<Answered, FeatureError> {
    let target = target(platform, server, exposed).await?;
    let request = UpstreamRequest::ReadResource { uri: target.uri };
    let mut result = ask(platform, &target.upstream, request, target.timeout, person).await?;
    uris::expose_read_result(&target.prefix, &mut result);
    Ok(Answered {
        result,
        upstream: target.upstream.id,
    })
}

/// `resources/subscribe` from a session (`subscriber_id`) to an exposed URI by `person`:
/// its upstream tells the subscriber of its updates (on this node) under the exposed URI.
/// An upstream with `person` sign-in is subscribed to through their own connection (a
/// person with none gets the error that carries the link), as a read is.
pub async fn subscribe(
    platform: &Platform,
    server: &McpServer,
    exposed: &str,
    (subscriber_id, client): (&str, Arc<dyn super::CallerClient>),
    person: Option<&CallingPerson>,
) -> Result<(), FeatureError> {
    let target = target(platform, server, exposed).await?;
    let person = as_person(platform, &target.upstream, person).await?;
    let subscriber = Subscriber {
        id: subscriber_id.to_owned(),
        exposed_uri: exposed.to_owned(),
        client,
        person,
    };
    let upstreams = &platform.upstreams;
    upstreams
        .subscribe(
            platform,
            &target.upstream,
            &target.uri,
            subscriber,
            target.timeout,
        )
        .await?;
    Ok(())
}

/// `resources/unsubscribe`.
pub async fn unsubscribe(
    platform: &Platform,
    server: &McpServer,
    exposed: &str,
    subscriber_id: &str,
) -> Result<(), FeatureError> {
    let target = target(platform, server, exposed).await?;
    let upstreams = &platform.upstreams;
    upstreams
        .unsubscribe(
            platform,
            &target.upstream,
            &target.uri,
            subscriber_id,
            target.timeout,
        )
        .await?;
    Ok(())
}

/// Where an exposed URI leads: its attachment's upstream, timeout and prefix, and the
/// upstream's own URI.
struct Target {
    upstream: Upstream,
    timeout: Duration,
    prefix: String,
    uri: String,
}

/// The target of an exposed URI one may read or subscribe to: a listed resource must be
/// approved, and so must a template it expands (`reviewed`); any other URI under an
/// attachment's prefix (a link a result gave) goes to that attachment's upstream.
async fn target(
    platform: &Platform,
    server: &McpServer,
    exposed: &str,
) -> Result<Target, FeatureError> {
    if exposed.len() > Limits::DEFINITION_KEY {
        return Err(FeatureError::TooLong {
            kind: DefinitionKind::Resource,
            length: exposed.len(),
            max: Limits::DEFINITION_KEY,
        });
    }
    let unknown = || FeatureError::Unknown {
        kind: DefinitionKind::Resource,
        name: exposed.to_owned(),
        list: "resources/list",
    };
    let (prefix, uri) = uris::split_exposed(exposed).ok_or_else(unknown)?;
    let offered = attached(platform, server).await?;
    reviewed(&offered, exposed)?;
    let (upstream, timeout) = upstream_of(platform, server, prefix)
        .await?
        .ok_or_else(unknown)?;
    Ok(Target {
        upstream,
        timeout,
        prefix: prefix.to_owned(),
        uri,
    })
}

/// Refuses an exposed URI whose review is not done: a listed resource not approved, or
/// the expansion of a listed template not approved that no approved template or resource
/// covers (a rejected template lends its URIs nothing).
fn reviewed(offered: &[OfferedFeature], exposed: &str) -> Result<(), FeatureError> {
    let held = |kind: DefinitionKind, f: &OfferedFeature| FeatureError::NotApproved {
        kind,
        name: f.exposed.clone(),
        state: f.state,
    };
    if let Some(resource) = offered
        .iter()
        .find(|f| f.kind == DefinitionKind::Resource && f.exposed == exposed)
    {
        return match resource.state {
            ToolState::Approved => Ok(()),
            _ => Err(held(DefinitionKind::Resource, resource)),
        };
    }
    let expanding = |f: &&OfferedFeature| {
        f.kind == DefinitionKind::ResourceTemplate && uris::expands(&f.exposed, exposed)
    };
    let mut templates = offered.iter().filter(expanding).peekable();
    let Some(first) = templates.peek().copied() else {
        return Ok(());
    };
    if templates.any(|f| f.state == ToolState::Approved) {
        return Ok(());
    }
    Err(held(DefinitionKind::ResourceTemplate, first))
}

/// The upstream attached under `prefix` on `server`, with the attachment's timeout.
async fn upstream_of(
    platform: &Platform,
    server: &McpServer,
    prefix: &str,
) -> Result<Option<(Upstream, Duration)>, CoreError> {
    let attached = platform
        .store
        .attached_upstreams(&server.org_id, &server.id)
        .await?;
    Ok(attached
        .into_iter()
        .find(|entry| entry.attachment.prefix == prefix)
        .map(|entry| {
            let timeout = Duration::from_millis(entry.attachment.timeout_ms as u64);
            (entry.upstream, timeout)
        }))
}

/// `completion/complete` for an attached prompt (`ref/prompt`) or resource template
/// (`ref/resource`): asked of its upstream under the upstream's own name or URI. An
/// upstream that does not complete answers no values. Asked by `person`, as a prompt is.
pub async fn complete(
    platform: &Platform,
    server: &McpServer,
    mut params: Value,
    person: Option<&CallingPerson>,
) -> Result<Answered, FeatureError> {
    let reference = &params["ref"];
    let (upstream, timeout) = match reference["type"].as_str() {
        Some("ref/prompt") => {
            let exposed = reference["name"].as_str().unwrap_or_default().to_owned();
            let kind = DefinitionKind::Prompt;
            let prompt = approved(platform, server, kind, &exposed, "prompts/list").await?;
            params["ref"]["name"] = Value::String(prompt.name.clone());
            (prompt.upstream.as_ref().clone(), prompt.timeout)
        }
        Some("ref/resource") => {
            let exposed = reference["uri"].as_str().unwrap_or_default().to_owned();
            let unknown = || FeatureError::Unknown {
                kind: DefinitionKind::ResourceTemplate,
                name: exposed.clone(),
                list: "resources/templates/list",
            };
            let (prefix, uri) = uris::split_exposed(&exposed).ok_or_else(unknown)?;
            let offered = attached(platform, server).await?;
            let template = offered
                .iter()
                .find(|f| f.kind == DefinitionKind::ResourceTemplate && f.exposed == exposed);
            if let Some(held) = template.filter(|f| f.state != ToolState::Approved) {
                return Err(FeatureError::NotApproved {
                    kind: DefinitionKind::ResourceTemplate,
                    name: exposed.clone(),
                    state: held.state,
                });
            }
            let found = upstream_of(platform, server, prefix).await?;
            params["ref"]["uri"] = Value::String(uri);
            found.ok_or_else(unknown)?
        }
        _ => {
            return Err(FeatureError::Unknown {
                kind: DefinitionKind::Prompt,
                name: reference.to_string(),
                list: "prompts/list",
            });
        }
    };
    let request = UpstreamRequest::Complete { params };
    let answer = ask(platform, &upstream, request, timeout, person).await;
    let result = match answer {
        Err(UpstreamCallError::Refused { code, .. }) if code == METHOD_NOT_FOUND => {
            serde_json::json!({"completion": {"values": [], "hasMore": false}})
        }
        answer => answer?,
    };
    Ok(Answered {
        result,
        upstream: upstream.id,
    })
}

/// JSON-RPC's "method not found".
const METHOD_NOT_FOUND: i32 = -32601;
