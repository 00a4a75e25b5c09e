//! W3C trace context: a client's `traceparent`, from its HTTP header or its
//! request's `_meta.traceparent` (SEP-414), makes our spans part of its trace, and the
//! current span's goes on to upstreams. Only the binary installs the OpenTelemetry layer
//! (`--otlp-endpoint`); without it every span's context is empty, so nothing is continued
//! or passed on and the functions here cost a lookup each.

use std::cell::Cell;
use std::fmt;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The HTTP header, and the `_meta` key, that carries it.
pub const TRACEPARENT: &str = "traceparent";

/// The span a version-00 `traceparent` names (`00-{trace id}-{parent id}-{flags}`, lower
/// hex); `None` for anything else, which W3C says to ignore (a trace then starts here).
pub fn parse(value: &str) -> Option<SpanContext> {
    let mut fields = value.split('-');
    let (version, trace, span, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let lengths_fit = version == "00"
        && fields.next().is_none()
        && trace.len() == 32
        && span.len() == 16
        && flags.len() == 2;
    let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lengths_fit || ![trace, span, flags].into_iter().all(lower_hex) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?) & TraceFlags::SAMPLED;
    let context = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    context.is_valid().then_some(context)
}

/// The `traceparent` that names `context`; `None` for an empty one.
pub(crate) fn format(context: &SpanContext) -> Option<String> {
    context.is_valid().then(|| {
        let flags = context.trace_flags().to_u8();
        format!(
            "00-{}-{}-{flags:02x}",
            context.trace_id(),
            context.span_id()
        )
    })
}

/// Makes `span` a child of the client's span that `traceparent` names. `span` must be
/// fresh (no child made and nothing recorded in it yet); an unusable value is ignored.
pub fn continue_from(span: &tracing::Span, traceparent: &str) {
    if let Some(parent) = parse(traceparent) {
        let parent = opentelemetry::Context::new().with_remote_span_context(parent);
        // Fails only when the span was already started, which callers rule out.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` of the current span, to pass on to an upstream; `None` when no trace
/// is being recorded.
pub fn current() -> Option<String> {
    let context = tracing::Span::current().context();
    format(context.span().span_context())
}

thread_local! {
    /// Set while a span that decides its own sampling is made.
    static OWN_SAMPLING: Cell<bool> = const { Cell::new(false) };
}

/// Makes the span that `make` makes decide its own sampling, as the start of a trace,
/// rather than follow the span it is made in: an MCP request that continues a client's
/// `_meta.traceparent` is recorded when the client's trace is, whatever the HTTP request
/// around it. With traces on, the binary's filter makes Guidepost's spans only in
/// sampled traces (`trace_sampling`).
pub fn with_own_sampling<T>(make: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            OWN_SAMPLING.set(false);
        }
    }
    OWN_SAMPLING.set(true);
    let _reset = Reset;
    make()
}

/// Whether the span being made decides its own sampling ([`with_own_sampling`]).
pub fn decides_own_sampling() -> bool {
    OWN_SAMPLING.get()
}

/// A span's name, `{method}` or `{method} {target}`, written only when a layer reads it
/// (a disabled span costs no allocation).
pub struct SpanName<'a> {
    pub method: &'a str,
    pub target: Option<&'a str>,
}

impl fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            Some(target) => write!(f, "{} {target}", self.method),
            None => f.write_str(self.method),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    const SAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let context = parse(SAMPLED).expect("a valid traceparent");
        assert!(context.is_remote());
        assert!(context.is_sampled());
        assert_eq!(format(&context).as_deref(), Some(SAMPLED));
        let unsampled = SAMPLED.replace("-01", "-00");
        assert!(!parse(&unsampled).expect("unsampled is valid").is_sampled());
    }

    #[test]
    fn malformed_or_empty_traceparents_are_ignored() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333x-01",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} was taken");
        }
    }
}
