//! OTLP/HTTP receiver on :4318: POST /v1/traces (also Langfuse's /api/public/otel/v1/traces),
//! POST /v1/logs and POST /v1/metrics, with application/x-protobuf or application/json bodies, optionally
//! gzip-compressed; plus /healthz, /readyz and /metrics. Replies follow the OTLP/HTTP spec: the
//! response message (or a google.rpc.Status on failure) in the request's encoding. One handler,
//! generic over the [`Signal`], serves all three: same limits, errors and authentication.

use std::io::Read;

use super::inflight::InflightBudget;
use super::{Ingest, IngestError, Logs, Metrics, Signal, Traces};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prost::Message;

use crate::metrics::{PipelineReadings, SpoolReadings};

#[derive(Clone)]
struct HttpState {
    ingest: Ingest,
    max_body_bytes: usize,
    inflight: InflightBudget,
}

pub fn router(ingest: Ingest, max_body_bytes: usize, inflight: InflightBudget) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<Traces>))
        .route("/api/public/otel/v1/traces", post(export::<Traces>))
        .route("/v1/logs", post(export::<Logs>))
        .route("/v1/metrics", post(export::<Metrics>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(HttpState {
            ingest,
            max_body_bytes,
            inflight,
        })
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// google.rpc.Status, the OTLP/HTTP error body.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An HTTP failure: status code, message, and the encoding to answer in.
struct Failure {
    status: StatusCode,
    message: String,
    encoding: Encoding,
    retry_after: Option<u32>,
}

impl Failure {
    fn new(status: StatusCode, encoding: Encoding, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            encoding,
            retry_after: None,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        // gRPC status code numbers, as the OTLP/HTTP spec asks for in the Status body.
        let code = match self.status {
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::TOO_MANY_REQUESTS => 8,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            s if s.is_client_error() => 3,
            _ => 13,
        };
        let status = RpcStatus {
            code,
            message: self.message,
        };
        let body = match self.encoding {
            Encoding::Protobuf => status.encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&status).unwrap_or_default(),
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, self.encoding.content_type())],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Ready when the spool can take writes and ClickHouse answers.
async fn readyz(State(state): State<HttpState>) -> Response {
    let pipeline = state.ingest.pipeline.clone();
    let spool = tokio::task::spawn_blocking(move || pipeline.check_spool())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let clickhouse = async {
        state
            .ingest
            .clickhouse
            .ping()
            .await
            .map_err(|e| e.to_string())
    };
    match spool.and(clickhouse.await) {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let pipeline = &state.ingest.pipeline;
    let readings = PipelineReadings {
        queue_bytes: pipeline.queued_bytes() as u64,
        queue_max_bytes: pipeline.max_bytes() as u64,
        spool_bytes: pipeline.spool_bytes(),
        spool: pipeline.spool_stats().map(SpoolReadings::read),
    };
    let text = pipeline.metrics.render(readings);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

async fn export<S: Signal>(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle_export::<S>(&state, &headers, body).await {
        Ok(response) => response,
        Err(failure) => {
            if failure.status.is_client_error()
                && failure.status != StatusCode::UNAUTHORIZED
                && failure.status != StatusCode::TOO_MANY_REQUESTS
            {
                state.ingest.reject_request();
            }
            failure.into_response()
        }
    }
}

async fn handle_export<S: Signal>(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let encoding = request_encoding(headers)?;
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let project = state
        .ingest
        .project(header(header::AUTHORIZATION.as_str()), header("x-api-key"))
        .map_err(|e| ingest_failure(e, encoding))?;
    let limit = state.max_body_bytes;
    // Reserve memory before reading: never more requests in flight than the budget allows.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(limit)
        .clamp(1, limit);
    let _permit = state.inflight.try_reserve(declared).ok_or_else(|| {
        state.ingest.reject_busy();
        Failure {
            retry_after: Some(1),
            ..Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                encoding,
                "collector busy: too many request bytes in flight (receiver.max_inflight_bytes); retry later",
            )
        }
    })?;
    let too_large = |what: &str| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            format!("{what} exceeds the limit of {limit} bytes (receiver.max_body_bytes)"),
        )
    };
    let raw = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large("request body"))?;
    let bytes = match content_encoding(headers, encoding)? {
        ContentEncoding::Identity => raw,
        ContentEncoding::Gzip => gunzip(&raw, limit, encoding).map_err(|f| {
            if f.status == StatusCode::PAYLOAD_TOO_LARGE {
                too_large("decompressed body")
            } else {
                f
            }
        })?,
    };

    // Decoded and normalized on this task: a hop to a blocking thread per request cost more
    // CPU than it saved (only the fsync blocks, and that runs on the spool's sync thread).
    let request = decode::<S>(&bytes, encoding)?;
    let ingest = &state.ingest;
    let (result, appended) =
        S::export(ingest, request, &project).map_err(|e| ingest_failure(e, encoding))?;
    ingest
        .durable(appended)
        .await
        .map_err(|e| ingest_failure(e, encoding))?;

    let body = match encoding {
        Encoding::Protobuf => result.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&result).unwrap_or_default(),
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response())
}

fn ingest_failure(e: IngestError, encoding: Encoding) -> Failure {
    match e {
        IngestError::BadRequest(m) => Failure::new(StatusCode::BAD_REQUEST, encoding, m),
        IngestError::Busy(m) => Failure {
            retry_after: Some(1),
            ..Failure::new(StatusCode::TOO_MANY_REQUESTS, encoding, m)
        },
        IngestError::Unavailable(m) => Failure {
            retry_after: Some(5),
            ..Failure::new(StatusCode::SERVICE_UNAVAILABLE, encoding, m)
        },
        IngestError::Unauthenticated(e) => {
            Failure::new(StatusCode::UNAUTHORIZED, encoding, e.to_string())
        }
        IngestError::Internal(m) => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, encoding, m),
    }
}

fn request_encoding(headers: &HeaderMap) -> Result<Encoding, Failure> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            format!(
                "unsupported Content-Type {value:?}: OTLP/HTTP accepts application/x-protobuf or application/json"
            ),
        )),
    }
}

enum ContentEncoding {
    Identity,
    Gzip,
}

fn content_encoding(headers: &HeaderMap, encoding: Encoding) -> Result<ContentEncoding, Failure> {
    let value = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(ContentEncoding::Identity),
        "gzip" => Ok(ContentEncoding::Gzip),
        other => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            encoding,
            format!("unsupported Content-Encoding {other:?}: accepted are gzip and identity"),
        )),
    }
}

/// Decompresses at most `limit` bytes; more is a 413, not an allocation.
fn gunzip(raw: &[u8], limit: usize, encoding: Encoding) -> Result<Bytes, Failure> {
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    let mut decoder = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            encoding,
            format!("invalid gzip body: {e}"),
        )
    })?;
    if out.len() > limit {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            "decompressed body too large",
        ));
    }
    Ok(out.into())
}

fn decode<S: Signal>(bytes: &[u8], encoding: Encoding) -> Result<S::Request, Failure> {
    match encoding {
        Encoding::Protobuf => S::Request::decode(bytes).map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("invalid OTLP protobuf {}: {e}", S::REQUEST),
            )
        }),
        Encoding::Json => crate::normalize::otlp_json::decode_json::<S::Request>(bytes)
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, encoding, e)),
    }
}
