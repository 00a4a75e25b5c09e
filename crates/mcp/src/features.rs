//! A hosted server's prompts, resources, resource templates and completion: those of its
//! attached upstreams (core's `upstreams::features`), in the protocol's types. Errors
//! are JSON-RPC errors an agent can act on; an upstream's own refusal is passed on with
//! its code.

use guidepost_core::Platform;
use std::sync::Arc;
use std::time::Instant;

use guidepost_core::upstreams::features::{self, Answered, FeatureError};
use guidepost_core::upstreams::{CallerClient, CallingPerson, UpstreamCallError};
use guidepost_domain::{DefinitionKind, EndUser, McpServer};
use rmcp::model::{
    CompleteRequestParams, CompleteResult, ErrorCode, GetPromptRequestParams, GetPromptResponse,
    InputRequiredResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ReadResourceResponse,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::recording::{CallRecord, Recorded, record};
use crate::scope::RequestScope;

/// A list of the server's approved definitions of `kind`, each parsed as the protocol's
/// item type (one that does not parse is left out, as a client could not use it).
async fn items<T: DeserializeOwned>(
    platform: &Platform,
    server: &McpServer,
    kind: DefinitionKind,
) -> Result<Vec<T>, ErrorData> {
    let listed = features::listed(platform, server, kind)
        .await
        .map_err(|error| refused(FeatureError::Store(error)))?;
    Ok(listed
        .into_iter()
        .filter_map(|definition| serde_json::from_value(definition).ok())
        .collect())
}

pub(crate) async fn list_prompts(
    platform: &Platform,
    server: &McpServer,
) -> Result<ListPromptsResult, ErrorData> {
    let prompts = items(platform, server, DefinitionKind::Prompt).await?;
    Ok(ListPromptsResult::with_all_items(prompts))
}

pub(crate) async fn list_resources(
    platform: &Platform,
    server: &McpServer,
) -> Result<ListResourcesResult, ErrorData> {
    let resources = items(platform, server, DefinitionKind::Resource).await?;
    Ok(ListResourcesResult::with_all_items(resources))
}

pub(crate) async fn list_resource_templates(
    platform: &Platform,
    server: &McpServer,
) -> Result<ListResourceTemplatesResult, ErrorData> {
    let templates = items(platform, server, DefinitionKind::ResourceTemplate).await?;
    Ok(ListResourceTemplatesResult::with_all_items(templates))
}

pub(crate) async fn get_prompt(
    platform: &Platform,
    scope: &RequestScope,
    request: GetPromptRequestParams,
    ctx: &RequestContext<RoleServer>,
) -> Result<GetPromptResponse, ErrorData> {
    let started = Instant::now();
    let asker = Asker::of(platform, scope, ctx).await?;
    let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
    let name = request.name.clone();
    let person = asker.person(scope);
    let answer = features::get_prompt(
        platform,
        &scope.server,
        &name,
        request.arguments,
        person.as_ref(),
    )
    .await;
    let round = asker.connect_round(&answer);
    let what = Requested::new("prompts/get", &name, &arguments);
    let outcome = asker.answered(platform, scope, what, answer, started);
    match round {
        Some(round) => Ok(GetPromptResponse::InputRequired(round)),
        None => outcome.map(GetPromptResponse::Complete),
    }
}

pub(crate) async fn read_resource(
    platform: &Platform,
    scope: &RequestScope,
    uri: &str,
    ctx: &RequestContext<RoleServer>,
) -> Result<ReadResourceResponse, ErrorData> {
    let started = Instant::now();
    let asker = Asker::of(platform, scope, ctx).await?;
    let person = asker.person(scope);
    let answer = features::read_resource(platform, &scope.server, uri, person.as_ref()).await;
    let round = asker.connect_round(&answer);
    let what = Requested::new("resources/read", uri, &Value::Null);
    let outcome = asker.answered(platform, scope, what, answer, started);
    match round {
        Some(round) => Ok(ReadResourceResponse::InputRequired(round)),
        None => outcome.map(ReadResourceResponse::Complete),
    }
}

pub(crate) async fn complete(
    platform: &Platform,
    scope: &RequestScope,
    request: CompleteRequestParams,
    ctx: &RequestContext<RoleServer>,
) -> Result<CompleteResult, ErrorData> {
    let started = Instant::now();
    let asker = Asker::of(platform, scope, ctx).await?;
    let params = serde_json::to_value(request)
        .map_err(|e| ErrorData::invalid_params(format!("invalid completion request: {e}"), None))?;
    let reference = &params["ref"];
    let name = reference["name"]
        .as_str()
        .or_else(|| reference["uri"].as_str())
        .unwrap_or_default()
        .to_owned();
    let arguments = params["argument"].clone();
    let person = asker.person(scope);
    let answer = features::complete(platform, &scope.server, params, person.as_ref()).await;
    let what = Requested::new("completion/complete", &name, &arguments);
    asker.answered(platform, scope, what, answer, started)
}

/// Who asks for a prompt, a resource or a completion, and on what request: the person
/// (recorded with the request, and the one an upstream with `person` sign-in is asked as)
/// and whether their client opens URLs (asked to connect by a URL elicitation).
struct Asker<'a> {
    end_user: Option<EndUser>,
    request: &'a RequestContext<RoleServer>,
}

impl<'a> Asker<'a> {
    async fn of(
        platform: &Platform,
        scope: &RequestScope,
        request: &'a RequestContext<RoleServer>,
    ) -> Result<Self, ErrorData> {
        let end_user = crate::scope::resolve_end_user(platform, scope).await?;
        Ok(Self { end_user, request })
    }

    fn person(&self, scope: &RequestScope) -> Option<CallingPerson> {
        Some(scope.calling_person(self.end_user.as_ref()?))
    }

    /// The answer as the protocol's type, or the error; recorded like a tool call either
    /// way, with the person and the upstream that answered.
    fn answered<T: DeserializeOwned>(
        &self,
        platform: &Platform,
        scope: &RequestScope,
        what: Requested<'_>,
        answer: Result<Answered, FeatureError>,
        started: Instant,
    ) -> Result<T, ErrorData> {
        let (outcome, upstream) = match answer {
            Ok(answered) => (parsed(answered.result), Some(answered.upstream)),
            Err(error) => (Err(self.refused(error)), None),
        };
        let call = CallRecord {
            tool: &what.name,
            label: "upstream",
            arguments: what.arguments,
            end_user: self.end_user.as_ref(),
            upstream,
        };
        let recorded = Recorded::request(outcome.as_ref().map(drop), started);
        record(platform, scope, call, recorded);
        outcome
    }

    /// In the 2026-07-28 era, a person whose account at an upstream with `person` sign-in
    /// is not connected, from a client that opens URLs: an `input_required` round whose
    /// URL elicitation connects it (the client's retry is a request afresh), as a tool
    /// call gets. (The error [`Self::refused`] gives is recorded all the same.)
    fn connect_round(
        &self,
        answer: &Result<Answered, FeatureError>,
    ) -> Option<InputRequiredResult> {
        let Err(FeatureError::Upstream(needs)) = answer else {
            return None;
        };
        let asked = crate::tools::connect_elicitation(self.request, needs)?;
        crate::surface::is_stateless(self.request).then(|| asked.round())
    }

    /// [`refused`], except that a person whose account at an upstream with `person`
    /// sign-in is not connected is asked to connect it: by a URL elicitation
    /// (`URLElicitationRequiredError`) where the client opens URLs in the session era,
    /// else by the link in the error's text.
    fn refused(&self, error: FeatureError) -> ErrorData {
        let FeatureError::Upstream(needs @ UpstreamCallError::NeedsConnection { .. }) = &error
        else {
            return refused(error);
        };
        // The 2026-07-28 era asks by a round instead (`connect_round`), never this error.
        let session_era = !crate::surface::is_stateless(self.request);
        let asked = session_era.then(|| crate::tools::connect_elicitation(self.request, needs));
        match asked.flatten() {
            Some(asked) => asked.error(),
            None => ErrorData::invalid_request(needs.to_string(), None),
        }
    }
}

/// What a prompt get, resource read or completion asked for, as analytics records it:
/// `{method} {exposed name or URI}` beside the tool calls, with its arguments.
struct Requested<'a> {
    name: String,
    arguments: &'a Value,
}

impl<'a> Requested<'a> {
    fn new(method: &str, target: &str, arguments: &'a Value) -> Self {
        Self {
            name: format!("{method} {target}"),
            arguments,
        }
    }
}

/// The session a `resources/subscribe` comes on, and its client; the 2026-07-28 era has
/// no sessions (it subscribes with `subscriptions/listen`: listened_resources.rs).
pub(crate) fn subscriber(
    platform: &Platform,
    scope: &RequestScope,
    ctx: &RequestContext<RoleServer>,
) -> Result<(String, Arc<dyn CallerClient>), ErrorData> {
    let session = scope.session_transport_id();
    let client = crate::caller_client::of(platform, ctx);
    match (session, client) {
        (Some(session), Some(client)) => Ok((session, client)),
        _ => Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            "resources/subscribe needs a session (protocol versions before 2026-07-28)",
            None,
        )),
    }
}

/// `resources/subscribe` on `session`, by the person behind it: one whose account at an
/// upstream with `person` sign-in is not connected is asked to connect it, as for a read.
pub(crate) async fn subscribe(
    platform: &Platform,
    scope: &RequestScope,
    uri: &str,
    ctx: &RequestContext<RoleServer>,
) -> Result<(), ErrorData> {
    let (session, client) = subscriber(platform, scope, ctx)?;
    let asker = Asker::of(platform, scope, ctx).await?;
    let person = asker.person(scope);
    features::subscribe(
        platform,
        &scope.server,
        uri,
        (&session, client),
        person.as_ref(),
    )
    .await
    .map_err(|error| asker.refused(error))
}

pub(crate) async fn unsubscribe(
    platform: &Platform,
    server: &McpServer,
    uri: &str,
    session: &str,
) -> Result<(), ErrorData> {
    features::unsubscribe(platform, server, uri, session)
        .await
        .map_err(refused)
}

/// The upstream's result as the protocol's type. The upstream may speak an older
/// version, whose results carry no type; rmcp clears it again for callers of those.
fn parsed<T: DeserializeOwned>(mut result: Value) -> Result<T, ErrorData> {
    if let Some(object) = result.as_object_mut() {
        object
            .entry("resultType")
            .or_insert_with(|| Value::String("complete".into()));
    }
    serde_json::from_value(result).map_err(|e| {
        let message = UpstreamCallError::InvalidResult(e.to_string()).to_string();
        ErrorData::internal_error(message, None)
    })
}

/// Why there is no answer, as a JSON-RPC error.
fn refused(error: FeatureError) -> ErrorData {
    match error {
        FeatureError::Unknown { kind, .. } => {
            let message = error.to_string();
            match kind {
                DefinitionKind::Resource => ErrorData::resource_not_found(message, None),
                _ => ErrorData::invalid_params(message, None),
            }
        }
        FeatureError::NotApproved { .. } | FeatureError::TooLong { .. } => {
            ErrorData::invalid_params(error.to_string(), None)
        }
        FeatureError::Upstream(UpstreamCallError::Refused {
            code,
            message,
            data,
        }) => ErrorData::new(ErrorCode(code), message, data),
        FeatureError::Upstream(why) => ErrorData::internal_error(why.to_string(), None),
        FeatureError::Store(error) => {
            tracing::error!(%error, "could not read a server's upstreams");
            ErrorData::internal_error("could not read this server's upstreams; please retry", None)
        }
    }
}
