//! `serve --demo`: an organization, a server `demo` and an API key, so that a person can
//! connect an MCP client right away. Running it again reuses the server.

use guidepost_core::hosting::servers::{self, CreateServer};
use guidepost_core::walkthroughs::authoring::{self, AssignWalkthrough};
use guidepost_core::walkthroughs::content;
use guidepost_core::{Caller, Platform, accounts::organizations};
use guidepost_domain::{ApiKeyScopes, Email, Role, TrackingId};
use serde::Serialize;

use crate::output;

const DEMO_SLUG: &str = "demo";
/// The demo organization's owner: the dashboard's sign-in code for it goes to the mail
/// outbox (and the log), since the demo has no SMTP server.
const DEMO_OWNER: &str = "owner@demo.example";

/// The sample walkthrough, compiled in so that the demo needs no files on disk.
const SAMPLE_KEY: &str = "getting-started";
const SAMPLE_FILES: [(&str, &str); 6] = [
    (
        "walkthrough.toml",
        include_str!("../../../../examples/walkthroughs/getting-started/walkthrough.toml"),
    ),
    (
        "01-create-your-account-and-project.md",
        include_str!(
            "../../../../examples/walkthroughs/getting-started/01-create-your-account-and-project.md"
        ),
    ),
    (
        "02-install-the-skylark-cli.md",
        include_str!(
            "../../../../examples/walkthroughs/getting-started/02-install-the-skylark-cli.md"
        ),
    ),
    (
        "03-authenticate-and-link-your-project.md",
        include_str!(
            "../../../../examples/walkthroughs/getting-started/03-authenticate-and-link-your-project.md"
        ),
    ),
    (
        "04-send-your-first-event.md",
        include_str!(
            "../../../../examples/walkthroughs/getting-started/04-send-your-first-event.md"
        ),
    ),
    (
        "05-explore-your-dashboard.md",
        include_str!(
            "../../../../examples/walkthroughs/getting-started/05-explore-your-dashboard.md"
        ),
    ),
];

#[derive(Debug, Serialize)]
pub struct Seeded {
    pub organization_id: String,
    pub server_id: String,
    /// The published sample walkthrough, assigned to the demo server.
    pub walkthrough_id: String,
    /// The MCP URL with a personal tracking id, on the server's virtual host.
    pub mcp_url: String,
    /// The same, by the path fallback (for machines where *.localhost does not resolve).
    pub path_mcp_url: String,
    pub api_key: String,
    pub api_url: String,
    /// The dashboard's sign-in page for the demo owner.
    pub dashboard_url: String,
}

pub async fn seed(platform: &Platform) -> anyhow::Result<Seeded> {
    let server = match guidepost_core::hosting::routing::server_for_address(
        platform,
        None,
        Some(DEMO_SLUG),
    )
    .await?
    {
        Some(server) => std::sync::Arc::unwrap_or_clone(server),
        None => {
            let (org, _) = organizations::create(platform, "Demo").await?;
            let input = CreateServer {
                name: "Demo".into(),
                slug: DEMO_SLUG.into(),
                kind: None,
                auth_mode: None,
                walkthrough_tools_enabled: None,
                support_tool_enabled: None,
                feedback_tool_enabled: None,
                custom_domain: None,
                product_name: Some("Guidepost Demo".into()),
                instructions: Some("This is Guidepost's demo server. Use get_support to reach the (demo) support team.".into()),
                allowed_origins: None,
            };
            servers::create(platform, &Caller::operator(org.id), input).await?
        }
    };
    let operator = Caller::operator(server.org_id.clone());
    let walkthrough_id = seed_walkthrough(platform, &operator, &server).await?;
    let owner = Email::parse(DEMO_OWNER)?;
    match guidepost_core::accounts::members::add(platform, &operator, &owner, Role::Owner).await {
        Ok(_) | Err(guidepost_core::CoreError::Conflict(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let key = organizations::create_api_key(platform, &operator, "demo", Some(ApiKeyScopes::all()))
        .await?;
    let tracking = TrackingId::generate("demo-");
    let view = servers::view(&platform.config, server);
    let base = platform
        .config
        .origin_for_host(&platform.config.base_domain);
    Ok(Seeded {
        organization_id: view.server.org_id.to_string(),
        server_id: view.server.id.to_string(),
        walkthrough_id: walkthrough_id.to_string(),
        mcp_url: format!("{}?tracking_id={}", view.mcp_url, tracking.as_str()),
        path_mcp_url: format!("{}?tracking_id={}", view.path_mcp_url, tracking.as_str()),
        api_key: key.plaintext,
        api_url: format!("{base}/api/v1"),
        dashboard_url: super::admin::dashboard_sign_in_url(platform, &owner),
    })
}

pub fn print(seeded: &Seeded, json: bool) {
    output::print(json, seeded, |s| {
        format!(
            "Guidepost demo is ready.\n\n  MCP URL:       {}\n  (path form):   {}\n  API key:       {}\n  API:           {}\n  Dashboard:     {}\n                 (the sign-in code is written to the mail outbox and the log)\n\n\
             Ask your agent to list the walkthroughs: \"Getting started with Skylark\" (5 steps) is published.\n\
             Try: curl -H 'Authorization: Bearer {}' {}/servers\n",
            s.mcp_url, s.path_mcp_url, s.api_key, s.api_url, s.dashboard_url, s.api_key, s.api_url
        )
    });
}

/// Imports and publishes the sample walkthrough (a no-op when it is already there) and
/// assigns it to the demo server.
async fn seed_walkthrough(
    platform: &Platform,
    operator: &Caller,
    server: &guidepost_domain::McpServer,
) -> anyhow::Result<guidepost_domain::WalkthroughId> {
    let files = SAMPLE_FILES
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect();
    let source = content::parse_walkthrough_dir(files)?;
    let report = content::import(platform, operator, SAMPLE_KEY, source, true).await?;
    let assignment = AssignWalkthrough {
        display_order: Some(0),
        is_enabled: Some(true),
    };
    authoring::assign(
        platform,
        operator,
        &server.id,
        &report.walkthrough_id,
        assignment,
    )
    .await?;
    Ok(report.walkthrough_id)
}
