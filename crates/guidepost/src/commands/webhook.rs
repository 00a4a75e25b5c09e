//! `guidepost webhook …`: an organization's webhooks from the command line.

use std::time::Duration;

use anyhow::Context;
use guidepost_core::{Caller, CoreError, Platform, support::webhooks};
use guidepost_domain::{DeliveryStatus, Id, PageRequest, WebhookDelivery, WebhookId};
use serde_json::json;

use super::admin::operator;
use crate::cli::WebhookCommand;
use crate::output;

pub async fn run(command: WebhookCommand, platform: &Platform, json: bool) -> anyhow::Result<()> {
    match command {
        WebhookCommand::List { org } => list(platform, &operator(&org)?, json).await,
        WebhookCommand::Test { org, webhook, wait } => {
            let id: WebhookId = Id::parse(&webhook)
                .with_context(|| format!("{webhook:?} is not a webhook id (wh_…)"))?;
            test(
                platform,
                &operator(&org)?,
                &id,
                Duration::from_secs(wait),
                json,
            )
            .await
        }
    }
}

async fn list(platform: &Platform, caller: &Caller, json: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for webhook in webhooks::list(platform, caller).await? {
        let latest = webhooks::deliveries(platform, caller, &webhook.id, &PageRequest::first(1))
            .await?
            .items
            .into_iter()
            .next();
        rows.push(json!({"webhook": webhook, "latest_delivery": latest}));
    }
    output::print(json, &rows, |rows| {
        if rows.is_empty() {
            return "No webhooks. Create one with POST /api/v1/webhooks.".into();
        }
        rows.iter()
            .map(|row| {
                let hook = &row["webhook"];
                let events: Vec<&str> = hook["events"]
                    .as_array()
                    .map(|all| all.iter().filter_map(|e| e.as_str()).collect())
                    .unwrap_or_default();
                let latest = match row["latest_delivery"].as_object() {
                    Some(d) => format!(
                        "latest {} {} after {} attempt(s)",
                        d["event"].as_str().unwrap_or(""),
                        d["status"].as_str().unwrap_or(""),
                        d["attempts"]
                    ),
                    None => "no deliveries yet".into(),
                };
                format!(
                    "{}  {}  [{}]  {latest}",
                    hook["id"].as_str().unwrap_or(""),
                    hook["url"].as_str().unwrap_or(""),
                    events.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// Queues a ping and waits until a node has tried it, or `wait` has passed.
async fn test(
    platform: &Platform,
    caller: &Caller,
    id: &WebhookId,
    wait: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let queued = webhooks::ping(platform, caller, id)
        .await
        .map_err(|e| match e {
            CoreError::NotFound => {
                anyhow::anyhow!("no webhook {id} in organization {}", caller.org())
            }
            other => other.into(),
        })?;
    output::note!(
        "Queued a ping ({}); waiting up to {} s for a node to send it…",
        queued.id,
        wait.as_secs()
    );
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = queued;
    while seen.attempts == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let recent = webhooks::deliveries(platform, caller, id, &PageRequest::first(50)).await?;
        if let Some(found) = recent.items.into_iter().find(|d| d.id == seen.id) {
            seen = found;
        }
    }
    output::print(json, &seen, describe);
    match seen.status {
        DeliveryStatus::Failed => anyhow::bail!("the ping was not delivered"),
        _ => Ok(()),
    }
}

fn describe(delivery: &WebhookDelivery) -> String {
    let answer = match (delivery.last_status_code, &delivery.last_error) {
        (Some(code), _) => format!("the receiver answered {code}"),
        (None, Some(error)) => error.clone(),
        (None, None) => String::new(),
    };
    match delivery.status {
        DeliveryStatus::Delivered => format!("Delivered ({answer})."),
        DeliveryStatus::Failed => format!("Failed after {} attempts: {answer}.", delivery.attempts),
        DeliveryStatus::Pending if delivery.attempts == 0 => {
            "Not sent yet: no running `guidepost serve` on this database has taken it. It stays queued.".into()
        }
        DeliveryStatus::Pending => format!(
            "Attempt {} failed: {answer}. Retrying at {}.",
            delivery.attempts,
            delivery.next_attempt_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
    }
}
