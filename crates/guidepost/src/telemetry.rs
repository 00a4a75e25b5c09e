//! Logs on stderr and, with `--otlp-endpoint`, traces over OTLP/HTTP. The
//! MCP request, tool call, upstream call, store statement, webhook and mail spans are at
//! `debug`, so that logs at `info` never build them. With an endpoint, the filter
//! (`trace_sampling`) lets them through in sampled traces only, decided once where the
//! trace starts: an unsampled request makes none of them. Without one there is no exporter
//! and no trace layer: those spans are disabled at their call sites, and no span has a
//! trace context to continue or pass on.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry::trace::TracerProvider;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::{GlobalArgs, LogFormat};
use crate::trace_sampling::SampledSpans;

/// How long one export may take before it is given up (the batch is dropped).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// A collector's answer is a few bytes; more is not read.
const MAX_ANSWER: usize = 64 * 1024;
const TRACES_PATH: &str = "/v1/traces";

/// The trace pipeline, flushed when the process ends.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued (at a stop) and ends the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // Blocks until the batch thread has exported, which needs this runtime.
        let ended = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = ended {
            tracing::warn!(%error, "the last traces were not all sent");
        }
    }
}

/// Installs the global subscriber: logs in `format`, and traces if an endpoint is set.
///
/// One global filter, no per-layer filters: `tracing-subscriber`'s per-layer filters pass
/// their decision from `enabled` to `on_new_span` through a thread-local, which calls
/// such as sqlx's query logger leave stale, so that spans went missing at random.
pub fn init(global: &GlobalArgs) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_env("GUIDEPOST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rmcp=warn"));
    let Some(endpoint) = &global.otlp_endpoint else {
        // Logs alone: spans below the log level are then disabled where they are made.
        tracing_subscriber::registry()
            .with(filter)
            .with(logs(global.log_format))
            .try_init()
            .context("installing the log subscriber")?;
        return Ok(Telemetry { provider: None });
    };
    let provider = provider(endpoint, global.otlp_sample_ratio)?;
    // A span's parent is its parent in `tracing` (not the thread's current OpenTelemetry
    // context, which async tasks moving between threads leave behind).
    // Per span, nothing the traces do not need: no busy/idle timings (two clock reads at
    // every poll of an instrumented future), no thread name (an allocation per span), no
    // source location.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("guidepost"))
        .with_context_activation(false)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false);
    // Guidepost's own spans are at `debug`: made in sampled traces (log lines then name
    // them too); the log filter decides the rest, as without traces.
    tracing_subscriber::registry()
        .with(SampledSpans::new(filter))
        .with(logs(global.log_format))
        .with(traces)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// Log lines on stderr, in `format`.
fn logs<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => logs.json().boxed(),
        LogFormat::Text => logs.boxed(),
    }
}

fn provider(endpoint: &url::Url, ratio: f64) -> anyhow::Result<SdkTracerProvider> {
    let client = ReqwestOnTokio {
        http: reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .context("building the OTLP client")?,
        runtime: tokio::runtime::Handle::current(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .context("building the OTLP exporter")?;
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("guidepost")
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(resource)
        .build())
}

/// The collector's traces URL: the endpoint, with `/v1/traces` unless it ends so.
fn traces_url(endpoint: &url::Url) -> String {
    let base = endpoint.as_str().trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

/// The exporter's HTTP client: the workspace's reqwest, run on the application's runtime
/// (the SDK exports from a thread of its own, which has none).
#[derive(Debug)]
struct ReqwestOnTokio {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for ReqwestOnTokio {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let mut answer = http.execute(request).await?;
            let mut body = Vec::new();
            while let Some(chunk) = answer.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            let mut response = Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = std::mem::take(answer.headers_mut());
            }
            Ok::<_, HttpError>(response.body(Bytes::from(body))?)
        });
        sent.await?
    }
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn the_traces_path_is_added_once() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            traces_url(&url("http://collector:4318")),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url(&url("http://collector:4318/v1/traces")),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url(&url("https://otel.example/prefix/")),
            "https://otel.example/prefix/v1/traces"
        );
    }
}
