//! Guidepost's admin dashboard: the pages in which an organization's members
//! run their servers, author walkthroughs, read analytics, answer support and review
//! upstream tools. Mounted under `/app` on the platform's own host only.
//!
//! Every page is a real URL rendered on the server (askama templates in `templates/`,
//! one view struct per page); every action is a `<form method=post>` answered with 303 to
//! a page, so everything works with JavaScript off. `assets/app.js` only enhances (copy
//! buttons, drag and drop that submits the same move form). Handlers are thin: they parse,
//! call a core service with the signed-in member's organization, and render.
//!
//! Security, in `security.rs` and `session.rs`: a strict CSP with no inline script or
//! style, cross-site posts refused by `Sec-Fetch-Site`/`Origin` (tenants' hosts are the
//! same *site*, so `SameSite` alone would not stop them), a form token on every form, and
//! a `__Host-` session cookie whose token core stores only as a hash.
//!
//! Architecture invariant: every handler takes the organization from the session, never
//! from the URL or the form, and passes it to every core call; another organization's ids
//! are simply not found.

mod analytics;
mod assets;
mod charts;
mod clients;
mod confirm;
mod error;
mod field_label;
mod form;
mod gateway;
mod home;
mod identity_provider;
mod identity_provider_form;
mod markdown;
mod members;
mod numbers;
mod page;
mod route_table;
mod search;
mod section;
mod security;
mod servers;
mod session;
mod shown_once;
mod sign_in;
mod tester;
mod tool_switches;
mod upload;
mod walkthroughs;
mod when;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use guidepost_core::Platform;
use guidepost_core::mail::Mail;

use route_table::RouteTable;

/// The largest form the dashboard accepts (a step's content is at most 100,000 characters).
pub const BODY_LIMIT: usize = 512 * 1024;

/// What every handler is given.
#[derive(Clone)]
pub struct Dashboard {
    pub platform: Platform,
    pub mail: Arc<dyn Mail>,
    /// The MCP endpoint, which the tool tester calls in process.
    pub mcp: Router,
    /// New secrets waiting for the page that shows them once.
    pub(crate) shown_once: Arc<shown_once::ShownOnce>,
}

/// The dashboard's routes, all under `/app`.
pub fn router(platform: Platform, mail: Arc<dyn Mail>, mcp: Router) -> Router {
    let state = Dashboard {
        platform,
        mail,
        mcp,
        shown_once: Arc::default(),
    };
    routes()
        .into_router()
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

/// Every path the dashboard serves, with its `{…}` parameters, as the router was built
/// from.
pub fn route_paths() -> Vec<String> {
    routes().paths().to_vec()
}

fn routes() -> RouteTable<Dashboard> {
    let pages = RouteTable::new()
        .route("/", get(home::overview))
        .route("/search", get(search::show))
        .route("/assets/{hash}/{name}", get(assets::serve))
        .route(
            "/sign-in",
            get(sign_in::email_page).post(sign_in::send_code),
        )
        .route(
            "/sign-in/code",
            get(sign_in::code_page).post(sign_in::check_code),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .route("/switch", post(sign_in::switch_organization))
        .route("/members", get(members::list).post(members::invite))
        .route("/members/{id}/role", post(members::change_role))
        .route("/members/{id}/remove", post(members::remove))
        .route(
            "/api-keys",
            get(members::api_keys).post(members::create_api_key),
        )
        .route("/api-keys/{id}/revoke", post(members::revoke_api_key))
        .route("/servers", get(servers::list).post(servers::create))
        .route("/servers/new", get(servers::new_form))
        .route("/registry-listing", post(servers::registry_listing))
        .route("/servers/{id}", get(servers::show).post(servers::update))
        .route("/servers/{id}/verify-domain", post(servers::verify_domain))
        .route("/servers/{id}/delete", post(servers::delete))
        .route("/servers/{id}/tools", post(tool_switches::switch))
        .route("/servers/{id}/tester", get(tester::show).post(tester::run))
        .route("/servers/{id}/clients", get(clients::list))
        .route(
            "/servers/{id}/identity-provider",
            post(identity_provider::set),
        )
        .route(
            "/servers/{id}/identity-provider/remove",
            post(identity_provider::remove),
        )
        .merge(walkthroughs::routes())
        .merge(analytics::routes())
        .merge(gateway::routes());
    // Nested at `/app`, the pages' `/` is `/app`; the overview answers `/app/` too.
    RouteTable::new()
        .route("/app/", get(home::overview))
        .nest("/app", pages, page::not_found)
}
