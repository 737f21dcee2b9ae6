#!/usr/bin/env python3
"""Writes the bundled Grafana dashboards (dashboards/*.json) from one description.

    python3 dashboards/generate.py          # rewrite the JSON files
    python3 dashboards/generate.py --check  # exit 1 when a JSON file differs from this script

Every query uses the grafana-clickhouse-datasource (v4) SQL-editor query model: editorType
"sql", rawSql, format (0 time series, 1 table, 3 traces) and queryType. Filters go through the
plugin's `$__conditionalAll(cond, $var)` so that "All" costs nothing, time through
`$__timeFilter(col)` / `$__timeInterval(col)`. A no-argument macro ($__fromTime, $__toTime,
$__interval_s) is always followed by `)`: the plugin's backend takes the next parenthesis pair
after a macro name as its arguments, so `$__toTime AND f(x)` would swallow `AND f(x)`.

Tables: `spans_1h` + `spans_1m` (hourly and per-minute rollups, schemas/0004-0005, whole hours
from the first, edges from the second) for everything that aggregates over a range; `spans` for lists of traces, per-user and per-session breakdowns and one trace's
details; `scores FINAL` (a re-sent score replaces the old one); `otel_traces` /
`otel_traces_trace_id_ts` (schemas/0003) for the plugin's trace view.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "grafana-clickhouse-datasource", "uid": "${datasource}"}
PLUGIN_VERSION = "4.10.1"
MODEL = "if(request_model = '', response_model, request_model)"
SCHEMA_VERSION = 39


# ---- filters --------------------------------------------------------------------------------------

def cond(expr, var):
    return f"$__conditionalAll({expr} IN (${var}), ${var})"


ROLLUP_COLUMNS = ("project, service_name, environment, provider, model, observation_type, spans, errors, "
                  "input_tokens, output_tokens, total_tokens, cached_tokens, cache_creation_tokens, reasoning_tokens, known_cost, "
                  "costed_spans, "
                  "duration_ns, generating_ns, streamed_spans, latency_ns, ttft_ns")


def rollup(obs_type=True, series=False, extra=""):
    """The rollup rows of the range as one subquery with time column `ts`: whole hours inside
    the range from spans_1h, the partial hours at its edges from spans_1m (so every number is
    exactly spans_1m's). A time series uses spans_1h only when its bucket is a whole number of
    hours ($__interval_s % 3600 = 0), else spans_1m alone."""
    full_from = "toStartOfHour(($__fromTime) + INTERVAL 3599 SECOND)"
    full_to = "toStartOfHour(($__toTime) - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR"
    if series:
        full_from = f"if(($__interval_s) % 3600 = 0, {full_from}, toDateTime(0))"
        full_to = f"if(($__interval_s) % 3600 = 0, {full_to}, toDateTime(0))"
    dims = [
        cond("project", "project"),
        cond("service_name", "service"),
        cond("environment", "environment"),
        cond("provider", "provider"),
        cond("model", "model"),
    ]
    if obs_type:
        dims.append(cond("observation_type", "observation_type"))
    if extra:
        dims.append(extra)
    d = "\n      AND ".join(dims)
    return f"""
(
    SELECT hour AS ts, {ROLLUP_COLUMNS}
    FROM spans_1h
    WHERE hour >= {full_from}
      AND hour < {full_to}
      AND {d}
    UNION ALL
    SELECT minute AS ts, {ROLLUP_COLUMNS}
    FROM spans_1m
    WHERE $__timeFilter(minute)
      AND (minute < {full_from} OR minute >= {full_to})
      AND {d}
)""".strip()


def usage(extra=""):
    """LLM / embedding usage rows of the range with user and session: whole hours from
    usage_1h, the partial hours at the edges from spans. Like rollup(), a call counts when the
    minute it started in is within the range."""
    full_from = "toStartOfHour(($__fromTime) + INTERVAL 3599 SECOND)"
    full_to = "toStartOfHour(($__toTime) - INTERVAL 59 MINUTE) + INTERVAL 1 HOUR"
    dims = [cond("project", "project"), cond("service_name", "service"), cond("environment", "environment"),
            cond("provider", "provider")]
    rollup_dims = "\n      AND ".join(dims + [cond("model", "model")] + ([extra] if extra else []))
    span_dims = "\n      AND ".join(dims + [cond(MODEL, "model")] + ([extra] if extra else []))
    return f"""
(
    SELECT user_id, session_id, calls AS n_calls, total_tokens AS n_tokens, known_cost,
        costed_calls AS n_costed, first_call AS first_at
    FROM usage_1h
    WHERE hour >= {full_from}
      AND hour < {full_to}
      AND {rollup_dims}
    UNION ALL
    SELECT user_id, session_id, toUInt64(1) AS n_calls,
        coalesce(total_tokens, ifNull(input_tokens, 0) + ifNull(output_tokens, 0)) AS n_tokens,
        ifNull(total_cost, 0) AS known_cost, toUInt64(total_cost IS NOT NULL) AS n_costed,
        start_time AS first_at
    FROM spans
    WHERE $__timeFilter(toStartOfMinute(start_time))
      AND (start_time < {full_from} OR start_time >= {full_to})
      AND observation_type IN ('llm', 'embedding')
      AND {span_dims}
)""".strip()


def spans_filter(col_prefix="", model=True, obs_type=False, extra=""):
    p = col_prefix
    parts = [
        f"$__timeFilter({p}start_time)",
        cond(f"{p}project", "project"),
        cond(f"{p}service_name", "service"),
        cond(f"{p}environment", "environment"),
    ]
    if model:
        parts.append(cond(f"{p}provider", "provider"))
        parts.append(cond(MODEL.replace("request_model", p + "request_model").replace("response_model", p + "response_model"), "model"))
    if obs_type:
        parts.append(cond(f"{p}observation_type", "observation_type"))
    if extra:
        parts.append(extra)
    return "\n  AND ".join(parts)


def trace_has_llm_call_filter():
    """Traces (root spans) filtered by provider / model: the trace has a matching LLM call, found
    through llm_calls' hashed trace ids. Each semi-join only runs when its variable is not All."""
    return "\n  AND ".join(
        f"$__conditionalAll(cityHash64(trace_id) IN (SELECT trace_hash FROM llm_calls WHERE $__timeFilter(start_time) "
        f"AND {col} IN (${var})), ${var})"
        for col, var in (("provider", "provider"), ("model", "model")))


def scores_filter():
    """Scores by project / name / source directly; by service / environment / provider / model
    through the LLM calls of the scored trace (llm_calls; one semi-join per variable, skipped on
    All). Calls are looked up from a day before the range: a score usually follows its trace."""
    def via_calls(expr, var):
        return (f"$__conditionalAll(cityHash64(trace_id) IN (SELECT trace_hash FROM llm_calls "
                f"WHERE start_time >= ($__fromTime - INTERVAL 1 DAY) AND start_time <= ($__toTime) "
                f"AND {expr} IN (${var})), ${var})")
    return "\n  AND ".join([
        "$__timeFilter(timestamp)",
        cond("project", "project"),
        cond("name", "score_name"),
        cond("source", "source"),
        via_calls("service_name", "service"),
        via_calls("environment", "environment"),
        via_calls("provider", "provider"),
        via_calls("model", "model"),
    ])


Q = "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)"


# ---- panels ---------------------------------------------------------------------------------------

def target(sql, fmt, ref="A"):
    query_type = {0: "timeseries", 1: "table", 2: "logs", 3: "traces"}[fmt]
    return {"datasource": DS, "editorType": "sql", "format": fmt, "pluginVersion": PLUGIN_VERSION,
            "queryType": query_type, "rawSql": sql.strip(), "refId": ref}


def panel(kind, title, sql, fmt, w, h, description="", unit=None, decimals=None, interval=None,
          options=None, overrides=None, custom=None, transformations=None, links=None, extra=None):
    defaults = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if custom:
        defaults["custom"] = custom
    if links:
        defaults["links"] = links
    p = {"type": kind, "title": title, "description": description, "datasource": DS,
         "gridPos": {"w": w, "h": h}, "targets": [target(sql, fmt)],
         "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
         "options": options or {}}
    if interval:
        p["interval"] = interval
    if transformations:
        p["transformations"] = transformations
    if extra:
        p.update(extra)
    return p


def stat(title, sql, unit=None, decimals=None, description=""):
    return panel("stat", title, sql, 1, 4, 4, description, unit, decimals,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "value", "graphMode": "none", "textMode": "value"})


def timeseries(title, sql, unit=None, w=12, h=8, description="", stack=False, series_by=None,
               interval="1m", draw="line"):
    custom = {"drawStyle": draw, "lineWidth": 1, "fillOpacity": 10 if not stack else 60,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    overrides = []
    defaults_display = None
    if series_by:
        defaults_display = "${__field.labels." + series_by + "}"
    # 200 points: a 7-day range gets 1-hour buckets (spans_1h), a day 5-minute ones.
    p = panel("timeseries", title, sql, 0, w, h, description, unit, interval=interval, custom=custom,
              extra={"maxDataPoints": 200},
              options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                       "tooltip": {"mode": "multi", "sort": "desc"}},
              overrides=overrides)
    if defaults_display:
        p["fieldConfig"]["defaults"]["displayName"] = defaults_display
    return p


def table(title, sql, w=24, h=8, description="", overrides=None, sort=None, links=None,
          transformations=None):
    opts = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    if sort:
        opts["sortBy"] = [{"displayName": sort[0], "desc": sort[1]}]
    return panel("table", title, sql, 1, w, h, description, options=opts, overrides=overrides,
                 custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": True},
                 transformations=transformations, links=links)


def unit_override(name, unit, decimals=None):
    props = [{"id": "unit", "value": unit}]
    if decimals is not None:
        props.append({"id": "decimals", "value": decimals})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def width_override(name, width):
    return {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "custom.width", "value": width}]}


TRACE_EXPLORER = "/d/spanlens-traces/spanlens-trace-explorer"


def open_trace_link_override(column, trace_field="trace_id"):
    """A data link from every row to the trace explorer with that trace selected. The plugin
    itself adds "View trace" (Explore, OTel trace view) to any trace_id column."""
    url = (TRACE_EXPLORER + "?${__url_time_range}&${project:queryparam}&var-trace_id=${__data.fields."
           + trace_field + "}")
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": "links", "value": [{"title": "Open trace in Spanlens trace explorer",
                                                      "url": url}]}]}


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"w": 24, "h": 1}, "panels": []}


# ---- variables ------------------------------------------------------------------------------------

def datasource_var():
    return {"type": "datasource", "name": "datasource", "label": "Data source",
            "query": "grafana-clickhouse-datasource", "refresh": 1, "regex": "", "hide": 0,
            "current": {"selected": False, "text": "Spanlens ClickHouse", "value": "spanlens-clickhouse"}}


def query_var(name, label, sql, default_all=True, current=None, all_value=None):
    v = {"type": "query", "name": name, "label": label, "datasource": DS,
         "query": sql.strip(), "definition": sql.strip(), "refresh": 2, "sort": 1,
         "multi": True, "includeAll": True, "hide": 0, "regex": "", "options": [],
         "current": current or {"selected": True, "text": ["All"], "value": ["$__all"]}}
    if all_value:
        v["allValue"] = all_value
    return v


def textbox_var(name, label, description=""):
    return {"type": "textbox", "name": name, "label": label, "description": description, "query": "",
            "hide": 0, "current": {"selected": False, "text": "", "value": ""}, "options": []}


def rollup_dim_var(name, label, column, depends=(), extra_where=""):
    where = ["$__timeFilter(minute)"] + [cond(c, v) for c, v in depends]
    if extra_where:
        where.append(extra_where)
    sql = f"SELECT DISTINCT {column} FROM spans_1m WHERE " + "\n  AND ".join(where) + f"\nORDER BY {column}"
    return query_var(name, label, sql)


def common_vars(observation_type=False):
    out = [
        datasource_var(),
        rollup_dim_var("project", "Project", "project"),
        rollup_dim_var("service", "Service", "service_name", [("project", "project")]),
        rollup_dim_var("environment", "Environment", "environment", [("project", "project"), ("service_name", "service")]),
        rollup_dim_var("provider", "Provider", "provider", [("project", "project")], "provider != ''"),
        rollup_dim_var("model", "Model", "model", [("project", "project"), ("provider", "provider")], "model != ''"),
    ]
    if observation_type:
        v = rollup_dim_var("observation_type", "Observation type", "observation_type", [("project", "project")])
        v["current"] = {"selected": True, "text": ["llm"], "value": ["llm"]}
        v["description"] = "llm = LLM calls (chat / completion); All = every span"
        out.append(v)
    return out


# ---- dashboards -----------------------------------------------------------------------------------

def overview():
    OBS = True
    latency_by_model_q = f"""
SELECT
    model,
    any(provider) AS provider,
    sum(spans) AS calls,
    sum(errors) / sum(spans) AS error_rate,
    {Q}(latency_ns) AS q,
    {Q}(ttft_ns) AS t,
    q[1] / 1e6 AS p50_ms,
    q[3] / 1e6 AS p95_ms,
    q[4] / 1e6 AS p99_ms,
    if(isNaN(t[1]), NULL, t[1] / 1e6) AS ttft_p50_ms,
    if(isNaN(t[3]), NULL, t[3] / 1e6) AS ttft_p95_ms,
    sum(output_tokens) / nullIf(sum(generating_ns) / 1e9, 0) AS output_tokens_per_s
FROM {rollup(OBS, extra="model != ''")}
GROUP BY model
ORDER BY calls DESC
"""
    slowest_roots = f"""
    SELECT trace_id
    FROM spans
    WHERE {spans_filter(model=False)}
      AND parent_span_id = ''
      AND {trace_has_llm_call_filter()}
    ORDER BY duration_ns DESC
    LIMIT 25"""
    slowest = f"""
SELECT
    min(start_time) AS time,
    trace_id,
    argMinIf(name, start_time, parent_span_id = '') AS trace_name,
    argMinIf(service_name, start_time, parent_span_id = '') AS service,
    maxIf(duration_ns, parent_span_id = '') / 1e6 AS duration_ms,
    argMinIf(status_code, start_time, parent_span_id = '') AS status,
    count() AS spans,
    countIf(observation_type = 'llm') AS llm_calls,
    sum(ifNull(total_tokens, 0)) AS tokens,
    sum(total_cost) AS cost,
    any(user_id) AS user,
    any(session_id) AS session
FROM spans
WHERE $__timeFilter(start_time)
  AND trace_id IN ({slowest_roots}
  )
GROUP BY trace_id
ORDER BY duration_ms DESC
"""
    panels = [
        row("Traffic"),
        stat("Calls", f"SELECT sum(spans) AS calls FROM {rollup(OBS)}", "short",
             description="Spans of the selected observation types (default: LLM calls)."),
        stat("Error rate", f"SELECT sum(errors) / sum(spans) AS error_rate FROM {rollup(OBS)}", "percentunit", 2),
        stat("Latency p95", f"SELECT {Q}(latency_ns)[3] / 1e6 AS p95_ms FROM {rollup(OBS)}", "ms", 0),
        stat("Time to first token p50", f"SELECT {Q}(ttft_ns)[1] / 1e6 AS ttft_p50_ms FROM {rollup(OBS)}", "ms", 0,
             "Streaming calls that report a time to first token."),
        stat("Tokens / s", f"SELECT sum(total_tokens) / (toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime)) AS tokens_per_s FROM {rollup(OBS)}",
             "short", 1, "Input + output tokens per second over the whole range."),
        stat("Cost", f"SELECT sum(known_cost) AS cost FROM {rollup(OBS)}", "currencyUSD", 2),
        timeseries("Requests and errors", f"""
SELECT $__timeInterval(ts) AS time, sum(spans) AS requests, sum(errors) AS errors
FROM {rollup(OBS, series=True)}
GROUP BY time
ORDER BY time
""", "short"),
        timeseries("Error rate", f"""
SELECT $__timeInterval(ts) AS time, sum(errors) / sum(spans) AS error_rate
FROM {rollup(OBS, series=True)}
GROUP BY time
ORDER BY time
""", "percentunit"),
        row("Latency"),
        timeseries("Latency p50 / p95 / p99", f"""
SELECT time, q[1] / 1e6 AS p50, q[3] / 1e6 AS p95, q[4] / 1e6 AS p99
FROM
(
    SELECT $__timeInterval(ts) AS time, {Q}(latency_ns) AS q
    FROM {rollup(OBS, series=True)}
    GROUP BY time
)
ORDER BY time
""", "ms", w=8),
        timeseries("Latency p95 by model", f"""
SELECT $__timeInterval(ts) AS time, model, {Q}(latency_ns)[3] / 1e6 AS p95
FROM {rollup(OBS, series=True, extra="model != ''")}
GROUP BY time, model
ORDER BY time
""", "ms", w=8, series_by="model"),
        timeseries("Time to first token p95 by model", f"""
SELECT $__timeInterval(ts) AS time, model, {Q}(ttft_ns)[3] / 1e6 AS ttft_p95
FROM {rollup(OBS, series=True, extra="model != ''")}
GROUP BY time, model
HAVING NOT isNaN(ttft_p95)
ORDER BY time
""", "ms", w=8, series_by="model"),
        table("Latency and time to first token by model", latency_by_model_q, w=24, h=8,
              overrides=[unit_override("error_rate", "percentunit", 2), unit_override("p50_ms", "ms", 0),
                         unit_override("p95_ms", "ms", 0), unit_override("p99_ms", "ms", 0),
                         unit_override("ttft_p50_ms", "ms", 0), unit_override("ttft_p95_ms", "ms", 0),
                         unit_override("output_tokens_per_s", "short", 1),
                         {"matcher": {"id": "byRegexp", "options": "^(q|t)$"},
                          "properties": [{"id": "custom.hidden", "value": True}]}],
              sort=("calls", True)),
        row("Throughput"),
        timeseries("Throughput (tokens / s)", f"""
SELECT
    $__timeInterval(ts) AS time,
    sum(input_tokens) / ($__interval_s) AS input,
    sum(output_tokens) / ($__interval_s) AS output
FROM {rollup(OBS, series=True)}
GROUP BY time
ORDER BY time
""", "short", stack=True),
        timeseries("Output tokens / s of generation by model", f"""
SELECT $__timeInterval(ts) AS time, model, sum(output_tokens) / (sum(generating_ns) / 1e9) AS tokens_per_s
FROM {rollup(OBS, series=True, extra="model != '' AND generating_ns > 0")}
GROUP BY time, model
ORDER BY time
""", "short", series_by="model",
                   description="Output tokens divided by the duration of the calls that produced them."),
        row("Slowest traces"),
        table("Slowest traces", slowest, h=10,
              description="Root spans with the longest duration (provider / model: traces with a matching LLM call). "
                          "trace_id opens the plugin's trace view in Explore; trace_name opens the Spanlens trace explorer.",
              overrides=[unit_override("duration_ms", "ms", 0), unit_override("cost", "currencyUSD", 4),
                         open_trace_link_override("trace_name")]),
    ]
    return dashboard("spanlens-overview", "Spanlens / Overview", "Requests, errors, latency, time to first token and throughput of LLM calls.",
                     common_vars(observation_type=True), panels)


def quality():
    F = scores_filter()
    negative = ("(data_type = 'BOOLEAN' AND value = 0) OR (data_type = 'NUMERIC' AND value < 0) OR "
                "(data_type = 'CATEGORICAL' AND lower(string_value) IN ('negative', 'thumbs_down', 'thumbs-down', 'bad', 'no', 'incorrect'))")
    feedback = "source IN ('API', 'ANNOTATION')"

    def by_attr(attrs):
        """Mean score per LLM-call attribute (llm_calls): a score on an LLM call's span counts for
        that call, any other score for the first LLM call of its trace. Above 50,000 scores in
        the range the join runs on a deterministic 1-in-k sample of traces (k a power of two,
        trace-hash range: prunes llm_calls by its sort key); `scores` is then scaled by k."""
        group = ", ".join(attrs)
        tuple_ = ", ".join(f"c.{a}" for a in attrs)
        picks = ", ".join(f"call.{i + 1} AS {a}" for i, a in enumerate(attrs))
        return f"""
WITH
    (SELECT count() FROM scores WHERE $__timeFilter(timestamp) AND {cond('project', 'project')}) AS in_range,
    toUInt64(pow(2, greatest(0, ceil(log2(in_range / 50000))))) AS k,
    intDiv(18446744073709551615, k) AS max_trace_hash
SELECT {picks}, score, count() * k AS scores, avg(value) AS mean, k AS sampled_1_in
FROM
(
    SELECT
        s.sid AS sid,
        any(s.name) AS score,
        any(s.value) AS value,
        argMin(tuple({tuple_}), (c.span_hash != s.span_hash, c.start_time)) AS call
    FROM llm_calls AS c
    INNER JOIN
    (
        SELECT
            cityHash64(project, score_id) AS sid,
            cityHash64(trace_id) AS trace_hash,
            if(span_id = '', toUInt64(0), cityHash64(span_id)) AS span_hash,
            name,
            value
        FROM scores FINAL
        WHERE {F}
          AND value IS NOT NULL
          AND cityHash64(trace_id) <= max_trace_hash
    ) AS s ON c.trace_hash = s.trace_hash
    WHERE c.start_time >= ($__fromTime - INTERVAL 1 DAY)
      AND c.start_time <= ($__toTime)
      AND c.trace_hash <= max_trace_hash
      AND {cond('c.project', 'project')}
    GROUP BY sid
)
GROUP BY {group}, score
ORDER BY {group}, score
"""

    by_prompt = by_attr(["prompt_name", "prompt_version"])
    by_model = by_attr(["model"])
    # The 10 lowest values of each name first (cheap, numbers only), then the rows with them.
    worst_scores = f"""
        SELECT timestamp, name, value, comment, trace_id
        FROM scores FINAL
        WHERE {F.replace(chr(10), chr(10) + '        ')}
          AND value IS NOT NULL
          AND (name, value) IN (
            SELECT name, arrayJoin(groupArraySorted(10)(value))
            FROM scores FINAL
            WHERE {F.replace(chr(10), chr(10) + '            ')}
              AND value IS NOT NULL
            GROUP BY name)
        ORDER BY value ASC, timestamp DESC
        LIMIT 10 BY name"""
    worst = f"""
SELECT
    s.timestamp AS time,
    s.name AS score,
    s.value AS value,
    s.comment AS comment,
    s.trace_id AS trace_id,
    r.name AS trace_name,
    r.input AS input,
    r.output AS output
FROM
({worst_scores}
) AS s
LEFT JOIN
(
    SELECT trace_id, name, input, output
    FROM spans
    WHERE start_time >= ($__fromTime - INTERVAL 1 DAY)
      AND start_time <= ($__toTime)
      AND parent_span_id = ''
      AND trace_id IN (
        SELECT trace_id
        FROM
        ({worst_scores}
        ))
) AS r ON r.trace_id = s.trace_id
ORDER BY score, value ASC, time DESC
"""
    panels = [
        row("Scores"),
        table("Scores by name", f"""
SELECT
    name,
    any(data_type) AS data_type,
    count() AS scores,
    avg(value) AS mean,
    quantile(0.5)(value) AS median,
    min(value) AS min,
    max(value) AS max,
    uniq(trace_id) AS traces
FROM scores FINAL
WHERE {F}
GROUP BY name
ORDER BY name
""", w=12, h=8, description="One row per score name; a re-sent score (same id) counts once, with its latest value."),
        stat("Negative feedback", f"""
SELECT countIf({negative}) / count() AS negative_share
FROM scores FINAL
WHERE {F}
  AND {feedback}
""", "percentunit", 1, "Share of human feedback (source API or ANNOTATION) that is negative: boolean false, "
                       "a negative number or a negative category."),
        stat("Scored traces", f"SELECT uniq(trace_id) AS traces FROM scores FINAL WHERE {F}", "short"),
        stat("Scores", f"SELECT count() AS scores FROM scores FINAL WHERE {F}", "short"),
        timeseries("Scores over time by name", f"""
SELECT $__timeInterval(timestamp) AS time, name, avg(value) AS mean
FROM scores FINAL
WHERE {F}
  AND value IS NOT NULL
GROUP BY time, name
ORDER BY time
""", None, w=12, series_by="name", interval="5m"),
        timeseries("Negative feedback share", f"""
SELECT $__timeInterval(timestamp) AS time, countIf({negative}) / count() AS negative_share
FROM scores FINAL
WHERE {F}
  AND {feedback}
GROUP BY time
ORDER BY time
""", "percentunit", w=12, interval="5m"),
        panel("barchart", "Score distribution", f"""
SELECT toString(b) AS bucket, name, count() AS scores
FROM
(
    SELECT round(value, 1) AS b, name
    FROM scores FINAL
    WHERE {F}
      AND value IS NOT NULL
)
GROUP BY b, name
ORDER BY b, name
""", 1, 12, 8, "Numeric and boolean scores in buckets of 0.1, one series per score name.",
              options={"xField": "bucket", "orientation": "vertical", "stacking": "none",
                       "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
              transformations=[{"id": "groupingToMatrix", "options": {"rowField": "bucket", "columnField": "name",
                                                                       "valueField": "scores"}}]),
        table("Categorical scores", f"""
SELECT name, if(data_type = 'BOOLEAN', if(value = 1, 'true', 'false'), string_value) AS category, count() AS scores
FROM scores FINAL
WHERE {F}
  AND data_type IN ('CATEGORICAL', 'BOOLEAN')
GROUP BY name, category
ORDER BY name, scores DESC
""", w=12, h=8),
        row("By prompt version and model"),
        table("Scores by prompt version", by_prompt, w=12, h=9,
              description="A score on a span counts for that LLM call; a trace-level score for the trace's first LLM call."),
        table("Scores by model", by_model, w=12, h=9,
              description="A score on a span counts for that LLM call; a trace-level score for the trace's first LLM call."),
        row("Worst-scored traces"),
        table("Worst-scored traces", worst, h=12,
              description="The 10 lowest values of each score name, with the trace's input and output.",
              overrides=[open_trace_link_override("trace_name"), width_override("input", 360),
                         width_override("output", 360)]),
    ]
    variables = common_vars() + [
        query_var("score_name", "Score", """
SELECT DISTINCT name FROM scores
WHERE $__timeFilter(timestamp)
  AND $__conditionalAll(project IN ($project), $project)
ORDER BY name
"""),
        query_var("source", "Source", """
SELECT DISTINCT source FROM scores
WHERE $__timeFilter(timestamp)
  AND $__conditionalAll(project IN ($project), $project)
ORDER BY source
"""),
    ]
    return dashboard("spanlens-quality", "Spanlens / Quality", "Evaluation scores, human feedback and user ratings, by name, prompt version and model.",
                     variables, panels)


def cost():
    OBS = False
    panels = [
        row("Totals"),
        stat("Cost", f"SELECT sum(known_cost) AS cost FROM {rollup(OBS)}", "currencyUSD", 2),
        stat("Tokens", f"SELECT sum(total_tokens) AS tokens FROM {rollup(OBS)}", "short"),
        stat("Input tokens", f"SELECT sum(input_tokens) AS input_tokens FROM {rollup(OBS)}", "short"),
        stat("Output tokens", f"SELECT sum(output_tokens) AS output_tokens FROM {rollup(OBS)}", "short"),
        stat("Cached input share", f"SELECT sum(cached_tokens) / sum(input_tokens) AS cached_share FROM {rollup(OBS)}",
             "percentunit", 1, "Input tokens served from the provider's prompt cache."),
        stat("Calls without a price", f"""
SELECT sum(spans) - sum(costed_spans) AS unpriced_calls
FROM {rollup(OBS, extra="observation_type IN ('llm', 'embedding')")}
""", "short", description="LLM / embedding calls whose model has no price (cost NULL, not 0): add it to the price table."),
        timeseries("Cost by model", f"""
SELECT $__timeInterval(ts) AS time, model, sum(known_cost) AS cost
FROM {rollup(OBS, series=True, extra="model != ''")}
GROUP BY time, model
ORDER BY time
""", "currencyUSD", stack=True, series_by="model", draw="bars"),
        timeseries("Tokens", f"""
SELECT
    $__timeInterval(ts) AS time,
    sum(input_tokens) - sum(cached_tokens) - sum(cache_creation_tokens) AS input_uncached,
    sum(cached_tokens) AS input_cached,
    sum(cache_creation_tokens) AS input_cache_write,
    sum(output_tokens) AS output,
    sum(reasoning_tokens) AS reasoning
FROM {rollup(OBS, series=True)}
GROUP BY time
ORDER BY time
""", "short", stack=True,
                   description="Input tokens: uncached, read from the provider's prompt cache, and written to it "
                               "(priced separately). Reasoning tokens are part of the output tokens."),
        row("By model and provider"),
        table("Usage by model", f"""
SELECT
    model,
    any(provider) AS provider,
    sum(spans) AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(cache_creation_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    if(sum(costed_spans) = 0, NULL, sum(known_cost)) AS cost,
    sum(known_cost) / nullIf(sum(costed_spans), 0) AS cost_per_call,
    sum(spans) - sum(costed_spans) AS unpriced_calls
FROM {rollup(OBS, extra="model != ''")}
GROUP BY model
ORDER BY cost DESC, calls DESC
""", w=16, h=9, overrides=[unit_override("cost", "currencyUSD", 4), unit_override("cost_per_call", "currencyUSD", 5)]),
        panel("piechart", "Cost by provider", f"""
SELECT provider, sum(known_cost) AS cost
FROM {rollup(OBS, extra="provider != ''")}
GROUP BY provider
ORDER BY cost DESC
""", 1, 8, 9, unit="currencyUSD",
              options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
                       "pieType": "donut", "legend": {"displayMode": "table", "placement": "right",
                                                      "showLegend": True, "values": ["value", "percent"]}}),
        table("Cached tokens by model", f"""
SELECT
    model,
    sum(input_tokens) AS input_tokens,
    sum(cached_tokens) AS cached_tokens,
    cached_tokens / nullIf(input_tokens, 0) AS cached_share,
    sum(cache_creation_tokens) AS cache_write_tokens
FROM {rollup(OBS, extra="model != ''")}
GROUP BY model
HAVING input_tokens > 0
ORDER BY cached_tokens DESC
""", w=12, h=8, overrides=[unit_override("cached_share", "percentunit", 1)]),
        table("Cost by day", f"""
SELECT
    toDate(ts) AS day,
    sum(spans) AS calls,
    sum(total_tokens) AS tokens,
    if(sum(costed_spans) = 0, NULL, sum(known_cost)) AS cost
FROM {rollup(OBS, extra="observation_type IN ('llm', 'embedding')")}
GROUP BY day
ORDER BY day
""", w=12, h=8, overrides=[unit_override("cost", "currencyUSD", 2)]),
        row("By user and session"),
        table("Top users by cost", f"""
SELECT
    user_id AS user,
    sum(n_calls) AS calls,
    uniq(session_id) AS sessions,
    sum(n_tokens) AS tokens,
    if(sum(n_costed) = 0, NULL, sum(known_cost)) AS cost
FROM {usage("user_id != ''")}
GROUP BY user
ORDER BY cost DESC, calls DESC
LIMIT 50
""", w=12, h=10, overrides=[unit_override("cost", "currencyUSD", 4)]),
        table("Top sessions by cost", f"""
SELECT
    session_id AS session,
    any(user_id) AS user,
    min(first_at) AS first_call,
    sum(n_calls) AS calls,
    sum(n_tokens) AS tokens,
    if(sum(n_costed) = 0, NULL, sum(known_cost)) AS cost
FROM {usage("session_id != ''")}
GROUP BY session
ORDER BY cost DESC, calls DESC
LIMIT 50
""", w=12, h=10, overrides=[unit_override("cost", "currencyUSD", 4)]),
    ]
    return dashboard("spanlens-cost", "Spanlens / Cost and usage", "Tokens and cost by model, provider, user, session and day.",
                     common_vars(), panels)


def trace_explorer():
    text_filters = "\n      AND ".join([
        "$__conditionalAll(status_code IN ($status), $status)",
        "$__conditionalAll(user_id = ${user:sqlstring}, $user)",
        "$__conditionalAll(session_id = ${session:sqlstring}, $session)",
        "$__conditionalAll((positionCaseInsensitiveUTF8(input, ${search:sqlstring}) > 0 "
        "OR positionCaseInsensitiveUTF8(output, ${search:sqlstring}) > 0), $search)",
    ])
    span_filters = (spans_filter() + "\n  AND " + text_filters.replace("\n      ", "\n  "))
    # Two passes: the time of the 2000th newest matching span (reads only time and filter
    # columns), then the trace ids of the matching spans since then (recent hours only).
    matching = f"""
        SELECT trace_id, start_time
        FROM spans
        WHERE {span_filters.replace(chr(10), chr(10) + '        ')}
          AND start_time >= (
            SELECT min(start_time) FROM (
                SELECT start_time
                FROM spans
                WHERE {span_filters.replace(chr(10), chr(10) + '                ')}
                ORDER BY start_time DESC
                LIMIT 2000))"""
    traces = f"""
SELECT
    min(start_time) AS time,
    trace_id,
    argMinIf(name, start_time, parent_span_id = '') AS trace_name,
    argMinIf(service_name, start_time, parent_span_id = '') AS service,
    (max(toUnixTimestamp64Nano(start_time) + duration_ns) - min(toUnixTimestamp64Nano(start_time))) / 1e6 AS duration_ms,
    if(countIf(status_code = 'Error') > 0, 'Error', 'Ok') AS status,
    count() AS spans,
    countIf(observation_type = 'llm') AS llm_calls,
    arrayStringConcat(groupUniqArrayIf({MODEL}, {MODEL} != ''), ', ') AS models,
    sum(ifNull(total_tokens, 0)) AS tokens,
    sum(total_cost) AS cost,
    anyIf(user_id, user_id != '') AS user,
    anyIf(session_id, session_id != '') AS session,
    argMinIf(input_preview, start_time, parent_span_id = '') AS input,
    argMinIf(output_preview, start_time, parent_span_id = '') AS output
FROM spans
WHERE $__timeFilter(start_time)
  AND trace_id IN (
    SELECT trace_id FROM
    ({matching}
    )
    ORDER BY start_time DESC
    LIMIT 1 BY trace_id
    LIMIT 100
  )
GROUP BY trace_id
ORDER BY time DESC
"""
    trace_range = ("start_time >= (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId = ${trace_id:sqlstring})\n"
                   "  AND start_time <= (SELECT max(End) + 1 FROM otel_traces_trace_id_ts WHERE TraceId = ${trace_id:sqlstring})")
    llm_calls = f"""
SELECT
    c.start_time AS time,
    c.span_id AS span_id,
    c.name AS name,
    c.model AS model,
    c.provider AS provider,
    c.status_code AS status,
    c.duration_ns / 1e6 AS duration_ms,
    c.time_to_first_token_ns / 1e6 AS ttft_ms,
    c.input_tokens AS input_tokens,
    c.output_tokens AS output_tokens,
    c.cached_tokens AS cached_tokens,
    c.total_cost AS cost,
    sc.scores AS scores,
    c.input AS input,
    c.output AS output
FROM
(
    SELECT start_time, span_id, name, {MODEL} AS model, provider, status_code, duration_ns,
        time_to_first_token_ns, input_tokens, output_tokens, cached_tokens, total_cost, input, output
    FROM spans
    WHERE trace_id = ${{trace_id:sqlstring}}
      AND {trace_range.replace(chr(10), chr(10) + '    ')}
      AND observation_type IN ('llm', 'embedding')
) AS c
LEFT JOIN
(
    SELECT span_id, arrayStringConcat(groupArray(concat(name, '=', if(value IS NULL, string_value, toString(round(value, 3))))), ', ') AS scores
    FROM scores FINAL
    WHERE trace_id = ${{trace_id:sqlstring}}
      AND span_id != ''
    GROUP BY span_id
) AS sc ON sc.span_id = c.span_id
ORDER BY time
"""
    trace_view = """
WITH
    ${trace_id:sqlstring} AS trace_id,
    (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId = trace_id) AS trace_start,
    (SELECT max(End) + 1 FROM otel_traces_trace_id_ts WHERE TraceId = trace_id) AS trace_end
SELECT
    TraceId AS traceID,
    SpanId AS spanID,
    ParentSpanId AS parentSpanID,
    ServiceName AS serviceName,
    SpanName AS operationName,
    multiply(toUnixTimestamp64Nano(Timestamp), 0.000001) AS startTime,
    multiply(Duration, 0.000001) AS duration,
    arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
    arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags,
    if(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) AS statusCode,
    arrayMap((name, timestamp, attributes) -> tuple(name, toString(toUnixTimestamp64Milli(timestamp)),
        arrayMap(key -> map('key', key, 'value', attributes[key]), mapKeys(attributes)))::Tuple(name String, timestamp String, fields Array(Map(String, String))),
        `Events.Name`, `Events.Timestamp`, `Events.Attributes`) AS logs,
    arrayMap((link_trace_id, link_span_id, attributes) -> tuple(link_trace_id, link_span_id,
        arrayMap(key -> map('key', key, 'value', attributes[key]), mapKeys(attributes)))::Tuple(traceID String, spanID String, tags Array(Map(String, String))),
        `Links.TraceId`, `Links.SpanId`, `Links.Attributes`) AS references,
    SpanKind AS kind,
    StatusMessage AS statusMessage,
    ScopeName AS instrumentationLibraryName,
    ScopeVersion AS instrumentationLibraryVersion,
    TraceState AS traceState
FROM otel_traces
WHERE traceID = trace_id
  AND Timestamp >= trace_start
  AND Timestamp <= trace_end
ORDER BY startTime
"""
    trace_scores = """
SELECT timestamp AS time, name, data_type, value, string_value, source, comment, span_id
FROM scores FINAL
WHERE trace_id = ${trace_id:sqlstring}
ORDER BY time
"""
    trace_panel = panel("traces", "Trace", trace_view, 3, 24, 14,
                        "The selected trace's span tree (plugin trace format over the otel_traces view). Span "
                        "attributes include model, tokens, cost, time to first token, input and output.")
    panels = [
        row("Traces"),
        table("Traces", traces, h=12,
              description="Latest traces with at least one span matching every filter (status, user, session, "
                          "text in input or output, provider, model). trace_name selects the trace below; "
                          "trace_id opens it in Explore.",
              overrides=[unit_override("duration_ms", "ms", 0), unit_override("cost", "currencyUSD", 4),
                         open_trace_link_override("trace_name"), width_override("input", 300),
                         width_override("output", 300)]),
        row("Selected trace"),
        trace_panel,
        table("LLM calls", llm_calls, h=10, description="The selected trace's LLM and embedding calls with their scores.",
              overrides=[unit_override("duration_ms", "ms", 0), unit_override("ttft_ms", "ms", 0),
                         unit_override("cost", "currencyUSD", 5), width_override("input", 320),
                         width_override("output", 320)]),
        table("Scores of the trace", trace_scores, h=6),
    ]
    status = {"type": "custom", "name": "status", "label": "Status", "query": "Ok,Error,Unset",
              "multi": True, "includeAll": True, "hide": 0,
              "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
              "options": [{"selected": True, "text": "All", "value": "$__all"}] +
                         [{"selected": False, "text": s, "value": s} for s in ("Ok", "Error", "Unset")]}
    variables = common_vars() + [
        status,
        textbox_var("user", "User id"),
        textbox_var("session", "Session id"),
        textbox_var("search", "Search input / output", "Case-insensitive text search over span input and output"),
        textbox_var("trace_id", "Trace id"),
    ]
    return dashboard("spanlens-traces", "Spanlens / Trace explorer", "Find traces, then inspect one: span tree, LLM calls, scores.",
                     variables, panels, time_from="now-24h")


# ---- GenAI metrics (OTLP metrics, schemas/0020) --------------------------------------------------

# The GenAI metric conventions' attributes. The model is the requested one, else the response model.
METRIC_MODEL = ("if(Attributes['gen_ai.request.model'] = '', Attributes['gen_ai.response.model'], "
                "Attributes['gen_ai.request.model'])")
METRIC_PROVIDER = ("if(Attributes['gen_ai.provider.name'] = '', Attributes['gen_ai.system'], "
                   "Attributes['gen_ai.provider.name'])")
METRIC_ENVIRONMENT = ("if(ResourceAttributes['deployment.environment.name'] = '', "
                      "ResourceAttributes['deployment.environment'], ResourceAttributes['deployment.environment.name'])")
DURATION = "'gen_ai.client.operation.duration'"
TOKENS = "'gen_ai.client.token.usage'"
COST = "'gen_ai.usage.cost'"
# Time to first chunk: the semconv name, and the server-side name OpenLIT and OpenLLMetry send.
TTFT = "'gen_ai.client.operation.time_to_first_chunk', 'gen_ai.server.time_to_first_token'"


def metric_filters():
    return [
        cond("Project", "project"),
        cond("ServiceName", "service"),
        cond(METRIC_ENVIRONMENT, "environment"),
        cond(METRIC_PROVIDER, "provider"),
        cond(METRIC_MODEL, "model"),
    ]


def histogram_increments(metrics):
    """What each point of the histograms `metrics` added within the range, as one subquery
    (ts, MetricName, model, provider, token_type, error_type, bounds, count_inc, sum_inc,
    bucket_inc). A delta point is its own increment; a cumulative point is its running total
    minus its series' previous point. A series is a metric's points with one attribute set, one
    resource and one start time (a restart is a new series); the first point of a cumulative
    series in the range counts whole when the series started in the range, else it is only the
    baseline (what it added before the range is not known)."""
    where = "\n          AND ".join(["$__timeFilter(TimeUnix)", f"MetricName IN ({metrics})"] + metric_filters())
    return f"""
(
    SELECT
        ts, MetricName, model, provider, token_type, error_type, ExplicitBounds AS bounds,
        multiIf(delta, n, first, if(started, n, 0), n - prev_n) AS count_inc,
        multiIf(delta, Sum, first, if(started, Sum, 0), Sum - prev_sum) AS sum_inc,
        multiIf(delta OR (first AND started), buckets,
                first, arrayMap(c -> toInt64(0), buckets),
                arrayMap((c, p) -> c - p, buckets, arrayResize(prev_buckets, length(buckets), 0))) AS bucket_inc
    FROM
    (
        SELECT
            TimeUnix AS ts, MetricName, ExplicitBounds, Sum,
            toInt64(Count) AS n,
            arrayMap(c -> toInt64(c), BucketCounts) AS buckets,
            {METRIC_MODEL} AS model,
            {METRIC_PROVIDER} AS provider,
            Attributes['gen_ai.token.type'] AS token_type,
            Attributes['error.type'] AS error_type,
            AggregationTemporality = 1 AS delta,
            StartTimeUnix >= ($__fromTime) AS started,
            row_number() OVER series = 1 AS first,
            lagInFrame(n) OVER series AS prev_n,
            lagInFrame(Sum) OVER series AS prev_sum,
            lagInFrame(buckets) OVER series AS prev_buckets
        FROM otel_metrics_histogram
        WHERE {where}
        WINDOW series AS (PARTITION BY MetricName, ServiceName, cityHash64(Attributes), cityHash64(ResourceAttributes),
                          StartTimeUnix ORDER BY TimeUnix ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
    )
)""".strip()


def bucket_quantile(q, name):
    """Quantile q of a histogram from its summed bucket counts `buckets` and bounds `bounds`
    (Prometheus' histogram_quantile: linear within the bucket; the first bucket starts at 0, the
    overflow bucket answers its lower bound). Uses the helper columns {name}_t and {name}_i."""
    t, i = f"{name}_t", f"{name}_i"
    low = f"if({i} = 1, least(0, bounds[1]), bounds[{i} - 1])"
    return (f"{q} * arraySum(buckets) AS {t},\n    arrayFirstIndex(x -> x >= {t}, arrayCumSum(buckets)) AS {i},\n"
            f"    if(arraySum(buckets) = 0, NULL, if({i} > length(bounds), bounds[length(bounds)],\n"
            f"        {low} + (bounds[{i}] - {low}) * ({t} - if({i} = 1, 0, arrayCumSum(buckets)[{i} - 1])) / buckets[{i}]))"
            f" AS {name}")


def quantiles_by(metrics, group, qs):
    """Bucket quantiles `qs` ((q, name), ...) of the histograms `metrics` per `group` expression
    over the increments (a column, a time bucket, a constant for overall), returned as `grp`,
    from the bound set that holds most observations of the group (libraries bucket
    differently; buckets of different bounds cannot be added)."""
    picks = ",\n    ".join(bucket_quantile(q, n) for q, n in qs)
    names = ", ".join(n for _, n in qs)
    best = ", ".join(f"argMax({n}, observations) AS {n}" for _, n in qs)
    return f"""
SELECT grp, {best}
FROM
(
    SELECT grp, observations, {names}
    FROM
    (
        SELECT
            grp, bounds, buckets, arraySum(buckets) AS observations,
            {picks}
        FROM
        (
            SELECT {group} AS grp, bounds, sumForEach(bucket_inc) AS buckets
            FROM {histogram_increments(metrics)}
            GROUP BY grp, bounds
        )
    )
)
GROUP BY grp""".strip()


def metric_var(name, label, column, depends=(), extra_where=""):
    where = ["$__timeFilter(TimeUnix)"] + [cond(c, v) for c, v in depends]
    if extra_where:
        where.append(extra_where)
    sql = (f"SELECT DISTINCT {column} FROM otel_metrics_histogram WHERE " + "\n  AND ".join(where)
           + f"\nORDER BY 1")
    return query_var(name, label, sql)


def genai_metrics():
    inc = histogram_increments
    by_model = f"""
SELECT
    m.model AS model,
    m.provider AS provider,
    m.requests AS requests,
    m.errors AS errors,
    m.input_tokens AS input_tokens,
    m.output_tokens AS output_tokens,
    d.p50 AS duration_p50,
    d.p95 AS duration_p95,
    t.p50 AS ttft_p50,
    t.p95 AS ttft_p95,
    m.cost AS cost
FROM
(
    SELECT
        model,
        any(provider) AS provider,
        sumIf(count_inc, MetricName = {DURATION}) AS requests,
        sumIf(count_inc, MetricName = {DURATION} AND error_type != '') AS errors,
        sumIf(sum_inc, MetricName = {TOKENS} AND token_type = 'input') AS input_tokens,
        sumIf(sum_inc, MetricName = {TOKENS} AND token_type = 'output') AS output_tokens,
        if(countIf(MetricName = {COST}) = 0, NULL, sumIf(sum_inc, MetricName = {COST})) AS cost
    FROM {inc(f"{DURATION}, {TOKENS}, {COST}")}
    WHERE model != ''
    GROUP BY model
) AS m
LEFT JOIN ({quantiles_by(DURATION, "model", [(0.5, "p50"), (0.95, "p95")])}) AS d ON d.grp = m.model
LEFT JOIN ({quantiles_by(TTFT, "model", [(0.5, "p50"), (0.95, "p95")])}) AS t ON t.grp = m.model
ORDER BY requests DESC, model
"""
    panels = [
        row("Totals"),
        stat("Requests", f"SELECT sum(count_inc) AS requests FROM {inc(DURATION)}", "short",
             description="Operations recorded by gen_ai.client.operation.duration."),
        stat("Errors", f"SELECT sumIf(count_inc, error_type != '') AS errors FROM {inc(DURATION)}", "short",
             description="Operations recorded with an error.type."),
        stat("Input tokens", f"SELECT sumIf(sum_inc, token_type = 'input') AS input_tokens FROM {inc(TOKENS)}",
             "short"),
        stat("Output tokens", f"SELECT sumIf(sum_inc, token_type = 'output') AS output_tokens FROM {inc(TOKENS)}",
             "short"),
        stat("Duration p95", f"SELECT p95 AS duration_p95 FROM ({quantiles_by(DURATION, '1', [(0.95, 'p95')])})",
             "s", 3, "From the buckets of gen_ai.client.operation.duration."),
        stat("Reported cost", f"SELECT if(count() = 0, NULL, sum(sum_inc)) AS cost FROM {inc(COST)}",
             "currencyUSD", 4, "gen_ai.usage.cost, where the instrumentation reports it (OpenLIT)."),
        row("Over time"),
        timeseries("Requests by model", f"""
SELECT $__timeInterval(ts) AS time, model, sum(count_inc) AS requests
FROM {inc(DURATION)}
WHERE model != ''
GROUP BY time, model
ORDER BY time
""", "short", series_by="model", draw="bars", stack=True),
        timeseries("Token usage by model and type", f"""
SELECT $__timeInterval(ts) AS time, concat(model, ' ', token_type) AS series, sum(sum_inc) AS tokens
FROM {inc(TOKENS)}
WHERE model != ''
GROUP BY time, series
ORDER BY time
""", "short", series_by="series", draw="bars", stack=True),
        timeseries("Operation duration and time to first chunk p95", f"""
SELECT d.grp AS time, d.p95 AS duration_p95, t.p95 AS ttft_p95
FROM ({quantiles_by(DURATION, "$__timeInterval(ts)", [(0.95, "p95")])}) AS d
LEFT JOIN ({quantiles_by(TTFT, "$__timeInterval(ts)", [(0.95, "p95")])}) AS t ON t.grp = d.grp
ORDER BY time
""", "s", description="p95 of each time bucket, from the histogram buckets."),
        row("By model"),
        table("By model", by_model, h=9, overrides=[
            unit_override("duration_p50", "s", 3), unit_override("duration_p95", "s", 3),
            unit_override("ttft_p50", "s", 3), unit_override("ttft_p95", "s", 3),
            unit_override("cost", "currencyUSD", 4)]),
    ]
    variables = [
        datasource_var(),
        metric_var("project", "Project", "Project"),
        metric_var("service", "Service", "ServiceName", [("Project", "project")]),
        metric_var("environment", "Environment", METRIC_ENVIRONMENT, [("Project", "project"), ("ServiceName", "service")]),
        metric_var("provider", "Provider", METRIC_PROVIDER, [("Project", "project")], f"{METRIC_PROVIDER} != ''"),
        metric_var("model", "Model", METRIC_MODEL, [("Project", "project"), (METRIC_PROVIDER, "provider")],
                   f"{METRIC_MODEL} != ''"),
    ]
    return dashboard("spanlens-genai-metrics", "Spanlens / GenAI metrics",
                     "The OpenTelemetry GenAI metrics instrumentations send (OTLP metrics): requests, token usage, "
                     "operation duration and time to first chunk quantiles from histogram buckets, reported cost.",
                     variables, panels, time_from="now-24h")


# ---- assembly -------------------------------------------------------------------------------------

def layout(panels):
    """Fills rows left to right; assigns ids and gridPos x/y."""
    x = y = row_h = 0
    next_id = 1
    for p in panels:
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            y += row_h
            x = row_h = 0
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        p["id"] = next_id
        next_id += 1
        if p["type"] == "row":
            y += h
            continue
        x += w
        row_h = max(row_h, h)
    return panels


def dashboard(uid, title, description, variables, panels, time_from="now-7d"):
    links = [{"type": "dashboards", "tags": ["spanlens"], "asDropdown": False, "includeVars": False,
              "keepTime": True, "title": "Spanlens", "icon": "external link"}]
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["spanlens", "llm"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "links": links,
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables},
        "panels": layout(panels),
    }


DASHBOARDS = {
    "overview.json": overview,
    "quality.json": quality,
    "cost.json": cost,
    "trace-explorer.json": trace_explorer,
    "genai-metrics.json": genai_metrics,
}


def render(fn):
    return json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, fn in DASHBOARDS.items():
        path = os.path.join(HERE, name)
        text = render(fn)
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            stale.append(name)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    if check and stale:
        print("out of date (run dashboards/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
