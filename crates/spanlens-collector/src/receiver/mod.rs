//! The receivers — OTLP over HTTP and gRPC, scores, Langfuse batch ingestion and Langfuse's read
//! API — and the ingest step the OTLP transports share: decoded request → normalize → encode →
//! pipeline, for traces, logs and metrics (a [`Signal`] each). The transports only translate
//! outcomes to their status codes.

pub mod inflight;
pub mod langfuse_ingestion;
pub mod langfuse_read;
pub mod langfuse_read_v2;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod scores;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use std::sync::Arc;

use crate::auth::{ApiKeys, AuthError};
use crate::enrich::cost::PriceTable;
use crate::metrics::Rejection;
use crate::normalize::otlp_json::OtlpJson;
use crate::normalize::{normalize_logs, normalize_metrics, normalize_traces};
use crate::pipeline::content_join::ContentJoin;
use crate::pipeline::langfuse_merge::LangfuseMerge;
use crate::pipeline::response_index::ResponseIndex;
use crate::pipeline::{Appended, EncodedChunk, Pipeline, SubmitError};
use crate::storage::clickhouse::ClickHouse;
use crate::storage::row::TableRow;
use std::sync::atomic::Ordering::Relaxed;

/// One OTLP signal the receivers accept: its request and response messages and how a decoded
/// request is ingested. Both transports are generic over it.
pub trait Signal: Send + Sync + 'static {
    type Request: prost::Message + Default + OtlpJson + Send + 'static;
    type Response: prost::Message + serde::Serialize + Send + 'static;
    /// The request message's name, for error messages.
    const REQUEST: &'static str;
    fn export(
        ingest: &Ingest,
        request: Self::Request,
        project: &str,
    ) -> Result<(Self::Response, Appended), IngestError>;
}

/// Traces: `/v1/traces`, `TraceService`.
pub struct Traces;
/// Logs: `/v1/logs`, `LogsService`.
pub struct Logs;
/// Metrics: `/v1/metrics`, `MetricsService`.
pub struct Metrics;

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const REQUEST: &'static str = "ExportTraceServiceRequest";
    fn export(
        ingest: &Ingest,
        request: Self::Request,
        project: &str,
    ) -> Result<(Self::Response, Appended), IngestError> {
        ingest.export_traces(request, project)
    }
}

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const REQUEST: &'static str = "ExportLogsServiceRequest";
    fn export(
        ingest: &Ingest,
        request: Self::Request,
        project: &str,
    ) -> Result<(Self::Response, Appended), IngestError> {
        ingest.export_logs(request, project)
    }
}

impl Signal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    const REQUEST: &'static str = "ExportMetricsServiceRequest";
    fn export(
        ingest: &Ingest,
        request: Self::Request,
        project: &str,
    ) -> Result<(Self::Response, Appended), IngestError> {
        ingest.export_metrics(request, project)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request itself is wrong (4xx / INVALID_ARGUMENT); retrying will not help.
    #[error("{0}")]
    BadRequest(String),
    /// A memory budget is exhausted: retry shortly (429 / RESOURCE_EXHAUSTED).
    #[error("{0}")]
    Busy(String),
    /// The spool cannot take data now (full, disk full, I/O error) or the collector is
    /// stopping: retry later (503 / UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// Missing or wrong credentials (401 / UNAUTHENTICATED).
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IngestError {
    /// The rejection reason counted for the refused items.
    fn rejection(&self) -> Rejection {
        match self {
            IngestError::BadRequest(_) | IngestError::Internal(_) => Rejection::BadRequest,
            IngestError::Busy(_) => Rejection::Busy,
            IngestError::Unavailable(_) => Rejection::Unavailable,
            IngestError::Unauthenticated(_) => Rejection::Unauthenticated,
        }
    }
}

impl From<SubmitError> for IngestError {
    fn from(e: SubmitError) -> IngestError {
        let message = e.to_string();
        match e {
            SubmitError::TooLarge(_) => IngestError::BadRequest(message),
            SubmitError::QueueFull { .. } => IngestError::Busy(message),
            SubmitError::ShuttingDown | SubmitError::Spool(_) => IngestError::Unavailable(message),
        }
    }
}

/// Everything a receiver needs, shared by both transports.
#[derive(Clone)]
pub struct Ingest {
    pub pipeline: Pipeline,
    pub clickhouse: ClickHouse,
    pub keys: Arc<ApiKeys>,
    pub prices: Arc<PriceTable>,
    /// GenAI content log records → their span rows.
    pub join: ContentJoin,
    /// Langfuse ingestion events → merged observation rows.
    pub langfuse: LangfuseMerge,
    /// Recent LLM calls by response id (evaluation results that name only the response).
    pub responses: Arc<ResponseIndex>,
}

impl Ingest {
    /// The project of a request's credentials (`authorization` / `x-api-key` header values).
    pub fn project(
        &self,
        authorization: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<String, IngestError> {
        self.keys.authenticate(authorization, api_key).map_err(|e| {
            self.pipeline
                .metrics
                .reject_request(Rejection::Unauthenticated);
            e.into()
        })
    }

    /// Counts a request refused before its spans could be read.
    pub fn reject_request(&self) {
        self.pipeline.metrics.reject_request(Rejection::BadRequest);
    }

    /// Counts a request refused because too many request bytes were in flight.
    pub fn reject_busy(&self) {
        self.pipeline.metrics.reject_request(Rejection::Busy);
    }

    /// Normalizes and enqueues one trace export request for `project`. Invalid spans are
    /// rejected one by one and reported as partial success; their neighbours are stored.
    /// `gen_ai.evaluation.result` span events also become scores. LLM
    /// spans whose content may still come as log records wait in the content join (accepted,
    /// written when the content arrives or the window ends).
    pub fn export_traces(
        &self,
        request: ExportTraceServiceRequest,
        project: &str,
    ) -> Result<(ExportTraceServiceResponse, Appended), IngestError> {
        let metrics = &self.pipeline.metrics;
        let mut normalized = normalize_traces(request, project);
        let rows = normalized.rows.len() as u64;
        let joined = normalized.joined_companions as u64;
        metrics
            .spans_received
            .fetch_add(rows + joined + normalized.rejected_spans as u64, Relaxed);
        metrics.reject_spans(Rejection::InvalidSpan, normalized.rejected_spans as u64);
        for row in &mut normalized.rows {
            self.prices.apply(row);
        }
        let reject = |reason, n| metrics.reject_spans(reason, n);
        self.responses
            .remember(project, &normalized.rows, &normalized.ids);
        // Scores first: they are keyed, so a retry after a later refusal replaces, not repeats.
        let scores = self.submit(&normalized.scores, rows, reject)?;
        let routed = self.join.route(project, normalized.rows, normalized.ids);
        let now = self.submit(&routed.now, rows, reject)?;
        let late = self.join.commit(routed.pending);
        let appended = scores.and(now).and(self.submit(&late, rows, reject)?);
        metrics.spans_accepted.fetch_add(rows + joined, Relaxed);
        let partial_success =
            (normalized.rejected_spans > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: normalized.rejected_spans,
                error_message: normalized.error_message,
            });
        Ok((ExportTraceServiceResponse { partial_success }, appended))
    }

    /// Normalizes and enqueues one logs export request for `project`: every record goes to the
    /// `logs` table, GenAI evaluation results also to `scores`; the prompt / completion of GenAI
    /// content events then goes to the content join (only once the records are queued, so a
    /// refused request leaves nothing behind).
    pub fn export_logs(
        &self,
        request: ExportLogsServiceRequest,
        project: &str,
    ) -> Result<(ExportLogsServiceResponse, Appended), IngestError> {
        let metrics = &self.pipeline.metrics;
        let mut normalized = normalize_logs(request, project);
        self.responses.resolve(&mut normalized.scores);
        let rows = normalized.rows.len() as u64;
        metrics
            .log_records_received
            .fetch_add(rows + normalized.rejected_log_records as u64, Relaxed);
        metrics.reject_log_records(
            Rejection::InvalidSpan,
            normalized.rejected_log_records as u64,
        );
        let reject = |reason, n| metrics.reject_log_records(reason, n);
        // Scores first: they are keyed, so a retry after a later refusal replaces, not repeats.
        let scores = self.submit(&normalized.scores, rows, reject)?;
        let appended = scores.and(self.submit(&normalized.rows, rows, reject)?);
        metrics.log_records_accepted.fetch_add(rows, Relaxed);
        self.join.add_content(project, normalized.content);
        let partial_success =
            (normalized.rejected_log_records > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: normalized.rejected_log_records,
                error_message: normalized.error_message,
            });
        Ok((ExportLogsServiceResponse { partial_success }, appended))
    }

    /// Normalizes and enqueues one metrics export request for `project`: every data point
    /// becomes a row of its type's table; invalid points are rejected one by one (partial
    /// success). Each table's rows are one chunk; as with spans, a queue that fills between two
    /// chunks refuses the request after the earlier chunks were queued.
    pub fn export_metrics(
        &self,
        request: ExportMetricsServiceRequest,
        project: &str,
    ) -> Result<(ExportMetricsServiceResponse, Appended), IngestError> {
        let metrics = &self.pipeline.metrics;
        let normalized = normalize_metrics(request, project);
        let points = normalized.points() as u64;
        let rejected = normalized.rejected_data_points;
        metrics
            .metric_points_received
            .fetch_add(points + rejected as u64, Relaxed);
        metrics.reject_metric_points(Rejection::InvalidSpan, rejected as u64);
        let reject = |reason, n| metrics.reject_metric_points(reason, n);
        let appended = [
            self.submit(&normalized.gauge, points, reject)?,
            self.submit(&normalized.sum, points, reject)?,
            self.submit(&normalized.histogram, points, reject)?,
            self.submit(&normalized.exponential_histogram, points, reject)?,
            self.submit(&normalized.summary, points, reject)?,
        ]
        .into_iter()
        .fold(Appended::default(), Appended::and);
        metrics.metric_points_accepted.fetch_add(points, Relaxed);
        let partial_success = (rejected > 0).then_some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: normalized.error_message,
        });
        Ok((ExportMetricsServiceResponse { partial_success }, appended))
    }

    /// Waits until what a request appended is durable (see [`Pipeline::durable`]); a failed
    /// fsync is the client's signal to retry (503 / UNAVAILABLE).
    pub async fn durable(&self, appended: Appended) -> Result<(), IngestError> {
        self.pipeline
            .durable(appended)
            .await
            .map_err(IngestError::from)
    }

    /// Encodes and appends rows to the log without waiting: a full queue or spool is the
    /// client's signal to retry. The reply waits for [`Pipeline::durable`] of what it returns.
    /// `count` is what `reject` counts as refused when it fails.
    pub fn submit<R: TableRow + crate::pipeline::redact::Redact>(
        &self,
        rows: &[R],
        count: u64,
        reject: impl Fn(Rejection, u64),
    ) -> Result<Appended, IngestError> {
        if rows.is_empty() {
            return Ok(Appended::default());
        }
        let chunk = EncodedChunk::encode(rows).map_err(|e| IngestError::Internal(e.to_string()))?;
        self.pipeline.try_submit(chunk).map_err(|e| {
            let e = IngestError::from(e);
            reject(e.rejection(), count);
            e
        })
    }
}
