//! Langfuse's public read API (v1 generation, what older SDKs' generated clients and existing
//! scripts call): `GET /api/public/traces`, `/traces/{id}`, `/observations`,
//! `/observations/{id}`, `/sessions`, `/sessions/{id}`, `/scores` (also `/v2/scores`),
//! `/metrics/daily` — project-scoped by the same keys as ingestion, responses shaped exactly as
//! Langfuse's API definition (`fern/apis/server/definition`) so its clients parse them.
//!
//! Data model: a Langfuse trace is the root row of a trace id (`parent_span_id = ''`; for the
//! ingestion API that is the trace's own row, for the OTel path the root span); every other row
//! (and an OTel root span) is an observation. Ids are the Langfuse ones where the rows kept them
//! (`langfuse.trace.id`, `langfuse.observation.id`), else the stored hex ids.
//!
//! Every query filters on `project` first and bounds the time range, the leading columns of the
//! spans table's sort key; a trace is looked up through `otel_traces_trace_id_ts` (its time
//! range) and the trace-id bloom filter. Pages are at most [`MAX_LIMIT`] items; a bad filter is a
//! 400 naming it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::Ingest;
use crate::normalize::langfuse::{observation_hex, trace_hex};

/// Largest page (Langfuse's default is 50; it caps at 100).
pub const MAX_LIMIT: u64 = 100;
const DEFAULT_LIMIT: u64 = 50;

pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/api/public/traces", get(list_traces))
        .route("/api/public/traces/{id}", get(get_trace))
        .route("/api/public/observations", get(list_observations))
        .route("/api/public/observations/{id}", get(get_observation))
        .route("/api/public/sessions", get(list_sessions))
        .route("/api/public/sessions/{id}", get(get_session))
        .route("/api/public/v2/scores", get(list_scores))
        .route("/api/public/scores", get(list_scores))
        .route("/api/public/metrics/daily", get(daily_metrics))
        .with_state(ingest)
}

/// A failed read, answered as Langfuse does (`{message}` with the status).
#[derive(Debug)]
pub(super) struct Failure(pub(super) StatusCode, pub(super) String);

pub(super) type Reply = Result<Response, Failure>;

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = match self.0 {
            StatusCode::UNAUTHORIZED => json!({"error": "UnauthorizedError", "message": self.1}),
            StatusCode::NOT_FOUND => json!({"error": "LangfuseNotFoundError", "message": self.1}),
            _ => json!({"message": self.1}),
        };
        (
            self.0,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

pub(super) fn bad(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message.into())
}

pub(super) fn ok(body: Value) -> Reply {
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

pub(super) fn project(ingest: &Ingest, headers: &HeaderMap) -> Result<String, Failure> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    ingest
        .project(header(header::AUTHORIZATION.as_str()), header("x-api-key"))
        .map_err(|e| Failure(StatusCode::UNAUTHORIZED, e.to_string()))
}

// ---- query parameters -------------------------------------------------------------------------

/// The query string's parameters; a key may repeat (`tags=a&tags=b`).
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    /// `a=1&b=x%20y` → pairs, percent- and plus-decoded; empty values are left out.
    pub(super) fn parse(raw: Option<String>) -> Params {
        let pairs = raw.as_deref().map_or_else(Vec::new, |q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        });
        Params(pairs)
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// (page ≥ 1, limit 1..=MAX_LIMIT).
    fn page(&self) -> Result<(u64, u64), Failure> {
        let num = |key: &str, default: u64| -> Result<u64, Failure> {
            match self.get(key) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad(format!("{key} must be a positive integer, got {v:?}"))),
            }
        };
        let limit = num("limit", DEFAULT_LIMIT)?;
        if limit > MAX_LIMIT {
            return Err(bad(format!(
                "limit must be at most {MAX_LIMIT}, got {limit}"
            )));
        }
        Ok((num("page", 1)?, limit))
    }

    /// An ISO 8601 timestamp parameter as Unix ns.
    pub(super) fn time(&self, key: &str) -> Result<Option<u64>, Failure> {
        self.get(key)
            .map(|v| {
                crate::normalize::parse_rfc3339_nanos(v)
                    .ok_or_else(|| bad(format!("{key} must be an ISO 8601 date-time, got {v:?}")))
            })
            .transpose()
    }
}

// ---- SQL ----------------------------------------------------------------------------------------

/// A WHERE clause under construction: SQL text with `?` placeholders and their values.
#[derive(Default)]
pub(super) struct Where {
    pub(super) sql: Vec<String>,
    pub(super) binds: Vec<Bind>,
}

pub(super) enum Bind {
    Str(String),
    U64(u64),
}

impl Where {
    /// One page of a listing: the total that `count` (`… AS n … WHERE {where}`) finds and the
    /// rows of `select` (`… WHERE {where} … LIMIT ? OFFSET ?`) on page `page` (from 1).
    pub(super) async fn page(
        self,
        ingest: &Ingest,
        count: &str,
        select: &str,
        page: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Value>), Failure> {
        let filter = self.sql.join(" AND ");
        let mut binds = self.binds;
        let total = query_json(ingest, &count.replace("{where}", &filter), &binds).await?;
        let total = total.first().and_then(|r| u(r, "n")).unwrap_or(0);
        binds.push(Bind::U64(limit));
        binds.push(Bind::U64((page - 1) * limit));
        let rows = query_json(ingest, &select.replace("{where}", &filter), &binds).await?;
        Ok((total, rows))
    }

    pub(super) fn new(project: &str) -> Where {
        let mut w = Where::default();
        w.add("project = ?", Bind::Str(project.to_string()));
        w
    }

    pub(super) fn add(&mut self, sql: &str, bind: Bind) {
        self.sql.push(sql.to_string());
        self.binds.push(bind);
    }

    pub(super) fn raw(&mut self, sql: &str) {
        self.sql.push(sql.to_string());
    }

    /// `expr IN (?, …)`, one placeholder per item (at least one item).
    pub(super) fn any_of<'a>(&mut self, expr: &str, items: impl IntoIterator<Item = &'a str>) {
        let before = self.binds.len();
        self.binds
            .extend(items.into_iter().map(|i| Bind::Str(i.to_string())));
        let placeholders = vec!["?"; self.binds.len() - before].join(", ");
        self.sql.push(format!("{expr} IN ({placeholders})"));
    }

    /// `start_time` within [from, to): the sort key's time bucket prunes parts.
    pub(super) fn time(&mut self, column: &str, from: Option<u64>, to: Option<u64>) {
        if let Some(from) = from {
            self.add(
                &format!("{column} >= fromUnixTimestamp64Nano(toInt64(?))"),
                Bind::U64(from),
            );
        }
        if let Some(to) = to {
            self.add(
                &format!("{column} < fromUnixTimestamp64Nano(toInt64(?))"),
                Bind::U64(to),
            );
        }
    }
}

pub(super) async fn query_json(
    ingest: &Ingest,
    sql: &str,
    binds: &[Bind],
) -> Result<Vec<Value>, Failure> {
    // Counts as JSON numbers, as Langfuse answers them (ClickHouse quotes 64-bit integers).
    let mut q = ingest
        .clickhouse
        .client()
        .query(sql)
        .with_setting("output_format_json_quote_64bit_integers", "0");
    for b in binds {
        q = match b {
            Bind::Str(s) => q.bind(s.as_str()),
            Bind::U64(n) => q.bind(*n),
        };
    }
    let mut cursor = q
        .fetch_bytes("JSONEachRow")
        .map_err(|e| Failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let bytes = cursor
        .collect()
        .await
        .map_err(|e| Failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        })
        .collect()
}

/// The row columns an observation (or a trace) is read from.
pub(super) const ROW_COLUMNS: &str = "trace_id, span_id, parent_span_id, name, observation_type, \
    toUnixTimestamp64Nano(start_time) AS start_ns, duration_ns, request_model, response_model, \
    input, output, metadata, status_code, status_message, input_tokens, output_tokens, \
    total_tokens, input_cost, output_cost, total_cost, time_to_first_token_ns, prompt_name, \
    prompt_version, environment, release, session_id, user_id, tags, temperature, max_tokens, \
    top_p, span_attributes['langfuse.observation.id'] AS lf_id, \
    span_attributes['langfuse.trace.id'] AS lf_trace_id, \
    span_attributes['langfuse.observation.type'] AS lf_type, \
    span_attributes['langfuse.observation.level'] AS lf_level, \
    span_attributes['langfuse.observation.model.parameters'] AS lf_params, \
    span_attributes['langfuse.trace.name'] AS lf_trace_name, \
    span_attributes['langfuse.trace.input'] AS lf_trace_input, \
    span_attributes['langfuse.trace.output'] AS lf_trace_output, \
    span_attributes['langfuse.version'] AS lf_version";

/// Rows of the Langfuse ingestion API's trace rows carry no observation type.
pub(super) const IS_TRACE_ROW: &str = "(resource_attributes['telemetry.sdk.name'] = 'langfuse' \
    AND NOT mapContains(span_attributes, 'langfuse.observation.type'))";

// ---- shaping rows -------------------------------------------------------------------------------

pub(super) fn s<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn n(row: &Value, key: &str) -> Option<f64> {
    match row.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn u(row: &Value, key: &str) -> Option<u64> {
    match row.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn opt(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_string())
    }
}

/// Stored input / output text as the JSON value it holds (else the text itself).
pub(super) fn io(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

pub(super) fn iso(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let millis = (ns % 1_000_000_000) / 1_000_000;
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, 0);
    let base = humantime::format_rfc3339_seconds(t).to_string();
    format!("{}.{millis:03}Z", base.trim_end_matches('Z'))
}

/// The Langfuse trace id of a row.
pub(super) fn trace_id_of(row: &Value) -> String {
    match s(row, "lf_trace_id") {
        "" => s(row, "trace_id").to_string(),
        id => id.to_string(),
    }
}

pub(super) fn observation_id_of(row: &Value) -> String {
    match s(row, "lf_id") {
        "" => s(row, "span_id").to_string(),
        id => id.to_string(),
    }
}

pub(super) fn metadata(row: &Value) -> Value {
    match row.get("metadata") {
        Some(Value::Object(m)) if !m.is_empty() => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), io_meta(v))).collect())
        }
        _ => Value::Null,
    }
}

fn io_meta(v: &Value) -> Value {
    match v {
        Value::String(t) => match serde_json::from_str::<Value>(t) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
            _ => Value::String(t.clone()),
        },
        other => other.clone(),
    }
}

/// The Langfuse observation type of a row.
pub(super) fn obs_type(row: &Value) -> &'static str {
    match (s(row, "lf_type"), s(row, "observation_type")) {
        ("event", _) => "EVENT",
        (_, "llm") => "GENERATION",
        (_, "embedding") => "EMBEDDING",
        (_, "tool") => "TOOL",
        (_, "retrieval") => "RETRIEVER",
        (_, "agent") => "AGENT",
        (_, "chain") => "CHAIN",
        (_, "guardrail") => "GUARDRAIL",
        (_, "evaluator") => "EVALUATOR",
        _ => "SPAN",
    }
}

pub(super) fn level(row: &Value) -> &str {
    match s(row, "lf_level") {
        "" if s(row, "status_code") == "Error" => "ERROR",
        "" => "DEFAULT",
        l => l,
    }
}

/// An `ObservationsView`. `parents` maps stored parent span ids to Langfuse ids.
pub(super) fn observation_view(row: &Value, parents: &HashMap<String, Option<String>>) -> Value {
    let start = u(row, "start_ns").unwrap_or(0);
    let duration = u(row, "duration_ns").unwrap_or(0);
    let model = match s(row, "response_model") {
        "" => s(row, "request_model"),
        m => m,
    };
    let usage = |k: &str| u(row, k);
    let cost = |k: &str| n(row, k);
    let usage_details = present([
        ("input", usage("input_tokens").map(Value::from)),
        ("output", usage("output_tokens").map(Value::from)),
        ("total", usage("total_tokens").map(Value::from)),
    ]);
    let cost_details = present([
        ("input", cost("input_cost").map(Value::from)),
        ("output", cost("output_cost").map(Value::from)),
        ("total", cost("total_cost").map(Value::from)),
    ]);
    let parent = parents
        .get(s(row, "parent_span_id"))
        .cloned()
        .flatten()
        .map_or(Value::Null, Value::String);
    let ttft = u(row, "time_to_first_token_ns");
    json!({
        "id": observation_id_of(row),
        "traceId": trace_id_of(row),
        "type": obs_type(row),
        "name": opt(s(row, "name")),
        "startTime": iso(start),
        "endTime": iso(start + duration),
        "completionStartTime": ttft.map(|t| iso(start + t)),
        "model": opt(model),
        "modelParameters": model_parameters(row),
        "input": io(s(row, "input")),
        "version": opt(s(row, "lf_version")),
        "metadata": metadata(row),
        "output": io(s(row, "output")),
        "usage": {
            "input": usage("input_tokens").unwrap_or(0),
            "output": usage("output_tokens").unwrap_or(0),
            "total": usage("total_tokens").unwrap_or(0),
            "unit": "TOKENS",
            "inputCost": cost("input_cost"),
            "outputCost": cost("output_cost"),
            "totalCost": cost("total_cost"),
        },
        "level": level(row),
        "statusMessage": opt(s(row, "status_message")),
        "parentObservationId": parent,
        "promptId": null,
        "usageDetails": usage_details,
        "costDetails": cost_details,
        "environment": env_of(row),
        "promptName": opt(s(row, "prompt_name")),
        "promptVersion": s(row, "prompt_version").parse::<i64>().ok(),
        "modelId": null,
        "inputPrice": null,
        "outputPrice": null,
        "totalPrice": null,
        "calculatedInputCost": cost("input_cost"),
        "calculatedOutputCost": cost("output_cost"),
        "calculatedTotalCost": cost("total_cost"),
        "latency": duration as f64 / 1e9,
        "timeToFirstToken": ttft.map(|t| t as f64 / 1e9),
    })
}

/// The members whose value is set.
fn present<const N: usize>(members: [(&str, Option<Value>); N]) -> Map<String, Value> {
    members
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect()
}

/// The parameters as the Langfuse SDK sent them, else those the row's columns hold.
fn model_parameters(row: &Value) -> Value {
    if let Ok(Value::Object(p)) = serde_json::from_str::<Value>(s(row, "lf_params")) {
        return Value::Object(p);
    }
    let text = |col: &str| n(row, col).map(|v| Value::from(v.to_string()));
    let p = present([
        ("temperature", text("temperature")),
        ("top_p", text("top_p")),
        ("max_tokens", u(row, "max_tokens").map(Value::from)),
    ]);
    if p.is_empty() {
        Value::Null
    } else {
        Value::Object(p)
    }
}

pub(super) fn env_of(row: &Value) -> &str {
    match s(row, "environment") {
        "" => "default",
        e => e,
    }
}

/// A `Trace` from its root row.
fn trace_base(root: &Value) -> Value {
    let name = match s(root, "lf_trace_name") {
        "" => s(root, "name"),
        n => n,
    };
    let pick = |attr: &str, col: &str| match s(root, attr) {
        "" => io(s(root, col)),
        t => io(t),
    };
    let tags: Vec<Value> = root
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    json!({
        "id": trace_id_of(root),
        "timestamp": iso(u(root, "start_ns").unwrap_or(0)),
        "name": opt(name),
        "input": pick("lf_trace_input", "input"),
        "output": pick("lf_trace_output", "output"),
        "sessionId": opt(s(root, "session_id")),
        "release": opt(s(root, "release")),
        "version": opt(s(root, "lf_version")),
        "userId": opt(s(root, "user_id")),
        "metadata": metadata(root),
        "tags": tags,
        "public": false,
        "environment": env_of(root),
    })
}

fn meta(page: u64, limit: u64, total: u64) -> Value {
    json!({
        "page": page,
        "limit": limit,
        "totalItems": total,
        "totalPages": total.div_ceil(limit),
    })
}

fn html_path(project: &str, trace_id: &str) -> String {
    format!("/project/{project}/traces/{trace_id}")
}

// ---- traces -------------------------------------------------------------------------------------

/// Trace root rows matching the list filters (project first, then time).
fn trace_filters(project: &str, p: &Params) -> Result<Where, Failure> {
    let mut w = Where::new(project);
    w.raw("parent_span_id = ''");
    w.time(
        "start_time",
        p.time("fromTimestamp")?,
        p.time("toTimestamp")?,
    );
    for (param, column) in [
        ("userId", "user_id"),
        ("sessionId", "session_id"),
        ("release", "release"),
        ("environment", "environment"),
    ] {
        if let Some(v) = p.get(param) {
            w.add(&format!("{column} = ?"), Bind::Str(v.to_string()));
        }
    }
    if let Some(name) = p.get("name") {
        w.add(
            "if(span_attributes['langfuse.trace.name'] != '', span_attributes['langfuse.trace.name'], name) = ?",
            Bind::Str(name.to_string()),
        );
    }
    if let Some(version) = p.get("version") {
        w.add(
            "span_attributes['langfuse.version'] = ?",
            Bind::Str(version.to_string()),
        );
    }
    for tag in p.all("tags") {
        w.add("has(tags, ?)", Bind::Str(tag.to_string()));
    }
    Ok(w)
}

fn order_by(p: &Params) -> Result<&'static str, Failure> {
    let Some(order) = p.get("orderBy") else {
        return Ok("start_time DESC");
    };
    let (field, dir) = order.split_once('.').unwrap_or((order, "desc"));
    let dir = match dir {
        "asc" | "ASC" => "ASC",
        "desc" | "DESC" => "DESC",
        _ => {
            return Err(bad(format!(
                "orderBy {order:?}: direction must be asc or desc"
            )));
        }
    };
    let column = match field {
        "timestamp" => "start_time",
        "name" => "name",
        "userId" => "user_id",
        "sessionId" => "session_id",
        "release" => "release",
        "id" => "trace_id",
        _ => {
            return Err(bad(format!(
                "orderBy {order:?}: field must be one of id, timestamp, name, userId, release, sessionId"
            )));
        }
    };
    Ok(match (column, dir) {
        ("start_time", "ASC") => "start_time ASC",
        ("start_time", _) => "start_time DESC",
        ("name", "ASC") => "name ASC, start_time DESC",
        ("name", _) => "name DESC, start_time DESC",
        ("user_id", "ASC") => "user_id ASC, start_time DESC",
        ("user_id", _) => "user_id DESC, start_time DESC",
        ("session_id", "ASC") => "session_id ASC, start_time DESC",
        ("session_id", _) => "session_id DESC, start_time DESC",
        ("release", "ASC") => "release ASC, start_time DESC",
        ("release", _) => "release DESC, start_time DESC",
        (_, "ASC") => "trace_id ASC",
        _ => "trace_id DESC",
    })
}

async fn list_traces(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let (page, limit) = p.page()?;
    let w = trace_filters(&project, &p)?;
    let order = order_by(&p)?;
    let (total, roots) = w
        .page(
            &ingest,
            "SELECT count() AS n FROM spans WHERE {where}",
            &format!(
                "SELECT {ROW_COLUMNS} FROM spans WHERE {{where}} ORDER BY {order} LIMIT ? OFFSET ?"
            ),
            page,
            limit,
        )
        .await?;
    let details = trace_details(&ingest, &project, &roots).await?;
    let data: Vec<Value> = roots
        .iter()
        .map(|root| {
            let mut t = trace_base(root);
            let d = details.get(s(root, "trace_id"));
            extend_trace(&mut t, &project, d, false);
            t
        })
        .collect();
    ok(json!({"data": data, "meta": meta(page, limit, total)}))
}

/// What a trace's details need: its rows and scores.
#[derive(Default)]
pub(super) struct TraceDetails {
    pub(super) rows: Vec<Value>,
    scores: Vec<Value>,
}

/// Rows and scores of the given traces, read through the trace-id → time-range table so only
/// those hours of the project's data are scanned.
pub(super) async fn trace_details(
    ingest: &Ingest,
    project: &str,
    roots: &[Value],
) -> Result<HashMap<String, TraceDetails>, Failure> {
    let mut out: HashMap<String, TraceDetails> = HashMap::new();
    if roots.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = roots.iter().map(|r| s(r, "trace_id").to_string()).collect();
    let placeholders = vec!["?"; ids.len()].join(", ");
    let mut binds = vec![Bind::Str(project.to_string())];
    binds.extend(ids.iter().map(|id| Bind::Str(id.clone())));
    binds.extend(ids.iter().map(|id| Bind::Str(id.clone())));
    let rows = query_json(
        ingest,
        &format!(
            "WITH range AS (SELECT min(Start) AS lo, max(End) AS hi FROM otel_traces_trace_id_ts \
             WHERE TraceId IN ({placeholders})) \
             SELECT {ROW_COLUMNS}, {IS_TRACE_ROW} AS is_trace_row FROM spans \
             WHERE project = ? AND start_time >= (SELECT lo FROM range) - INTERVAL 1 SECOND \
             AND start_time <= (SELECT hi FROM range) + INTERVAL 1 SECOND \
             AND trace_id IN ({placeholders}) ORDER BY start_time"
        ),
        &reorder_range_binds(binds, ids.len()),
    )
    .await?;
    for row in rows {
        out.entry(s(&row, "trace_id").to_string())
            .or_default()
            .rows
            .push(row);
    }
    let mut binds = vec![Bind::Str(project.to_string())];
    binds.extend(ids.iter().map(|id| Bind::Str(id.clone())));
    let scores = query_json(
        ingest,
        &format!(
            "SELECT {SCORE_COLUMNS} FROM scores FINAL WHERE project = ? AND trace_id IN ({placeholders}) ORDER BY timestamp"
        ),
        &binds,
    )
    .await?;
    for score in scores {
        out.entry(s(&score, "trace_id").to_string())
            .or_default()
            .scores
            .push(score);
    }
    Ok(out)
}

/// The range sub-query's ids come first in the SQL text, then the project, then the ids again.
fn reorder_range_binds(binds: Vec<Bind>, n: usize) -> Vec<Bind> {
    let mut it = binds.into_iter();
    let project = it.next().expect("project first");
    let first: Vec<Bind> = it.by_ref().take(n).collect();
    let second: Vec<Bind> = it.collect();
    first
        .into_iter()
        .chain(std::iter::once(project))
        .chain(second)
        .collect()
}

/// Adds `htmlPath`, `latency`, `totalCost`, `observations` and `scores` (ids, or full objects).
fn extend_trace(t: &mut Value, project: &str, d: Option<&TraceDetails>, full: bool) {
    let empty = TraceDetails::default();
    let d = d.unwrap_or(&empty);
    let observations: Vec<&Value> = d
        .rows
        .iter()
        .filter(|r| {
            r.get("is_trace_row") != Some(&json!(1)) && r.get("is_trace_row") != Some(&json!(true))
        })
        .collect();
    let start = d
        .rows
        .iter()
        .filter_map(|r| u(r, "start_ns"))
        .min()
        .unwrap_or(0);
    let end = d
        .rows
        .iter()
        .filter_map(|r| Some(u(r, "start_ns")? + u(r, "duration_ns").unwrap_or(0)))
        .max()
        .unwrap_or(start);
    let cost: f64 = d.rows.iter().filter_map(|r| n(r, "total_cost")).sum();
    let parents = parent_ids(&d.rows);
    let id = t["id"].as_str().unwrap_or("").to_string();
    let obj = t.as_object_mut().expect("a trace is an object");
    obj.insert("htmlPath".into(), html_path(project, &id).into());
    obj.insert("latency".into(), ((end - start) as f64 / 1e9).into());
    obj.insert("totalCost".into(), cost.into());
    let (obs, scores): (Vec<Value>, Vec<Value>) = if full {
        (
            observations
                .iter()
                .map(|r| observation_view(r, &parents))
                .collect(),
            d.scores
                .iter()
                .map(|sc| score_json(sc, &Ids::of(Some(d)), None))
                .collect(),
        )
    } else {
        (
            observations
                .iter()
                .map(|r| observation_id_of(r).into())
                .collect(),
            d.scores.iter().map(|sc| s(sc, "score_id").into()).collect(),
        )
    };
    obj.insert("observations".into(), obs.into());
    obj.insert("scores".into(), scores.into());
}

/// Stored span id → Langfuse id of the rows' parents (None: the parent is a trace row).
pub(super) fn parent_ids(rows: &[Value]) -> HashMap<String, Option<String>> {
    rows.iter()
        .map(|r| {
            let trace_row = matches!(r.get("is_trace_row"), Some(Value::Bool(true)))
                || r.get("is_trace_row") == Some(&json!(1));
            let id = (!trace_row).then(|| observation_id_of(r));
            (s(r, "span_id").to_string(), id)
        })
        .collect()
}

async fn get_trace(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let hex = trace_hex(&id);
    let root = json!({"trace_id": hex});
    let details = trace_details(&ingest, &project, &[root]).await?;
    let Some(d) = details.get(&hex).filter(|d| !d.rows.is_empty()) else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("Trace {id} not found within authorized project"),
        ));
    };
    let root = d
        .rows
        .iter()
        .filter(|r| s(r, "parent_span_id").is_empty())
        .min_by_key(|r| u(r, "start_ns"))
        .unwrap_or(&d.rows[0]);
    let mut t = trace_base(root);
    extend_trace(&mut t, &project, Some(d), true);
    ok(t)
}

// ---- observations -------------------------------------------------------------------------------

async fn list_observations(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let (page, limit) = p.page()?;
    let w = observation_filters(&project, &p)?;
    let (total, rows) = w
        .page(
            &ingest,
            "SELECT count() AS n FROM spans WHERE {where}",
            &format!("SELECT {ROW_COLUMNS} FROM spans WHERE {{where}} ORDER BY start_time DESC LIMIT ? OFFSET ?"),
            page,
            limit,
        )
        .await?;
    let parents = resolve_parents(&ingest, &project, &rows).await?;
    let data: Vec<Value> = rows.iter().map(|r| observation_view(r, &parents)).collect();
    ok(json!({"data": data, "meta": meta(page, limit, total)}))
}

/// The Langfuse `type` filter as a condition on the row.
pub(super) fn type_filter(t: &str) -> Result<(&'static str, &'static str), Failure> {
    Ok(match t {
        "GENERATION" => ("observation_type = ?", "llm"),
        "SPAN" => (
            "observation_type = ? AND span_attributes['langfuse.observation.type'] != 'event'",
            "span",
        ),
        "EVENT" => ("span_attributes['langfuse.observation.type'] = ?", "event"),
        "AGENT" => ("observation_type = ?", "agent"),
        "TOOL" => ("observation_type = ?", "tool"),
        "CHAIN" => ("observation_type = ?", "chain"),
        "RETRIEVER" => ("observation_type = ?", "retrieval"),
        "EVALUATOR" => ("observation_type = ?", "evaluator"),
        "EMBEDDING" => ("observation_type = ?", "embedding"),
        "GUARDRAIL" => ("observation_type = ?", "guardrail"),
        other => {
            return Err(bad(format!(
                "type must be one of GENERATION, SPAN, EVENT, AGENT, TOOL, CHAIN, RETRIEVER, EVALUATOR, EMBEDDING, GUARDRAIL; got {other:?}"
            )));
        }
    })
}

/// Langfuse ids of the rows' parents: rows of the same page, else one look-up.
pub(super) async fn resolve_parents(
    ingest: &Ingest,
    project: &str,
    rows: &[Value],
) -> Result<HashMap<String, Option<String>>, Failure> {
    let mut known = parent_ids(rows);
    let missing: Vec<(String, String)> = rows
        .iter()
        .filter(|r| {
            !s(r, "parent_span_id").is_empty() && !known.contains_key(s(r, "parent_span_id"))
        })
        .map(|r| {
            (
                s(r, "trace_id").to_string(),
                s(r, "parent_span_id").to_string(),
            )
        })
        .collect();
    if missing.is_empty() {
        return Ok(known);
    }
    let traces: Vec<&str> = missing.iter().map(|(t, _)| t.as_str()).collect();
    let spans: Vec<&str> = missing.iter().map(|(_, sp)| sp.as_str()).collect();
    let ph = |n: usize| vec!["?"; n].join(", ");
    let mut binds = vec![Bind::Str(project.to_string())];
    binds.extend(traces.iter().map(|t| Bind::Str(t.to_string())));
    binds.extend(spans.iter().map(|sp| Bind::Str(sp.to_string())));
    let parents = query_json(
        ingest,
        &format!(
            "SELECT span_id, span_attributes['langfuse.observation.id'] AS lf_id, {IS_TRACE_ROW} AS is_trace_row \
             FROM spans WHERE project = ? AND trace_id IN ({}) AND span_id IN ({})",
            ph(traces.len()),
            ph(spans.len())
        ),
        &binds,
    )
    .await?;
    known.extend(parent_ids(&parents));
    // A parent that was never stored: its stored id is all we know.
    for (_, span) in missing {
        known.entry(span.clone()).or_insert(Some(span));
    }
    Ok(known)
}

async fn get_observation(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let mut w = Where::new(&project);
    w.add("span_id = ?", Bind::Str(observation_hex(&id)));
    w.raw(&format!("NOT {IS_TRACE_ROW}"));
    // No trace id: bounded by the span id; recent data first.
    let rows = query_json(
        &ingest,
        &format!(
            "SELECT {ROW_COLUMNS} FROM spans WHERE {} ORDER BY start_time DESC LIMIT 1",
            w.sql.join(" AND ")
        ),
        &w.binds,
    )
    .await?;
    let Some(row) = rows.first() else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("Observation {id} not found within authorized project"),
        ));
    };
    let parents = resolve_parents(&ingest, &project, &rows).await?;
    ok(observation_view(row, &parents))
}

// ---- sessions -----------------------------------------------------------------------------------

async fn list_sessions(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let (page, limit) = p.page()?;
    let mut w = Where::new(&project);
    w.raw("session_id != ''");
    w.time(
        "start_time",
        p.time("fromTimestamp")?,
        p.time("toTimestamp")?,
    );
    if let Some(env) = p.get("environment") {
        w.add("environment = ?", Bind::Str(env.to_string()));
    }
    let (total, sessions) = w
        .page(
            &ingest,
            "SELECT uniqExact(session_id) AS n FROM spans WHERE {where}",
            "SELECT session_id, toUnixTimestamp64Nano(min(start_time)) AS created_ns, \
             any(environment) AS environment FROM spans WHERE {where} GROUP BY session_id \
             ORDER BY created_ns DESC LIMIT ? OFFSET ?",
            page,
            limit,
        )
        .await?;
    let data: Vec<Value> = sessions.iter().map(|r| session_json(r, &project)).collect();
    ok(json!({"data": data, "meta": meta(page, limit, total)}))
}

fn session_json(r: &Value, project: &str) -> Value {
    json!({
        "id": s(r, "session_id"),
        "createdAt": iso(u(r, "created_ns").unwrap_or(0)),
        "projectId": project,
        "environment": env_of(r),
    })
}

async fn get_session(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let mut w = Where::new(&project);
    w.add("session_id = ?", Bind::Str(id.clone()));
    w.raw("parent_span_id = ''");
    // The session-id bloom filter prunes granules; a session's traces are few.
    let roots = query_json(
        &ingest,
        &format!(
            "SELECT {ROW_COLUMNS} FROM spans WHERE {} ORDER BY start_time LIMIT 1000",
            w.sql.join(" AND ")
        ),
        &w.binds,
    )
    .await?;
    let Some(first) = roots.first() else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("Session {id} not found within authorized project"),
        ));
    };
    let mut session = session_json(
        &json!({"session_id": id, "created_ns": u(first, "start_ns"), "environment": s(first, "environment")}),
        &project,
    );
    let traces: Vec<Value> = roots.iter().map(trace_base).collect();
    session["traces"] = traces.into();
    ok(session)
}

// ---- scores -------------------------------------------------------------------------------------

pub(super) const SCORE_COLUMNS: &str = "score_id, trace_id, span_id, session_id, name, data_type, value, \
    string_value, comment, source, toUnixTimestamp64Nano(timestamp) AS ts_ns, \
    toUnixTimestamp64Nano(updated_at) AS updated_ns, metadata";

/// Langfuse ids of a trace's rows: stored span id → observation id, and the trace's own id.
pub(super) struct Ids {
    pub(super) trace: Option<String>,
    pub(super) observations: HashMap<String, Option<String>>,
}

impl Ids {
    pub(super) fn of(d: Option<&TraceDetails>) -> Ids {
        let rows = d.map_or(&[][..], |d| &d.rows[..]);
        Ids {
            trace: rows.first().map(trace_id_of),
            observations: parent_ids(rows),
        }
    }
}

/// A `Score` (or, with `trace`, a `GetScoresResponseData` item), with the Langfuse ids of its
/// trace and observation.
fn score_json(r: &Value, ids: &Ids, trace: Option<Value>) -> Value {
    let trace_id = ids
        .trace
        .clone()
        .unwrap_or_else(|| s(r, "trace_id").to_string());
    let observation_id = match s(r, "span_id") {
        "" => Value::Null,
        span => ids
            .observations
            .get(span)
            .cloned()
            .flatten()
            .unwrap_or_else(|| span.to_string())
            .into(),
    };
    let data_type = match s(r, "data_type") {
        "" => "NUMERIC",
        t => t,
    };
    let ts = iso(u(r, "ts_ns").unwrap_or(0));
    let updated = iso(u(r, "updated_ns").unwrap_or(0));
    let mut score = json!({
        "id": s(r, "score_id"),
        "traceId": trace_id,
        "name": s(r, "name"),
        "source": match s(r, "source") { "EVAL" => "EVAL", "ANNOTATION" => "ANNOTATION", _ => "API" },
        "observationId": observation_id,
        "timestamp": ts,
        "createdAt": ts,
        "updatedAt": updated,
        "authorUserId": null,
        "comment": opt(s(r, "comment")),
        "configId": null,
        "queueId": null,
        "environment": "default",
        "dataType": data_type,
        "metadata": metadata(r),
    });
    let obj = score.as_object_mut().expect("object");
    match data_type {
        "CATEGORICAL" => {
            obj.insert("value".into(), n(r, "value").into());
            obj.insert("stringValue".into(), s(r, "string_value").into());
        }
        "BOOLEAN" => {
            let v = n(r, "value").unwrap_or(0.0);
            obj.insert("value".into(), v.into());
            obj.insert(
                "stringValue".into(),
                (if v == 1.0 { "True" } else { "False" }).into(),
            );
        }
        _ => {
            obj.insert("value".into(), n(r, "value").unwrap_or(0.0).into());
        }
    }
    if let Some(t) = trace {
        obj.insert("trace".into(), t);
    }
    score
}

async fn list_scores(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let (page, limit) = p.page()?;
    let w = score_filter(&p, &project)?;
    let (total, scores) = w
        .page(
            &ingest,
            "SELECT count() AS n FROM scores FINAL WHERE {where}",
            &format!("SELECT {SCORE_COLUMNS} FROM scores FINAL WHERE {{where}} ORDER BY timestamp DESC LIMIT ? OFFSET ?"),
            page,
            limit,
        )
        .await?;
    let roots: Vec<Value> = scores
        .iter()
        .filter(|sc| !s(sc, "trace_id").is_empty())
        .map(|sc| json!({"trace_id": s(sc, "trace_id")}))
        .collect();
    let details = trace_details(&ingest, &project, &roots).await?;
    let data: Vec<Value> = scores
        .iter()
        .map(|sc| {
            let d = details.get(s(sc, "trace_id"));
            let root = d.and_then(|d| {
                d.rows
                    .iter()
                    .filter(|r| s(r, "parent_span_id").is_empty())
                    .min_by_key(|r| u(r, "start_ns"))
            });
            let trace = match root {
                Some(r) => json!({
                    "userId": opt(s(r, "user_id")),
                    "tags": r.get("tags").cloned().unwrap_or(json!([])),
                    "environment": env_of(r),
                }),
                None => json!({"userId": null, "tags": [], "environment": "default"}),
            };
            score_json(sc, &Ids::of(d), Some(trace))
        })
        .collect();
    ok(json!({"data": data, "meta": meta(page, limit, total)}))
}

/// The `GET /api/public/scores` filters.
fn score_filter(p: &Params, project: &str) -> Result<Where, Failure> {
    let mut w = Where::new(project);
    w.time(
        "timestamp",
        p.time("fromTimestamp")?,
        p.time("toTimestamp")?,
    );
    for (param, column) in [
        ("name", "name"),
        ("source", "source"),
        ("dataType", "data_type"),
    ] {
        if let Some(v) = p.get(param) {
            w.add(&format!("{column} = ?"), Bind::Str(v.to_string()));
        }
    }
    if let Some(t) = p.get("traceId") {
        w.add("trace_id = ?", Bind::Str(trace_hex(t)));
    }
    if let Some(o) = p.get("observationId") {
        w.add("span_id = ?", Bind::Str(observation_hex(o)));
    }
    if let Some(ids) = p.get("scoreIds") {
        w.any_of("score_id", ids.split(',').map(str::trim));
    }
    if let Some(v) = p.get("value") {
        let value: f64 = v
            .parse()
            .map_err(|_| bad(format!("value must be a number, got {v:?}")))?;
        let op = match p.get("operator").unwrap_or("=") {
            op @ ("<" | ">" | "<=" | ">=" | "=" | "!=") => op,
            "<>" => "!=",
            other => {
                return Err(bad(format!(
                    "operator must be one of <, >, <=, >=, =, !=, got {other:?}"
                )));
            }
        };
        w.sql.push(format!("value {op} {value}"));
    }
    Ok(w)
}

// ---- daily metrics ------------------------------------------------------------------------------

async fn daily_metrics(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let (page, limit) = p.page()?;
    let w = daily_metrics_filter(&p, &project)?;
    let rows = query_json(
        &ingest,
        &format!(
            "SELECT toString(toDate(start_time)) AS date, \
             if(response_model != '', response_model, request_model) AS model, \
             uniqExact(trace_id) AS traces, countIf(NOT {IS_TRACE_ROW}) AS observations, \
             sum(ifNull(input_tokens, 0)) AS input, sum(ifNull(output_tokens, 0)) AS output, \
             sum(ifNull(total_tokens, ifNull(input_tokens, 0) + ifNull(output_tokens, 0))) AS total, \
             sum(ifNull(total_cost, 0)) AS cost \
             FROM spans WHERE {} GROUP BY date, model ORDER BY date DESC, model",
            w.sql.join(" AND ")
        ),
        &w.binds,
    )
    .await?;
    let days_sql = format!(
        "SELECT toString(toDate(start_time)) AS date, uniqExact(trace_id) AS traces, \
         countIf(NOT {IS_TRACE_ROW}) AS observations, sum(ifNull(total_cost, 0)) AS cost \
         FROM spans WHERE {} GROUP BY date ORDER BY date DESC",
        w.sql.join(" AND ")
    );
    let days = query_json(&ingest, &days_sql, &w.binds).await?;
    let total = days.len() as u64;
    let data: Vec<Value> = days
        .iter()
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .map(|d| daily_metrics_day(d, &rows))
        .collect();
    ok(json!({"data": data, "meta": meta(page, limit, total)}))
}

/// The span filter of the daily metrics: time range, user, environment, trace name, tags.
fn daily_metrics_filter(p: &Params, project: &str) -> Result<Where, Failure> {
    let mut w = Where::new(project);
    w.time(
        "start_time",
        p.time("fromTimestamp")?,
        p.time("toTimestamp")?,
    );
    for (param, column) in [("userId", "user_id"), ("environment", "environment")] {
        if let Some(v) = p.get(param) {
            w.add(&format!("{column} = ?"), Bind::Str(v.to_string()));
        }
    }
    if let Some(name) = p.get("traceName") {
        w.add(
            "trace_id IN (SELECT trace_id FROM spans WHERE project = ? AND parent_span_id = '' AND name = ?)",
            Bind::Str(project.to_string()),
        );
        w.binds.push(Bind::Str(name.to_string()));
    }
    for tag in p.all("tags") {
        w.add("has(tags, ?)", Bind::Str(tag.to_string()));
    }
    Ok(w)
}

/// One day of the daily metrics, with the usage of each model that day (`rows`: per day and
/// model).
fn daily_metrics_day(day: &Value, rows: &[Value]) -> Value {
    let usage: Vec<Value> = rows
        .iter()
        .filter(|r| s(r, "date") == s(day, "date") && !s(r, "model").is_empty())
        .map(|r| {
            json!({
                "model": s(r, "model"),
                "inputUsage": u(r, "input").unwrap_or(0),
                "outputUsage": u(r, "output").unwrap_or(0),
                "totalUsage": u(r, "total").unwrap_or(0),
                "countTraces": u(r, "traces").unwrap_or(0),
                "countObservations": u(r, "observations").unwrap_or(0),
                "totalCost": n(r, "cost").unwrap_or(0.0),
            })
        })
        .collect();
    json!({
        "date": s(day, "date"),
        "countTraces": u(day, "traces").unwrap_or(0),
        "countObservations": u(day, "observations").unwrap_or(0),
        "totalCost": n(day, "cost").unwrap_or(0.0),
        "usage": usage,
    })
}

/// An observation's Langfuse level: its own, else ERROR for an error status, else DEFAULT.
pub(super) const LEVEL_SQL: &str = "multiIf(span_attributes['langfuse.observation.level'] != '', \
    span_attributes['langfuse.observation.level'], status_code = 'Error', 'ERROR', 'DEFAULT')";

/// The observation filters both API generations take (`traceId`, `parentObservationId`,
/// `name`, `userId`, `sessionId`, `version`, `environment` (repeatable), `level`, `type`, the
/// start-time range), on the project's observation rows.
pub(super) fn observation_filters(project: &str, p: &Params) -> Result<Where, Failure> {
    let mut w = Where::new(project);
    w.raw(&format!("NOT {IS_TRACE_ROW}"));
    w.time(
        "start_time",
        p.time("fromStartTime")?,
        p.time("toStartTime")?,
    );
    if let Some(t) = p.get("traceId") {
        w.add("trace_id = ?", Bind::Str(trace_hex(t)));
    }
    if let Some(parent) = p.get("parentObservationId") {
        w.add("parent_span_id = ?", Bind::Str(observation_hex(parent)));
    }
    for (param, column) in [
        ("name", "name"),
        ("userId", "user_id"),
        ("sessionId", "session_id"),
        ("version", "span_attributes['langfuse.version']"),
    ] {
        if let Some(v) = p.get(param) {
            w.add(&format!("{column} = ?"), Bind::Str(v.to_string()));
        }
    }
    let envs = p.all("environment");
    if !envs.is_empty() {
        w.any_of("environment", envs);
    }
    if let Some(level) = p.get("level") {
        if !["DEBUG", "DEFAULT", "WARNING", "ERROR"].contains(&level) {
            return Err(bad(format!(
                "level must be DEBUG, DEFAULT, WARNING or ERROR, got {level:?}"
            )));
        }
        w.add(&format!("{LEVEL_SQL} = ?"), Bind::Str(level.to_string()));
    }
    if let Some(t) = p.get("type") {
        let (sql, value) = type_filter(t)?;
        w.add(sql, Bind::Str(value.to_string()));
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(w: &Where) -> Vec<String> {
        w.binds
            .iter()
            .map(|b| match b {
                Bind::Str(s) => s.clone(),
                Bind::U64(n) => n.to_string(),
            })
            .collect()
    }

    #[test]
    fn score_filters_bind_one_placeholder_per_listed_id() {
        let p = Params::parse(Some("scoreIds=a,%20b&name=n&value=0.5&operator=<>".into()));
        let w = score_filter(&p, "proj").unwrap();
        assert_eq!(
            w.sql,
            [
                "project = ?",
                "name = ?",
                "score_id IN (?, ?)",
                "value != 0.5"
            ]
        );
        assert_eq!(bound(&w), ["proj", "n", "a", "b"]);
        let p = Params::parse(Some("operator=~".into()));
        assert!(score_filter(&p, "proj").is_ok(), "no value: no operator");
        let p = Params::parse(Some("value=1&operator=~".into()));
        assert!(
            score_filter(&p, "proj")
                .err()
                .unwrap()
                .1
                .contains(r#"got "~""#)
        );
    }

    #[test]
    fn query_strings_decode_and_bad_filters_are_named() {
        let p = Params::parse(Some(
            "tags=a&tags=b%20c&name=x+y&limit=500&empty=&bad=%zz".into(),
        ));
        assert_eq!(p.all("tags"), vec!["a", "b c"]);
        assert_eq!(p.get("name"), Some("x y"));
        assert_eq!((p.get("empty"), p.get("bad")), (None, Some("%zz")));
        assert!(
            p.page()
                .err()
                .unwrap()
                .1
                .contains("limit must be at most 100")
        );
        let p = Params::parse(Some("page=0".into()));
        assert!(
            p.page()
                .err()
                .unwrap()
                .1
                .contains("page must be a positive integer")
        );
        let p = Params::parse(Some("fromTimestamp=yesterday".into()));
        assert!(
            p.time("fromTimestamp")
                .err()
                .unwrap()
                .1
                .contains("fromTimestamp")
        );
        let p = Params::parse(Some("orderBy=cost.asc".into()));
        assert!(order_by(&p).err().unwrap().1.contains("orderBy"));
        assert!(type_filter("THING").is_err());
        assert_eq!(iso(1_796_000_401_123_456_789), "2026-11-30T01:00:01.123Z");
    }
}
