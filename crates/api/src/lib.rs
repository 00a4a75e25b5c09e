//! Guidepost's management API: REST under `/api/v1`, authenticated with an
//! organization API key, errors as RFC 9457 problem documents, and an OpenAPI 3.1
//! document generated from the handlers themselves.
//!
//! Each resource has its own module of thin handlers: parse the request, call `core` or the
//! store with the organization of the key, render the result. The cross-cutting pieces are
//! `auth` (the [`OrgAuth`] extractor), `error` (the one mapping from errors to problem
//! documents), `extract` (body, query and path extractors whose rejections are problem
//! documents too) and `openapi`.
//!
//! Architecture invariant: every handler takes the organization id from the API key and
//! passes it to every call it makes, so another organization's objects are simply not found.

mod analytics;
mod api_keys;
mod approvals;
mod audit;
mod auth;
mod connections;
pub mod discovery;
mod end_users;
mod error;
mod extract;
mod feedback;
mod interceptors;
mod oidc;
mod openapi;
mod organization;
mod pagination;
mod policies;
mod quotas;
mod route_table;
mod servers;
mod support;
mod support_messages;
mod tool_calls;
mod tool_switches;
mod upstreams;
mod walkthroughs;
mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::{Extension, Router};
use guidepost_core::Platform;
use guidepost_core::mail::Mail;

use route_table::RouteTable;

pub use auth::OrgAuth;
pub use error::{ApiError, FieldError, Problem};
pub use openapi::ApiDoc;

/// The largest request body the API accepts.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Where the API is served.
const PREFIX: &str = "/api/v1";

/// The management API, every route under `/api/v1`. It sets no fallback of its own outside
/// that prefix, so the binary can merge it with the MCP routes.
/// `mail` sends support replies (the same mail path as the dashboard's).
pub fn router(platform: Platform, mail: Arc<dyn Mail>) -> Router {
    let api = routes()
        .into_router()
        // Applies to the routes already added, so it comes after them.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::no_route)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(Extension(mail))
        .with_state(platform);
    Router::new().nest(PREFIX, api)
}

/// Every path the API serves, with its `{…}` parameters, as the router was built from.
pub fn route_paths() -> Vec<String> {
    routes()
        .paths()
        .iter()
        .map(|path| format!("{PREFIX}{path}"))
        .collect()
}

fn routes() -> RouteTable<Platform> {
    RouteTable::new()
        .route("/servers", get(servers::list).post(servers::create))
        .route(
            "/servers/{id}",
            get(servers::get)
                .patch(servers::update)
                .delete(servers::delete),
        )
        .route("/servers/{id}/install", get(servers::install))
        .route("/servers/{id}/tools", get(tool_switches::list))
        .route(
            "/servers/{id}/tools/{name}/disabled",
            put(tool_switches::disable).delete(tool_switches::enable),
        )
        .route(
            "/servers/{id}/custom-domain/verify",
            post(servers::verify_custom_domain),
        )
        .route(
            "/catalog",
            get(upstreams::catalog).post(upstreams::add_entry),
        )
        .route("/audit-events", get(audit::list))
        .route(
            "/organization",
            get(organization::get).patch(organization::update),
        )
        .route("/upstreams", get(upstreams::list).post(upstreams::install))
        .route(
            "/upstreams/{id}",
            get(upstreams::get)
                .patch(upstreams::update)
                .delete(upstreams::uninstall),
        )
        .route("/upstreams/{id}/restart", post(upstreams::restart))
        .route("/upstreams/{id}/rollback", post(upstreams::rollback))
        .route("/upstreams/{id}/connect", post(connections::connect))
        .route("/upstreams/{id}/connections", get(connections::list))
        .route(
            "/upstreams/{id}/connections/{owner}",
            delete(connections::disconnect),
        )
        .route("/upstreams/{id}/tools", get(upstreams::tools))
        .route(
            "/upstreams/{id}/tools/approve-clean",
            post(upstreams::approve_clean),
        )
        .route(
            "/upstreams/{id}/tools/{name}/approve",
            post(upstreams::approve),
        )
        .route(
            "/upstreams/{id}/tools/{name}/reject",
            post(upstreams::reject),
        )
        .route(
            "/upstreams/{id}/definitions/{kind}/{name}/approve",
            post(upstreams::approve_definition),
        )
        .route(
            "/upstreams/{id}/definitions/{kind}/{name}/reject",
            post(upstreams::reject_definition),
        )
        .route("/upstreams/{id}/logs", get(upstreams::logs))
        .route(
            "/servers/{id}/upstreams/{upstream_id}",
            put(upstreams::attach).delete(upstreams::detach),
        )
        .route(
            "/servers/{id}/oidc",
            get(oidc::get).put(oidc::put).delete(oidc::delete),
        )
        .route(
            "/servers/{id}/walkthroughs",
            get(walkthroughs::list_assignments),
        )
        .route(
            "/servers/{id}/walkthroughs/{walkthrough_id}",
            put(walkthroughs::assign).delete(walkthroughs::unassign),
        )
        .route(
            "/walkthroughs",
            get(walkthroughs::list).post(walkthroughs::create),
        )
        .route(
            "/walkthroughs/{id}",
            get(walkthroughs::get)
                .patch(walkthroughs::update)
                .delete(walkthroughs::delete),
        )
        .route("/walkthroughs/{id}/steps", post(walkthroughs::create_step))
        .route(
            "/walkthroughs/{id}/steps/{step_id}",
            patch(walkthroughs::update_step).delete(walkthroughs::delete_step),
        )
        .route("/walkthroughs/{id}/publish", post(walkthroughs::publish))
        .route(
            "/walkthroughs/{id}/versions/{version}/republish",
            post(walkthroughs::republish),
        )
        .route("/walkthroughs/{id}/funnel", get(walkthroughs::funnel))
        .route("/walkthroughs/{id}/funnel/stuck", get(walkthroughs::stuck))
        .route("/support-requests", get(support::list))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}", get(approvals::get))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route(
            "/interceptors",
            get(interceptors::list).post(interceptors::create),
        )
        .route("/interceptors/{id}", delete(interceptors::delete))
        .route("/policies", get(policies::get).put(policies::publish))
        .route("/policies/check", post(policies::check))
        .route("/policies/test", post(policies::test))
        .route("/policies/versions", get(policies::versions))
        .route("/policies/versions/{version}", get(policies::version))
        .route("/policies/schema", get(policies::schema))
        .route("/quotas", get(quotas::get).put(quotas::put))
        .route("/feedback", get(feedback::list))
        .route("/feedback/daily", get(feedback::daily))
        .route(
            "/support-requests/{id}",
            get(support::get).patch(support::update),
        )
        .route(
            "/support-requests/{id}/messages",
            get(support_messages::list).post(support_messages::create),
        )
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/end-users", get(end_users::list))
        .route(
            "/end-users/{id}",
            get(end_users::get).delete(end_users::erase),
        )
        .route("/end-users/{id}/export", get(end_users::export))
        .route(
            "/end-users/{id}/progress/{server_id}/{walkthrough_id}",
            delete(end_users::reset_progress),
        )
        .route("/end-users/{id}/connections", get(connections::of_person))
        .route("/tool-calls", get(tool_calls::list))
        .route("/analytics/tools", get(analytics::tools))
        .route("/analytics/tools/export", get(analytics::export))
        .route(
            "/servers/{id}/missing-capabilities",
            get(analytics::missing),
        )
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}", delete(api_keys::revoke))
        .route("/openapi.json", get(openapi::document))
}
