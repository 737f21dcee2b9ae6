//! OTLP/gRPC receiver on :4317: `TraceService`, `LogsService` and `MetricsService`, gzip
//! accepted. The services share one export path, generic over the [`Signal`].

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{Ingest, IngestError, Logs, Metrics, Signal, Traces};

pub struct GrpcTraces {
    ingest: Ingest,
}

pub struct GrpcLogs {
    ingest: Ingest,
}

pub struct GrpcMetrics {
    ingest: Ingest,
}

pub fn trace_service(ingest: Ingest, max_body_bytes: usize) -> TraceServiceServer<GrpcTraces> {
    TraceServiceServer::new(GrpcTraces { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes)
}

pub fn logs_service(ingest: Ingest, max_body_bytes: usize) -> LogsServiceServer<GrpcLogs> {
    LogsServiceServer::new(GrpcLogs { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes)
}

pub fn metrics_service(ingest: Ingest, max_body_bytes: usize) -> MetricsServiceServer<GrpcMetrics> {
    MetricsServiceServer::new(GrpcMetrics { ingest })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes)
}

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        export::<Traces>(&self.ingest, request).await
    }
}

#[tonic::async_trait]
impl LogsService for GrpcLogs {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        export::<Logs>(&self.ingest, request).await
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcMetrics {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        export::<Metrics>(&self.ingest, request).await
    }
}

async fn export<S: Signal>(
    ingest: &Ingest,
    request: Request<S::Request>,
) -> Result<Response<S::Response>, Status> {
    let header = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let project = ingest
        .project(
            header("authorization").as_deref(),
            header("x-api-key").as_deref(),
        )
        .map_err(status)?;
    let ingest = ingest.clone();
    let request = request.into_inner();
    // Normalizing a large request is CPU work: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || S::export(&ingest, request, &project))
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
    result.map(Response::new).map_err(status)
}

fn status(e: IngestError) -> Status {
    match e {
        IngestError::BadRequest(m) => Status::invalid_argument(m),
        IngestError::Busy(m) => resource_exhausted(m),
        // UNAVAILABLE is the code OTLP exporters always retry.
        IngestError::Unavailable(m) => Status::unavailable(m),
        IngestError::Unauthenticated(e) => Status::unauthenticated(e.to_string()),
        IngestError::Internal(m) => Status::internal(m),
    }
}

/// RESOURCE_EXHAUSTED with a RetryInfo detail: OTLP exporters retry it only when the server
/// says recovery is possible (the OTLP specification's throttling rule).
pub(crate) fn resource_exhausted(message: String) -> Status {
    let details = ErrorDetails::with_retry_info(Some(RETRY_DELAY));
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// How long a client told "busy" should wait before retrying.
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
