"""Runs the sharded rendering in the ClickHouse engine (chDB) and answers the dashboards' kind of
queries from it and from the single rendering, as JSON on stdout. Used by
test_schema_topologies.py in a child process (chDB keeps one engine per process, configured here
with a one-shard cluster).

What chDB cannot do here is taken out of the sharded DDL: ON CLUSTER (needs the DDL queue in
Keeper) and the Replicated* engines' Keeper path (the plain engine of the same family instead).
Everything else runs as rendered: `_local` tables, Distributed tables over them, materialized
views reading and writing the local tables, plain views over the Distributed tables.

    python sharded_engine.py <spanlens-collector binary>
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import chdb

CLUSTER = """<clickhouse>
  <tcp_port>9000</tcp_port>
  <remote_servers><spanlens><shard><replica><host>localhost</host><port>9000</port></replica></shard></spanlens></remote_servers>
</clickhouse>"""

SPAN_COLUMNS = ("project, start_time, duration_ns, trace_id, span_id, observation_type, provider, request_model, "
                "input_tokens, output_tokens, total_cost, service_name, user_id, session_id, status_code")

QUERIES = [
    "SELECT project, minute, sum(spans), sum(errors), sum(input_tokens), round(sum(known_cost), 6), "
    "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_ns) FROM {db}.spans_1m GROUP BY project, minute ORDER BY project, minute",
    "SELECT project, hour, model, sum(spans), sum(output_tokens) FROM {db}.spans_1h GROUP BY ALL ORDER BY ALL",
    "SELECT user_id, session_id, sum(calls), sum(input_tokens) FROM {db}.usage_1h GROUP BY ALL ORDER BY ALL",
    "SELECT model, count(), sum(trace_hash % 1000) FROM {db}.llm_calls GROUP BY model ORDER BY model",
    "SELECT TraceId, min(Start), max(End) FROM {db}.otel_traces_trace_id_ts GROUP BY TraceId ORDER BY TraceId",
    "SELECT count(), sum(Duration), countIf(SpanAttributes['gen_ai.request.model'] = 'gpt-4o') FROM {db}.otel_traces",
    "SELECT ServiceName, count(), max(Body) FROM {db}.otel_logs GROUP BY ServiceName ORDER BY ServiceName",
    "SELECT name, max(value) FROM {db}.scores FINAL GROUP BY name ORDER BY name",
]


def statements(binary: str, topology: str, database: str) -> list:
    out = subprocess.run([binary, "migrate", "--print", "--database", database,
                          "--set", f"clickhouse.topology={topology}", "--set", "clickhouse.cluster=spanlens"],
                         capture_output=True, text=True, check=True).stdout
    result, cur = [], []
    for line in out.splitlines():
        if line.lstrip().startswith("--"):
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            result.append("\n".join(cur).strip().removesuffix(";"))
            cur = []
    return result


def without_keeper(sql: str) -> str:
    sql = sql.replace(" ON CLUSTER 'spanlens'", "")
    return re.sub(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?", r"\1(", sql)


def spans() -> str:
    rows = []
    for i in range(60):
        kind = ("llm", "tool", "embedding")[i % 3]
        status = "Error" if i % 9 == 0 else "Ok"
        rows.append(f"('p{i % 2}', toDateTime64('2026-01-0{1 + i % 3} 1{i % 4}:{i:02d}:07.123456789', 9), {1_000_000 * (i + 1)}, "
                    f"'trace{i % 7}', 'span{i}', '{kind}', 'openai', 'gpt-4o{'-mini' if i % 2 else ''}', {10 * i}, {5 * i}, "
                    f"{0.001 * i}, 'svc{i % 3}', 'user{i % 4}', 'sess{i % 5}', '{status}')")
    return ",".join(rows)


def main(binary: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cluster.xml"
        config.write_text(CLUSTER)
        ch = chdb.connect(f":memory:?config-file={config}")
        for sql in statements(binary, "sharded", "sharded"):
            ch.query(without_keeper(sql))
        ch.query("CREATE DATABASE single")
        ch.query("USE single")
        for sql in statements(binary, "single", "single")[1:]:
            ch.query(sql)
        # Inserts as the collector sends them: to the tables it knows (Distributed when sharded),
        # foreground (insert_distributed_sync = 1).
        for db in ("sharded", "single"):
            settings = "SETTINGS insert_distributed_sync = 1"
            ch.query(f"INSERT INTO {db}.spans ({SPAN_COLUMNS}) {settings} VALUES {spans()}")
            ch.query(f"INSERT INTO {db}.logs (project, timestamp, trace_id, service_name, body) {settings} VALUES "
                     "('p0', now64(9), 'trace1', 'svc1', 'hello'), ('p1', now64(9), 'trace2', 'svc2', 'world')")
            ch.query(f"INSERT INTO {db}.scores (project, score_id, trace_id, name, value, updated_at) {settings} VALUES "
                     "('p0', 's1', 'trace1', 'quality', 0.5, 1), ('p0', 's1', 'trace1', 'quality', 0.9, 2)")
        tables = ch.query("SELECT name, engine FROM system.tables WHERE database = 'sharded' ORDER BY name", "JSONCompact")
        result = {"tables": json.loads(tables.bytes())["data"], "queries": {}}
        for q in QUERIES:
            result["queries"][q] = [ch.query(q.format(db=db), "CSV").bytes().decode() for db in ("sharded", "single")]
        ch.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
