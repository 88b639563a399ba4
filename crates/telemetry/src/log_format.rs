//! Log lines that name their OpenTelemetry trace: a [`FormatEvent`] wrapper adding the ids of the
//! innermost span that has an OTel context (`trace_id`, `span_id`, lowercase hex) to each line.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::init::LogFormat;

/// Formats events with `inner`, then adds the trace and span ids of the event's span: JSON lines
/// get top-level `trace_id` and `span_id` keys, text lines end with ` trace_id=… span_id=…`.
/// Lines outside any OTel span are `inner`'s unchanged.
pub(crate) struct WithTraceIds<E> {
    pub(crate) inner: E,
    pub(crate) format: LogFormat,
    pub(crate) dispatch: DispatchCell,
}

/// The subscriber the formatter is part of, for reading span extensions through
/// `tracing_opentelemetry::get_otel_context` (inside an event callback,
/// `tracing::dispatcher::get_default` answers the no-op dispatcher, so it is captured instead).
#[derive(Clone, Default)]
pub(crate) struct DispatchCell(Arc<OnceLock<WeakDispatch>>);

/// A layer that only fills its [`DispatchCell`] when the subscriber is installed.
pub(crate) struct CaptureDispatch(pub(crate) DispatchCell);

impl<S: Subscriber> Layer<S> for CaptureDispatch {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.0.0.set(dispatch.downgrade());
    }
}

impl<S, N, E> FormatEvent<S, N> for WithTraceIds<E>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(&self, context: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let Some((trace_id, span_id)) = trace_ids(context, &self.dispatch) else {
            return self.inner.format_event(context, writer, event);
        };
        // The inner formatter writes a whole line; the ids go inside it, so it is buffered.
        let mut line = String::with_capacity(256);
        self.inner.format_event(context, Writer::new(&mut line), event)?;
        match self.format {
            LogFormat::Json => match line.strip_prefix('{') {
                Some(rest) => {
                    let separator = if rest.starts_with('}') { "" } else { "," };
                    write!(writer, "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"{separator}{rest}")
                }
                None => writer.write_str(&line),
            },
            LogFormat::Text => {
                let body = line.strip_suffix('\n').unwrap_or(&line);
                writeln!(writer, "{body} trace_id={trace_id} span_id={span_id}")
            }
        }
    }
}

/// Returns the ids of the innermost span of the event's scope that has a valid OTel context.
fn trace_ids<S, N>(context: &FmtContext<'_, S, N>, dispatch: &DispatchCell) -> Option<(TraceId, SpanId)>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    let dispatch = dispatch.0.get()?.upgrade()?;
    context.event_scope()?.find_map(|span| {
        // Spans the OTel layer filtered out have no context; their ancestors may.
        let otel_context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let span_context = otel_context.span().span_context().clone();
        span_context.is_valid().then(|| (span_context.trace_id(), span_context.span_id()))
    })
}
