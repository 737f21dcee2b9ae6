//! OTLP receivers (HTTP and gRPC) and the ingest step they share: decoded request →
//! normalize → encode → pipeline. The transports only translate outcomes to their status codes.

pub mod otlp_grpc;
pub mod otlp_http;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use std::sync::Arc;

use crate::auth::{ApiKeys, AuthError};
use crate::enrich::cost::PriceTable;
use crate::metrics::Rejection;
use std::sync::atomic::Ordering::Relaxed;
use crate::normalize::normalize_traces;
use crate::pipeline::{EncodedChunk, Pipeline, SubmitError};
use crate::storage::clickhouse::ClickHouse;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request itself is wrong (4xx / INVALID_ARGUMENT); retrying will not help.
    #[error("{0}")]
    BadRequest(String),
    /// The collector is saturated; the client should retry later (429 / UNAVAILABLE).
    #[error("{0}")]
    Backpressure(SubmitError),
    /// Missing or wrong credentials (401 / UNAUTHENTICATED).
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Everything a receiver needs, shared by both transports.
#[derive(Clone)]
pub struct Ingest {
    pub pipeline: Pipeline,
    pub clickhouse: ClickHouse,
    pub keys: Arc<ApiKeys>,
    pub prices: Arc<PriceTable>,
}

impl Ingest {
    /// The project of a request's credentials (`authorization` / `x-api-key` header values).
    pub fn project(&self, authorization: Option<&str>, api_key: Option<&str>) -> Result<String, IngestError> {
        self.keys.authenticate(authorization, api_key).map_err(|e| {
            self.pipeline.metrics.reject_request(Rejection::Unauthenticated);
            e.into()
        })
    }

    /// Counts a request refused before its spans could be read.
    pub fn reject_request(&self) {
        self.pipeline.metrics.reject_request(Rejection::BadRequest);
    }

    /// Normalizes and enqueues one export request for `project`. Invalid spans are rejected one
    /// by one and reported as partial success; their neighbours are stored.
    pub fn export_traces(
        &self,
        request: ExportTraceServiceRequest,
        project: &str,
    ) -> Result<ExportTraceServiceResponse, IngestError> {
        let metrics = &self.pipeline.metrics;
        let mut normalized = normalize_traces(request, project);
        let rows = normalized.rows.len() as u64;
        metrics.spans_received.fetch_add(rows + normalized.rejected_spans as u64, Relaxed);
        metrics.reject_spans(Rejection::InvalidSpan, normalized.rejected_spans as u64);
        for row in &mut normalized.rows {
            self.prices.apply(row);
        }
        let chunk = EncodedChunk::encode(&normalized.rows)
            .map_err(|e| IngestError::Internal(e.to_string()))?;
        self.pipeline.try_submit(chunk).map_err(|e| match e {
            SubmitError::TooLarge(_) => {
                metrics.reject_spans(Rejection::BadRequest, rows);
                IngestError::BadRequest(e.to_string())
            }
            other => {
                metrics.reject_spans(Rejection::QueueFull, rows);
                IngestError::Backpressure(other)
            }
        })?;
        metrics.spans_accepted.fetch_add(rows, Relaxed);
        let partial_success = (normalized.rejected_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: normalized.rejected_spans,
            error_message: normalized.error_message,
        });
        Ok(ExportTraceServiceResponse { partial_success })
    }
}
