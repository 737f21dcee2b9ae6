//! `POST /api/public/ingestion`: the Langfuse batch ingestion API (Python SDK v2, JS SDK v3).
//!
//! Answers as Langfuse does: HTTP 207 with `{successes: [{id, status: 201}], errors: [{id,
//! status: 400, message, error}]}` — each event is validated on its own, an invalid one is
//! reported and its neighbours are accepted; a malformed envelope is 400 (`{message, errors}`),
//! bad credentials 401, a body over Langfuse's 4.5 MB limit 413.
//!
//! Accepted events take the durable path before the reply: traces and observations go to the
//! Langfuse merge (its event log, see `pipeline::langfuse_merge`), `sdk-log` records to the
//! `logs` table, `score-create` events through the scores endpoint's code to `scores`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::atomic::Ordering::Relaxed;

use super::inflight::InflightBudget;
use super::{Ingest, IngestError, scores};
use crate::metrics::Rejection;
use crate::normalize::langfuse::{self, Event, EventType, Sdk};
use crate::pipeline::Appended;
use crate::pipeline::langfuse_merge::{Accepted, AcceptedEvents};
use crate::storage::row::{LogRow, ScoreRow};

/// Langfuse's request size limit for this endpoint (Next.js `sizeLimit: "4.5mb"`).
pub const MAX_BATCH_BYTES: usize = 4_718_592;

#[derive(Clone)]
struct IngestionState {
    ingest: Ingest,
    max_body_bytes: usize,
    /// The receivers' shared memory budget (`receiver.max_inflight_bytes`).
    inflight: InflightBudget,
}

pub fn router(ingest: Ingest, max_body_bytes: usize, inflight: InflightBudget) -> Router {
    Router::new()
        .route("/api/public/ingestion", post(ingestion))
        .with_state(IngestionState {
            ingest,
            max_body_bytes: max_body_bytes.min(MAX_BATCH_BYTES),
            inflight,
        })
}

async fn ingestion(
    State(state): State<IngestionState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let ingest = state.ingest.clone();
    let project = match ingest.project(header(header::AUTHORIZATION.as_str()), header("x-api-key"))
    {
        Ok(p) => p,
        Err(e) => {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"error": "UnauthorizedError", "message": e.to_string()}),
            );
        }
    };
    // Reserve memory before reading: never more request bytes in flight than the budget.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(state.max_body_bytes)
        .clamp(1, state.max_body_bytes);
    let Some(_permit) = state.inflight.try_reserve(declared) else {
        ingest.reject_busy();
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "collector busy: too many request bytes in flight (receiver.max_inflight_bytes); retry later",
            1,
        );
    };
    let Ok(bytes) = axum::body::to_bytes(body, state.max_body_bytes).await else {
        ingest.reject_request();
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"message": format!("Body exceeded the limit of {} bytes", state.max_body_bytes)}),
        );
    };
    let parsed = match parse_envelope(&bytes) {
        Ok(p) => p,
        Err(message) => {
            ingest.reject_request();
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid request data", "errors": [message]}),
            );
        }
    };
    let metrics_ingest = ingest.clone();
    let result = tokio::task::spawn_blocking(move || process(&ingest, &project, parsed)).await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => return internal(&e.to_string()),
    };
    let durable = match outcome {
        Ok(o) => metrics_ingest.durable(o.appended).await.map(|_| o),
        Err(e) => Err(e),
    };
    let outcome = match durable {
        Ok(o) => o,
        Err(e) => return failure(e),
    };
    let m = &metrics_ingest.pipeline.metrics;
    m.langfuse_events_accepted
        .fetch_add(outcome.successes.len() as u64, Relaxed);
    m.langfuse_events_rejected
        .fetch_add(outcome.errors.len() as u64, Relaxed);
    multi_status(&outcome)
}

/// Langfuse's 207 body: `{successes: [{id, status}], errors: [{id, status, message, error}]}`.
fn multi_status(outcome: &Outcome) -> Response {
    let successes: Vec<Value> = outcome
        .successes
        .iter()
        .map(|id| json!({"id": id, "status": 201}))
        .collect();
    let errors: Vec<Value> = outcome
        .errors
        .iter()
        .map(|(id, error)| {
            json!({"id": id, "status": 400, "message": "Invalid request data", "error": error})
        })
        .collect();
    reply(
        StatusCode::MULTI_STATUS,
        json!({"successes": successes, "errors": errors}),
    )
}

/// The envelope: `{batch: [...], metadata?}`.
pub(crate) struct Envelope {
    pub batch: Vec<Value>,
    pub sdk: Sdk,
}

pub(crate) fn parse_envelope(bytes: &[u8]) -> Result<Envelope, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut envelope) = value else {
        return Err("expected a JSON object {batch, metadata}".into());
    };
    let batch = match envelope.remove("batch") {
        Some(Value::Array(batch)) => batch,
        Some(_) => return Err("batch: expected an array".into()),
        None => return Err("batch: required".into()),
    };
    let meta = envelope.remove("metadata").unwrap_or(Value::Null);
    let text = |k: &str| {
        meta.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(Envelope {
        batch,
        sdk: Sdk {
            name: text("sdk_name"),
            version: text("sdk_version"),
        },
    })
}

/// What a batch became.
#[derive(Default)]
struct Outcome {
    successes: Vec<String>,
    errors: Vec<(String, String)>,
    /// What the reply waits for (the Langfuse merge's own log is fsynced before `process`
    /// returns).
    appended: Appended,
}

/// A batch's events sorted by where they go (invalid ones already in `out.errors`).
#[derive(Default)]
pub(crate) struct Classified {
    out: Outcome,
    pub held: Vec<Accepted>,
    pub logs: Vec<LogRow>,
    log_ids: Vec<String>,
    pub scores: Vec<ScoreRow>,
    score_ids: Vec<String>,
}

/// Validates every event and sorts the valid ones: traces and observations to hold,
/// `sdk-log` records, scores.
pub(crate) fn classify(project: &str, batch: Vec<Value>, now: i64) -> Classified {
    let mut c = Classified::default();
    for raw in batch {
        let id = raw
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let event: Event = match serde_json::from_value(raw) {
            Ok(e) => e,
            Err(e) => {
                c.out.errors.push((id, format!("event: {e}")));
                continue;
            }
        };
        match langfuse::validate(&event) {
            Err(e) => c.out.errors.push((id, e)),
            Ok(Some(target)) => c.held.push(Accepted { event, target }),
            Ok(None) => match EventType::parse(&event.kind) {
                Some(EventType::SdkLog) => {
                    c.logs.push(langfuse::sdk_log_row(project, &event));
                    c.log_ids.push(id);
                }
                _ => match score_row(&event, project, now) {
                    Ok(row) => {
                        c.scores.push(row);
                        c.score_ids.push(id);
                    }
                    Err(e) => c.out.errors.push((id, e)),
                },
            },
        }
    }
    c
}

/// Validates every event and takes the accepted ones on their durable path (blocking: the
/// Langfuse merge fsyncs its log).
fn process(ingest: &Ingest, project: &str, envelope: Envelope) -> Result<Outcome, IngestError> {
    let Classified {
        mut out,
        held,
        logs,
        log_ids,
        scores,
        score_ids,
    } = classify(project, envelope.batch, now_nanos());
    if !logs.is_empty() {
        let n = logs.len() as u64;
        out.appended = ingest.submit(&logs, n, |reason, n| {
            ingest.pipeline.metrics.reject_log_records(reason, n)
        })?;
        out.successes.extend(log_ids);
    }
    if !scores.is_empty() {
        // The scores endpoint's path: validated rows into the pipeline (Table::Scores).
        let appended = ingest.submit(&scores, scores.len() as u64, |_, _| {})?;
        out.appended = out.appended.and(appended);
        out.successes.extend(score_ids);
    }
    if !held.is_empty() {
        let ids: Vec<String> = held.iter().map(|a| a.event.id.clone()).collect();
        let batch = AcceptedEvents {
            project: project.to_string(),
            sdk: envelope.sdk,
            events: held,
        };
        ingest.langfuse.accept(batch).map_err(|e| {
            let e = IngestError::from(e);
            ingest
                .pipeline
                .metrics
                .reject_request(Rejection::Unavailable);
            e
        })?;
        out.successes.extend(ids);
    }
    Ok(out)
}

/// A `score-create` body through the scores endpoint's validation, with Langfuse ids mapped to
/// the stored trace and span ids (as the events' rows store them).
fn score_row(event: &Event, project: &str, now: i64) -> Result<ScoreRow, String> {
    let mut body = event.body.as_object().cloned().unwrap_or_default();
    for (field, map) in [
        ("traceId", langfuse::trace_hex as fn(&str) -> String),
        ("observationId", langfuse::observation_hex),
    ] {
        if let Some(Value::String(id)) = body.get(field) {
            let mapped = map(id);
            body.insert(field.into(), Value::String(mapped));
        }
    }
    if body.get("id").is_none_or(Value::is_null) {
        body.insert("id".into(), Value::String(event.id.clone()));
    }
    if body.get("timestamp").is_none_or(Value::is_null) {
        body.insert("timestamp".into(), Value::String(event.timestamp.clone()));
    }
    // Langfuse fields the scores table has no place for.
    for field in [
        "datasetRunId",
        "queueId",
        "authorUserId",
        "observationIdMeta",
    ] {
        body.remove(field);
    }
    scores::parse_one(Value::Object(body), project, now)
}

fn failure(e: IngestError) -> Response {
    match e {
        IngestError::BadRequest(m) => reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid request data", "errors": [m]}),
        ),
        IngestError::Busy(m) => retry_later(StatusCode::TOO_MANY_REQUESTS, &m, 1),
        IngestError::Unavailable(m) => retry_later(StatusCode::SERVICE_UNAVAILABLE, &m, 5),
        IngestError::Unauthenticated(e) => reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "UnauthorizedError", "message": e.to_string()}),
        ),
        IngestError::Internal(m) => internal(&m),
    }
}

fn retry_later(status: StatusCode, message: &str, secs: u32) -> Response {
    let mut r = reply(status, json!({"message": message}));
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn internal(message: &str) -> Response {
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"message": "Internal Server Error", "error": message}),
    )
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors_name_the_problem() {
        let err = |s: &str| parse_envelope(s.as_bytes()).err().unwrap();
        assert!(err("{").contains("invalid JSON"));
        assert!(err("[]").contains("expected a JSON object"));
        assert!(err("{}").contains("batch: required"));
        assert!(err(r#"{"batch": 1}"#).contains("batch: expected an array"));
        let ok = parse_envelope(
            br#"{"batch": [], "metadata": {"sdk_name": "python", "sdk_version": "2.60.10"}}"#,
        )
        .unwrap();
        assert_eq!(ok.sdk.name, "python");
    }
}
