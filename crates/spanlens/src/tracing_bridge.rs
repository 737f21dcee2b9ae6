//! Bridge to the `tracing` crate (feature `tracing`): a `tracing-opentelemetry` layer on the
//! SDK's tracer provider.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracer;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

use crate::Spanlens;

/// Instrumentation scope name of the spans recorded through [`tracing_layer`].
pub const TRACING_SCOPE: &str = "spanlens.tracing";

/// A [`tracing_opentelemetry::OpenTelemetryLayer`] that records `tracing` spans with the SDK's
/// tracer provider (same exporter, sampler, resource and scope attributes), so `tracing` spans
/// and SDK spans form one tree, nested as written:
///
/// - an SDK span (e.g. [`crate::chat`], [`crate::observe()`]) started while a `tracing` span is
///   entered — also inside a future wrapped with `tracing::Instrument::instrument` — becomes its
///   child (the layer's *context activation* is switched on explicitly: entering a `tracing`
///   span makes its OpenTelemetry context current);
/// - a `tracing` span created inside an SDK span (inside an [`crate::observe()`] future, across
///   `.await`) becomes a child of the SDK span (a `tracing` span without a `tracing` parent takes
///   the current OpenTelemetry context as its parent).
///
/// The spans are recorded with the instrumentation scope [`TRACING_SCOPE`]. Add the layer to a
/// `tracing_subscriber` registry; keep the [`Spanlens`] guard alive as usual (spans ended after
/// it is shut down are not exported).
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt as _;
/// use tracing_subscriber::util::SubscriberInitExt as _;
///
/// let spanlens = spanlens::builder().service_name("my-app").init()?;
/// tracing_subscriber::registry()
///     .with(spanlens::tracing_layer(&spanlens))
///     .init();
/// # Ok::<(), spanlens::Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub fn tracing_layer<S>(spanlens: &Spanlens) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let tracer = spanlens.tracer_provider().tracer_with_scope(
        opentelemetry::InstrumentationScope::builder(TRACING_SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // On by default in tracing-opentelemetry 0.34; set explicitly, nesting depends on it.
        .with_context_activation(true)
}
