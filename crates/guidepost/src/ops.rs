//! Operations endpoints (SPEC §10): liveness, readiness and Prometheus metrics.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use guidepost_core::Platform;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide metrics recorder; installed once even when tests start several apps.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
}

pub fn router(platform: Platform) -> Router {
    let state = OpsState {
        platform,
        metrics: metrics_handle(),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

async fn ready(State(state): State<OpsState>) -> impl IntoResponse {
    match state.platform.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable")
        }
    }
}

async fn render_metrics(State(state): State<OpsState>) -> impl IntoResponse {
    let store = state.platform.store_figures();
    metrics::gauge!("guidepost_store_statements_executed").set(store.statements_executed as f64);
    metrics::gauge!("guidepost_store_pool_connections", "state" => "open")
        .set(f64::from(store.pool_size));
    metrics::gauge!("guidepost_store_pool_connections", "state" => "idle")
        .set(store.pool_idle as f64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
