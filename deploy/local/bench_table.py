#!/usr/bin/env python3
"""The table of `BENCH_MODE=collector-only deploy/local/bench.sh`: one row per collector and
protocol, from the spanlens-loadgen JSON reports named <collector>-<protocol>-<case>.json
(case: full, overload, half).

    bench_table.py REPORT.json...          the table
    bench_table.py --json REPORT.json...   the reports as one JSON object, keyed by file name
"""
import json
import os
import sys

CASES = ("full", "overload", "half")
COLUMNS = [
    # (heading, case, figure)
    ("spans/s", "full", lambda r: fmt(r["throughput"]["accepted_spans_per_sec"], 0)),
    ("CPU ms/1k", "full", lambda r: fmt(collector(r, "cpu_ms_per_1k_spans"), 2)),
    ("p50 ms", "full", lambda r: fmt(r["latency_ms"]["p50"], 1)),
    ("p99 ms", "full", lambda r: fmt(r["latency_ms"]["p99"], 1)),
    ("RSS MiB", "full", lambda r: fmt(collector(r, "peak_rss_mib"), 0)),
    ("others", "full", lambda r: fmt(r["host"]["other_cores_sending"], 2)),
    ("2x: spans/s", "overload", lambda r: fmt(r["throughput"]["accepted_spans_per_sec"], 0)),
    ("rejected", "overload", lambda r: rejected_share(r)),
    ("RSS MiB", "overload", lambda r: fmt(collector(r, "peak_rss_mib"), 0)),
    ("½: spans/s", "half", lambda r: fmt(r["throughput"]["accepted_spans_per_sec"], 0)),
    ("p50 ms", "half", lambda r: fmt(r["latency_ms"]["p50"], 1)),
    ("p99 ms", "half", lambda r: fmt(r["latency_ms"]["p99"], 1)),
]
NOTES = """\
full: as fast as each collector answers. CPU ms/1k: the collector's CPU (user + system) per 1,000
accepted spans; RSS: its peak resident set (VmHWM); others: cores busy with other processes on
this host while sending (the machine is shared: compare rows of one run). 2x: twice the senders
and twice the spans/s it accepted in `full` offered; rejected: share of spans answered 429/503
(UNAVAILABLE / RESOURCE_EXHAUSTED) or failed. ½: half the spans/s it accepted in `full` offered.
Spanlens: normalization, cost, RowBinary encoding and the durable spool (fsync before the
answer), no ClickHouse behind it; baseline: the same for the collector binary BENCH_BASELINE
names (an earlier build); Rotel: OTLP in, batches dropped by its blackhole exporter. .rN: round
N of BENCH_ROUNDS, the collectors taking turns."""


def fmt(value, digits):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def collector(report, key):
    stats = report.get("collector")
    return stats.get(key) if stats else None


def rejected_share(report):
    spans = report["spans"]
    return fmt(100.0 * spans["rejected"] / spans["sent"], 1) + " %" if spans["sent"] else "n/a"


def load(paths):
    """{(collector, protocol): {case: report}}, by protocol, Spanlens first."""
    runs = {}
    for path in paths:
        name = os.path.basename(path).removesuffix(".json")
        which, protocol, case = name.rsplit("-", 2)
        if case not in CASES:
            sys.exit(f"bench_table.py: {path}: unknown case {case!r} (expected one of {CASES})")
        with open(path) as f:
            runs.setdefault((which, protocol), {})[case] = json.load(f)
    return dict(sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0] != "spanlens")))


def table(runs):
    head = ["collector", "protocol"] + [h for h, _, _ in COLUMNS]
    rows = [head]
    for (which, protocol), cases in runs.items():
        row = [which, protocol]
        for _, case, figure in COLUMNS:
            row.append(figure(cases[case]) if case in cases else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv):
    as_json = argv[:1] == ["--json"]
    paths = argv[1:] if as_json else argv
    if not paths:
        sys.exit(__doc__)
    if as_json:
        reports = {}
        for path in paths:
            with open(path) as f:
                reports[os.path.basename(path).removesuffix(".json")] = json.load(f)
        print(json.dumps(reports, indent=2))
        return
    corpus = json.load(open(paths[0]))["corpus"]
    print(f"Collector only (no ClickHouse), corpus {corpus['avg_bytes_per_span']:.0f} B/span, "
          f"{corpus['avg_spans_per_request']:.1f} spans/request")
    print(table(load(paths)))
    print()
    print(NOTES)


if __name__ == "__main__":
    main(sys.argv[1:])
