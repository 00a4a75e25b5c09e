//! `serve --demo`: an organization, a server `demo` and an API key, so that a person can
//! connect an MCP client right away. Running it again reuses the server.

use guidepost_core::Platform;
use guidepost_core::servers::{self, CreateServer};
use guidepost_domain::{ApiKeySecret, EndUserId, TrackingId};
use serde::Serialize;

use crate::output;

const DEMO_SLUG: &str = "demo";

#[derive(Debug, Serialize)]
pub struct Seeded {
    pub organization_id: String,
    pub server_id: String,
    /// The MCP URL with a personal tracking id, on the server's virtual host.
    pub mcp_url: String,
    /// The same, by the path fallback (for machines where *.localhost does not resolve).
    pub path_mcp_url: String,
    pub api_key: String,
    pub api_url: String,
}

pub async fn seed(platform: &Platform) -> anyhow::Result<Seeded> {
    let store = &platform.store;
    let server = match store.find_server_by_slug(DEMO_SLUG).await? {
        Some(server) => server,
        None => {
            let org = store.create_organization("Demo").await?;
            let input = CreateServer {
                name: "Demo".into(),
                slug: DEMO_SLUG.into(),
                kind: None,
                auth_mode: None,
                walkthrough_tools_enabled: None,
                support_tool_enabled: None,
                custom_domain: None,
                product_name: Some("Guidepost Demo".into()),
                instructions: Some("This is Guidepost's demo server. Use get_support to reach the (demo) support team.".into()),
                allowed_origins: None,
            };
            servers::create(platform, &org.id, input).await?
        }
    };
    let secret = ApiKeySecret::generate();
    store
        .create_api_key(&server.org_id, "demo", &secret)
        .await?;
    let tracking = TrackingId::parse(&format!(
        "demo-{}",
        EndUserId::generate().as_str().trim_start_matches("msu_")
    ))?;
    let view = servers::view(&platform.config, server);
    let base = platform
        .config
        .origin_for_host(&platform.config.base_domain);
    Ok(Seeded {
        organization_id: view.server.org_id.to_string(),
        server_id: view.server.id.to_string(),
        mcp_url: format!("{}?tracking_id={}", view.mcp_url, tracking.as_str()),
        path_mcp_url: format!("{}?tracking_id={}", view.path_mcp_url, tracking.as_str()),
        api_key: secret.plaintext,
        api_url: format!("{base}/api/v1"),
    })
}

pub fn print(seeded: &Seeded, json: bool) {
    output::print(json, seeded, |s| {
        format!(
            "Guidepost demo is ready.\n\n  MCP URL:       {}\n  (path form):   {}\n  API key:       {}\n  API:           {}\n\n\
             Try: curl -H 'Authorization: Bearer {}' {}/servers\n",
            s.mcp_url, s.path_mcp_url, s.api_key, s.api_url, s.api_key, s.api_url
        )
    });
}
