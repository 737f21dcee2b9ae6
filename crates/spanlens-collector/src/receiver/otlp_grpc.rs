//! OTLP/gRPC receiver (TraceService on :4317), gzip accepted.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{Ingest, IngestError};

pub struct GrpcTraces {
    ingest: Ingest,
}

pub fn trace_service(ingest: Ingest, max_body_bytes: usize) -> TraceServiceServer<GrpcTraces> {
    TraceServiceServer::new(GrpcTraces { ingest })
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
        let header = |name: &str| request.metadata().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let project = self
            .ingest
            .project(header("authorization").as_deref(), header("x-api-key").as_deref())
            .map_err(status)?;
        let ingest = self.ingest.clone();
        let request = request.into_inner();
        // Normalizing a large request is CPU work: keep it off the async workers.
        let result = tokio::task::spawn_blocking(move || ingest.export_traces(request, &project))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        result.map(Response::new).map_err(status)
    }
}

fn status(e: IngestError) -> Status {
    match e {
        IngestError::BadRequest(m) => Status::invalid_argument(m),
        // UNAVAILABLE is the code OTLP exporters always retry.
        IngestError::Backpressure(e) => Status::unavailable(e.to_string()),
        IngestError::Unauthenticated(e) => Status::unauthenticated(e.to_string()),
        IngestError::Internal(m) => Status::internal(m),
    }
}
