#!/usr/bin/env python3
"""Times every dashboard panel and variable query on 10 million realistic spans (plus scores).

    CLICKHOUSE_URL=http://127.0.0.1:8123 .venv/bin/python dashboards/bench_panels.py
        [--spans 10000000] [--database spanlens_bench] [--reuse] [--runs 3] [--days 7]

Seeds a fresh database (schemas/*.sql applied the way `spanlens-collector migrate` does, or by
the collector binary when it is built) with INSERT ... SELECT FROM numbers(N): agent traces of
four spans (agent root, two chat calls, a tool or retrieval call) over the last `--days` days,
12 models with their own latency, token and price profiles, streaming with time to first token,
cached and reasoning tokens, 2% failed LLM calls, sessions and users, prompt versions; and
scores on a share of the traces (LLM-judge faithfulness, thumbs-up/down user feedback, human
helpfulness ratings, 5% of them re-sent with a corrected value). Then expands every panel query
of dashboards/*.json exactly as Grafana and the plugin would (dashboards/tests/grafana_sql.py)
for a `--days` range ending now with every variable on All, runs each `--runs` times and prints
panel, p50 ms and rows (query condition cache off, see below). `--reuse` keeps an already seeded
database.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tests"))

import grafana_sql  # noqa: E402
from grafana_sql import ClickHouse, load_dashboards  # noqa: E402

# (provider, request model, response model, base latency ms, $/1M input, $/1M output,
#  $/1M cached input, reasoning, quality 0..1). None price = unknown model (cost NULL).
MODELS = [
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", 1200, 2.5, 10.0, 1.25, 0, 0.80),
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 650, 0.15, 0.6, 0.075, 0, 0.70),
    ("openai", "gpt-4.1", "gpt-4.1-2025-04-14", 1400, 2.0, 8.0, 0.5, 0, 0.82),
    ("openai", "gpt-5", "gpt-5-2025-08-07", 4200, 1.25, 10.0, 0.125, 1, 0.88),
    ("openai", "o3-mini", "o3-mini-2025-01-31", 3100, 1.1, 4.4, 0.55, 1, 0.80),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 1900, 3.0, 15.0, 0.3, 0, 0.87),
    ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", 750, 0.8, 4.0, 0.08, 0, 0.72),
    ("anthropic", "claude-opus-4-1", "claude-opus-4-1-20250805", 5200, 15.0, 75.0, 1.5, 1, 0.90),
    ("gcp.gemini", "gemini-2.5-flash", "gemini-2.5-flash", 850, 0.3, 2.5, 0.075, 1, 0.76),
    ("gcp.gemini", "gemini-2.5-pro", "gemini-2.5-pro", 3600, 1.25, 10.0, 0.31, 1, 0.86),
    ("aws.bedrock", "meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0", 1600, None, None, None, 0, 0.68),
    ("mistral_ai", "mistral-large-latest", "mistral-large-2411", 1350, 2.0, 6.0, 0.2, 0, 0.74),
]
# Popularity: index into MODELS, drawn uniformly (so repeated entries are more common).
MODEL_MIX = [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 3, 4, 5, 5, 5, 6, 7, 8, 8, 9, 10, 11]
SERVICES = [("support-bot", "support-answer", 0), ("search-api", "search-rag", 1),
            ("summarizer", "summarize", 0), ("code-review", "review-diff", 0)]
ERRORS = [("RateLimitError", "Error code: 429 - Rate limit reached for requests per minute."),
          ("APITimeoutError", "Request timed out after 60.0 seconds."),
          ("InternalServerError", "Error code: 500 - The server had an error while processing your request."),
          ("overloaded_error", "Error code: 529 - Overloaded")]


def sql_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def arr(values):
    return "[" + ", ".join("NULL" if v is None else (sql_str(v) if isinstance(v, str) else repr(v)) for v in values) + "]"


def prompt_version_expr(n_traces):
    """Prompt versions roll out over time: version 1 + quarter of the range, a third of the
    traces still on the previous version."""
    return f"greatest(1, least(4, 1 + intDiv(t * 4, {n_traces}) - (ht % 3 = 0)))"


def seed_spans_sql(n_spans, days):
    """One INSERT ... SELECT: span n belongs to trace n DIV 4, position n % 4 in it."""
    m = lambda i: arr([row[i] for row in MODELS])  # noqa: E731
    n_traces = n_spans // 4
    return f"""
INSERT INTO spans (project, start_time, duration_ns, trace_id, span_id, parent_span_id, name, kind,
    service_name, scope_name, scope_version, environment, release, status_code, status_message,
    error_type, observation_type, operation, provider, request_model, response_model,
    input_tokens, output_tokens, total_tokens, cached_tokens, reasoning_tokens,
    input_cost, output_cost, total_cost, time_to_first_token_ns, is_streaming, finish_reasons,
    temperature, max_tokens, input, output, session_id, user_id, prompt_name, prompt_version, tags,
    span_attributes, resource_attributes)
SELECT
    project, start_time, duration_ns, trace_id, span_id, parent_span_id, name, kind,
    service_name, scope_name, scope_version, environment, release, status_code, status_message,
    error_type, observation_type, operation, provider, request_model, response_model,
    input_tokens, output_tokens, total_tokens, cached_tokens, reasoning_tokens,
    input_cost, output_cost, input_cost + output_cost AS total_cost, ttft, is_streaming, finish_reasons,
    temperature, max_tokens, input, output, session_id, user_id, prompt_name, prompt_version, tags,
    span_attributes, resource_attributes
FROM
(
    SELECT
        number AS n,
        intDiv(number, 4) AS t,
        number % 4 AS pos,
        pos IN (1, 3) AS is_llm,
        cityHash64(t, 7) AS ht,
        -- a session (5 consecutive traces) is one conversation with one app: its project,
        -- service, environment and model are the session's
        cityHash64(intDiv(t, 5), 5) AS hsess,
        cityHash64(number, 13) AS hs,
        (cityHash64(number, 17) % 1000000 + 1) / 1000001 AS u1,
        (cityHash64(number, 19) % 1000000) / 1000000 AS u2,
        sqrt(-2 * log(u1)) * cos(2 * pi() * u2) AS z,
        {arr(MODEL_MIX)}[hsess % {len(MODEL_MIX)} + 1] + 1 AS mi,
        intDiv(hsess, 100) % 4 + 1 AS si,
        {arr([s[0] for s in SERVICES])}[si] AS service_name,
        if(intDiv(hsess, 1000) % 5 = 0, 'acme', 'default') AS project,
        if(intDiv(hsess, 10000) % 10 = 0, 'staging', 'production') AS environment,
        toDateTime64(now(), 9) - toIntervalSecond({days * 86400})
            + toIntervalMillisecond(intDiv(t * {days * 86400000}, {n_traces}) + pos * 350) AS start_time,
        lower(hex(MD5(concat('trace', toString(t))))) AS trace_id,
        substring(lower(hex(MD5(concat('span', toString(number))))), 1, 16) AS span_id,
        if(pos = 0, '', substring(lower(hex(MD5(concat('span', toString(number - pos))))), 1, 16)) AS parent_span_id,
        {m(0)}[mi] AS model_provider,
        {m(3)}[mi] AS base_ms,
        -- a failed provider call (2% of LLM calls); the agent fails with it
        (cityHash64(t, 23) % 100) < 4 AS trace_fails,
        is_llm AND trace_fails AND pos = 3 AS llm_fails,
        si = 2 AND pos = 2 AS is_retrieval,
        multiIf(pos = 0, 'agent', is_llm, 'llm', is_retrieval, 'retrieval', 'tool') AS observation_type,
        multiIf(pos = 0, 'invoke_agent', is_llm, 'chat', is_retrieval, 'retrieval', 'execute_tool') AS operation,
        multiIf(pos = 0, concat('invoke_agent ', service_name), is_llm, concat('chat ', {m(1)}[mi]),
                is_retrieval, 'retrieval docs-index', 'execute_tool lookup_account') AS name,
        if(is_llm, 'Client', 'Internal') AS kind,
        multiIf(pos = 0, 'openai.agents', is_llm, concat('opentelemetry.instrumentation.', model_provider), 'spanlens') AS scope_name,
        '1.0.0' AS scope_version,
        concat('v1.', toString(intDiv(t * 5, {n_traces}))) AS release,
        if(is_llm, model_provider, '') AS provider,
        if(is_llm, {m(1)}[mi], '') AS request_model,
        if(is_llm AND NOT llm_fails, {m(2)}[mi], '') AS response_model,
        toUInt64(300 + cityHash64(number, 29) % 3700) AS in_tok,
        toUInt64(40 + cityHash64(number, 31) % 900) AS out_tok,
        if(cityHash64(number, 37) % 3 = 0, toUInt64(intDiv(in_tok * 3, 4)), toUInt64(0)) AS cache_tok,
        if({m(7)}[mi] = 1, toUInt64(intDiv(out_tok * 2, 3)), toUInt64(0)) AS reason_tok,
        if(is_llm, in_tok, NULL) AS input_tokens,
        if(is_llm AND NOT llm_fails, out_tok, NULL) AS output_tokens,
        if(is_llm, in_tok + ifNull(output_tokens, 0), NULL) AS total_tokens,
        if(is_llm, cache_tok, NULL) AS cached_tokens,
        if(is_llm AND {m(7)}[mi] = 1, reason_tok, NULL) AS reasoning_tokens,
        if(is_llm, ((in_tok - cache_tok) * {m(4)}[mi] + cache_tok * {m(6)}[mi]) / 1e6, NULL) AS input_cost,
        if(is_llm, ifNull(output_tokens, 0) * {m(5)}[mi] / 1e6, NULL) AS output_cost,
        -- latency: per-model base x log-normal noise (+ output length); the agent spans its calls
        toUInt64(greatest(5, multiIf(
            pos = 0, base_ms * 2.6 * exp(0.35 * z) + 300,
            is_llm, base_ms * exp(0.45 * z) * (0.6 + out_tok / 1000),
            is_retrieval, 120 * exp(0.5 * z),
            60 * exp(0.8 * z))) * 1e6) AS duration_ns,
        is_llm AND pos = 3 AND ht % 10 < 7 AS streams,
        if(is_llm, streams, NULL) AS is_streaming,
        if(streams AND NOT llm_fails, toUInt64(duration_ns * (0.08 + (cityHash64(number, 41) % 100) / 1000)), NULL) AS ttft,
        if(is_llm AND NOT llm_fails, [if(pos = 1 AND si = 4, 'tool_calls', 'stop')], []) AS finish_reasons,
        if(is_llm, round((ht % 8) / 10, 1), NULL) AS temperature,
        if(is_llm, toUInt64(1024), NULL) AS max_tokens,
        multiIf((pos = 0 OR pos = 3) AND trace_fails, 'Error', 'Ok') AS status_code,
        if(status_code = 'Error', {arr([e[1] for e in ERRORS])}[cityHash64(t, 43) % 4 + 1], '') AS status_message,
        if(status_code = 'Error', {arr([e[0] for e in ERRORS])}[cityHash64(t, 43) % 4 + 1], '') AS error_type,
        concat('Customer ', toString(t % 9973), ' asks: how do I ',
               ['reset my password', 'export my invoices', 'rotate an API key', 'invite a teammate',
                'change the billing plan', 'connect the webhook', 'delete a project'][ht % 7 + 1],
               ' on the ', ['web app', 'mobile app', 'API', 'CLI'][ht % 4 + 1], '?') AS question,
        concat('To ', ['reset my password', 'export my invoices', 'rotate an API key', 'invite a teammate',
                'change the billing plan', 'connect the webhook', 'delete a project'][ht % 7 + 1],
               ', open Settings, choose the matching section and confirm. Reference #', toString(t % 100003),
               '. ', repeat('The change applies to every workspace member immediately. ', 1 + ht % 4)) AS answer,
        multiIf(
            pos = 0, question,
            is_llm, concat('[{{"role":"system","content":"You are the ', service_name,
                           ' assistant. Answer briefly and cite the docs."}},{{"role":"user","content":"', question,
                           '"}}', if(pos = 3, ',{{"role":"tool","content":"account found, plan=pro"}}', ''), ']'),
            is_retrieval, concat('{{"query":"', question, '"}}'),
            concat('{{"account_id":"acct_', toString(t % 50021), '"}}')) AS input,
        multiIf(
            pos = 0, if(trace_fails, '', answer),
            is_llm AND llm_fails, '',
            is_llm AND pos = 1, '[{{"role":"assistant","tool_calls":[{{"name":"lookup_account"}}]}}]',
            is_llm, concat('[{{"role":"assistant","content":"', answer, '"}}]'),
            is_retrieval, concat('["doc-', toString(ht % 997), '","doc-', toString(ht % 991), '"]'),
            '{{"plan":"pro","seats":12}}') AS output,
        concat('sess-', toString(intDiv(t, 5))) AS session_id,
        concat('user-', toString(cityHash64(intDiv(t, 5), 47) % 20000)) AS user_id,
        if(is_llm, {arr([s[1] for s in SERVICES])}[si], '') AS prompt_name,
        if(is_llm, toString({prompt_version_expr(n_traces)}), '') AS prompt_version,
        if(pos = 0, [environment, service_name], []) AS tags,
        map('server.address', if(is_llm, concat('api.', model_provider, '.example'), ''), 'thread.id', toString(hs % 64)) AS span_attributes,
        map('service.name', service_name, 'deployment.environment.name', environment, 'telemetry.sdk.language', 'python') AS resource_attributes
    FROM numbers({n_spans})
)
"""


def seed_scores_sql(n_spans, days):
    """Scores on a share of the seeded traces (same trace ids and times as seed_spans_sql)."""
    n_traces = n_spans // 4
    quality = arr([row[8] for row in MODELS])
    return f"""
INSERT INTO scores (project, score_id, trace_id, span_id, session_id, name, data_type, value,
    string_value, comment, source, timestamp, updated_at)
SELECT project, score_id, trace_id, span_id, session_id, name, data_type, value, string_value,
    comment, source, ts, ts + toIntervalSecond(5 + resend * 3600)
FROM
(
    SELECT
        t,
        kind_,
        resend,
        cityHash64(t, 7) AS ht,
        cityHash64(intDiv(t, 5), 5) AS hsess,
        {arr(MODEL_MIX)}[hsess % {len(MODEL_MIX)} + 1] + 1 AS mi,
        if(intDiv(hsess, 1000) % 5 = 0, 'acme', 'default') AS project,
        lower(hex(MD5(concat('trace', toString(t))))) AS trace_id,
        concat('sess-', toString(intDiv(t, 5))) AS session_id,
        toDateTime64(now(), 9) - toIntervalSecond({days * 86400})
            + toIntervalMillisecond(intDiv(t * {days * 86400000}, {n_traces}) + 30000) AS ts,
        toUInt64({prompt_version_expr(n_traces)}) AS pv,
        (cityHash64(t, kind_, resend, 53) % 1000) / 1000 AS u,
        concat(['faithfulness', 'user_feedback', 'helpfulness'][kind_], '-', trace_id) AS score_id,
        -- the LLM-judge scores the final chat call; feedback and ratings the whole trace
        if(kind_ = 1, substring(lower(hex(MD5(concat('span', toString(t * 4 + 3))))), 1, 16), '') AS span_id,
        ['faithfulness', 'user_feedback', 'helpfulness'][kind_] AS name,
        ['NUMERIC', 'BOOLEAN', 'NUMERIC'][kind_] AS data_type,
        {quality}[mi] + 0.03 * pv - 0.1 AS q,
        multiIf(kind_ = 1, round(least(1, greatest(0, q + (u - 0.5) * 0.5)), 2),
                kind_ = 2, if(u < q + 0.1, 1, 0),
                round(least(5, greatest(1, 1 + 4 * q + (u - 0.5) * 2)))) AS value,
        if(kind_ = 2, if(value = 1, 'True', 'False'), '') AS string_value,
        if(kind_ = 2 AND value = 0, 'answer did not help', '') AS comment,
        ['EVAL', 'API', 'ANNOTATION'][kind_] AS source
    FROM (SELECT number AS t FROM numbers({n_traces}))
    ARRAY JOIN [1, 2, 3] AS kind_
    ARRAY JOIN [0, 1] AS resend
    WHERE (kind_ = 1 AND cityHash64(t, 59) % 100 < 15
        OR kind_ = 2 AND cityHash64(t, 61) % 100 < 5
        OR kind_ = 3 AND cityHash64(t, 67) % 100 < 2)
      AND (resend = 0 OR cityHash64(t, kind_, 71) % 100 < 5)
)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("CLICKHOUSE_URL", "http://127.0.0.1:8123"))
    ap.add_argument("--database", default="spanlens_bench")
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    ap.add_argument("--only", default="", help="time only panels whose title contains this")
    args = ap.parse_args()

    # No query condition cache: it remembers which granules failed a filter, so repeating a
    # query with the same constants skips them. Grafana's relative ranges change the constants
    # on every refresh, so timings with it on would flatter the filtered panels.
    ch = ClickHouse(args.url, settings={"use_query_condition_cache": "0"})
    seeded = args.reuse and ch.scalar(
        f"SELECT count() FROM system.tables WHERE database = '{args.database}' AND name = 'spans'") == 1
    if not seeded:
        t0 = time.monotonic()
        grafana_sql.create_database(ch, args.database)
        dbch = ch.with_database(args.database)
        dbch.execute(seed_spans_sql(args.spans, args.days))
        t1 = time.monotonic()
        dbch.execute(seed_scores_sql(args.spans, args.days))
        t2 = time.monotonic()
        print(f"seeded {args.spans} spans in {t1 - t0:.0f} s, scores in {t2 - t1:.0f} s", file=sys.stderr)
    dbch = ch.with_database(args.database)
    dbch.execute("OPTIMIZE TABLE spans_1m FINAL") if os.environ.get("BENCH_OPTIMIZE") else None
    print("data: " + dbch.query(
        "SELECT concat(toString((SELECT count() FROM spans)), ' spans, ', "
        "toString((SELECT count() FROM scores)), ' score rows, ', "
        "toString((SELECT count() FROM spans_1m)), ' rollup rows')")[0][0], file=sys.stderr)

    now = int(time.time())
    ctx = grafana_sql.Context(from_s=now - args.days * 86400, to_s=now)
    # The trace explorer shows one trace below its list: time it on the slowest trace of the day.
    trace_id = dbch.scalar("SELECT trace_id FROM spans WHERE start_time >= now() - INTERVAL 1 DAY "
                           "AND parent_span_id = '' ORDER BY duration_ns DESC LIMIT 1")
    runs = [(dash, {"trace_id": trace_id} if dash["uid"] == "spanlens-traces" else {}, "")
            for dash in load_dashboards()]
    # A few filtered variants of the heaviest raw-spans panels.
    explorer = next(d for d in load_dashboards() if d["uid"] == "spanlens-traces")
    overview = next(d for d in load_dashboards() if d["uid"] == "spanlens-overview")
    runs += [(explorer, {"search": "refund", "trace_id": trace_id}, " (search 'refund')"),
             (explorer, {"project": ["default"], "model": ["gpt-4o"], "status": ["Error"], "trace_id": trace_id},
              " (project, model, status Error)"),
             (overview, {"project": ["default"], "model": ["gpt-4o"]}, " (project, model gpt-4o)")]
    results = []
    for dash, selections, label in runs:
        variables = grafana_sql.resolve_variables(dbch, dash, ctx, selections)
        for item in grafana_sql.queries(dash):
            if args.only and args.only.lower() not in item.title.lower():
                continue
            if label and (item.kind == "variable" or item.title not in ("Traces", "Slowest traces",
                                                                         "Latency and time to first token by model")):
                continue
            sql = grafana_sql.expand(item, variables, ctx)
            times, rows = [], 0
            for _ in range(args.runs):
                t0 = time.monotonic()
                rows = len(dbch.query(sql))
                times.append((time.monotonic() - t0) * 1000)
            results.append((dash["title"], item.title + label, statistics.median(times), rows))

    load = os.getloadavg()
    print(f"{args.runs} runs per query; load average during the run: {load[0]:.1f} (1 min), "
          f"{load[1]:.1f} (5 min) on {os.cpu_count()} cores", file=sys.stderr)
    w = max(len(f"{d} / {p}") for d, p, _, _ in results)
    print(f"{'panel'.ljust(w)}  {'p50 ms':>8}  {'rows':>6}")
    for d, p, ms, rows in results:
        flag = "  SLOW" if ms > 500 else ""
        print(f"{(d + ' / ' + p).ljust(w)}  {ms:8.0f}  {rows:6d}{flag}")


if __name__ == "__main__":
    main()
