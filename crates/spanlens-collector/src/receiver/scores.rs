//! Scores endpoint: POST /v1/scores (Spanlens SDK) and POST /api/public/scores (Langfuse SDKs'
//! shape, so `langfuse.create_score` works unchanged). A JSON object or an array of them;
//! every score is validated (the error names the score's index and field), then all are
//! appended to the spool — the spans' durable path — before the reply: a 200 means safe (a
//! ClickHouse outage only delays the write). A score's id is its key: re-sending a score with
//! the same id replaces it (ReplacingMergeTree on updated_at); without an id, one is derived
//! from (trace, span, session, name, source), so a re-sent score still replaces the earlier one.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::{Ingest, IngestError};
use crate::storage::row::{ScoreRow, derived_score_id};

pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/v1/scores", post(create_scores))
        .route("/api/public/scores", post(create_scores))
        .with_state(ingest)
}

/// One score as sent: Spanlens names (snake_case) or Langfuse names (camelCase).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreIn {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, alias = "traceId")]
    trace_id: Option<String>,
    #[serde(default, alias = "observationId", alias = "observation_id")]
    span_id: Option<String>,
    #[serde(default, alias = "sessionId")]
    session_id: Option<String>,
    name: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    string_value: Option<String>,
    #[serde(default, alias = "dataType")]
    data_type: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    timestamp_unix_nano: Option<i64>,
    /// RFC 3339 (Langfuse).
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Accepted for Langfuse compatibility, not stored: environments live on spans.
    #[serde(default)]
    #[allow(dead_code, reason = "accepted, checked as a string, not stored")]
    environment: Option<String>,
    #[serde(default, alias = "configId")]
    #[allow(dead_code, reason = "accepted, checked as a string, not stored")]
    config_id: Option<String>,
}

async fn create_scores(State(ingest): State<Ingest>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let project = match ingest.project(header(header::AUTHORIZATION.as_str()), header("x-api-key"))
    {
        Ok(p) => p,
        Err(e) => return error(StatusCode::UNAUTHORIZED, &e.to_string()),
    };
    let rows = match parse(&body, &project, now_nanos()) {
        Ok(rows) => rows,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    // Scores take the spans' durable path: a 200 means spooled (fsynced with ack = durable).
    let ids: Vec<String> = rows.iter().map(|r| r.score_id.clone()).collect();
    let submitted = match ingest.submit(&rows, rows.len() as u64, |_, _| {}) {
        Ok(appended) => ingest.durable(appended).await,
        Err(e) => Err(e),
    };
    match submitted {
        Ok(()) => json(StatusCode::OK, serde_json::json!({ "ids": ids })),
        Err(e) => ingest_error(e),
    }
}

/// The HTTP answer to a refused submit: the same codes as the OTLP receivers.
fn ingest_error(e: IngestError) -> Response {
    let (status, retry_after) = match &e {
        IngestError::BadRequest(_) => (StatusCode::BAD_REQUEST, None),
        IngestError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, Some(1)),
        IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(5)),
        IngestError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, None),
        IngestError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    let mut response = error(status, &e.to_string());
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "error": message }))
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
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

/// Parses and validates a body (one score or an array) into rows.
fn parse(body: &[u8], project: &str, now: i64) -> Result<Vec<ScoreRow>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        object @ serde_json::Value::Object(_) => vec![object],
        _ => return Err("expected a score object or an array of scores".into()),
    };
    if items.is_empty() {
        return Err("no scores in the request".into());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_one(item, project, now).map_err(|e| format!("score {i}: {e}")))
        .collect()
}

/// One score object, validated (also for Langfuse `score-create` events).
pub(crate) fn parse_one(
    item: serde_json::Value,
    project: &str,
    now: i64,
) -> Result<ScoreRow, String> {
    let score: ScoreIn = serde_json::from_value(item).map_err(|e| e.to_string())?;
    to_row(score, project, now)
}

fn to_row(s: ScoreIn, project: &str, now: i64) -> Result<ScoreRow, String> {
    if s.name.trim().is_empty() {
        return Err("name must not be empty".into());
    }
    let (trace_id, span_id, session_id) = subject(s.trace_id, s.span_id, s.session_id)?;
    let (data_type, value, string_value) =
        typed_value(s.data_type.as_deref(), s.value, s.string_value)?;
    let timestamp = match (s.timestamp_unix_nano, s.timestamp.as_deref()) {
        (Some(ns), _) => ns,
        (None, Some(text)) => crate::normalize::parse_rfc3339_nanos(text)
            .and_then(|ns| i64::try_from(ns).ok())
            .ok_or_else(|| format!("timestamp {text:?} is not an RFC 3339 date-time after 1970"))?,
        (None, None) => now,
    };
    let source = s
        .source
        .unwrap_or_else(|| "API".into())
        .to_ascii_uppercase();
    let score_id = match s.id {
        Some(id) if !id.trim().is_empty() => id,
        _ => derived_score_id(&[&trace_id, &span_id, &session_id, &s.name, &source]),
    };
    let metadata = s
        .metadata
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                },
            )
        })
        .collect();
    Ok(ScoreRow {
        project: project.into(),
        score_id,
        trace_id,
        span_id,
        session_id,
        name: s.name,
        data_type: data_type.into(),
        value,
        string_value,
        comment: s.comment.unwrap_or_default(),
        source,
        timestamp,
        metadata,
        updated_at: now,
    })
}

/// What the score is about: (trace id, span id, session id), ids lower-cased and checked.
fn subject(
    trace_id: Option<String>,
    span_id: Option<String>,
    session_id: Option<String>,
) -> Result<(String, String, String), String> {
    let trace_id = trace_id.unwrap_or_default().to_ascii_lowercase();
    let span_id = span_id.unwrap_or_default().to_ascii_lowercase();
    let session_id = session_id.unwrap_or_default();
    if !trace_id.is_empty() && !is_hex(&trace_id, 32) {
        return Err(format!(
            "trace_id must be 32 hex characters, got {trace_id:?}"
        ));
    }
    if !span_id.is_empty() && !is_hex(&span_id, 16) {
        return Err(format!(
            "span_id must be 16 hex characters, got {span_id:?}"
        ));
    }
    if trace_id.is_empty() && session_id.is_empty() {
        return Err("a score needs a trace_id (optionally with span_id) or a session_id".into());
    }
    if !span_id.is_empty() && trace_id.is_empty() {
        return Err("span_id needs its trace_id".into());
    }
    Ok((trace_id, span_id, session_id))
}

/// (data type, numeric value, string value) from the declared data type (if any) and the
/// value sent: a string is CATEGORICAL, a boolean BOOLEAN, a number NUMERIC unless declared
/// BOOLEAN (then 0 or 1).
fn typed_value(
    declared: Option<&str>,
    value: Option<serde_json::Value>,
    string_value: Option<String>,
) -> Result<(&'static str, Option<f64>, String), String> {
    use serde_json::Value as J;
    let declared = declared.map(str::to_ascii_uppercase);
    Ok(match (declared.as_deref(), value, string_value) {
        (Some("CATEGORICAL") | None, Some(J::String(v)), None)
        | (Some("CATEGORICAL") | None, None, Some(v)) => ("CATEGORICAL", None, v),
        (Some("BOOLEAN") | None, Some(J::Bool(b)), None) => {
            ("BOOLEAN", Some(b as u8 as f64), String::new())
        }
        (Some("BOOLEAN"), Some(J::Number(n)), None) => match n.as_f64() {
            Some(v) if v == 0.0 || v == 1.0 => ("BOOLEAN", Some(v), String::new()),
            _ => return Err(format!("a BOOLEAN score's value must be 0 or 1, got {n}")),
        },
        (Some("NUMERIC") | None, Some(J::Number(n)), None) => match n.as_f64() {
            Some(v) if v.is_finite() => ("NUMERIC", Some(v), String::new()),
            _ => return Err(format!("value must be a finite number, got {n}")),
        },
        (Some(other), _, _) if !matches!(other, "NUMERIC" | "BOOLEAN" | "CATEGORICAL") => {
            return Err(format!(
                "data_type must be NUMERIC, BOOLEAN or CATEGORICAL, got {other:?}"
            ));
        }
        (declared, value, string_value) => {
            return Err(format!(
                "value {value:?} / string_value {string_value:?} do not fit data_type {}",
                declared.unwrap_or("(inferred)")
            ));
        }
    })
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0af7651916cd43dd8448eb211c80319c";

    #[test]
    fn accepts_each_data_type_and_both_shapes() {
        let body = format!(
            r#"[{{"name":"helpfulness","value":0.8,"trace_id":"{T}","span_id":"b7ad6b7169203331","comment":"ok"}},
                {{"name":"thumbs","value":true,"traceId":"{T}"}},
                {{"name":"label","value":"good","dataType":"CATEGORICAL","traceId":"{T}","id":"x1","timestamp":"2026-11-25T08:16:58.155296Z"}},
                {{"name":"offset","value":1,"traceId":"{T}","timestamp":"2026-11-25T10:16:58.155296+02:00"}}]"#
        );
        let rows = parse(body.as_bytes(), "p", 42).unwrap();
        assert_eq!(
            (
                rows[0].data_type.as_str(),
                rows[0].value,
                rows[0].span_id.as_str()
            ),
            ("NUMERIC", Some(0.8), "b7ad6b7169203331")
        );
        assert_eq!(
            (rows[1].data_type.as_str(), rows[1].value),
            ("BOOLEAN", Some(1.0))
        );
        assert_eq!(
            (
                rows[2].data_type.as_str(),
                rows[2].string_value.as_str(),
                rows[2].score_id.as_str()
            ),
            ("CATEGORICAL", "good", "x1")
        );
        assert_eq!(rows[2].timestamp, 1_795_594_618_155_296_000);
        assert_eq!(rows[3].timestamp, rows[2].timestamp);
        assert_eq!(rows[1].timestamp, 42);
        // Same identity → same derived id.
        let again = parse(body.as_bytes(), "p", 43).unwrap();
        assert_eq!(rows[0].score_id, again[0].score_id);
        assert_ne!(rows[0].score_id, rows[1].score_id);
    }

    #[test]
    fn errors_name_the_score_and_the_field() {
        let cases = [
            (
                r#"{"name":"a","value":1}"#.to_string(),
                "score 0: a score needs a trace_id",
            ),
            (
                format!(
                    r#"[{{"name":"a","value":1,"trace_id":"{T}"}},{{"name":"","value":1,"trace_id":"{T}"}}]"#
                ),
                "score 1: name must not be empty",
            ),
            (
                r#"{"name":"a","value":1,"trace_id":"xyz"}"#.to_string(),
                "trace_id must be 32 hex",
            ),
            (
                format!(r#"{{"name":"a","value":2,"data_type":"BOOLEAN","trace_id":"{T}"}}"#),
                "must be 0 or 1",
            ),
            (
                format!(r#"{{"name":"a","value":1,"data_type":"STARS","trace_id":"{T}"}}"#),
                "data_type must be",
            ),
            (
                format!(r#"{{"name":"a","valu":1,"trace_id":"{T}"}}"#),
                "unknown field `valu`",
            ),
            ("[1,".to_string(), "invalid JSON"),
            (
                format!(
                    r#"{{"name":"a","value":1,"trace_id":"{T}","timestamp":"2026-02-30T00:00:00Z"}}"#
                ),
                r#"score 0: timestamp "2026-02-30T00:00:00Z" is not an RFC 3339 date-time after 1970"#,
            ),
        ];
        for (body, want) in cases {
            let err = parse(body.as_bytes(), "p", 0).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
