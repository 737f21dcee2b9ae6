//! One-call setup: exporter, batch processor, sampler, resource; the guard that flushes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Compression, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};

use crate::capture::{ForeignContent, Mask};
use crate::scope::ScopeProcessor;
use crate::score::{Score, ScoreClient};
use crate::state::{self, Installed, State};
use crate::tls::{self, ExtraCa};

/// Instrumentation scope of the SDK's own spans.
pub(crate) const SCOPE_NAME: &str = "spanlens";

/// OTLP transport.
///
/// ```
/// assert_eq!(spanlens::Protocol::default(), spanlens::Protocol::Grpc);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (collector port 4317).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (collector port 4318, path `/v1/traces`).
    HttpProtobuf,
}

/// Setup errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid (e.g. a sampling ratio outside 0..=1, a bad API key).
    #[error("invalid spanlens configuration: {0}")]
    Config(String),
    /// The OTLP exporter could not be built (e.g. an unparsable endpoint).
    #[error("building the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// The export runtime thread could not start.
    #[error("starting the export runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// A score could not be delivered (no HTTP endpoint, connection failure, non-2xx answer).
    #[error("sending score: {0}")]
    Score(String),
    /// Flush or shutdown failed or timed out (spans may have been lost).
    #[error("flushing spans: {0}")]
    Flush(#[from] opentelemetry_sdk::error::OTelSdkError),
}

/// Starts a [`SpanlensBuilder`] with defaults (gRPC to `http://127.0.0.1:4317`, content
/// capture on, sample everything).
///
/// ```no_run
/// let spanlens = spanlens::builder().service_name("my-app").init()?;
/// # Ok::<(), spanlens::Error>(())
/// ```
pub fn builder() -> SpanlensBuilder {
    SpanlensBuilder::default()
}

/// Configures and installs the SDK; [`SpanlensBuilder::init`] returns the [`Spanlens`] guard.
///
/// ```no_run
/// use std::time::Duration;
/// use spanlens::Protocol;
/// let spanlens = spanlens::builder()
///     .endpoint("https://spanlens.internal:4318")
///     .protocol(Protocol::HttpProtobuf)
///     .api_key("sk-project-key")            // sent as `authorization: Bearer sk-project-key`
///     .service_name("support-bot")
///     .service_version("1.4.2")
///     .environment("production")
///     .sampling_ratio(0.25)                 // parent-based: a trace is kept or dropped whole
///     .batch_delay(Duration::from_millis(500))
///     .mask(|text| text.replace("4111-1111-1111-1111", "[card]"))
///     .init()?;
/// # Ok::<(), spanlens::Error>(())
/// ```
pub struct SpanlensBuilder {
    endpoint: Option<String>,
    protocol: Protocol,
    api_key: Option<String>,
    headers: Vec<(String, String)>,
    service_name: String,
    service_version: Option<String>,
    environment: Option<String>,
    resource: Vec<KeyValue>,
    sampling_ratio: f64,
    capture_content: bool,
    mask: Option<Mask>,
    batch_delay: Duration,
    max_queue_size: usize,
    max_export_batch_size: usize,
    export_timeout: Duration,
    gzip: bool,
    set_global: bool,
    http_endpoint: Option<String>,
    ca: Option<CaSource>,
}

/// Where the extra CA certificate comes from.
#[derive(Debug, Clone)]
enum CaSource {
    Pem(Vec<u8>),
    File(std::path::PathBuf),
}

impl Default for SpanlensBuilder {
    fn default() -> Self {
        SpanlensBuilder {
            endpoint: None,
            protocol: Protocol::Grpc,
            api_key: None,
            headers: Vec::new(),
            service_name: "unknown_service".into(),
            service_version: None,
            environment: None,
            resource: Vec::new(),
            sampling_ratio: 1.0,
            capture_content: true,
            mask: None,
            batch_delay: Duration::from_secs(1),
            max_queue_size: 2048,
            max_export_batch_size: 512,
            export_timeout: Duration::from_secs(10),
            gzip: false,
            set_global: true,
            http_endpoint: None,
            ca: None,
        }
    }
}

impl fmt::Debug for SpanlensBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanlensBuilder")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("sampling_ratio", &self.sampling_ratio)
            .field("capture_content", &self.capture_content)
            .field("mask", &self.mask.as_ref().map(|_| "<fn>"))
            .field("batch_delay", &self.batch_delay)
            .finish_non_exhaustive()
    }
}

impl SpanlensBuilder {
    /// Reads settings from the environment on top of the current ones: `SPANLENS_ENDPOINT`
    /// (else `OTEL_EXPORTER_OTLP_ENDPOINT`), `SPANLENS_PROTOCOL` (else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`; `grpc` or `http/protobuf`), `SPANLENS_API_KEY`,
    /// `OTEL_SERVICE_NAME`, `SPANLENS_SERVICE_VERSION`, `SPANLENS_ENVIRONMENT`,
    /// `SPANLENS_SAMPLING_RATIO`, `SPANLENS_CAPTURE_CONTENT` (`false`/`0` turns capture off),
    /// `SPANLENS_CA_CERTIFICATE` (else `OTEL_EXPORTER_OTLP_CERTIFICATE`: a PEM file with the CA
    /// that signed the collector's certificate).
    ///
    /// ```no_run
    /// let spanlens = spanlens::builder().service_name("fallback-name").from_env().init()?;
    /// # Ok::<(), spanlens::Error>(())
    /// ```
    pub fn from_env(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = var("SPANLENS_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            self.endpoint = Some(v);
        }
        if let Some(v) = var("SPANLENS_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            self.protocol = if v.trim().starts_with("http") {
                Protocol::HttpProtobuf
            } else {
                Protocol::Grpc
            };
        }
        if let Some(v) = var("SPANLENS_API_KEY") {
            self.api_key = Some(v);
        }
        if let Some(v) = var("OTEL_SERVICE_NAME") {
            self.service_name = v;
        }
        if let Some(v) = var("SPANLENS_SERVICE_VERSION") {
            self.service_version = Some(v);
        }
        if let Some(v) = var("SPANLENS_ENVIRONMENT") {
            self.environment = Some(v);
        }
        if let Some(v) = var("SPANLENS_SAMPLING_RATIO").and_then(|v| v.trim().parse().ok()) {
            self.sampling_ratio = v;
        }
        if let Some(v) =
            var("SPANLENS_CA_CERTIFICATE").or_else(|| var("OTEL_EXPORTER_OTLP_CERTIFICATE"))
        {
            self.ca = Some(CaSource::File(v.into()));
        }
        if let Some(v) = var("SPANLENS_CAPTURE_CONTENT") {
            self.capture_content = !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "off"
            );
        }
        self
    }

    /// Collector base URL, e.g. `http://127.0.0.1:4317` (gRPC) or `http://127.0.0.1:4318`
    /// (HTTP; `/v1/traces` is appended unless the URL already ends with it). Default: the local
    /// collector's port for the protocol.
    ///
    /// ```
    /// let b = spanlens::builder().endpoint("http://collector:4317");
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// gRPC (default) or HTTP/protobuf.
    ///
    /// ```
    /// let b = spanlens::builder().protocol(spanlens::Protocol::HttpProtobuf);
    /// ```
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Project API key, sent on every export as `authorization: Bearer <key>`.
    ///
    /// ```
    /// let b = spanlens::builder().api_key("sk-123");
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// An extra header (HTTP) or metadata entry (gRPC) sent with every export.
    ///
    /// ```
    /// let b = spanlens::builder().header("x-team", "search");
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// `service.name` of the resource.
    ///
    /// ```
    /// let b = spanlens::builder().service_name("checkout-bot");
    /// ```
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// `service.version` of the resource (stored as the release).
    ///
    /// ```
    /// let b = spanlens::builder().service_version(env!("CARGO_PKG_VERSION"));
    /// ```
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// `deployment.environment.name` of the resource.
    ///
    /// ```
    /// let b = spanlens::builder().environment("staging");
    /// ```
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Any other resource attribute.
    ///
    /// ```
    /// let b = spanlens::builder().resource_attribute("k8s.namespace.name", "prod");
    /// ```
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push(KeyValue::new(key.into(), value.into()));
        self
    }

    /// Fraction of traces kept, 0.0..=1.0 (default 1.0). Decided once per trace by trace id;
    /// child spans follow their parent, so a trace is kept or dropped whole.
    ///
    /// ```
    /// let b = spanlens::builder().sampling_ratio(0.1);
    /// ```
    pub fn sampling_ratio(mut self, ratio: f64) -> Self {
        self.sampling_ratio = ratio;
        self
    }

    /// Capture inputs and outputs (messages, tool arguments/results, observation input/output).
    /// Default `true`; `false` records everything else (models, tokens, timings, errors).
    ///
    /// ```
    /// let b = spanlens::builder().capture_content(false);
    /// ```
    pub fn capture_content(mut self, capture: bool) -> Self {
        self.capture_content = capture;
        self
    }

    /// A masking function applied to every captured text before it leaves the process: the text
    /// content of every message part (text, reasoning), every string inside tool-call arguments
    /// and results, and every string inside observation inputs and outputs (JSON object keys,
    /// roles and numbers are not passed to it).
    ///
    /// ```
    /// let b = spanlens::builder().mask(|text| text.replace("secret", "[masked]"));
    /// ```
    pub fn mask<F>(mut self, mask: F) -> Self
    where
        F: Fn(&str) -> String + Send + Sync + 'static,
    {
        self.mask = Some(Arc::new(mask));
        self
    }

    /// How long the batch processor waits before exporting a partial batch (default 1 s).
    ///
    /// ```
    /// let b = spanlens::builder().batch_delay(std::time::Duration::from_millis(200));
    /// ```
    pub fn batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = delay;
        self
    }

    /// Spans buffered before new ones are dropped (default 2048). The caller never waits.
    ///
    /// ```
    /// let b = spanlens::builder().max_queue_size(8192);
    /// ```
    pub fn max_queue_size(mut self, size: usize) -> Self {
        self.max_queue_size = size;
        self
    }

    /// Spans per export request (default 512).
    ///
    /// ```
    /// let b = spanlens::builder().max_export_batch_size(1024);
    /// ```
    pub fn max_export_batch_size(mut self, size: usize) -> Self {
        self.max_export_batch_size = size;
        self
    }

    /// Timeout of one export request (default 10 s).
    ///
    /// ```
    /// let b = spanlens::builder().export_timeout(std::time::Duration::from_secs(3));
    /// ```
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Gzip export requests (default off).
    ///
    /// ```
    /// let b = spanlens::builder().gzip(true);
    /// ```
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Also install the tracer provider as the OpenTelemetry global one (default `true`), so
    /// other OpenTelemetry instrumentation (e.g. `tracing-opentelemetry`) joins the same traces.
    ///
    /// ```
    /// let b = spanlens::builder().set_global_provider(false);
    /// ```
    pub fn set_global_provider(mut self, global: bool) -> Self {
        self.set_global = global;
        self
    }

    /// Base URL of the collector's HTTP port, for [`crate::score`] (default: the endpoint
    /// when the protocol is HTTP; with gRPC, the endpoint with port 4317 replaced by 4318).
    ///
    /// ```
    /// let b = spanlens::builder().endpoint("http://collector:4317").http_endpoint("http://collector:4318");
    /// ```
    pub fn http_endpoint(mut self, url: impl Into<String>) -> Self {
        self.http_endpoint = Some(url.into());
        self
    }

    /// An extra CA certificate (PEM; one or more certificates) trusted for `https://`
    /// endpoints — export and scores — besides the Mozilla root certificates, for a collector
    /// behind a private CA. Feature `tls` (on by default).
    ///
    /// ```no_run
    /// let pem = std::fs::read("/etc/spanlens/ca.pem")?;
    /// let spanlens = spanlens::builder()
    ///     .endpoint("https://spanlens.internal:4317")
    ///     .ca_certificate_pem(pem)
    ///     .init()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(CaSource::Pem(pem.into()));
        self
    }

    /// [`SpanlensBuilder::ca_certificate_pem`] read from a file when [`SpanlensBuilder::init`]
    /// runs.
    ///
    /// ```
    /// let b = spanlens::builder().ca_certificate_file("/etc/spanlens/ca.pem");
    /// ```
    pub fn ca_certificate_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca = Some(CaSource::File(path.into()));
        self
    }

    fn extra_ca(&self) -> Result<ExtraCa, Error> {
        match &self.ca {
            None => Ok(ExtraCa::default()),
            Some(CaSource::Pem(pem)) => ExtraCa::from_pem(pem.clone(), "(PEM)"),
            Some(CaSource::File(path)) => {
                let what = path.display().to_string();
                let pem = std::fs::read(path)
                    .map_err(|e| Error::Config(format!("CA certificate {what}: {e}")))?;
                ExtraCa::from_pem(pem, &what)
            }
        }
    }

    fn scores_url(&self) -> Option<String> {
        let base = match (&self.http_endpoint, self.protocol) {
            (Some(url), _) => url.clone(),
            (None, Protocol::HttpProtobuf) => {
                let url = self
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:4318".into());
                url.trim_end_matches('/')
                    .trim_end_matches("/v1/traces")
                    .to_string()
            }
            (None, Protocol::Grpc) => {
                let url = self
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:4317".into());
                let url = url.trim_end_matches('/');
                url.strip_suffix(":4317").map(|u| format!("{u}:4318"))?
            }
        };
        Some(format!("{}/v1/scores", base.trim_end_matches('/')))
    }

    /// Builds the exporter and tracer provider and installs the SDK for this process (a later
    /// `init` replaces an earlier one). Does not connect yet: the first export does. Returns
    /// the guard that flushes and shuts down when dropped; everything else — spans, scores,
    /// [`flush`], [`shutdown`] — goes through the installed SDK, no guard needed.
    ///
    /// ```no_run
    /// let _spanlens = spanlens::builder().init()?;
    /// # Ok::<(), spanlens::Error>(())
    /// ```
    pub fn init(self) -> Result<Spanlens, Error> {
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return Err(Error::Config(format!(
                "sampling_ratio must be within 0..=1, got {}",
                self.sampling_ratio
            )));
        }
        let mut headers = self.headers.clone();
        if let Some(key) = &self.api_key {
            headers.push(("authorization".into(), format!("Bearer {key}")));
        }
        let ca = self.extra_ca()?;
        let connector = tls::connector(&ca)?;

        let rt = Arc::new(OwnedRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("spanlens-export")
                .enable_all()
                .build()?,
        )));
        let scores_url = self.scores_url();
        if let Some(url) = &scores_url {
            tls::check_url(url, &ca)?;
        }
        let exporter = {
            // tonic and hyper spawn their connection tasks on the runtime current at build time.
            let _enter = rt.handle().enter();
            self.exporter(&headers, &ca, connector.clone())?
        };
        let exporter = OnOwnRuntime {
            inner: exporter,
            rt: rt.clone(),
            foreign_content: ForeignContent::new(self.capture_content, self.mask.clone()),
        };
        let batch = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(self.batch_delay)
                    .with_max_queue_size(self.max_queue_size)
                    .with_max_export_batch_size(self.max_export_batch_size.min(self.max_queue_size))
                    .build(),
            )
            .build();

        let sampler = if self.sampling_ratio >= 1.0 {
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
        } else {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(self.sampling_ratio)))
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(ScopeProcessor)
            .with_span_processor(batch)
            .with_sampler(sampler)
            .with_resource(self.resource())
            .build();
        let tracer = provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        if self.set_global {
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        let installed = Arc::new(Installed {
            state: Arc::new(State {
                tracer,
                capture_content: self.capture_content,
                mask: self.mask.clone(),
            }),
            provider,
            scores: ScoreClient::new(connector, scores_url, headers),
            rt,
        });
        state::set(installed.clone());
        Ok(Spanlens { installed })
    }

    fn exporter(
        &self,
        headers: &[(String, String)],
        ca: &ExtraCa,
        connector: tls::Connector,
    ) -> Result<opentelemetry_otlp::SpanExporter, Error> {
        match self.protocol {
            Protocol::Grpc => {
                let endpoint = self
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:4317".into());
                tls::check_url(&endpoint, ca)?;
                let mut map = http::HeaderMap::new();
                for (k, v) in headers {
                    let name = http::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| Error::Config(format!("header name {k:?}: {e}")))?;
                    let value = http::HeaderValue::from_str(v)
                        .map_err(|e| Error::Config(format!("header {k:?} value: {e}")))?;
                    map.insert(name, value);
                }
                let metadata =
                    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map);
                #[cfg(feature = "tls")]
                let https = endpoint.to_ascii_lowercase().starts_with("https://");
                let mut b = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(self.export_timeout)
                    .with_metadata(metadata);
                #[cfg(feature = "tls")]
                if https {
                    b = b.with_tls_config(tls::grpc_config(ca));
                }
                if self.gzip {
                    b = b.with_compression(Compression::Gzip);
                }
                Ok(b.build()?)
            }
            Protocol::HttpProtobuf => {
                let base = self
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:4318".into());
                tls::check_url(&base, ca)?;
                let endpoint = if base.trim_end_matches('/').ends_with("/v1/traces") {
                    base
                } else {
                    format!("{}/v1/traces", base.trim_end_matches('/'))
                };
                let client = opentelemetry_http::hyper::HyperClient::new(
                    connector,
                    self.export_timeout,
                    None,
                );
                let mut b = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_http_client(client)
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(endpoint)
                    .with_timeout(self.export_timeout)
                    .with_headers(headers.iter().cloned().collect::<HashMap<_, _>>());
                if self.gzip {
                    b = b.with_compression(Compression::Gzip);
                }
                Ok(b.build()?)
            }
        }
    }

    fn resource(&self) -> Resource {
        let mut resource = vec![];
        if let Some(v) = &self.service_version {
            resource.push(KeyValue::new(crate::keys::SERVICE_VERSION, v.clone()));
        }
        if let Some(v) = &self.environment {
            resource.push(KeyValue::new(
                crate::keys::DEPLOYMENT_ENVIRONMENT,
                v.clone(),
            ));
        }
        resource.extend(self.resource.iter().cloned());
        Resource::builder_empty()
            .with_service_name(self.service_name.clone())
            .with_attributes(resource)
            .with_attributes([
                KeyValue::new("telemetry.sdk.name", "spanlens"),
                KeyValue::new("telemetry.sdk.language", "rust"),
                KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
            ])
            .build()
    }
}

/// The guard of the installed SDK. Keep it alive for the life of the program: when it drops
/// (and [`shutdown`] has not run), it flushes and shuts the SDK down, waiting for the last
/// export (inside a multi-thread Tokio runtime through `block_in_place`, so the other tasks
/// keep running). In async code prefer `spanlens::shutdown().await` at the end.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> Result<(), spanlens::Error> {
///     let _spanlens = spanlens::builder().service_name("batch-job").init()?;
///     // ... work ...
///     spanlens::shutdown().await // flush, then stop; never blocks a runtime thread
/// }
/// ```
#[must_use = "dropping the guard shuts the SDK down at once"]
pub struct Spanlens {
    installed: Arc<Installed>,
}

impl fmt::Debug for Spanlens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spanlens").finish_non_exhaustive()
    }
}

impl Spanlens {
    /// The tracer provider, to create more tracers or bridge other instrumentation.
    ///
    /// ```no_run
    /// use spanlens::opentelemetry::trace::TracerProvider as _;
    /// # let spanlens = spanlens::builder().init()?;
    /// let tracer = spanlens.tracer_provider().tracer("my-component");
    /// # Ok::<(), spanlens::Error>(())
    /// ```
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.installed.provider
    }
}

impl Drop for Spanlens {
    fn drop(&mut self) {
        if !state::clear(&self.installed) {
            return;
        }
        let provider = &self.installed.provider;
        let in_multi_thread_runtime = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if in_multi_thread_runtime {
            let _ = tokio::task::block_in_place(|| provider.shutdown());
        } else {
            let _ = provider.shutdown();
        }
    }
}

/// Exports every span ended so far and waits for it — on the SDK's own threads, so awaiting it
/// never blocks a runtime thread. `Ok` when the SDK is not installed.
///
/// ```no_run
/// # async fn demo() -> Result<(), spanlens::Error> {
/// spanlens::flush().await?;
/// # Ok(()) }
/// ```
pub async fn flush() -> Result<(), Error> {
    match state::installed() {
        Some(sdk) => sdk.off_thread(|p| p.force_flush()).await,
        None => Ok(()),
    }
}

/// [`flush`] for synchronous code (blocks the calling thread; do not call it from async code).
///
/// ```no_run
/// spanlens::flush_blocking()?;
/// # Ok::<(), spanlens::Error>(())
/// ```
pub fn flush_blocking() -> Result<(), Error> {
    match state::installed() {
        Some(sdk) => Ok(sdk.provider.force_flush()?),
        None => Ok(()),
    }
}

/// Flushes, then shuts the SDK down (spans started afterwards are not recorded, the guard's
/// drop does nothing more), waiting on the SDK's own threads — awaiting it never blocks a
/// runtime thread. `Ok` when the SDK is not installed.
///
/// ```no_run
/// # async fn demo() -> Result<(), spanlens::Error> {
/// spanlens::shutdown().await?;
/// # Ok(()) }
/// ```
pub async fn shutdown() -> Result<(), Error> {
    match state::take() {
        Some(sdk) => sdk.off_thread(|p| p.shutdown()).await,
        None => Ok(()),
    }
}

/// Sends a score to the collector (`POST {http_endpoint}/v1/scores`, JSON as documented on
/// [`Score`], with the API key), on the SDK's runtime: it can be awaited from any runtime.
///
/// ```no_run
/// # async fn demo() -> Result<(), spanlens::Error> {
/// spanlens::score(spanlens::Score::boolean("thumbs_up", true).session_id("session-42")).await?;
/// # Ok(()) }
/// ```
pub async fn score(score: Score) -> Result<(), Error> {
    let sdk = installed_for_scores()?;
    sdk.scores.send(sdk.rt.handle(), score).await
}

/// [`score`] for synchronous code (blocks the calling thread; do not call it from async code).
///
/// ```no_run
/// spanlens::score_blocking(spanlens::Score::numeric("accuracy", 0.8).trace_id("4bf92f3577b34da6a3ce929d0e0e4736"))?;
/// # Ok::<(), spanlens::Error>(())
/// ```
pub fn score_blocking(score: Score) -> Result<(), Error> {
    let sdk = installed_for_scores()?;
    sdk.scores.send_blocking(sdk.rt.handle(), score)
}

fn installed_for_scores() -> Result<Arc<Installed>, Error> {
    state::installed().ok_or_else(|| {
        Error::Score("the SDK is not installed: call spanlens::builder().init() first".into())
    })
}

impl Installed {
    /// Runs a blocking provider call on the SDK runtime's blocking pool and awaits it.
    async fn off_thread(
        &self,
        call: impl FnOnce(&SdkTracerProvider) -> OTelSdkResult + Send + 'static,
    ) -> Result<(), Error> {
        let provider = self.provider.clone();
        self.rt
            .handle()
            .spawn_blocking(move || call(&provider))
            .await
            .map_err(|e| Error::Runtime(std::io::Error::other(e)))??;
        Ok(())
    }
}

/// The SDK's own runtime; shut down in the background when the last user drops it (dropping a
/// runtime inside async code would panic).
#[derive(Debug)]
pub(crate) struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("runtime present until drop")
            .handle()
    }

    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.0
            .as_ref()
            .expect("runtime present until drop")
            .block_on(fut)
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs the OTLP exporter on the SDK's own one-thread runtime: the batch processor's background
/// thread blocks on it, so exports never need — or stall — the application's runtime (a
/// current-thread runtime included). Before export, other instrumentation's content follows
/// the SDK's capture switch and mask ([`ForeignContent`]).
#[derive(Debug)]
struct OnOwnRuntime<E> {
    inner: E,
    rt: Arc<OwnedRuntime>,
    foreign_content: Option<ForeignContent>,
}

impl<E: SpanExporter> SpanExporter for OnOwnRuntime<E> {
    fn export(&self, mut batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        if let Some(policy) = &self.foreign_content {
            policy.apply(&mut batch);
        }
        std::future::ready(self.rt.block_on(self.inner.export(batch)))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _enter = self.rt.handle().enter();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
