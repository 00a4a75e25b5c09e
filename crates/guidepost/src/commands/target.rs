//! Talking to a running Guidepost over HTTP, for the commands that load one (`bench`):
//! API answers checked for success, and single values read from its `/metrics`.

use anyhow::bail;
use serde_json::Value;

pub(super) async fn checked(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the API answered {status}: {body}");
    }
    Ok(body)
}

/// One value from the target's `/metrics`, if it exposes it.
pub(super) async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    value_in(&metrics_page(http, base).await?, name)
}

/// The target's `/metrics` page, for reading several values of one moment.
pub(super) async fn metrics_page(http: &reqwest::Client, base: &str) -> Option<String> {
    let response = http.get(format!("{base}/metrics")).send().await.ok()?;
    response.text().await.ok()
}

/// The value of the series `name` (with its labels, as the page writes them:
/// `name{label="value"}`) in a `/metrics` page.
pub(super) fn value_in(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
}
