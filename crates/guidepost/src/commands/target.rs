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

/// One unlabelled value from the target's `/metrics`, if it exposes it.
pub(super) async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
}
