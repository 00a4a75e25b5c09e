//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes so
//! that it cannot drift from a second, hand-written copy. Conventions shared by every
//! operation (the bearer scheme, problem documents for errors) are added by one modifier
//! instead of being repeated on each handler.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, PathItem, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::{PROBLEM_CONTENT_TYPE, Problem};
use crate::{
    analytics, api_keys, approvals, audit, end_users, feedback, interceptors, oidc, organization,
    policies, quotas, servers, support, support_messages, tool_calls, upstreams, walkthroughs,
    webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Guidepost management API",
        description = "Manage an organization's hosted MCP servers, walkthroughs, support requests, end \
                       users and analytics. Authenticate with an organization API key: `Authorization: Bearer gp_…`. \
                       A key may do what its scopes give: `read` (every key), `write`, `gateway`, `admin`; \
                       a change its scopes do not cover is refused with 403. Errors are RFC 9457 problem documents. Lists are paged with `cursor` and `limit` \
                       and answer `{items, next_cursor}`."
    ),
    paths(
        servers::create,
        servers::list,
        servers::get,
        servers::update,
        servers::delete,
        servers::install,
        servers::verify_custom_domain,
        crate::tool_switches::list,
        crate::tool_switches::disable,
        crate::tool_switches::enable,
        audit::list,
        organization::get,
        organization::update,
        upstreams::catalog,
        upstreams::add_entry,
        upstreams::install,
        upstreams::list,
        upstreams::get,
        upstreams::update,
        upstreams::uninstall,
        upstreams::restart,
        upstreams::rollback,
        crate::connections::connect,
        crate::connections::list,
        crate::connections::disconnect,
        crate::connections::of_person,
        upstreams::tools,
        upstreams::approve_clean,
        upstreams::approve,
        upstreams::reject,
        upstreams::approve_definition,
        upstreams::reject_definition,
        upstreams::logs,
        upstreams::attach,
        upstreams::detach,
        oidc::put,
        oidc::get,
        oidc::delete,
        walkthroughs::list_assignments,
        walkthroughs::assign,
        walkthroughs::unassign,
        walkthroughs::create,
        walkthroughs::list,
        walkthroughs::get,
        walkthroughs::update,
        walkthroughs::delete,
        walkthroughs::create_step,
        walkthroughs::update_step,
        walkthroughs::delete_step,
        walkthroughs::publish,
        walkthroughs::funnel,
        walkthroughs::stuck,
        walkthroughs::republish,
        support::list,
        support::get,
        support::update,
        support_messages::list,
        support_messages::create,
        feedback::list,
        feedback::daily,
        approvals::list,
        approvals::get,
        approvals::approve,
        approvals::reject,
        interceptors::create,
        interceptors::list,
        interceptors::delete,
        policies::get,
        policies::publish,
        policies::check,
        policies::test,
        policies::versions,
        policies::version,
        policies::schema,
        quotas::get,
        quotas::put,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::delete,
        webhooks::deliveries,
        webhooks::test,
        end_users::list,
        end_users::get,
        end_users::export,
        end_users::erase,
        end_users::reset_progress,
        tool_calls::list,
        analytics::tools,
        analytics::export,
        analytics::missing,
        api_keys::list,
        api_keys::create,
        api_keys::revoke,
        document,
    ),
    components(schemas(
        Problem,
        guidepost_domain::UpstreamEventData,
        guidepost_domain::ToolReviewEventData,
        guidepost_domain::HeldDefinition,
        guidepost_domain::WalkthroughCompletedEventData,
        guidepost_domain::ConnectionEventData,
    )),
    modifiers(&Conventions),
    tags(
        (name = "servers", description = "Hosted MCP servers"),
        (name = "gateway", description = "Upstream MCP servers installed from the catalog and attached to hosted servers"),
        (name = "walkthroughs", description = "Interactive walkthroughs: draft steps, published versions, \
                                              assignments to servers and funnel reports"),
        (name = "support", description = "Support requests and feedback from end users, and webhooks that announce them"),
        (name = "policies", description = "Guardrails at call time: policies in Cedar (what the \
                                          organization lets agents call), quotas per caller, \
                                          and interceptors (the organization's own services), \
                                          decided on every tool call"),
        (name = "end-users", description = "The people behind MCP clients"),
        (name = "analytics", description = "Recorded tool calls and reports"),
        (name = "api-keys", description = "The organization's API keys"),
        (name = "organization", description = "The organization's settings"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The name of the API key scheme in the document.
const BEARER: &str = "bearer";

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("gp_…")
            .description(Some("An organization API key"))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(scheme));
        allow_flattened_fields(components);
        for item in openapi.paths.paths.values_mut() {
            for change in changes(item) {
                change
                    .responses
                    .responses
                    .entry("403".into())
                    .or_insert_with(|| {
                        problem_response("The API key's scopes do not cover this change")
                    });
            }
        }

        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let responses = &mut operation.responses.responses;
                if secured {
                    responses
                        .entry("401".into())
                        .or_insert_with(|| problem_response("Missing, invalid or revoked API key"));
                }
                if operation.request_body.is_some() {
                    responses
                        .entry("400".into())
                        .or_insert_with(|| problem_response("The body is not valid JSON"));
                    responses.entry("415".into()).or_insert_with(|| {
                        problem_response("The body is not sent as `application/json`")
                    });
                }
                responses
                    .entry("500".into())
                    .or_insert_with(|| problem_response("Internal error, logged"));
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && is_error(status)
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert(PROBLEM_CONTENT_TYPE.into(), problem_content());
                    }
                }
            }
        }
    }
}

/// A schema that flattens a record which refuses unknown fields (as a request body)
/// gets that refusal inlined too, and then refuses its own added fields. The composed
/// parts of such a schema allow what the others add.
fn allow_flattened_fields(components: &mut utoipa::openapi::Components) {
    for schema in components.schemas.values_mut() {
        open_composed_parts(schema, false);
    }
}

fn open_composed_parts(schema: &mut RefOr<utoipa::openapi::schema::Schema>, composed: bool) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::AllOf(all_of) => {
            for part in &mut all_of.items {
                open_composed_parts(part, true);
            }
        }
        Schema::Object(object) => {
            if composed {
                object.additional_properties = None;
            }
            for property in object.properties.values_mut() {
                open_composed_parts(property, false);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                open_composed_parts(items, false);
            }
        }
        _ => {}
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The operations of `item` that change something: every one but GET.
fn changes(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

fn problem_content() -> Content {
    let reference = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(Problem::name()));
    Content::new(Some(reference))
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_CONTENT_TYPE, problem_content())
        .build()
        .into()
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document always serializes")
});

/// This document. No API key needed.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi_get",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = serde_json::Value))
)]
pub(crate) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
