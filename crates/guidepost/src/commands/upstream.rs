//! `guidepost upstream …`: the gateway's commands. Installing and restarting
//! run the upstream in this process once, so that its package lands in the cache the
//! serving nodes share and its tools are discovered before any node needs them.

use std::time::{Duration, Instant};

use anyhow::Context;
use guidepost_core::upstreams::{self, AttachUpstream, InstallUpstream};
use guidepost_core::{Caller, Platform};
use guidepost_domain::{Id, Upstream, UpstreamId, UpstreamStatus};
use serde_json::json;

use super::admin::operator;
use crate::cli::UpstreamCommand;
use crate::output;

pub async fn run(command: UpstreamCommand, platform: &Platform, json: bool) -> anyhow::Result<()> {
    match command {
        UpstreamCommand::Catalog => {
            let entries = platform.config.catalog.entries();
            output::print(json, &entries, |entries| {
                entries
                    .iter()
                    .map(|e| format!("{:<12} {:<12} {}", e.id, e.spec.runtime(), e.description))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        UpstreamCommand::Install {
            org,
            spec: Some(spec),
            name,
            wait,
            secrets,
            start,
            ..
        } => {
            let caller = operator(&org)?;
            let direct = direct_upstream(&spec, name, from_env(secrets)?, start)?;
            let upstream = upstreams::install_direct(platform, &caller, direct).await?;
            installed(platform, &caller, upstream, wait, json).await
        }
        UpstreamCommand::Install {
            org,
            entry,
            spec: None,
            name,
            wait,
            secrets,
            settings,
            start,
            sign_in,
            replicas,
            network,
        } => {
            let caller = operator(&org)?;
            let secrets = from_env(secrets)?;
            let input = InstallUpstream {
                catalog_entry_id: entry.context("name a catalog entry, or give --spec")?,
                version: None,
                name,
                secrets,
                config: settings
                    .iter()
                    .map(|pair| setting(pair))
                    .collect::<anyhow::Result<_>>()?,
                start: start
                    .as_deref()
                    .and_then(guidepost_domain::StartMode::parse),
                sign_in: sign_in
                    .as_deref()
                    .and_then(guidepost_domain::UpstreamSignIn::parse),
                // The entry's own; the API or a `--spec` sets it otherwise.
                allow_foreign_oauth_endpoints: None,
                replicas,
                network: network.map(|choice| choice == "fenced"),
            };
            let upstream = upstreams::install(platform, &caller, input).await?;
            installed(platform, &caller, upstream, wait, json).await
        }
        UpstreamCommand::List { org } => {
            let list = upstreams::list(platform, &operator(&org)?).await?;
            output::print(json, &list, |list| {
                if list.is_empty() {
                    return "No upstreams.".into();
                }
                list.iter()
                    .map(|u| format!("{}  {:<10} {}", u.id, u.status, u.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        UpstreamCommand::Status { org, id } => {
            let caller = operator(&org)?;
            let upstream = upstreams::get(platform, &caller, &upstream_id(&id)?).await?;
            show(platform, &caller, upstream, json).await
        }
        UpstreamCommand::Logs { org, id } => {
            let caller = operator(&org)?;
            let id = upstream_id(&id)?;
            let before = upstreams::try_here(platform, &caller, &id).await?;
            let last_error = before.last_error.as_deref().unwrap_or("none");
            output::note!(
                "As the serving nodes last found it: {}, last error: {last_error}. Starting it here …",
                before.status
            );
            settle(platform, &caller, &id, Duration::from_secs(300)).await?;
            let lines = upstreams::logs(platform, &caller, &id).await?;
            output::print(json, &json!({"lines": lines}), |_| lines.join("\n"));
            Ok(())
        }
        UpstreamCommand::Connect { org, id } => {
            let caller = operator(&org)?;
            let id = upstream_id(&id)?;
            let link = upstreams::connections::connect_link(platform, &caller, &id).await?;
            output::print(json, &link, |link| {
                format!(
                    "Open this link in a browser before {} to connect the account:\n{}",
                    link.expires_at.to_rfc3339(),
                    link.url
                )
            });
            Ok(())
        }
        UpstreamCommand::Restart { org, id } => {
            let caller = operator(&org)?;
            let id = upstream_id(&id)?;
            upstreams::restart(platform, &caller, &id).await?;
            let upstream = settle(platform, &caller, &id, Duration::from_secs(300)).await?;
            show(platform, &caller, upstream, json).await
        }
        UpstreamCommand::Upgrade {
            org,
            id,
            version,
            settings,
            secrets,
            replicas,
            wait,
        } => {
            let caller = operator(&org)?;
            let id = upstream_id(&id)?;
            let relaunched = version.is_some() || !settings.is_empty() || !secrets.is_empty();
            let input = upstreams::UpdateUpstream {
                replicas,
                version,
                config: (!settings.is_empty())
                    .then(|| settings.iter().map(|pair| setting(pair)).collect())
                    .transpose()?,
                secrets: (!secrets.is_empty())
                    .then(|| from_env(secrets))
                    .transpose()?,
                ..Default::default()
            };
            let upstream = upstreams::update(platform, &caller, &id, input).await?;
            if relaunched {
                output::note!("Switching {} to {} …", upstream.id, version_of(&upstream));
            }
            let upstream = switched(platform, &caller, &id, Duration::from_secs(wait)).await?;
            show(platform, &caller, upstream, json).await
        }
        UpstreamCommand::Rollback { org, id, wait } => {
            let caller = operator(&org)?;
            let id = upstream_id(&id)?;
            let upstream = upstreams::upgrade::rollback(platform, &caller, &id).await?;
            output::note!(
                "Rolling {} back to {} …",
                upstream.id,
                version_of(&upstream)
            );
            let upstream = switched(platform, &caller, &id, Duration::from_secs(wait)).await?;
            show(platform, &caller, upstream, json).await
        }
        UpstreamCommand::Uninstall { org, id } => {
            let id = upstream_id(&id)?;
            upstreams::uninstall(platform, &operator(&org)?, &id).await?;
            output::print(json, &json!({"uninstalled": id}), |_| {
                format!("Upstream {id} uninstalled.")
            });
            Ok(())
        }
        UpstreamCommand::Attach {
            org,
            server,
            id,
            prefix,
            allowed_tools,
            allowed_prompts,
            timeout_ms,
        } => {
            let server = Id::parse(&server)
                .with_context(|| format!("{server:?} is not a server id (ms_…)"))?;
            let input = AttachUpstream {
                prefix,
                allowed_tools: (!allowed_tools.is_empty()).then_some(allowed_tools),
                allowed_prompts: (!allowed_prompts.is_empty()).then_some(allowed_prompts),
                timeout_ms,
            };
            let attached = upstreams::attach(
                platform,
                &operator(&org)?,
                &server,
                &upstream_id(&id)?,
                input,
            )
            .await?;
            output::print(json, &attached, |a| {
                format!(
                    "Attached {} to {}: its tools appear as {}__<tool>.",
                    a.upstream_id, a.server_id, a.prefix
                )
            });
            Ok(())
        }
        UpstreamCommand::Detach { org, server, id } => {
            let server = Id::parse(&server)
                .with_context(|| format!("{server:?} is not a server id (ms_…)"))?;
            let id = upstream_id(&id)?;
            upstreams::detach(platform, &operator(&org)?, &server, &id).await?;
            output::print(json, &json!({"detached": id, "server_id": server}), |_| {
                format!("Detached {id} from {server}.")
            });
            Ok(())
        }
    }
}

/// `NAME=VALUE` of `--setting`: the value as JSON (a number, true, false) if it parses,
/// else as a string.
fn setting(pair: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (name, value) = pair
        .split_once('=')
        .with_context(|| format!("--setting {pair:?}: write NAME=VALUE"))?;
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

/// The most a `--spec` file may hold: a launch spec is a few hundred bytes.
const SPEC_FILE_MAX: u64 = 64 * 1024;

/// `install --spec FILE`: the file's launch spec with the command line's name, secrets and
/// start, as the API's body without a catalog entry carries them.
fn direct_upstream(
    spec: &std::path::Path,
    name: Option<String>,
    secrets: std::collections::BTreeMap<String, String>,
    start: Option<String>,
) -> anyhow::Result<upstreams::DirectUpstream> {
    let shown = spec.display();
    let size = std::fs::metadata(spec)
        .with_context(|| format!("--spec {shown}: cannot read it"))?
        .len();
    if size > SPEC_FILE_MAX {
        anyhow::bail!(
            "--spec {shown}: {size} bytes, more than a launch spec needs (at most {SPEC_FILE_MAX})"
        );
    }
    let text = std::fs::read_to_string(spec)
        .with_context(|| format!("--spec {shown}: cannot read it as text"))?;
    let serde_json::Value::Object(mut body) =
        serde_json::from_str(&text).with_context(|| format!("--spec {shown}: not JSON"))?
    else {
        anyhow::bail!(
            "--spec {shown}: must hold one JSON object, such as {{\"runtime\": \"http\", \"url\": \"https://…\"}}"
        );
    };
    for key in ["name", "secrets", "start"] {
        if body.contains_key(key) {
            anyhow::bail!("--spec {shown}: give `{key}` on the command line, not in the file");
        }
    }
    body.insert("name".into(), json!(name));
    body.insert("secrets".into(), json!(secrets));
    body.insert("start".into(), json!(start));
    upstreams::DirectUpstream::from_body(body)
        .map_err(|error| anyhow::anyhow!("--spec {shown}: {error}"))
}

/// Waits for a new installation to settle, then shows it.
async fn installed(
    platform: &Platform,
    caller: &Caller,
    upstream: Upstream,
    wait: u64,
    json: bool,
) -> anyhow::Result<()> {
    output::note!("Installing {} ({}) …", upstream.name, upstream.id);
    let upstream = settle(platform, caller, &upstream.id, Duration::from_secs(wait)).await?;
    show(platform, caller, upstream, json).await
}

/// The values of `--secret-from-env`, each read from its variable.
fn from_env(names: Vec<String>) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    names
        .into_iter()
        .map(|name| {
            let value = std::env::var(&name)
                .with_context(|| format!("--secret-from-env {name}: the variable is not set"))?;
            Ok((name, value))
        })
        .collect()
}

fn version_of(upstream: &Upstream) -> &str {
    upstream.version.as_deref().unwrap_or("its new settings")
}

/// Waits until this process's switch to the upstream's new launch is done (fetched,
/// started, its tools judged).
async fn switched(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
    wait: Duration,
) -> anyhow::Result<Upstream> {
    let deadline = Instant::now() + wait;
    while platform.upstreams.is_switching(id) {
        if Instant::now() >= deadline {
            anyhow::bail!(
                "{id} is still switching after {} s; serving nodes switch at their next call",
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(upstreams::get(platform, caller, id).await?)
}

fn upstream_id(text: &str) -> anyhow::Result<UpstreamId> {
    Id::parse(text).with_context(|| format!("{text:?} is not an upstream id (up_…)"))
}

/// Waits until the upstream leaves `installing`/`starting`, printing each status it
/// passes through on stderr.
async fn settle(
    platform: &Platform,
    caller: &Caller,
    id: &UpstreamId,
    wait: Duration,
) -> anyhow::Result<Upstream> {
    let deadline = Instant::now() + wait;
    let mut last = None;
    loop {
        let upstream = upstreams::get(platform, caller, id).await?;
        if last != Some(upstream.status) {
            output::note!("  {}", upstream.status);
            last = Some(upstream.status);
        }
        if !matches!(
            upstream.status,
            UpstreamStatus::Installing | UpstreamStatus::Starting
        ) {
            return Ok(upstream);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "{id} is still {} after {} s; a serving node will go on when it is first called",
                upstream.status,
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints an upstream with its tools.
async fn show(
    platform: &Platform,
    caller: &Caller,
    upstream: Upstream,
    json: bool,
) -> anyhow::Result<()> {
    let tools = upstreams::tools(platform, caller, &upstream.id).await?;
    let names: Vec<&str> = tools.iter().map(|t| t.tool.name.as_str()).collect();
    let value = json!({"upstream": upstream, "tools": tools});
    output::print(json, &value, |_| {
        let mut text = format!(
            "Upstream {} ({}): {}, {} restarts",
            upstream.id, upstream.name, upstream.status, upstream.restarts
        );
        if upstream.replicas > 1 {
            text.push_str(&format!(", {} processes per node", upstream.replicas));
        }
        if let Some(error) = &upstream.last_error {
            text.push_str(&format!("\nLast error: {error}"));
        }
        text.push_str(&format!("\nTools ({}): {}", names.len(), names.join(", ")));
        text
    });
    if upstream.status == UpstreamStatus::Failed {
        anyhow::bail!("{} failed", upstream.id);
    }
    Ok(())
}
