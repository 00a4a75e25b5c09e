//! The log filter when traces are on: one sampling decision per trace, made
//! where the trace starts (the HTTP request, or an MCP request continuing a client's
//! `_meta.traceparent`), decides whether the spans under it are made at all.
//!
//! Guidepost's trace spans (the MCP request, tool call, store statement, upstream call,
//! webhook delivery and mail send) are at `debug`, below the log filter. Letting every one
//! of them through and leaving the sampler to drop 9 in 10 at the end costs each request
//! its spans' builders, attributes and log fields. Here a trace span is made only when the
//! span it is made in is sampled (or it has none: a trace of its own, such as a webhook
//! delivery, which the sampler decides on). Everything else is the log filter's, so that
//! logs read the same with or without traces.

use std::sync::OnceLock;

use guidepost_core::trace_context;
use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The log filter, plus Guidepost's trace spans in sampled traces.
pub(crate) struct SampledSpans {
    logs: EnvFilter,
    /// The subscriber this filter is part of, to read a span's trace context.
    dispatch: OnceLock<WeakDispatch>,
}

/// Whether the span it is stored in (a span that trace spans were made in) is sampled.
struct Sampled(bool);

impl SampledSpans {
    pub(crate) fn new(logs: EnvFilter) -> Self {
        Self {
            logs,
            dispatch: OnceLock::new(),
        }
    }

    /// Whether the trace the current span belongs to is sampled; a span made outside any
    /// span starts a trace, which the sampler decides on.
    fn in_sampled_trace<S>(&self, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if trace_context::decides_own_sampling() {
            return true;
        }
        let Some(current) = ctx.lookup_current() else {
            return true;
        };
        if let Some(Sampled(sampled)) = current.extensions().get::<Sampled>() {
            return *sampled;
        }
        // Read once per span (its parent is set by then: a `traceparent` continues a span
        // before anything is made in it) and kept beside it.
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        let context =
            dispatch.and_then(|d| tracing_opentelemetry::get_otel_context(&current.id(), &d));
        let sampled = context.is_none_or(|cx| cx.span().span_context().is_sampled());
        current.extensions_mut().replace(Sampled(sampled));
        sampled
    }
}

/// One of Guidepost's trace spans (they alone are made at `debug`).
fn is_trace_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span()
        && *metadata.level() == Level::DEBUG
        && metadata.target().starts_with("guidepost")
}

impl<S> Layer<S> for SampledSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        let interest = Layer::<S>::register_callsite(&self.logs, metadata);
        if is_trace_span(metadata) && !interest.is_always() {
            // Asked each time: whether it is made depends on the trace it would be in.
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Layer::<S>::max_level_hint(&self.logs).map(|level| level.max(LevelFilter::DEBUG))
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if Layer::<S>::enabled(&self.logs, metadata, ctx.clone()) {
            return true;
        }
        is_trace_span(metadata) && self.in_sampled_trace(&ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        Layer::<S>::on_new_span(&self.logs, attrs, id, ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        Layer::<S>::on_record(&self.logs, id, values, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        Layer::<S>::on_enter(&self.logs, id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        Layer::<S>::on_exit(&self.logs, id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        Layer::<S>::on_close(&self.logs, id, ctx);
    }
}
