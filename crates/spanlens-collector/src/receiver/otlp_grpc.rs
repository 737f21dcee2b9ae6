//! OTLP/gRPC receiver on :4317: `TraceService`, `LogsService` and `MetricsService`, gzip
//! accepted. The services share one export path, generic over the [`Signal`]. [`InflightLayer`]
//! bounds the memory of requests being read and handled across all connections, with the HTTP
//! receiver's budget.

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
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use tokio::sync::OwnedSemaphorePermit;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::inflight::InflightBudget;
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
    // Normalized on this task: a hop to a blocking thread per request cost more CPU than it
    // saved (only the fsync blocks, and that runs on the spool's sync thread).
    let (response, appended) = S::export(ingest, request.into_inner(), &project).map_err(status)?;
    ingest.durable(appended).await.map_err(status)?;
    Ok(Response::new(response))
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

/// Reads each gRPC request's body while reserving its bytes in the shared in-flight budget,
/// and holds the reservation until the response is ready; past the budget the request gets
/// RESOURCE_EXHAUSTED (with RetryInfo) before more of it is read.
#[derive(Clone)]
pub struct InflightLayer {
    pub budget: InflightBudget,
    pub max_body_bytes: usize,
}

impl<S> tower::Layer<S> for InflightLayer {
    type Service = Inflight<S>;
    fn layer(&self, inner: S) -> Inflight<S> {
        Inflight {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Inflight<S> {
    inner: S,
    layer: InflightLayer,
}

impl<S> tower::Service<http::Request<Body>> for Inflight<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The ready service handles this request; a clone takes its place for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let (bytes, _reserved) = match layer.read(body).await {
                Ok(read) => read,
                Err(status) => return Ok(status.into_http()),
            };
            let request = http::Request::from_parts(parts, Body::new(Full::new(bytes)));
            inner.call(request).await
        })
    }
}

impl InflightLayer {
    /// The whole body and the reservation that covers it. Frames are kept as they come and
    /// joined once at the end into a buffer of the exact size (none when the body was one
    /// frame): growing one buffer frame by frame copied the body about twice.
    async fn read(&self, mut body: Body) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Status> {
        let mut frames: Vec<Bytes> = Vec::new();
        let mut len = 0;
        let mut reserved: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            // 5 bytes of gRPC framing per message.
            if len + data.len() > self.max_body_bytes + 5 {
                return Err(Status::out_of_range(format!(
                    "gRPC message exceeds the limit of {} bytes (receiver.max_body_bytes)",
                    self.max_body_bytes
                )));
            }
            let permit = self.budget.try_reserve(data.len()).ok_or_else(|| {
                resource_exhausted(
                    "collector busy: too many request bytes in flight (receiver.max_inflight_bytes); retry later".into(),
                )
            })?;
            match &mut reserved {
                Some(r) => r.merge(permit),
                None => reserved = Some(permit),
            }
            len += data.len();
            frames.push(data);
        }
        let bytes = match frames.len() {
            1 => frames.pop().expect("one frame"),
            _ => {
                let mut joined = BytesMut::with_capacity(len);
                frames.iter().for_each(|f| joined.extend_from_slice(f));
                joined.freeze()
            }
        };
        Ok((bytes, reserved))
    }
}
