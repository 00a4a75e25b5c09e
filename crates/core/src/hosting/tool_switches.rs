//! Single tools switched on or off per hosted server: a switched-off tool is not
//! listed in `tools/list` and a call to it is refused with a tool error, on that server
//! only. The list is kept with the server, so every node's cache and the change feed carry
//! it as they carry the server's other settings.

use guidepost_domain::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{Caller, CoreError, Permission, Platform, hosting::servers, upstreams};

/// How often a switch re-reads the list when another switch wrote it first.
const WRITE_ATTEMPTS: usize = 5;

/// Where a tool of a server comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SwitchSource {
    /// Guidepost's own tools (walkthroughs, `get_support`).
    Builtin,
    /// An attached upstream's tool.
    Upstream {
        #[schema(value_type = String)]
        upstream_id: UpstreamId,
        upstream_name: String,
    },
}

/// One tool of a server and whether it is on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolSwitch {
    /// The name agents call it by on this server.
    pub name: String,
    pub source: SwitchSource,
    pub enabled: bool,
}

/// Whether `name` is switched off on `server`: not listed, and refused when called.
pub fn switched_off(server: &McpServer, name: &str) -> bool {
    server.disabled_tools.iter().any(|off| off == name)
}

/// The sentence a call of a switched-off tool is answered with, for an agent.
pub fn refusal(name: &str) -> String {
    format!(
        "{name} is switched off on this server by its administrators; it cannot be called. \
         Call tools/list to see the tools this server offers."
    )
}

/// The server's tools that a switch can turn on or off: its built-in tools while their
/// family is on (the walkthrough tools, `get_support`) and its attached upstreams' approved
/// tools, each with whether it is on.
pub async fn switches(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
) -> Result<(McpServer, Vec<ToolSwitch>), CoreError> {
    let server = servers::get(platform, caller, id).await?;
    let switch = |name: String, source| ToolSwitch {
        enabled: !switched_off(&server, &name),
        name,
        source,
    };
    let mut tools: Vec<ToolSwitch> = builtin_names(&server)
        .map(|name| switch(name.to_owned(), SwitchSource::Builtin))
        .collect();
    for offered in upstreams::offered(platform, &server).await? {
        let source = SwitchSource::Upstream {
            upstream_id: offered.upstream_id.clone(),
            upstream_name: offered.upstream.name.clone(),
        };
        tools.push(switch(offered.exposed_name.clone(), source));
    }
    Ok((server, tools))
}

/// The built-in tools whose family is on on `server` (whether walkthroughs are published
/// does not matter: a switch is set ahead of time as well).
fn builtin_names(server: &McpServer) -> impl Iterator<Item = &'static str> + '_ {
    builtin_tools::ALL.into_iter().filter(|name| match *name {
        builtin_tools::GET_SUPPORT => crate::support::requests::offered_on(server),
        builtin_tools::SEND_FEEDBACK => crate::support::feedback::offered_on(server),
        _ => server.walkthrough_tools_enabled,
    })
}

/// Switches the tool `name` on `id` on or off, audited. Switching off a name the server
/// does not have is `NotFound`; switching on is allowed for any name (a detached
/// upstream's tool may linger in the list).
pub async fn set_enabled(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
    name: &str,
    enabled: bool,
) -> Result<McpServer, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    // Another organization's server is not found, whatever the name.
    let mut server = platform.store.get_server(org, id).await?;
    if name.is_empty() || name.len() > Limits::TOOL_NAME {
        return Err(ValidationError::new(
            "name",
            format!("must be 1 to {} characters", Limits::TOOL_NAME),
        )
        .into());
    }
    if !enabled && !switched_off(&server, name) && !has_tool(platform, &server, name).await? {
        return Err(CoreError::NotFound);
    }
    for _ in 0..WRITE_ATTEMPTS {
        let mut disabled = server.disabled_tools.clone();
        disabled.retain(|off| off != name);
        if !enabled {
            disabled.push(name.to_owned());
            disabled.sort();
        }
        if disabled == server.disabled_tools {
            return Ok(server);
        }
        if disabled.len() > Limits::DISABLED_TOOLS {
            return Err(ValidationError::new(
                "name",
                format!(
                    "at most {} tools can be off on one server",
                    Limits::DISABLED_TOOLS
                ),
            )
            .into());
        }
        let written = platform
            .store
            .replace_disabled_tools(org, id, &server.disabled_tools, &disabled)
            .await?;
        match written {
            Some(updated) => {
                let action = if enabled {
                    AuditAction::ServerToolEnabled
                } else {
                    AuditAction::ServerToolDisabled
                };
                let detail = serde_json::json!({ "tool": name });
                crate::audit::record_server(platform, caller, action, &updated, detail).await?;
                // Nodes forget the server (their caches) and its clients hear the change.
                platform
                    .announce_tools_changed(std::slice::from_ref(id))
                    .await;
                return Ok(updated);
            }
            None => server = platform.store.get_server(org, id).await?,
        }
    }
    Err(CoreError::Conflict(
        "the server's tools were changed by others at the same time; try again".into(),
    ))
}

/// Whether the server has a tool by this name: a built-in one, or an attached upstream's
/// (whatever its review state, so it can be switched off before it is approved).
async fn has_tool(platform: &Platform, server: &McpServer, name: &str) -> Result<bool, CoreError> {
    if builtin_tools::ALL.contains(&name) {
        return Ok(true);
    }
    Ok(upstreams::may_be_exposed(name)
        && upstreams::offered_tool(platform, server, name)
            .await?
            .is_some())
}
