//! Operations endpoints: liveness, readiness and Prometheus metrics.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use guidepost_core::{Platform, hosting::routing};
use guidepost_domain::hash_secret;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds, in seconds, of the latency histograms' buckets: from a fast in-memory
/// answer to a call that waits on a slow upstream.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets of a session's duration in seconds: from a second to a day.
const SESSION_BUCKETS: &[f64] = &[
    1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// The process-wide metrics recorder; installed once even when tests start several apps.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Histograms, not summaries: a summary's quantiles decay to 0 a while after
            // traffic stops, and cannot be aggregated across nodes.
            let sessions = Matcher::Full("mcp_server_session_duration_seconds".to_owned());
            let recorder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .and_then(|builder| builder.set_buckets_for_metric(sessions, SESSION_BUCKETS))
                .expect("the bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

#[derive(Clone)]
struct OpsState {
    platform: Platform,
    metrics: PrometheusHandle,
    /// The hash of `--metrics-token`, the bearer token `/metrics` requires, if any.
    metrics_token_hash: Option<Arc<str>>,
    live_sessions: guidepost_mcp::LiveSessionCount,
}

pub fn router(
    platform: Platform,
    metrics_token: Option<String>,
    live_sessions: guidepost_mcp::LiveSessionCount,
) -> Router {
    let metrics = metrics_handle();
    // After the recorder is installed: before it, they would go nowhere.
    register_alerted_counters();
    let state = OpsState {
        platform,
        metrics,
        metrics_token_hash: metrics_token.map(|t| Arc::from(hash_secret(&t))),
        live_sessions,
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

/// Counters that `deploy/`'s alerts divide or rate are shown from the start, at 0: a
/// series that appears only with its first failure makes `rate()` miss that failure.
fn register_alerted_counters() {
    metrics::counter!("guidepost_store_errors_total").increment(0);
    metrics::counter!("guidepost_http_responses_total", "class" => "5xx").increment(0);
    metrics::counter!("guidepost_mcp_sessions_evicted_total").increment(0);
    for result in ["delivered", "retrying", "failed"] {
        metrics::counter!("guidepost_webhook_attempts_total", "result" => result).increment(0);
    }
}

/// Ready when the store answers; the body also says what confinement process upstreams
/// get on this node (SECURITY.md), so an operator sees a weaker mode at a glance.
async fn ready(State(state): State<OpsState>) -> Response {
    let confinement = state.platform.upstreams.confinement_report();
    let (status, word) = match state.platform.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable")
        }
    };
    let body = serde_json::json!({"status": word, "upstream_confinement": confinement});
    (status, axum::Json(body)).into_response()
}

/// Prometheus metrics, on the platform's own host only: a tenant's virtual
/// host or custom domain answers 404, as for any path it does not serve.
async fn render_metrics(State(state): State<OpsState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(routing::normalize_host)
        .unwrap_or_default();
    match routing::is_platform_host(&state.platform, &host).await {
        Ok(true) => {}
        Ok(false) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(%error, "could not tell whose host this is");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    if let Some(expected) = &state.metrics_token_hash
        && !presents_token(&headers, expected)
    {
        let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
        return (StatusCode::UNAUTHORIZED, challenge).into_response();
    }
    metrics::gauge!("guidepost_mcp_live_sessions").set(state.live_sessions.live() as f64);
    if let Some(bytes) = resident_memory_bytes() {
        metrics::gauge!("guidepost_process_resident_memory_bytes").set(bytes as f64);
    }
    match guidepost_core::upstreams::tools_by_state(&state.platform).await {
        Ok(counts) => {
            for tool_state in guidepost_domain::ToolState::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == tool_state)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("guidepost_upstream_tools", "state" => tool_state.as_str())
                    .set(n as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "could not count upstream tools"),
    }
    // One round trip per scrape: the store's latency as this node sees it.
    let started = std::time::Instant::now();
    match state.platform.ping().await {
        Ok(()) => {
            metrics::gauge!("guidepost_store_ping_seconds").set(started.elapsed().as_secs_f64())
        }
        Err(error) => tracing::warn!(%error, "the store did not answer the metrics ping"),
    }
    let store = state.platform.store_figures();
    metrics::gauge!("guidepost_store_statements_executed").set(store.statements_executed as f64);
    metrics::gauge!("guidepost_store_pool_connections", "state" => "open")
        .set(f64::from(store.pool_size));
    metrics::gauge!("guidepost_store_pool_connections", "state" => "idle")
        .set(store.pool_idle as f64);
    // SQLite's one writer at a time: how long each hot writer waited for it and held it.
    for (writer, time) in store.write_turns.into_iter().flatten() {
        let writer = writer.as_str();
        metrics::gauge!("guidepost_store_write_turn_waited_seconds", "writer" => writer)
            .set(time.waited.as_secs_f64());
        metrics::gauge!("guidepost_store_write_turn_held_seconds", "writer" => writer)
            .set(time.held.as_secs_f64());
        metrics::gauge!("guidepost_store_write_turns", "writer" => writer).set(time.turns as f64);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// This process's resident memory, from `/proc/self/status` (Linux only).
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether `Authorization: Bearer …` carries the token whose hash is `expected`
/// (comparing hashes leaks nothing useful about the token through timing).
fn presents_token(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|presented| hash_secret(presented) == expected)
}
