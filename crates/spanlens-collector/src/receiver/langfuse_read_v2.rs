//! Langfuse's public read API, current generation (what the current SDKs' API client calls):
//! `GET /api/public/v2/observations` (cursor pages, `fields` groups, filters),
//! `GET /api/public/v3/scores` (cursor pages, `fields` groups, subjects) and
//! `GET /api/public/v2/metrics` (the JSON query object: views, measures, aggregations,
//! dimensions, time granularity). Shapes as Langfuse's API definition; the row reading and
//! filtering helpers are the v1 module's ([`super::langfuse_read`]).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use base64::Engine;
use serde_json::{Map, Value, json};

use super::Ingest;
use super::langfuse_read::{
    Bind, Failure, IS_TRACE_ROW, Ids, LEVEL_SQL, Params, ROW_COLUMNS, Reply, SCORE_COLUMNS,
    TraceDetails, Where, bad, iso, metadata, n, observation_filters, observation_view, ok, opt,
    project, query_json, resolve_parents, s, trace_details, u,
};
use crate::normalize::langfuse::{observation_hex, trace_hex};

/// Largest page of v2 observations / v3 scores (Langfuse's limit).
const MAX_CURSOR_LIMIT: u64 = 1000;
const DEFAULT_LIMIT: u64 = 50;

pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/api/public/v2/observations", get(observations))
        .route("/api/public/v3/scores", get(scores))
        .route("/api/public/v2/metrics", get(metrics))
        .with_state(ingest)
}

fn limit(p: &Params) -> Result<u64, Failure> {
    match p.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_CURSOR_LIMIT).contains(l))
            .ok_or_else(|| bad(format!("limit must be 1 to {MAX_CURSOR_LIMIT}, got {v:?}"))),
    }
}

/// The opaque cursor: the sort key of the last item returned.
fn encode_cursor(ns: u64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([ns, id]).to_string())
}

fn decode_cursor(p: &Params) -> Result<Option<(u64, String)>, Failure> {
    let Some(c) = p.get("cursor") else {
        return Ok(None);
    };
    let invalid = || bad(format!("cursor {c:?} is not a cursor this API returned"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| invalid())?;
    let (ns, id): (u64, String) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    Ok(Some((ns, id)))
}

/// The requested field groups (default: `default`); unknown names are a 400.
fn field_groups<'a>(
    p: &'a Params,
    allowed: &[&str],
    default: &[&'a str],
) -> Result<Vec<&'a str>, Failure> {
    let Some(fields) = p.get("fields") else {
        return Ok(default.to_vec());
    };
    let groups: Vec<&str> = fields.split(',').map(str::trim).collect();
    for g in &groups {
        if !allowed.contains(g) {
            return Err(bad(format!(
                "fields: unknown group {g:?}; allowed: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(groups)
}

// ---- v2 observations ----------------------------------------------------------------------------

const OBSERVATION_GROUPS: [&str; 10] = [
    "core",
    "basic",
    "time",
    "io",
    "metadata",
    "model",
    "usage",
    "prompt",
    "metrics",
    "trace_context",
];

/// The fields of each group, as `ObservationV2` names them.
fn group_fields(group: &str) -> &'static [&'static str] {
    match group {
        "core" => &[
            "id",
            "traceId",
            "startTime",
            "endTime",
            "projectId",
            "parentObservationId",
            "type",
        ],
        "basic" => &[
            "name",
            "level",
            "statusMessage",
            "version",
            "environment",
            "bookmarked",
            "public",
            "userId",
            "sessionId",
            "isRootObservation",
        ],
        "time" => &["completionStartTime", "createdAt", "updatedAt"],
        "io" => &["input", "output"],
        "metadata" => &["metadata"],
        "model" => &["model", "internalModelId", "modelParameters"],
        "usage" => &[
            "usageDetails",
            "costDetails",
            "totalCost",
            "usagePricingTierName",
        ],
        "prompt" => &["promptId", "promptName", "promptVersion"],
        "metrics" => &["latency", "timeToFirstToken"],
        "trace_context" => &["traceName", "tags", "release"],
        _ => &[],
    }
}

async fn observations(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let limit = limit(&p)?;
    let groups = field_groups(&p, &OBSERVATION_GROUPS, &["core", "basic"])?;
    if p.get("filter").is_some() {
        return Err(bad(
            "filter (the JSON filter list) is not supported by Spanlens; use the query parameters",
        ));
    }
    let mut w = observation_filters(&project, &p)?;
    if let Some((ns, span)) = decode_cursor(&p)? {
        w.add(
            "(start_time, span_id) < (fromUnixTimestamp64Nano(toInt64(?)), ?)",
            Bind::U64(ns),
        );
        w.binds.push(Bind::Str(span));
    }
    let mut binds = w.binds;
    binds.push(Bind::U64(limit + 1));
    let mut rows = query_json(
        &ingest,
        &format!(
            "SELECT {ROW_COLUMNS} FROM spans WHERE {} ORDER BY start_time DESC, span_id DESC LIMIT ?",
            w.sql.join(" AND ")
        ),
        &binds,
    )
    .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let parents = resolve_parents(&ingest, &project, &rows).await?;
    // Trace names for the trace_context group: the traces' root rows.
    let names = if groups.contains(&"trace_context") {
        let roots: Vec<Value> = rows
            .iter()
            .map(|r| json!({"trace_id": s(r, "trace_id")}))
            .collect();
        trace_details(&ingest, &project, &roots).await?
    } else {
        Default::default()
    };
    let data: Vec<Value> = rows
        .iter()
        .map(|r| observation_v2(r, &project, &parents, &names, &groups))
        .collect();
    let cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|r| encode_cursor(u(r, "start_ns").unwrap_or(0), s(r, "span_id")));
    ok(json!({"data": data, "meta": {"cursor": cursor}}))
}

/// One observation of the v2 listing: the fields of the requested groups.
fn observation_v2(
    r: &Value,
    project: &str,
    parents: &HashMap<String, Option<String>>,
    traces: &HashMap<String, TraceDetails>,
    groups: &[&str],
) -> Value {
    let view = observation_view(r, parents);
    let trace_name = traces
        .get(s(r, "trace_id"))
        .and_then(|d| d.rows.iter().find(|x| s(x, "parent_span_id").is_empty()))
        .map(|root| opt(s(root, "name")))
        .unwrap_or(Value::Null);
    let full = json!({
        "projectId": project,
        "isRootObservation": view["parentObservationId"].is_null(),
        "bookmarked": false,
        "public": false,
        "userId": opt(s(r, "user_id")),
        "sessionId": opt(s(r, "session_id")),
        "createdAt": view["startTime"],
        "updatedAt": view["endTime"],
        "internalModelId": null,
        "totalCost": n(r, "total_cost"),
        "usagePricingTierName": null,
        "traceName": trace_name,
        "tags": r.get("tags").cloned().unwrap_or(json!([])),
        "release": opt(s(r, "release")),
    });
    let mut out = Map::new();
    for g in groups {
        for f in group_fields(g) {
            let v = view.get(*f).or_else(|| full.get(*f)).cloned();
            out.insert((*f).to_string(), v.unwrap_or(Value::Null));
        }
    }
    Value::Object(out)
}

// ---- v3 scores ----------------------------------------------------------------------------------

async fn scores(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let limit = limit(&p)?;
    let groups = field_groups(&p, &["details", "subject", "annotation"], &[])?;
    let mut w = score_filter(&p, &project)?;
    if let Some((ns, id)) = decode_cursor(&p)? {
        w.add(
            "(timestamp, score_id) < (fromUnixTimestamp64Nano(toInt64(?)), ?)",
            Bind::U64(ns),
        );
        w.binds.push(Bind::Str(id));
    }
    let mut binds = w.binds;
    binds.push(Bind::U64(limit + 1));
    let mut rows = query_json(
        &ingest,
        &format!(
            "SELECT {SCORE_COLUMNS} FROM scores FINAL WHERE {} ORDER BY timestamp DESC, score_id DESC LIMIT ?",
            w.sql.join(" AND ")
        ),
        &binds,
    )
    .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let roots: Vec<Value> = rows
        .iter()
        .filter(|r| !s(r, "trace_id").is_empty())
        .map(|r| json!({"trace_id": s(r, "trace_id")}))
        .collect();
    let details = trace_details(&ingest, &project, &roots).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            let ids = Ids::of(details.get(s(r, "trace_id")));
            score_v3(r, &project, &ids, &groups)
        })
        .collect();
    let cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|r| encode_cursor(u(r, "ts_ns").unwrap_or(0), s(r, "score_id")));
    ok(json!({"data": data, "meta": {"cursor": cursor, "limit": limit}}))
}

/// The v3 scores filters (lists of ids, names, sources and data types; value bounds).
fn score_filter(p: &Params, project: &str) -> Result<Where, Failure> {
    let mut w = Where::new(project);
    w.time(
        "timestamp",
        p.time("fromTimestamp")?,
        p.time("toTimestamp")?,
    );
    for (param, column) in [
        ("id", "score_id"),
        ("name", "name"),
        ("source", "source"),
        ("dataType", "data_type"),
    ] {
        if let Some(v) = p.get(param) {
            w.any_of(column, v.split(',').map(str::trim));
        }
    }
    if let Some(t) = p.get("traceId") {
        w.add("trace_id = ?", Bind::Str(trace_hex(t)));
    }
    if let Some(o) = p.get("observationId") {
        w.add("span_id = ?", Bind::Str(observation_hex(o)));
    }
    if let Some(sid) = p.get("sessionId") {
        w.add("session_id = ?", Bind::Str(sid.to_string()));
    }
    for (param, op) in [("value", "="), ("valueMin", ">="), ("valueMax", "<=")] {
        if let Some(v) = p.get(param) {
            let value: f64 = v
                .parse()
                .map_err(|_| bad(format!("{param} must be a number, got {v:?}")))?;
            w.sql.push(format!("value {op} {value}"));
        }
    }
    Ok(w)
}

fn score_v3(r: &Value, project: &str, ids: &Ids, groups: &[&str]) -> Value {
    let data_type = match s(r, "data_type") {
        "" => "NUMERIC",
        t => t,
    };
    let value = match data_type {
        "CATEGORICAL" => Value::String(s(r, "string_value").to_string()),
        "BOOLEAN" => Value::Bool(n(r, "value") == Some(1.0)),
        _ => n(r, "value").unwrap_or(0.0).into(),
    };
    let ts = iso(u(r, "ts_ns").unwrap_or(0));
    let mut score = json!({
        "id": s(r, "score_id"),
        "projectId": project,
        "name": s(r, "name"),
        "source": match s(r, "source") { "EVAL" => "EVAL", "ANNOTATION" => "ANNOTATION", _ => "API" },
        "timestamp": ts,
        "environment": "default",
        "createdAt": ts,
        "updatedAt": iso(u(r, "updated_ns").unwrap_or(0)),
        "dataType": data_type,
        "value": value,
    });
    let obj = score.as_object_mut().expect("object");
    if groups.contains(&"details") {
        obj.insert("comment".into(), opt(s(r, "comment")));
        obj.insert("configId".into(), Value::Null);
        obj.insert("metadata".into(), metadata(r));
    }
    if groups.contains(&"annotation") {
        obj.insert("authorUserId".into(), Value::Null);
        obj.insert("queueId".into(), Value::Null);
    }
    if groups.contains(&"subject") {
        let trace = ids
            .trace
            .clone()
            .unwrap_or_else(|| s(r, "trace_id").to_string());
        let subject = match (s(r, "span_id"), s(r, "trace_id"), s(r, "session_id")) {
            ("", "", session) => json!({"kind": "session", "id": session}),
            ("", _, _) => json!({"kind": "trace", "id": trace}),
            (span, _, _) => {
                let id = ids
                    .observations
                    .get(span)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| span.to_string());
                json!({"kind": "observation", "id": id, "traceId": trace})
            }
        };
        obj.insert("subject".into(), subject);
    }
    score
}

// ---- v2 metrics ---------------------------------------------------------------------------------

/// One view of the metrics query: its table, time column, and how fields read.
struct View {
    table: &'static str,
    time: &'static str,
    base: String,
    dimension: fn(&str) -> Option<&'static str>,
    measure: fn(&str) -> Option<&'static str>,
}

fn observation_dimension(field: &str) -> Option<&'static str> {
    Some(match field {
        "environment" => "if(environment = '', 'default', environment)",
        "type" => {
            "multiIf(span_attributes['langfuse.observation.type'] = 'event', 'EVENT', \
             observation_type = 'llm', 'GENERATION', observation_type = 'retrieval', 'RETRIEVER', \
             upper(observation_type))"
        }
        "name" => "name",
        "level" => LEVEL_SQL,
        "version" => "span_attributes['langfuse.version']",
        "release" | "traceRelease" => "release",
        "traceVersion" => "span_attributes['langfuse.version']",
        "providedModelName" => "if(response_model != '', response_model, request_model)",
        "promptName" => "prompt_name",
        "promptVersion" => "prompt_version",
        "startTimeMonth" => "formatDateTime(start_time, '%Y-%m')",
        "userId" => "user_id",
        "sessionId" => "session_id",
        "traceId" => "trace_id",
        _ => return None,
    })
}

fn observation_measure(measure: &str) -> Option<&'static str> {
    Some(match measure {
        "count" => "1",
        "latency" => "duration_ns / 1e6",
        "streamingLatency" => {
            "if(time_to_first_token_ns IS NULL, NULL, (duration_ns - time_to_first_token_ns) / 1e6)"
        }
        "inputTokens" => "input_tokens",
        "outputTokens" => "output_tokens",
        "totalTokens" => "total_tokens",
        "outputTokensPerSecond" => "if(duration_ns = 0, NULL, output_tokens / (duration_ns / 1e9))",
        "tokensPerSecond" => "if(duration_ns = 0, NULL, total_tokens / (duration_ns / 1e9))",
        "inputCost" => "input_cost",
        "outputCost" => "output_cost",
        "totalCost" => "total_cost",
        "timeToFirstToken" => "time_to_first_token_ns / 1e6",
        _ => return None,
    })
}

fn score_dimension(field: &str) -> Option<&'static str> {
    Some(match field {
        "environment" => "'default'",
        "name" => "name",
        "source" => "source",
        "dataType" => "data_type",
        "value" => "value",
        "stringValue" => "string_value",
        "booleanValue" => "value = 1",
        "timestampMonth" => "formatDateTime(timestamp, '%Y-%m')",
        "timestampDay" => "formatDateTime(timestamp, '%Y-%m-%d')",
        "traceId" => "trace_id",
        "sessionId" => "session_id",
        _ => return None,
    })
}

fn score_measure(measure: &str) -> Option<&'static str> {
    Some(match measure {
        "count" => "1",
        "value" => "value",
        _ => return None,
    })
}

/// Dimensions Langfuse refuses to group by (filter on them instead).
const HIGH_CARDINALITY: [&str; 6] = [
    "id",
    "traceId",
    "userId",
    "sessionId",
    "parentObservationId",
    "observationId",
];

fn aggregate(agg: &str, expr: &str) -> Result<String, Failure> {
    let quantile = |q: &str| format!("quantile({q})({expr})");
    Ok(match agg {
        "count" => "count()".to_string(),
        "sum" => format!("sum(ifNull({expr}, 0))"),
        "avg" => format!("avg({expr})"),
        "max" => format!("max({expr})"),
        "min" => format!("min({expr})"),
        "p50" => quantile("0.5"),
        "p75" => quantile("0.75"),
        "p90" => quantile("0.9"),
        "p95" => quantile("0.95"),
        "p99" => quantile("0.99"),
        other => {
            return Err(bad(format!(
                "metrics: aggregation {other:?} is not supported; use sum, avg, count, max, min, p50, p75, p90, p95 or p99"
            )));
        }
    })
}

fn granularity(g: &str, from: u64, to: u64) -> Result<&'static str, Failure> {
    let g = if g == "auto" {
        // About 50 buckets over the range: the coarsest granularity whose buckets are at most
        // five times the ideal step.
        let step = (to.saturating_sub(from)) / 50 / 1_000_000_000;
        match step {
            0..=300 => "minute",
            301..=18_000 => "hour",
            18_001..=432_000 => "day",
            432_001..=1_814_400 => "week",
            _ => "month",
        }
    } else {
        g
    };
    Ok(match g {
        "minute" => "toStartOfMinute",
        "hour" => "toStartOfHour",
        "day" => "toStartOfDay",
        "week" => "toMonday",
        "month" => "toStartOfMonth",
        other => {
            return Err(bad(format!(
                "timeDimension.granularity must be auto, minute, hour, day, week or month, got {other:?}"
            )));
        }
    })
}

async fn metrics(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let project = project(&ingest, &headers)?;
    let p = Params::parse(raw);
    let text = p.get("query").ok_or_else(|| bad("query is required"))?;
    let q: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("query is not valid JSON: {e}")))?;
    let (sql, w) = metrics_sql(&q, &project)?;
    let data = query_json(&ingest, &sql, &w.binds).await?;
    ok(json!({"data": data}))
}

/// The SQL of a metrics `query` and the WHERE clause whose values it binds.
fn metrics_sql(q: &Value, project: &str) -> Result<(String, Where), Failure> {
    let view = metrics_view(q["view"].as_str())?;
    let (from, to) = (
        query_time(q, "fromTimestamp")?,
        query_time(q, "toTimestamp")?,
    );
    if to <= from {
        return Err(bad("query.toTimestamp must be after query.fromTimestamp"));
    }
    let mut w = Where::new(project);
    w.raw(&view.base);
    w.time(view.time, Some(from), Some(to));
    for f in q["filters"].as_array().into_iter().flatten() {
        filter(&mut w, f, &view)?;
    }

    let mut select = Vec::new();
    let group = dimensions(q, &view, (from, to), &mut select)?;
    let aliases = measures(q, &view, &mut select)?;
    let order = order_by(q, &group, &aliases)?;
    let row_limit = q["config"]["row_limit"].as_u64().unwrap_or(100);
    if !(1..=1000).contains(&row_limit) {
        return Err(bad("query.config.row_limit must be 1 to 1000"));
    }
    let clause = |keyword: &str, items: &[String]| {
        if items.is_empty() {
            String::new()
        } else {
            format!(" {keyword} {}", items.join(", "))
        }
    };
    let sql = format!(
        "SELECT {} FROM {} WHERE {}{}{} LIMIT {row_limit}",
        select.join(", "),
        view.table,
        w.sql.join(" AND "),
        clause("GROUP BY", &group),
        clause("ORDER BY", &order),
    );
    Ok((sql, w))
}

fn metrics_view(view: Option<&str>) -> Result<View, Failure> {
    Ok(match view {
        Some("observations") => View {
            table: "spans",
            time: "start_time",
            base: format!("NOT {IS_TRACE_ROW}"),
            dimension: observation_dimension,
            measure: observation_measure,
        },
        Some(v @ ("scores-numeric" | "scores-boolean" | "scores-categorical")) => View {
            table: "scores FINAL",
            time: "timestamp",
            base: match v {
                "scores-numeric" => "data_type IN ('NUMERIC', 'BOOLEAN')".into(),
                "scores-boolean" => "data_type = 'BOOLEAN'".into(),
                _ => "data_type = 'CATEGORICAL'".into(),
            },
            dimension: score_dimension,
            measure: score_measure,
        },
        other => {
            return Err(bad(format!(
                "query.view must be observations, scores-numeric, scores-boolean or scores-categorical, got {other:?}"
            )));
        }
    })
}

fn query_time(q: &Value, key: &str) -> Result<u64, Failure> {
    let t = q[key]
        .as_str()
        .ok_or_else(|| bad(format!("query.{key} is required")))?;
    crate::normalize::parse_rfc3339_nanos(t)
        .ok_or_else(|| bad(format!("query.{key} {t:?} is not an ISO 8601 date-time")))
}

/// `dimensions` and `timeDimension`: their select expressions; returns the GROUP BY list.
fn dimensions(
    q: &Value,
    view: &View,
    (from, to): (u64, u64),
    select: &mut Vec<String>,
) -> Result<Vec<String>, Failure> {
    let mut group = Vec::new();
    for d in q["dimensions"].as_array().into_iter().flatten() {
        let field = d["field"]
            .as_str()
            .ok_or_else(|| bad("query.dimensions[].field is required"))?;
        if HIGH_CARDINALITY.contains(&field) {
            return Err(bad(format!(
                "dimension {field:?} is high cardinality and cannot be grouped by; filter on it instead"
            )));
        }
        let expr = (view.dimension)(field)
            .ok_or_else(|| bad(format!("query.dimensions: unknown field {field:?}")))?;
        select.push(format!("{expr} AS `{field}`"));
        group.push(format!("`{field}`"));
    }
    if let Some(g) = q["timeDimension"]["granularity"].as_str() {
        let f = granularity(g, from, to)?;
        select.push(format!(
            "formatDateTime({f}({}), '%Y-%m-%dT%H:%i:%S.000Z', 'UTC') AS time_dimension",
            view.time
        ));
        group.push("time_dimension".into());
    }
    Ok(group)
}

/// `metrics` (measure + aggregation): their select expressions; returns their aliases.
fn measures(q: &Value, view: &View, select: &mut Vec<String>) -> Result<Vec<String>, Failure> {
    let metrics = q["metrics"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("query.metrics: at least one metric is required"))?;
    let mut aliases = Vec::new();
    for m in metrics {
        let measure = m["measure"]
            .as_str()
            .ok_or_else(|| bad("query.metrics[].measure is required"))?;
        let agg = m["aggregation"]
            .as_str()
            .ok_or_else(|| bad("query.metrics[].aggregation is required"))?;
        let expr = (view.measure)(measure)
            .ok_or_else(|| bad(format!("query.metrics: unknown measure {measure:?}")))?;
        let alias = format!("{agg}_{measure}");
        select.push(format!("{} AS `{alias}`", aggregate(agg, expr)?));
        aliases.push(alias);
    }
    Ok(aliases)
}

/// `orderBy` on the query's dimensions and metrics; by default the time dimension, ascending.
fn order_by(q: &Value, group: &[String], aliases: &[String]) -> Result<Vec<String>, Failure> {
    let mut order = Vec::new();
    for o in q["orderBy"].as_array().into_iter().flatten() {
        let field = o["field"].as_str().unwrap_or("");
        let known = group.iter().any(|g| g.trim_matches('`') == field)
            || aliases.iter().any(|a| a == field);
        if !known {
            return Err(bad(format!(
                "query.orderBy: {field:?} is neither a dimension nor a metric of the query"
            )));
        }
        let dir = match o["direction"].as_str() {
            Some("asc") => "ASC",
            Some("desc") | None => "DESC",
            Some(other) => return Err(bad(format!("query.orderBy direction {other:?}"))),
        };
        order.push(format!("`{field}` {dir}"));
    }
    if order.is_empty() && group.iter().any(|g| g == "time_dimension") {
        order.push("time_dimension ASC".into());
    }
    Ok(order)
}

/// One filter of the metrics query, on a dimension field (or a high-cardinality id).
fn filter(w: &mut Where, f: &Value, view: &View) -> Result<(), Failure> {
    let column = f["column"]
        .as_str()
        .ok_or_else(|| bad("query.filters[].column is required"))?;
    let expr = (view.dimension)(column)
        .ok_or_else(|| bad(format!("query.filters: unknown column {column:?}")))?;
    let op = f["operator"].as_str().unwrap_or("");
    let value = &f["value"];
    // Trace ids are compared as stored (a Langfuse id maps to its hex id).
    let text = |v: &Value| {
        let t = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if column == "traceId" {
            trace_hex(&t)
        } else {
            t
        }
    };
    match (f["type"].as_str().unwrap_or("string"), op) {
        ("string" | "number" | "boolean", "=" | "<>" | "!=" | ">" | "<" | ">=" | "<=") => {
            let op = if op == "<>" { "!=" } else { op };
            w.add(&format!("toString({expr}) {op} ?"), Bind::Str(text(value)));
            if matches!(op, ">" | "<" | ">=" | "<=") {
                // Numeric comparison: compare as numbers, not text.
                w.sql.pop();
                w.binds.pop();
                let n: f64 = value
                    .as_f64()
                    .ok_or_else(|| bad(format!("query.filters: {column} needs a number")))?;
                w.sql.push(format!("toFloat64({expr}) {op} {n}"));
            }
        }
        ("string", "contains") => {
            w.add(&format!("position({expr}, ?) > 0"), Bind::Str(text(value)))
        }
        ("string", "does not contain") => {
            w.add(&format!("position({expr}, ?) = 0"), Bind::Str(text(value)))
        }
        ("string", "starts with") => {
            w.add(&format!("startsWith({expr}, ?)"), Bind::Str(text(value)))
        }
        ("string", "ends with") => w.add(&format!("endsWith({expr}, ?)"), Bind::Str(text(value))),
        ("stringOptions" | "categoryOptions", "any of" | "none of") => {
            let items: Vec<String> = value
                .as_array()
                .ok_or_else(|| bad(format!("query.filters: {column} needs a list")))?
                .iter()
                .map(text)
                .collect();
            let not = if op == "none of" { "NOT " } else { "" };
            w.sql.push(format!(
                "{not}toString({expr}) IN ({})",
                vec!["?"; items.len().max(1)].join(", ")
            ));
            if items.is_empty() {
                w.binds.push(Bind::Str(String::new()));
            }
            w.binds.extend(items.into_iter().map(Bind::Str));
        }
        (t, op) => {
            return Err(bad(format!(
                "query.filters: type {t:?} with operator {op:?} is not supported on {column:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_score_filters_take_lists_and_bounds() {
        let p = Params::parse(Some(
            "name=a,b&dataType=NUMERIC&valueMin=1&sessionId=s".into(),
        ));
        let w = score_filter(&p, "proj").unwrap();
        assert_eq!(
            w.sql,
            [
                "project = ?",
                "name IN (?, ?)",
                "data_type IN (?)",
                "session_id = ?",
                "value >= 1"
            ]
        );
        assert_eq!(w.binds.len(), 5);
        let p = Params::parse(Some("valueMax=x".into()));
        assert!(
            score_filter(&p, "proj")
                .err()
                .unwrap()
                .1
                .contains("valueMax")
        );
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = encode_cursor(42, "abc");
        let p = Params::parse(Some(format!("cursor={c}")));
        assert_eq!(decode_cursor(&p).unwrap(), Some((42, "abc".to_string())));
        let p = Params::parse(Some("cursor=nope".into()));
        assert!(decode_cursor(&p).is_err());
        let p = Params::parse(Some("fields=core,nonsense".into()));
        assert!(
            field_groups(&p, &OBSERVATION_GROUPS, &[])
                .err()
                .unwrap()
                .1
                .contains("nonsense")
        );
        assert!(aggregate("histogram", "x").is_err());
        assert_eq!(aggregate("p95", "x").unwrap(), "quantile(0.95)(x)");
        assert!(granularity("fortnight", 0, 1).is_err());
        assert_eq!(
            granularity("auto", 0, 3_600 * 1_000_000_000).unwrap(),
            "toStartOfMinute"
        );
    }
}
