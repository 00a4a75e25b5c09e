//! The gateway: installed upstream MCP servers at a glance, the catalog
//! and install form, an upstream's status, logs, tools and attachments, the review queue
//! of pending and quarantined tools with their diffs and findings, and the audit log.
//!
//! Every id in a URL is looked up within the signed-in member's organization, so another
//! organization's upstreams, tools and servers are simply not found.

mod approvals;
mod audit;
mod catalog;
mod catalog_form;
pub(crate) mod connections;
mod policies;
mod review;
mod settings;
mod upgrade;
mod upstreams;
mod visible;

use askama::Template;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use guidepost_core::accounts::organizations;
use guidepost_core::upstreams::overview;
use guidepost_domain::*;

use crate::Dashboard;
use crate::page::Section;
use crate::page::{self, Chrome, Done, PageResult};
use crate::route_table::RouteTable;
use crate::session::Signed;

pub(crate) fn routes() -> RouteTable<Dashboard> {
    RouteTable::new()
        .route("/gateway", get(installed))
        .route("/gateway/settings", post(settings::save))
        .route("/gateway/catalog", get(catalog::list).post(catalog::add))
        .route(
            "/gateway/catalog/{entry}/install",
            get(catalog::install_form).post(catalog::install),
        )
        .route("/gateway/upstreams/{id}", get(upstreams::show))
        .route("/gateway/upstreams/{id}/restart", post(upstreams::restart))
        .route("/gateway/upstreams/{id}/upgrade", post(upstreams::upgrade))
        .route("/gateway/upstreams/{id}/rollback", post(upgrade::rollback))
        .route("/gateway/upstreams/{id}/attach", post(upstreams::attach))
        .route(
            "/gateway/upstreams/{id}/connect",
            post(connections::connect),
        )
        .route(
            "/gateway/upstreams/{id}/disconnect",
            post(connections::disconnect),
        )
        .route(
            "/gateway/upstreams/{id}/detach/{server}",
            post(upstreams::detach),
        )
        .route(
            "/gateway/upstreams/{id}/uninstall",
            post(upstreams::uninstall),
        )
        .route("/gateway/review", get(review::queue))
        .route(
            "/gateway/upstreams/{id}/approve-clean",
            post(review::approve_clean),
        )
        .route("/gateway/upstreams/{id}/tools/{name}", get(review::tool))
        .route(
            "/gateway/upstreams/{id}/tools/{name}/approve",
            post(review::approve),
        )
        .route(
            "/gateway/upstreams/{id}/tools/{name}/reject",
            post(review::reject),
        )
        .route("/gateway/audit", get(audit::list))
        .route(
            "/gateway/policies",
            get(policies::show).post(policies::publish),
        )
        .route("/gateway/policies/test", post(policies::test))
        .route("/gateway/approvals", get(approvals::queue))
        .route("/gateway/approvals/{id}/approve", post(approvals::approve))
        .route("/gateway/approvals/{id}/reject", post(approvals::reject))
}

/// The badge class that goes with an upstream's status (the word is always shown too).
fn status_tone(status: UpstreamStatus) -> &'static str {
    match status {
        UpstreamStatus::Ready => "ok",
        UpstreamStatus::Installing | UpstreamStatus::Starting | UpstreamStatus::Degraded => "warn",
        UpstreamStatus::Failed => "danger",
        UpstreamStatus::Stopped => "",
    }
}

/// The badge class that goes with a tool's review state.
fn state_tone(state: ToolState) -> &'static str {
    match state {
        ToolState::Approved => "ok",
        ToolState::Pending => "warn",
        ToolState::Quarantined | ToolState::Rejected => "danger",
    }
}

#[derive(Template)]
#[template(path = "gateway/installed.html")]
struct InstalledPage {
    chrome: Chrome,
    upstreams: Vec<UpstreamRow>,
    awaiting_review: usize,
    settings: settings::GatewaySettings,
}

struct UpstreamRow {
    id: String,
    name: String,
    status: &'static str,
    tone: &'static str,
    tools: usize,
    awaiting_review: usize,
    servers: usize,
    /// The registry's newer version, when there is one.
    upgrade_available: Option<String>,
}

/// `GET /app/gateway`: the installed upstreams and how many tools wait for review.
pub(crate) async fn installed(
    State(app): State<Dashboard>,
    signed: Signed,
    Query(done): Query<Done>,
) -> PageResult {
    let chrome = Chrome::new(
        &app,
        &signed,
        "Gateway",
        Section::Gateway,
        done.done.as_deref(),
    )
    .await?;
    let all = overview::overview(&app.platform, signed.caller()).await?;
    let upstreams: Vec<UpstreamRow> = all
        .iter()
        .map(|entry| UpstreamRow {
            id: entry.upstream.id.to_string(),
            name: entry.upstream.name.clone(),
            status: entry.upstream.status.as_str(),
            tone: status_tone(entry.upstream.status),
            tools: entry.tools.len(),
            awaiting_review: entry.awaiting_review().count(),
            servers: entry.servers.len(),
            upgrade_available: entry
                .upstream
                .latest_version
                .clone()
                .filter(|_| entry.upstream.upgrade_available),
        })
        .collect();
    let awaiting_review = upstreams.iter().map(|u| u.awaiting_review).sum();
    let organization = organizations::get(&app.platform, signed.caller()).await?;
    Ok(page::render(&InstalledPage {
        chrome,
        upstreams,
        awaiting_review,
        settings: settings::GatewaySettings::of(&organization),
    }))
}
