"""The bundled Grafana dashboards, proven on ClickHouse.

    CLICKHOUSE_URL=http://127.0.0.1:8123 .venv/bin/python -m unittest discover -s dashboards/tests

Every dashboard parses and uses the grafana-clickhouse-datasource query model; every variable
and panel query is expanded the way Grafana and the plugin expand it (grafana_sql.py) and run
on a fresh database (migrated by `spanlens-collector migrate` when built) seeded with known
spans and scores; each returns the columns its panel expects, and on every dashboard values
are checked exactly against what the seed implies. The unit tests of the expansion itself need
no ClickHouse.
"""

import json
import os
import random
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import grafana_sql as g  # noqa: E402

DASHBOARDS = os.path.dirname(HERE)
CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL")

# Yesterday 10:00-12:00 UTC: within the spans' 30-day TTL, inside one UTC day.
B = (int(time.time()) // 86400 - 1) * 86400 + 10 * 3600
RANGE = g.Context(B, B + 7200)


# ---- the seed ---------------------------------------------------------------------------------------

def _ts(seconds):
    """DateTime64(9) as JSON: Unix seconds with nanoseconds, independent of the server's timezone."""
    ns = round(seconds * 1e9)
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def _span(project, trace_id, span_id, parent, start, dur_ms, name, obs, service, env="production",
          status="Ok", kind="Internal", provider="", request_model="", response_model="", tokens=None,
          cached=None, cache_write=None, cost=None, ttft_ms=None, streaming=None, input="", output="", user="", session="",
          prompt=("", ""), events=()):
    row = {
        "project": project, "start_time": _ts(start), "duration_ns": int(dur_ms * 1_000_000),
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name, "kind": kind,
        "service_name": service, "environment": env, "status_code": status,
        "status_message": "boom" if status == "Error" else "", "error_type": "RateLimitError" if status == "Error" else "",
        "observation_type": obs, "operation": "chat" if obs == "llm" else "invoke_agent",
        "provider": provider, "request_model": request_model, "response_model": response_model,
        "input": input, "output": output, "user_id": user, "session_id": session,
        "prompt_name": prompt[0], "prompt_version": prompt[1],
        "resource_attributes": {"service.name": service, "deployment.environment.name": env},
        "span_attributes": {"thread.id": "1"},
        "events_time": [_ts(start + e[0]) for e in events], "events_name": [e[1] for e in events],
        "events_attributes": [e[2] for e in events],
    }
    if tokens:
        row.update(input_tokens=tokens[0], output_tokens=tokens[1], total_tokens=tokens[0] + tokens[1])
    if cached is not None:
        row["cached_tokens"] = cached
    if cache_write is not None:
        row["cache_creation_tokens"] = cache_write
    if cost is not None:
        row.update(input_cost=cost * 0.25, output_cost=cost * 0.75, total_cost=cost)
    if ttft_ms is not None:
        row["time_to_first_token_ns"] = int(ttft_ms * 1_000_000)
    if streaming is not None:
        row["is_streaming"] = streaming
    return row


def seed_spans():
    rows = []
    # A: project p1, chat-api / production, 100 agent traces each with one gpt-4o call.
    # Latency 77 x 100 ms, 20 x 500 ms, 3 x 3000 ms; every 20th call fails; even calls stream
    # (TTFT 200 ms); 1000 + 200 tokens and $0.01 each; prompt qa v1 for i < 50, v2 after.
    for i in range(100):
        t0 = B + i * 30
        dur = 100 if i < 77 else 500 if i < 97 else 3000
        status = "Error" if i % 20 == 0 else "Ok"
        user, session = ("alice" if i < 10 else "bob"), f"sess-{i // 10}"
        question = "What is the refund policy for damaged items?" if i == 42 else f"Question number {i}"
        answer = "" if status == "Error" else f"Answer number {i}"
        tid = f"trace-a-{i:03d}"
        rows.append(_span("p1", tid, f"ra{i:03d}", "", t0, dur + 50, "invoke_agent chat-api", "agent", "chat-api",
                          status=status, input=question, output=answer, user=user, session=session))
        rows.append(_span("p1", tid, f"ca{i:03d}", f"ra{i:03d}", t0 + 0.01, dur, "chat gpt-4o", "llm", "chat-api",
                          status=status, kind="Client", provider="openai", request_model="gpt-4o",
                          response_model="gpt-4o-2024-08-06", tokens=(1000, 200), cached=0, cost=0.01,
                          ttft_ms=200 if i % 2 == 0 else None, streaming=(i % 2 == 0),
                          input=json.dumps([{"role": "user", "content": question}]),
                          output=json.dumps([{"role": "assistant", "content": answer}]),
                          user=user, session=session, prompt=("qa", "1" if i < 50 else "2"),
                          events=[(0.05, "gen_ai.choice", {"index": "0"})] if i == 42 else ()))
    # B: p1, chat-api / staging, 20 traces with one claude call: 1000 ms, 2000 (500 read from the
    # prompt cache, 100 written to it) + 300 tokens, $0.05; user carol, one session.
    for j in range(20):
        t0 = B + 3600 + j * 60
        tid = f"trace-b-{j:03d}"
        rows.append(_span("p1", tid, f"rb{j:03d}", "", t0, 1050, "invoke_agent chat-api", "agent", "chat-api",
                          env="staging", input=f"Claude question {j}", output=f"Claude answer {j}", user="carol",
                          session="sess-c"))
        rows.append(_span("p1", tid, f"cb{j:03d}", f"rb{j:03d}", t0 + 0.01, 1000, "chat claude-sonnet-4-5", "llm",
                          "chat-api", env="staging", kind="Client", provider="anthropic",
                          request_model="claude-sonnet-4-5", response_model="claude-sonnet-4-5-20250929",
                          tokens=(2000, 300), cached=500, cache_write=100, cost=0.05, streaming=False, user="carol",
                          session="sess-c", prompt=("qa", "2")))
    # C: p1, batch-jobs, 10 root LLM calls reported with a response model only (OpenInference
    # style), no price: cost NULL.
    for k in range(10):
        rows.append(_span("p1", f"trace-c-{k:03d}", f"cc{k:03d}", "", B + 1800 + k * 60, 2000, "llm", "llm",
                          "batch-jobs", kind="Client", provider="ollama", response_model="llama3:70b",
                          tokens=(500, 100)))
    # D: another project, 5 slow expensive gpt-4o calls.
    for m in range(5):
        tid = f"trace-d-{m:03d}"
        rows.append(_span("p2", tid, f"rd{m:03d}", "", B + 600 + m * 60, 10050, "invoke_agent other", "agent",
                          "other-svc", user="dave", session="sess-d"))
        rows.append(_span("p2", tid, f"cd{m:03d}", f"rd{m:03d}", B + 600 + m * 60 + 0.01, 10000, "chat gpt-4o", "llm",
                          "other-svc", kind="Client", provider="openai", request_model="gpt-4o",
                          tokens=(1000, 200), cost=1.0, user="dave", session="sess-d"))
    # Outside the range: before and after.
    for n, t0 in enumerate((B - 1800, B + 7200 + 60)):
        rows.append(_span("p1", f"trace-x-{n}", f"cx{n}", "", t0, 99999, "chat gpt-4o", "llm", "chat-api",
                          kind="Client", provider="openai", request_model="gpt-4o", tokens=(7, 7), cost=5.0))
    return rows


def _score(project, score_id, trace_id, span_id, name, data_type, value, source, ts, string_value="",
           comment="", updated=None):
    return {"project": project, "score_id": score_id, "trace_id": trace_id, "span_id": span_id,
            "name": name, "data_type": data_type, "value": value, "string_value": string_value,
            "comment": comment, "source": source, "timestamp": _ts(ts),
            "updated_at": _ts(updated if updated is not None else ts + 1)}


def seed_scores():
    """Returns (first insert, second insert): the second re-sends 10 scores with a new value."""
    first, resent = [], []
    for i in range(30, 70):  # LLM judge on the gpt-4o call: 0.5 on prompt v1, 1.0 on v2
        ts = B + i * 30 + 60
        value = 0.5 if i < 50 else 1.0
        if i < 40:  # first sent as 0.0, then corrected to 0.5
            first.append(_score("p1", f"faith-a{i}", f"trace-a-{i:03d}", f"ca{i:03d}", "faithfulness", "NUMERIC",
                                0.0, "EVAL", ts, updated=ts))
            resent.append(_score("p1", f"faith-a{i}", f"trace-a-{i:03d}", f"ca{i:03d}", "faithfulness", "NUMERIC",
                                 value, "EVAL", ts, updated=ts + 10))
        else:
            first.append(_score("p1", f"faith-a{i}", f"trace-a-{i:03d}", f"ca{i:03d}", "faithfulness", "NUMERIC",
                                value, "EVAL", ts))
    for j in range(10):  # trace-level judge scores on claude traces
        first.append(_score("p1", f"faith-b{j}", f"trace-b-{j:03d}", "", "faithfulness", "NUMERIC", 0.9, "EVAL",
                            B + 3600 + j * 60 + 60))
    for i in range(10):  # thumbs up / down from users: 3 negative
        negative = i < 3
        first.append(_score("p1", f"fb-a{i}", f"trace-a-{i:03d}", "", "user_feedback", "BOOLEAN",
                            0.0 if negative else 1.0, "API", B + i * 30 + 90,
                            string_value="False" if negative else "True",
                            comment="wrong answer" if negative else ""))
    for i in range(2):
        first.append(_score("p1", f"tone-a{i}", f"trace-a-{i:03d}", "", "tone", "CATEGORICAL", None, "EVAL",
                            B + i * 30 + 95, string_value="neutral"))
    first.append(_score("p2", "faith-d0", "trace-d-000", "", "faithfulness", "NUMERIC", 0.0, "EVAL", B + 700))
    return first, resent


def _histogram(project, model, start, t, count, total, buckets, metric="gen_ai.client.operation.duration",
               temporality=2, provider="openai", extra=None, bounds=(0.1, 1.0, 10.0), instance="i-1"):
    attributes = {"gen_ai.request.model": model, "gen_ai.provider.name": provider, **(extra or {})}
    return {"Project": project, "ServiceName": "chat-api", "MetricName": metric, "Attributes": attributes,
            "ResourceAttributes": {"service.name": "chat-api", "service.instance.id": instance,
                                   "deployment.environment.name": "production"},
            "StartTimeUnix": _ts(start), "TimeUnix": _ts(t), "Count": count, "Sum": total,
            "BucketCounts": list(buckets), "ExplicitBounds": list(bounds), "AggregationTemporality": temporality}


def seed_metrics():
    """GenAI histograms (OTLP metrics), cumulative and delta. In p1:
    - gpt-4o durations, cumulative, started in the range: 4 then 10 observations → 10;
    - gpt-4o durations with error.type, cumulative, started BEFORE the range: 100 then 103 → 3
      (the first point in the range is only the baseline);
    - claude-sonnet-4-5 durations, delta: 2 + 3 → 5; its time to first chunk, delta: 2;
    - tokens: gpt-4o input cumulative 100 → 250 (started in range), output delta 30 + 20;
      claude input delta 40; OpenLIT cost for gpt-4o cumulative 0.01 → 0.025.
    In p2: 7 gpt-4o durations (delta). Bounds 0.1 / 1 / 10 s everywhere."""
    t1, t2 = B + 600, B + 1200
    tokens = "gen_ai.client.token.usage"
    return [
        _histogram("p1", "gpt-4o", B + 60, t1, 4, 2.0, [1, 2, 1, 0]),
        _histogram("p1", "gpt-4o", B + 60, t2, 10, 8.0, [2, 5, 2, 1]),
        _histogram("p1", "gpt-4o", B - 3600, t1, 100, 50.0, [100, 0, 0, 0], extra={"error.type": "timeout"}),
        _histogram("p1", "gpt-4o", B - 3600, t2, 103, 53.0, [100, 3, 0, 0], extra={"error.type": "timeout"}),
        _histogram("p1", "claude-sonnet-4-5", B, t1, 2, 1.0, [0, 2, 0, 0], temporality=1, provider="anthropic"),
        _histogram("p1", "claude-sonnet-4-5", t1, t2, 3, 9.0, [0, 0, 3, 0], temporality=1, provider="anthropic"),
        _histogram("p1", "claude-sonnet-4-5", B, t1, 2, 0.5, [1, 1, 0, 0], temporality=1, provider="anthropic",
                   metric="gen_ai.client.operation.time_to_first_chunk"),
        _histogram("p1", "gpt-4o", B + 60, t1, 1, 100, [0, 1], metric=tokens, extra={"gen_ai.token.type": "input"},
                   bounds=(1000,)),
        _histogram("p1", "gpt-4o", B + 60, t2, 2, 250, [0, 2], metric=tokens, extra={"gen_ai.token.type": "input"},
                   bounds=(1000,)),
        _histogram("p1", "gpt-4o", B, t1, 1, 30, [1, 0], metric=tokens, temporality=1,
                   extra={"gen_ai.token.type": "output"}, bounds=(1000,)),
        _histogram("p1", "gpt-4o", t1, t2, 1, 20, [1, 0], metric=tokens, temporality=1,
                   extra={"gen_ai.token.type": "output"}, bounds=(1000,)),
        _histogram("p1", "claude-sonnet-4-5", B, t1, 1, 40, [1, 0], metric=tokens, temporality=1, provider="anthropic",
                   extra={"gen_ai.token.type": "input"}, bounds=(1000,)),
        _histogram("p1", "gpt-4o", B + 60, t1, 1, 0.01, [1, 0], metric="gen_ai.usage.cost", bounds=(1,)),
        _histogram("p1", "gpt-4o", B + 60, t2, 2, 0.025, [2, 0], metric="gen_ai.usage.cost", bounds=(1,)),
        _histogram("p2", "gpt-4o", B, t1, 7, 7.0, [0, 7, 0, 0], temporality=1),
    ]


def insert_json(ch, table, rows):
    body = "\n".join(json.dumps(r) for r in rows)
    ch.execute(f"INSERT INTO {table} FORMAT JSONEachRow\n{body}")


# ---- expectations -----------------------------------------------------------------------------------

# The columns each panel returns (variables return one column).
EXPECTED_COLUMNS = {
    ("spanlens-overview", "Calls"): ["calls"],
    ("spanlens-overview", "Error rate"): None,  # two panels share the title; checked by kind below
    ("spanlens-overview", "Latency p95"): ["p95_ms"],
    ("spanlens-overview", "Time to first token p50"): ["ttft_p50_ms"],
    ("spanlens-overview", "Tokens / s"): ["tokens_per_s"],
    ("spanlens-overview", "Cost"): ["cost"],
    ("spanlens-overview", "Requests and errors"): ["time", "requests", "errors"],
    ("spanlens-overview", "Latency p50 / p95 / p99"): ["time", "p50", "p95", "p99"],
    ("spanlens-overview", "Latency p95 by model"): ["time", "model", "p95"],
    ("spanlens-overview", "Time to first token p95 by model"): ["time", "model", "ttft_p95"],
    ("spanlens-overview", "Latency and time to first token by model"):
        ["model", "provider", "calls", "error_rate", "q", "t", "p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms",
         "ttft_p95_ms", "output_tokens_per_s"],
    ("spanlens-overview", "Throughput (tokens / s)"): ["time", "input", "output"],
    ("spanlens-overview", "Output tokens / s of generation by model"): ["time", "model", "tokens_per_s"],
    ("spanlens-overview", "Slowest traces"):
        ["time", "trace_id", "trace_name", "service", "duration_ms", "status", "spans", "llm_calls", "tokens",
         "cost", "user", "session"],
    ("spanlens-quality", "Scores by name"): ["name", "data_type", "scores", "mean", "median", "min", "max", "traces"],
    ("spanlens-quality", "Negative feedback"): ["negative_share"],
    ("spanlens-quality", "Scored traces"): ["traces"],
    ("spanlens-quality", "Scores"): ["scores"],
    ("spanlens-quality", "Scores over time by name"): ["time", "name", "mean"],
    ("spanlens-quality", "Negative feedback share"): ["time", "negative_share"],
    ("spanlens-quality", "Score distribution"): ["bucket", "name", "scores"],
    ("spanlens-quality", "Categorical scores"): ["name", "category", "scores"],
    ("spanlens-quality", "Scores by prompt version"): ["prompt_name", "prompt_version", "score", "scores", "mean", "sampled_1_in"],
    ("spanlens-quality", "Scores by model"): ["model", "score", "scores", "mean", "sampled_1_in"],
    ("spanlens-quality", "Worst-scored traces"):
        ["time", "score", "value", "comment", "trace_id", "trace_name", "input", "output"],
    ("spanlens-cost", "Cost"): ["cost"],
    ("spanlens-cost", "Tokens"): None,  # a stat and a time series share the title
    ("spanlens-cost", "Input tokens"): ["input_tokens"],
    ("spanlens-cost", "Output tokens"): ["output_tokens"],
    ("spanlens-cost", "Cached input share"): ["cached_share"],
    ("spanlens-cost", "Calls without a price"): ["unpriced_calls"],
    ("spanlens-cost", "Cost by model"): ["time", "model", "cost"],
    ("spanlens-cost", "Usage by model"):
        ["model", "provider", "calls", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens",
         "reasoning_tokens", "cost", "cost_per_call", "unpriced_calls"],
    ("spanlens-cost", "Cost by provider"): ["provider", "cost"],
    ("spanlens-cost", "Cached tokens by model"):
        ["model", "input_tokens", "cached_tokens", "cached_share", "cache_write_tokens"],
    ("spanlens-cost", "Cost by day"): ["day", "calls", "tokens", "cost"],
    ("spanlens-cost", "Top users by cost"): ["user", "calls", "sessions", "tokens", "cost"],
    ("spanlens-cost", "Top sessions by cost"): ["session", "user", "first_call", "calls", "tokens", "cost"],
    ("spanlens-traces", "Traces"):
        ["time", "trace_id", "trace_name", "service", "duration_ms", "status", "spans", "llm_calls", "models",
         "tokens", "cost", "user", "session", "input", "output"],
    ("spanlens-traces", "Trace"):
        ["traceID", "spanID", "parentSpanID", "serviceName", "operationName", "startTime", "duration", "tags",
         "serviceTags", "statusCode", "logs", "references", "kind", "statusMessage", "instrumentationLibraryName",
         "instrumentationLibraryVersion", "traceState"],
    ("spanlens-traces", "LLM calls"):
        ["time", "span_id", "name", "model", "provider", "status", "duration_ms", "ttft_ms", "input_tokens",
         "output_tokens", "cached_tokens", "cost", "scores", "input", "output"],
    ("spanlens-traces", "Scores of the trace"):
        ["time", "name", "data_type", "value", "string_value", "source", "comment", "span_id"],
}
EXPECTED_COLUMNS.update({
    ("spanlens-genai-metrics", "Requests"): ["requests"],
    ("spanlens-genai-metrics", "Errors"): ["errors"],
    ("spanlens-genai-metrics", "Input tokens"): ["input_tokens"],
    ("spanlens-genai-metrics", "Output tokens"): ["output_tokens"],
    ("spanlens-genai-metrics", "Duration p95"): ["duration_p95"],
    ("spanlens-genai-metrics", "Reported cost"): ["cost"],
    ("spanlens-genai-metrics", "Requests by model"): ["time", "model", "requests"],
    ("spanlens-genai-metrics", "Token usage by model and type"): ["time", "series", "tokens"],
    ("spanlens-genai-metrics", "Operation duration and time to first chunk p95"): ["time", "duration_p95", "ttft_p95"],
    ("spanlens-genai-metrics", "By model"):
        ["model", "provider", "requests", "errors", "input_tokens", "output_tokens", "duration_p50", "duration_p95",
         "ttft_p50", "ttft_p95", "cost"],
})
SHARED_TITLES = {
    ("spanlens-overview", "Error rate"): {"stat": ["error_rate"], "timeseries": ["time", "error_rate"]},
    ("spanlens-cost", "Tokens"): {"stat": ["tokens"],
                                  "timeseries": ["time", "input_uncached", "input_cached", "input_cache_write", "output",
                                                 "reasoning"]},
}
PLUGIN_MACROS = {"fromTime", "toTime", "fromTime_ms", "toTime_ms", "timeFilter", "timeFilter_ms", "dateFilter",
                 "dateTimeFilter", "dt", "timeInterval", "timeInterval_ms", "interval_s", "conditionalAll"}
NO_ARG_MACROS = ("fromTime", "toTime", "fromTime_ms", "toTime_ms", "interval_s")
TRACE_FRAME = ["traceID", "spanID", "parentSpanID", "operationName", "serviceName", "startTime", "duration"]


def load(uid):
    return next(d for d in g.load_dashboards() if d["uid"] == uid)


# ---- expansion, no ClickHouse needed ------------------------------------------------------------------

class ExpansionTest(unittest.TestCase):
    def var(self, name, value, options=("a", "b", "c"), multi=True, all_value=None, type_="query"):
        return g.Variable(name, type_, multi, True, all_value, list(options), value)

    def test_conditional_all_on_all_and_selection(self):
        sql = "WHERE $__conditionalAll(m IN ($m), $m) AND $__conditionalAll(if(x = '', y, x) IN (${n}), ${n})"
        out = g.apply_conditional_all(sql, [self.var("m", [g.ALL]), self.var("n", ["a"])])
        self.assertEqual(out, "WHERE 1=1 AND if(x = '', y, x) IN (${n})")
        # an empty text box counts as All
        out = g.apply_conditional_all("$__conditionalAll(u = ${u:sqlstring}, $u)", [self.var("u", "", type_="textbox")])
        self.assertEqual(out, "1=1")

    def test_conditional_all_uses_javascript_replace_patterns(self):
        # `$'` in the kept condition is JavaScript's "text after the match" — the plugin's quirk
        out = g.apply_conditional_all("A $__conditionalAll(x = $', $v) B", [self.var("v", ["a"])])
        self.assertEqual(out, "A x =  B B")

    def test_variable_formats(self):
        vs = [self.var("m", ["gpt-4o", "claude"]), self.var("one", ["x"]), self.var("all", [g.ALL]),
              self.var("allv", [g.ALL], all_value=".*"), self.var("t", "it's", type_="textbox", multi=False)]
        self.assertEqual(g.template_replace("IN ($m)", vs, {}), "IN ('gpt-4o','claude')")
        self.assertEqual(g.template_replace("IN (${one})", vs, {}), "IN ('x')")
        self.assertEqual(g.template_replace("IN ($all)", vs, {}), "IN ('a','b','c')")
        self.assertEqual(g.template_replace("'$allv'", vs, {}), "'.*'")
        self.assertEqual(g.template_replace("= $t", vs, {}), "= it's")  # raw
        self.assertEqual(g.template_replace("= ${t:sqlstring}", vs, {}), "= 'it''s'")
        self.assertEqual(g.template_replace("${m:singlequote}", vs, {}), "'gpt-4o','claude'")
        self.assertEqual(g.template_replace("$__timeFilter(t) $unknown", vs, {}), "$__timeFilter(t) $unknown")

    def test_backend_macros(self):
        q = {"from_s": 1700000000, "to_s": 1700003600, "from_ms": 1700000000123, "to_ms": 1700003600456,
             "interval_ms": 90000}
        self.assertEqual(g.interpolate("WHERE $__timeFilter(ts)", q),
                         "WHERE ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600)")
        self.assertEqual(g.interpolate("$__timeInterval(ts)", q), "toStartOfInterval(toDateTime(ts), INTERVAL 90 second)")
        self.assertEqual(g.interpolate("$__timeFilter_ms(ts)", q),
                         "ts >= fromUnixTimestamp64Milli(1700000000123) AND ts <= fromUnixTimestamp64Milli(1700003600456)")
        self.assertEqual(g.interpolate("x / ($__interval_s)", q), "x / (90)")
        self.assertEqual(g.interpolate("($__fromTime)", q), "(toDateTime(1700000000))")
        # the plugin's argument scan: a bare no-argument macro swallows the next parentheses
        self.assertEqual(g.interpolate("$__toTime AND f(x)", q), "toDateTime(1700003600)")
        with self.assertRaises(g.MacroError):
            g.interpolate("$__timeFilter(a, b)", q)

    def test_intervals_follow_grafana(self):
        week = g.Context(0, 7 * 86400)
        self.assertEqual(g.panel_interval_ms({"maxDataPoints": 200}, week), 3600000)
        self.assertEqual(g.panel_interval_ms({"maxDataPoints": 200, "interval": "1m"}, g.Context(0, 7200)), 60000)
        self.assertEqual(g.round_interval(672000), 600000)

    def test_dashboards_close_no_argument_macros(self):
        for dash in g.load_dashboards():
            for item in g.queries(dash):
                for name in NO_ARG_MACROS:
                    for m in re.finditer(r"\$__" + name + r"\b", item.sql):
                        following = re.search(r"[()]", item.sql[m.end():])
                        self.assertEqual(following and following.group(0), ")",
                                         f"{dash['uid']} / {item.title}: the next parenthesis after $__{name} "
                                         "must close (the plugin would take a following '(...)' as its arguments)")

    def test_expansion_does_not_depend_on_macro_order(self):
        """Go iterates the macro map in random order."""
        names = list(g.backend_macros({"from_s": 0, "to_s": 0, "from_ms": 0, "to_ms": 0, "interval_ms": 0}))
        for dash in g.load_dashboards():
            variables = [g.Variable(v["name"], v["type"], True, True, None, ["a"], [g.ALL])
                         for v in dash["templating"]["list"]]
            for item in g.queries(dash):
                expected = g.expand(item, variables, RANGE)
                shuffled = names[:]
                random.Random(item.title).shuffle(shuffled)
                self.assertEqual(g.expand(item, variables, RANGE, shuffled), expected, item.title)


# ---- dashboard and provisioning files --------------------------------------------------------------

class FilesTest(unittest.TestCase):
    def test_generated_files_are_current(self):
        import generate
        for name, fn in generate.DASHBOARDS.items():
            with open(os.path.join(DASHBOARDS, name)) as f:
                self.assertEqual(f.read(), generate.render(fn), f"{name}: run dashboards/generate.py")

    def test_dashboards_use_the_plugin_query_model(self):
        dashes = g.load_dashboards()
        self.assertEqual(sorted(d["uid"] for d in dashes),
                         ["spanlens-cost", "spanlens-genai-metrics", "spanlens-overview", "spanlens-quality",
                          "spanlens-traces"])
        for dash in dashes:
            var_names = {v["name"] for v in dash["templating"]["list"]}
            for name in ("project", "service", "environment", "provider", "model"):
                v = next(v for v in dash["templating"]["list"] if v["name"] == name)
                self.assertTrue(v["multi"] and v["includeAll"], (dash["uid"], name))
                self.assertEqual(v["datasource"]["type"], "grafana-clickhouse-datasource")
            ids = [p["id"] for p in g.all_panels(dash)]
            self.assertEqual(len(ids), len(set(ids)))
            for panel in g.all_panels(dash):
                if panel["type"] == "row":
                    continue
                self.assertEqual(panel["datasource"]["type"], "grafana-clickhouse-datasource")
                for t in panel["targets"]:
                    self.assertEqual(t["editorType"], "sql")
                    self.assertEqual(t["datasource"]["type"], "grafana-clickhouse-datasource")
                    self.assertEqual({0: "timeseries", 1: "table", 3: "traces"}[t["format"]], t["queryType"])
                    expected_format = {"timeseries": 0, "traces": 3}.get(panel["type"], 1)
                    self.assertEqual(t["format"], expected_format, panel["title"])
                    for m in re.finditer(r"\$__(\w+)", t["rawSql"]):
                        self.assertIn(m.group(1), PLUGIN_MACROS, panel["title"])
                    for m in re.finditer(r"\$\{?(\w+)", t["rawSql"]):
                        if not m.group(1).startswith("__"):
                            self.assertIn(m.group(1), var_names, panel["title"])
                for override in panel["fieldConfig"]["overrides"]:
                    for prop in override["properties"]:
                        if prop["id"] == "links":
                            self.assertIn("var-trace_id=${__data.fields.trace_id}", prop["value"][0]["url"])

    def test_provisioning(self):
        with open(os.path.join(DASHBOARDS, "provisioning", "datasources", "spanlens.yaml")) as f:
            ds = f.read()
        for needle in ("type: grafana-clickhouse-datasource", "uid: spanlens-clickhouse", "protocol: http",
                       "port: 8123", "defaultDatabase: spanlens", "defaultTable: otel_traces", "otelEnabled: true"):
            self.assertIn(needle, ds)
        for dash in g.load_dashboards():
            ds_var = next(v for v in dash["templating"]["list"] if v["type"] == "datasource")
            self.assertEqual(ds_var["current"]["value"], "spanlens-clickhouse")
        with open(os.path.join(DASHBOARDS, "provisioning", "dashboards", "spanlens.yaml")) as f:
            prov = f.read()
        self.assertIn("type: file", prov)
        path = re.search(r"^\s*path:\s*(\S+)", prov, re.M).group(1)
        self.assertTrue(path.startswith("/"), path)


# ---- on ClickHouse -------------------------------------------------------------------------------------

@unittest.skipUnless(CLICKHOUSE_URL, "CLICKHOUSE_URL is not set")
class ClickHouseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = g.ClickHouse(CLICKHOUSE_URL)
        cls.database = f"spanlens_dash_test_{os.getpid()}"
        cls.migrated_by = g.create_database(cls.server, cls.database)
        print(f"\ndashboard tests: database {cls.database} migrated by {cls.migrated_by}", file=sys.stderr)
        cls.ch = cls.server.with_database(cls.database)
        insert_json(cls.ch, "spans", seed_spans())
        first, resent = seed_scores()
        insert_json(cls.ch, "scores", first)
        insert_json(cls.ch, "scores", resent)
        insert_json(cls.ch, "otel_metrics_histogram", seed_metrics())

    @classmethod
    def tearDownClass(cls):
        cls.server.execute(f"DROP DATABASE IF EXISTS {cls.database}")

    # helpers

    def run_panel(self, uid, title, selections=None, ctx=RANGE, kind=None):
        dash = load(uid)
        variables = g.resolve_variables(self.ch, dash, ctx, selections)
        item = next(i for i in g.queries(dash) if i.title == title and (kind is None or i.panel.get("type") == kind))
        cols, rows = self.ch.query_meta(g.expand(item, variables, ctx))
        return [dict(zip([c for c, _ in cols], r)) for r in rows]

    def value(self, uid, title, selections=None, ctx=RANGE, kind=None):
        rows = self.run_panel(uid, title, selections, ctx, kind)
        self.assertEqual(len(rows), 1)
        return next(iter(rows[0].values()))

    # every query

    def check_all_queries(self, selections, ctx=RANGE):
        for dash in g.load_dashboards():
            variables = g.resolve_variables(self.ch, dash, ctx, selections.get(dash["uid"], selections.get("*")))
            for item in g.queries(dash):
                with self.subTest(dashboard=dash["uid"], query=item.title, selections=selections):
                    sql = g.expand(item, variables, ctx)
                    self.assertNotIn("$", sql.replace("$$", ""), "unexpanded macro or variable")
                    cols, rows = self.ch.query_meta(sql)
                    names = [c for c, _ in cols]
                    if item.kind == "variable":
                        self.assertEqual(len(names), 1)
                        continue
                    key = (dash["uid"], item.title)
                    expected = EXPECTED_COLUMNS[key] or SHARED_TITLES[key][item.panel["type"]]
                    self.assertEqual(names, expected)
                    fmt = item.target["format"]
                    if fmt == 0:
                        self.assertTrue(cols[0][1].startswith("DateTime"), cols[0])
                    if fmt == 3:
                        self.assertEqual(names[:7], ["traceID", "spanID", "parentSpanID", "serviceName",
                                                     "operationName", "startTime", "duration"])

    def test_every_query_runs_with_all(self):
        self.check_all_queries({"*": {}})

    def test_every_query_runs_with_multi_value_selections(self):
        sel = {"project": ["p1", "p2"], "service": ["chat-api", "other-svc"], "environment": ["production"],
               "provider": ["openai", "anthropic"], "model": ["gpt-4o", "claude-sonnet-4-5"],
               "observation_type": ["llm", "agent"], "score_name": ["faithfulness"], "source": ["EVAL", "API"],
               "status": ["Ok", "Error"], "user": "bob", "session": "sess-4", "search": "number 4",
               "trace_id": "trace-a-042"}
        self.check_all_queries({"*": sel})
        self.check_all_queries({"*": sel}, g.Context(B - 7 * 86400, B + 7200))

    def test_migrated_schema(self):
        tables = {r[0] for r in self.ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
        for t in ("spans", "scores", "otel_traces", "otel_traces_trace_id_ts", "spans_1m", "spans_1h", "usage_1h",
                  "llm_calls"):
            self.assertIn(t, tables)
        ttl = {r[0]: r[1] for r in self.ch.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()")}
        for t in ("spans_1m", "spans_1h", "usage_1h", "llm_calls", "otel_traces_trace_id_ts"):
            self.assertRegex(ttl[t], r"TTL .*(toIntervalDay\(400\)|INTERVAL 400 DAY)", t)
        # 0041: an insert of up to 64 MiB writes one Compact part (one data file), not ~290 column files
        self.assertIn("min_bytes_for_wide_part = 67108864", ttl["spans"])

    # variables

    def test_variables_chain_on_project(self):
        dash = load("spanlens-overview")
        variables = {v.name: v for v in g.resolve_variables(self.ch, dash, RANGE, {"project": ["p1"]})}
        self.assertEqual(variables["model"].options, ["claude-sonnet-4-5", "gpt-4o", "llama3:70b"])
        self.assertEqual(variables["service"].options, ["batch-jobs", "chat-api"])
        self.assertEqual(variables["observation_type"].value, ["llm"])  # the saved default
        variables = {v.name: v for v in g.resolve_variables(self.ch, dash, RANGE)}
        self.assertEqual(variables["project"].options, ["p1", "p2"])

    # overview

    def test_overview_exact(self):
        p1 = {"project": ["p1"]}
        self.assertEqual(self.value("spanlens-overview", "Calls", p1), 130)
        self.assertEqual(self.value("spanlens-overview", "Calls"), 135)
        self.assertEqual(self.value("spanlens-overview", "Calls", {**p1, "model": ["gpt-4o", "claude-sonnet-4-5"]}), 120)
        self.assertAlmostEqual(self.value("spanlens-overview", "Error rate", p1, kind="stat"), 5 / 130)
        self.assertAlmostEqual(self.value("spanlens-overview", "Cost", p1), 2.0)
        self.assertAlmostEqual(self.value("spanlens-overview", "Tokens / s", p1), 172000 / 7200)
        self.assertEqual(self.value("spanlens-overview", "Latency p95", {**p1, "model": ["gpt-4o"]}), 500)
        self.assertEqual(self.value("spanlens-overview", "Time to first token p50", {**p1, "model": ["gpt-4o"]}), 200)

        by_model = {r["model"]: r for r in self.run_panel("spanlens-overview", "Latency and time to first token by model", p1)}
        self.assertEqual(sorted(by_model), ["claude-sonnet-4-5", "gpt-4o", "llama3:70b"])
        gpt = by_model["gpt-4o"]
        self.assertEqual((gpt["calls"], gpt["p50_ms"], gpt["p95_ms"], gpt["p99_ms"], gpt["ttft_p50_ms"]),
                         (100, 100, 500, 3000, 200))
        self.assertAlmostEqual(gpt["error_rate"], 0.05)
        self.assertAlmostEqual(gpt["output_tokens_per_s"], 100 * 200 / (77 * 0.1 + 20 * 0.5 + 3 * 3.0))
        claude = by_model["claude-sonnet-4-5"]
        self.assertEqual((claude["p50_ms"], claude["p99_ms"], claude["ttft_p50_ms"]), (1000, 1000, None))

        series = self.run_panel("spanlens-overview", "Requests and errors", p1)
        self.assertEqual((sum(r["requests"] for r in series), sum(r["errors"] for r in series)), (130, 5))

        slow = self.run_panel("spanlens-overview", "Slowest traces", p1)
        self.assertEqual({r["trace_id"] for r in slow[:3]}, {"trace-a-097", "trace-a-098", "trace-a-099"})
        self.assertEqual(slow[0]["duration_ms"], 3050)
        self.assertEqual((slow[0]["llm_calls"], slow[0]["tokens"], slow[0]["cost"]), (1, 1200, 0.01))
        slow_claude = self.run_panel("spanlens-overview", "Slowest traces", {**p1, "model": ["claude-sonnet-4-5"]})
        self.assertTrue(all(r["trace_id"].startswith("trace-b-") for r in slow_claude))
        self.assertEqual(len(slow_claude), 20)

    def test_rollups_match_raw_spans_on_any_range(self):
        """Whole hours come from spans_1h, edges from spans_1m: same numbers as the spans."""
        ranges = [RANGE, g.Context(B + 1800, B + 7200), g.Context(B + 1799, B + 5399),
                  g.Context(B - 7 * 86400, B + 7200), g.Context(B - 3600, B + 8000)]
        for ctx in ranges:
            raw = self.ch.query(f"""
                SELECT count(), countIf(status_code = 'Error'), sum(ifNull(total_tokens, 0)), sum(total_cost)
                FROM spans WHERE project = 'p1' AND observation_type = 'llm'
                  AND toStartOfMinute(start_time) >= toDateTime({ctx.from_s})
                  AND toStartOfMinute(start_time) <= toDateTime({ctx.to_s})""")[0]
            with self.subTest(ctx=ctx):
                sel = {"project": ["p1"]}
                self.assertEqual(self.value("spanlens-overview", "Calls", sel, ctx), raw[0])
                self.assertAlmostEqual(self.value("spanlens-overview", "Error rate", sel, ctx, "stat") or 0,
                                       raw[1] / raw[0] if raw[0] else 0)
                self.assertAlmostEqual(self.value("spanlens-overview", "Cost", sel, ctx), raw[3] or 0)
                self.assertEqual(self.value("spanlens-cost", "Tokens", sel, ctx, "stat"), raw[2])
                series = self.run_panel("spanlens-overview", "Requests and errors", sel, ctx)
                self.assertEqual(sum(r["requests"] for r in series), raw[0])
                users = self.run_panel("spanlens-cost", "Top users by cost", sel, ctx)
                raw_users = dict(self.ch.query(f"""
                    SELECT user_id, count() FROM spans WHERE project = 'p1' AND observation_type IN ('llm', 'embedding')
                      AND user_id != '' AND toStartOfMinute(start_time) >= toDateTime({ctx.from_s})
                      AND toStartOfMinute(start_time) <= toDateTime({ctx.to_s})
                    GROUP BY user_id"""))
                self.assertEqual({r["user"]: r["calls"] for r in users}, raw_users)
        # the 7-day series is bucketed by hour, from spans_1h
        week = g.Context(B - 7 * 86400, B + 7200)
        series = self.run_panel("spanlens-overview", "Requests and errors", {"project": ["p1"]}, week)
        self.assertTrue(all(int(r["time"][11:13]) >= 0 and r["time"].endswith(":00:00") for r in series))

    def test_rollups_sum_cache_write_tokens(self):
        """Cache-write tokens reach every rollup (0040): per model, exactly the spans' sums."""
        def by_model(sql):
            return {m: int(n) for m, n in self.ch.query(sql)}
        raw = by_model("""SELECT if(request_model = '', response_model, request_model) AS m,
                                 sum(ifNull(cache_creation_tokens, 0)) FROM spans GROUP BY m""")
        self.assertEqual({m: n for m, n in raw.items() if n}, {"claude-sonnet-4-5": 20 * 100})
        for table in ("spans_1m", "spans_1h"):
            with self.subTest(table=table):
                self.assertEqual(by_model(f"SELECT model, sum(cache_creation_tokens) FROM {table} GROUP BY model"), raw)
        calls = by_model("""SELECT if(request_model = '', response_model, request_model) AS m,
                                   sum(ifNull(cache_creation_tokens, 0)) FROM spans
                            WHERE observation_type IN ('llm', 'embedding') GROUP BY m""")
        self.assertEqual(by_model("SELECT model, sum(cache_creation_tokens) FROM usage_1h GROUP BY model"), calls)
        self.assertEqual(calls["claude-sonnet-4-5"], 2000)

    # quality

    def test_quality_exact(self):
        p1 = {"project": ["p1"]}
        names = {r["name"]: r for r in self.run_panel("spanlens-quality", "Scores by name", p1)}
        self.assertEqual(sorted(names), ["faithfulness", "tone", "user_feedback"])
        faith = names["faithfulness"]
        self.assertEqual((faith["scores"], faith["min"], faith["max"], faith["traces"]), (50, 0.5, 1.0, 50))
        self.assertAlmostEqual(faith["mean"], (20 * 0.5 + 20 * 1.0 + 10 * 0.9) / 50)  # re-sent 0.0 -> 0.5
        self.assertAlmostEqual(names["user_feedback"]["mean"], 0.7)
        self.assertIsNone(names["tone"]["mean"])
        self.assertAlmostEqual(self.value("spanlens-quality", "Negative feedback", p1), 0.3)
        self.assertEqual(self.value("spanlens-quality", "Scores", p1), 62)
        self.assertEqual(self.value("spanlens-quality", "Scored traces", p1), 60)

        by_prompt = {(r["prompt_name"], r["prompt_version"], r["score"]): (r["scores"], r["mean"])
                     for r in self.run_panel("spanlens-quality", "Scores by prompt version", p1)}
        self.assertEqual(set(by_prompt), {("qa", "1", "faithfulness"), ("qa", "2", "faithfulness"),
                                          ("qa", "1", "user_feedback")})
        self.assertEqual(by_prompt[("qa", "1", "faithfulness")], (20, 0.5))
        self.assertEqual(by_prompt[("qa", "2", "faithfulness")][0], 30)
        self.assertAlmostEqual(by_prompt[("qa", "2", "faithfulness")][1], (20 * 1.0 + 10 * 0.9) / 30)
        self.assertAlmostEqual(by_prompt[("qa", "1", "user_feedback")][1], 0.7)

        by_model = {(r["model"], r["score"]): (r["scores"], r["mean"])
                    for r in self.run_panel("spanlens-quality", "Scores by model", p1)}
        self.assertEqual(by_model[("gpt-4o", "faithfulness")], (40, 0.75))
        self.assertEqual(by_model[("claude-sonnet-4-5", "faithfulness")][0], 10)
        self.assertAlmostEqual(by_model[("claude-sonnet-4-5", "faithfulness")][1], 0.9)
        self.assertEqual(len(by_model), 3)

        claude_only = {r["name"]: r["scores"]
                       for r in self.run_panel("spanlens-quality", "Scores by name", {**p1, "model": ["claude-sonnet-4-5"]})}
        self.assertEqual(claude_only, {"faithfulness": 10})

        dist = {(r["name"], r["bucket"]): r["scores"] for r in self.run_panel("spanlens-quality", "Score distribution", p1)}
        self.assertEqual(dist, {("faithfulness", "0.5"): 20, ("faithfulness", "0.9"): 10, ("faithfulness", "1"): 20,
                                ("user_feedback", "0"): 3, ("user_feedback", "1"): 7})

        worst = [r for r in self.run_panel("spanlens-quality", "Worst-scored traces", p1) if r["score"] == "faithfulness"]
        self.assertEqual(len(worst), 10)
        self.assertTrue(all(r["value"] == 0.5 for r in worst))
        for r in worst:
            i = int(r["trace_id"][-3:])
            question = "What is the refund policy for damaged items?" if i == 42 else f"Question number {i}"
            answer = "" if i % 20 == 0 else f"Answer number {i}"  # every 20th trace failed
            self.assertEqual((r["input"], r["output"]), (question, answer))
        feedback = [r for r in self.run_panel("spanlens-quality", "Worst-scored traces", p1) if r["score"] == "user_feedback"]
        self.assertEqual([r["value"] for r in feedback[:3]], [0, 0, 0])
        self.assertEqual(feedback[0]["comment"], "wrong answer")

        categories = {(r["name"], r["category"]): r["scores"]
                      for r in self.run_panel("spanlens-quality", "Categorical scores", p1)}
        self.assertEqual(categories, {("tone", "neutral"): 2, ("user_feedback", "false"): 3, ("user_feedback", "true"): 7})

        over_time = self.run_panel("spanlens-quality", "Scores over time by name", {**p1, "score_name": ["user_feedback"]})
        self.assertEqual({r["name"] for r in over_time}, {"user_feedback"})

    # cost

    def test_cost_exact(self):
        p1 = {"project": ["p1"]}
        self.assertAlmostEqual(self.value("spanlens-cost", "Cost", p1), 2.0)
        self.assertEqual(self.value("spanlens-cost", "Tokens", p1, kind="stat"), 172000)
        self.assertEqual(self.value("spanlens-cost", "Input tokens", p1), 145000)
        self.assertEqual(self.value("spanlens-cost", "Output tokens", p1), 27000)
        self.assertAlmostEqual(self.value("spanlens-cost", "Cached input share", p1), 10000 / 145000)
        self.assertEqual(self.value("spanlens-cost", "Calls without a price", p1), 10)

        usage = {r["model"]: r for r in self.run_panel("spanlens-cost", "Usage by model", p1)}
        self.assertEqual((usage["gpt-4o"]["calls"], usage["gpt-4o"]["input_tokens"], usage["gpt-4o"]["output_tokens"]),
                         (100, 100000, 20000))
        self.assertAlmostEqual(usage["gpt-4o"]["cost"], 1.0)
        self.assertAlmostEqual(usage["gpt-4o"]["cost_per_call"], 0.01)
        self.assertAlmostEqual(usage["claude-sonnet-4-5"]["cost"], 1.0)
        self.assertEqual(usage["claude-sonnet-4-5"]["cached_tokens"], 10000)
        self.assertEqual(usage["claude-sonnet-4-5"]["cache_write_tokens"], 2000)
        self.assertEqual(usage["gpt-4o"]["cache_write_tokens"], 0)
        cache = {r["model"]: r["cache_write_tokens"] for r in self.run_panel("spanlens-cost", "Cached tokens by model", p1)}
        self.assertEqual(cache, {"claude-sonnet-4-5": 2000, "gpt-4o": 0, "llama3:70b": 0})
        tokens = self.run_panel("spanlens-cost", "Tokens", p1, kind="timeseries")
        self.assertEqual([sum(r[c] for r in tokens) for c in ("input_uncached", "input_cached", "input_cache_write")],
                         [145000 - 10000 - 2000, 10000, 2000])
        self.assertIsNone(usage["llama3:70b"]["cost"])  # unknown price: NULL, not 0
        self.assertEqual(usage["llama3:70b"]["unpriced_calls"], 10)

        providers = {r["provider"]: r["cost"] for r in self.run_panel("spanlens-cost", "Cost by provider", p1)}
        self.assertAlmostEqual(providers["openai"], 1.0)
        self.assertAlmostEqual(providers["anthropic"], 1.0)

        day = self.run_panel("spanlens-cost", "Cost by day", p1)
        self.assertEqual(len(day), 1)
        self.assertEqual((day[0]["calls"], day[0]["tokens"]), (130, 172000))
        self.assertAlmostEqual(day[0]["cost"], 2.0)

        users = self.run_panel("spanlens-cost", "Top users by cost", p1)
        self.assertEqual([(r["user"], r["calls"], r["sessions"]) for r in users],
                         [("carol", 20, 1), ("bob", 90, 9), ("alice", 10, 1)])
        self.assertEqual([round(r["cost"], 6) for r in users], [1.0, 0.9, 0.1])
        sessions = self.run_panel("spanlens-cost", "Top sessions by cost", p1)
        self.assertEqual((sessions[0]["session"], sessions[0]["user"], sessions[0]["calls"]), ("sess-c", "carol", 20))
        self.assertAlmostEqual(sessions[0]["cost"], 1.0)
        self.assertEqual(len(sessions), 11)

    # GenAI metrics (OTLP histograms, delta and cumulative)

    def test_genai_metrics_exact(self):
        uid = "spanlens-genai-metrics"
        p1 = {"project": ["p1"]}
        self.assertEqual(self.value(uid, "Requests", p1), 18)
        self.assertEqual(self.value(uid, "Requests"), 25)
        self.assertEqual(self.value(uid, "Requests", {**p1, "model": ["claude-sonnet-4-5"]}), 5)
        self.assertEqual(self.value(uid, "Requests", {"provider": ["anthropic"]}), 5)
        self.assertEqual(self.value(uid, "Errors", p1), 3)
        self.assertEqual(self.value(uid, "Input tokens", p1), 290)
        self.assertEqual(self.value(uid, "Output tokens", p1), 50)
        self.assertAlmostEqual(self.value(uid, "Reported cost", p1), 0.025)
        # p1 buckets [2, 10, 5, 1] (bounds 0.1, 1, 10): the 95th of 18 lies in the overflow bucket.
        self.assertAlmostEqual(self.value(uid, "Duration p95", p1), 10.0)
        self.assertAlmostEqual(self.value(uid, "Duration p95", {**p1, "model": ["claude-sonnet-4-5"]}),
                               1 + 9 * (4.75 - 2) / 3)
        rows = {r["model"]: r for r in self.run_panel(uid, "By model", p1)}
        gpt, claude = rows["gpt-4o"], rows["claude-sonnet-4-5"]
        self.assertEqual((gpt["provider"], gpt["requests"], gpt["errors"], gpt["input_tokens"], gpt["output_tokens"]),
                         ("openai", 13, 3, 250, 50))
        self.assertAlmostEqual(gpt["duration_p50"], 0.1 + 0.9 * (6.5 - 2) / 8)  # buckets [2, 8, 2, 1]
        self.assertAlmostEqual(gpt["duration_p95"], 10.0)
        self.assertAlmostEqual(gpt["cost"], 0.025)
        self.assertIsNone(gpt["ttft_p50"])
        self.assertEqual((claude["requests"], claude["errors"], claude["input_tokens"]), (5, 0, 40))
        self.assertAlmostEqual(claude["duration_p50"], 1 + 9 * (2.5 - 2) / 3)  # buckets [0, 2, 3, 0]
        self.assertAlmostEqual(claude["ttft_p50"], 0.1)  # [1, 1, 0, 0]: the first bucket starts at 0
        self.assertAlmostEqual(claude["ttft_p95"], 0.1 + 0.9 * (1.9 - 1))
        self.assertIsNone(claude["cost"])
        # Per time bucket: at t1 the p1 buckets add up to [1, 4, 1, 0] (gpt-4o's first point, claude's
        # first delta; the other series' first point is a baseline), at t2 to [1, 6, 4, 1].
        p95s = self.run_panel(uid, "Operation duration and time to first chunk p95", p1)
        self.assertEqual(len(p95s), 2)
        self.assertAlmostEqual(p95s[0]["duration_p95"], 1 + 9 * (5.7 - 5) / 1)
        self.assertAlmostEqual(p95s[1]["duration_p95"], 10.0)
        self.assertAlmostEqual(p95s[0]["ttft_p95"], 0.1 + 0.9 * (1.9 - 1))
        self.assertIsNone(p95s[1]["ttft_p95"])
        series = self.run_panel(uid, "Requests by model", p1)
        self.assertEqual(sum(r["requests"] for r in series if r["model"] == "gpt-4o"), 13)
        tokens = self.run_panel(uid, "Token usage by model and type", p1)
        by_series = {}
        for r in tokens:
            by_series[r["series"]] = by_series.get(r["series"], 0) + r["tokens"]
        self.assertEqual(by_series, {"gpt-4o input": 250, "gpt-4o output": 50, "claude-sonnet-4-5 input": 40})

    # trace explorer

    def test_trace_explorer_filters(self):
        p1 = {"project": ["p1"]}

        def traces(**sel):
            return [r["trace_id"] for r in self.run_panel("spanlens-traces", "Traces", {**p1, **sel})]

        self.assertEqual(traces(search="REFUND policy"), ["trace-a-042"])
        self.assertEqual(sorted(traces(user="alice")), [f"trace-a-{i:03d}" for i in range(10)])
        self.assertEqual(sorted(traces(status=["Error"])), [f"trace-a-{i:03d}" for i in range(0, 100, 20)])
        self.assertEqual(sorted(traces(session="sess-3")), [f"trace-a-{i:03d}" for i in range(30, 40)])
        self.assertEqual(len(traces(model=["claude-sonnet-4-5"])), 20)
        self.assertEqual(traces(user="it's"), [])  # quotes are escaped
        everything = self.run_panel("spanlens-traces", "Traces", p1)
        self.assertEqual(len(everything), 100)  # 130 traces, the latest 100
        self.assertTrue(everything[0]["trace_id"].startswith("trace-b-"))
        a42 = self.run_panel("spanlens-traces", "Traces", {**p1, "search": "refund"})[0]
        self.assertEqual((a42["spans"], a42["llm_calls"], a42["models"], a42["tokens"], a42["user"], a42["duration_ms"]),
                         (2, 1, "gpt-4o", 1200, "bob", 150))

    def test_trace_explorer_selected_trace(self):
        sel = {"trace_id": "trace-a-035"}
        calls = self.run_panel("spanlens-traces", "LLM calls", sel)
        self.assertEqual(len(calls), 1)
        c = calls[0]
        self.assertEqual((c["span_id"], c["model"], c["input_tokens"], c["output_tokens"], c["scores"], c["duration_ms"]),
                         ("ca035", "gpt-4o", 1000, 200, "faithfulness=0.5", 100))
        self.assertAlmostEqual(c["cost"], 0.01)
        self.assertIn("Question number 35", c["input"])
        scores = self.run_panel("spanlens-traces", "Scores of the trace", sel)
        self.assertEqual([(s["name"], s["value"]) for s in scores], [("faithfulness", 0.5)])

        spans = self.run_panel("spanlens-traces", "Trace", {"trace_id": "trace-a-042"})
        self.assertEqual([(s["spanID"], s["parentSpanID"]) for s in spans], [("ra042", ""), ("ca042", "ra042")])
        llm = spans[1]
        tags = {t["key"]: t["value"] for t in llm["tags"]}
        self.assertEqual((tags["gen_ai.request.model"], tags["gen_ai.usage.input_tokens"], tags["spanlens.cost.total"]),
                         ("gpt-4o", "1000", "0.01"))
        self.assertEqual(llm["duration"], 100)
        self.assertEqual(llm["logs"][0]["name"], "gen_ai.choice")
        self.assertEqual(self.run_panel("spanlens-traces", "Trace", {"trace_id": "nope"}), [])
        # the trace panel ignores the dashboard time range: a link from anywhere opens it
        far = g.Context(B - 30 * 86400, B - 29 * 86400)
        self.assertEqual(len(self.run_panel("spanlens-traces", "Trace", {"trace_id": "trace-a-042"}, far)), 2)

    def test_plugin_view_trace_link_query(self):
        """The query the plugin builds for "View trace" on a trace_id cell, with the datasource's
        OTel trace settings (otel_traces, latest OTel version), as in its sqlGenerator."""
        trace_id = "trace-a-042"
        db, table = self.database, "otel_traces"
        tags = lambda col: f"arrayMap(key -> map('key', key, 'value',\"{col}\"[key]), mapKeys(\"{col}\")) as"  # noqa: E731
        sql = " ".join([
            "WITH", f"'{trace_id}' as trace_id,",
            f"(SELECT min(Start) FROM \"{db}\".\"{table}_trace_id_ts\" WHERE TraceId = trace_id) as trace_start,",
            f"(SELECT max(End) + 1 FROM \"{db}\".\"{table}_trace_id_ts\" WHERE TraceId = trace_id) as trace_end",
            "SELECT", ", ".join([
                '"TraceId" as traceID', '"SpanId" as spanID', '"ParentSpanId" as parentSpanID',
                '"ServiceName" as serviceName', '"SpanName" as operationName',
                'multiply(toUnixTimestamp64Nano("Timestamp"), 0.000001) as startTime',
                'multiply("Duration", 0.000001) as duration',
                tags("SpanAttributes") + " tags", tags("ResourceAttributes") + " serviceTags",
                "if(\"StatusCode\" IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) as statusCode",
                "arrayMap((name, timestamp, attributes) -> tuple(name, toString(toUnixTimestamp64Milli(timestamp)), "
                "arrayMap( key -> map('key', key, 'value', attributes[key]), mapKeys(attributes)))::Tuple(name String, "
                "timestamp String, fields Array(Map(String, String))), \"Events\".Name, \"Events\".Timestamp, "
                "\"Events\".Attributes) AS logs",
                "arrayMap((traceID, spanID, attributes) -> tuple(traceID, spanID, arrayMap(key -> map('key', key, "
                "'value', attributes[key]), mapKeys(attributes)))::Tuple(traceID String, spanID String, tags "
                "Array(Map(String, String))), \"Links\".TraceId, \"Links\".SpanId, \"Links\".Attributes) AS references",
                '"SpanKind" as kind', '"StatusMessage" as statusMessage', '"TraceState" as traceState']),
            "FROM", f'"{db}"."{table}"',
            "WHERE", "traceID = trace_id", "AND", '"Timestamp" >= trace_start', "AND", '"Timestamp" <= trace_end',
        ])
        cols, rows = self.ch.query_meta(sql)
        names = [c for c, _ in cols]
        for f in TRACE_FRAME + ["tags", "logs", "statusCode", "kind"]:
            self.assertIn(f, names)
        got = sorted((dict(zip(names, r)) for r in rows), key=lambda r: r["startTime"])
        self.assertEqual([(r["spanID"], r["parentSpanID"], r["kind"]) for r in got],
                         [("ra042", "", "Internal"), ("ca042", "ra042", "Client")])
        self.assertEqual(got[1]["logs"][0]["fields"], [{"key": "index", "value": "0"}])


if __name__ == "__main__":
    unittest.main()
