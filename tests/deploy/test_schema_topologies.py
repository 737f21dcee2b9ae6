"""The schema in every topology: `spanlens-collector migrate --print` renders every schemas/*.sql
file for single, replicated and sharded; each statement must parse in the ClickHouse engine
(chDB's formatQuery parses what it cannot execute: ON CLUSTER, Replicated*, Distributed) and the
whole rendering must equal the golden file tests/deploy/golden/<topology>.sql.

A new migration changes the renderings: look at the diff, then bless them with
    SPANLENS_BLESS=1 tests/deploy/run.sh test_schema_topologies
(the single topology must stay exactly the files as written)."""

import json
import os
import re
import sys
import unittest
from pathlib import Path

import chdb

from support import REPO, collector_bin, run

GOLDEN = Path(__file__).parent / "golden"
TOPOLOGIES = ["single", "replicated", "sharded"]


def rendered(topology: str) -> str:
    out = run([collector_bin(), "migrate", "--print", "--database", "spanlens",
               "--set", f"clickhouse.topology={topology}", "--set", "clickhouse.cluster=spanlens"],
              env={"PATH": os.environ["PATH"]})
    assert out.returncode == 0, out.stderr
    return out.stdout


def statements(text: str) -> list:
    """As the collector splits files: a line ending in `;` ends a statement; `--` lines are comments."""
    out, cur = [], []
    for line in text.splitlines():
        if line.lstrip().startswith("--"):
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur).strip().removesuffix(";"))
            cur = []
    assert not "".join(cur).strip(), f"unterminated statement: {cur}"
    return out


def format_query(sql: str) -> str:
    literal = sql.replace("\\", "\\\\").replace("'", "\\'")
    return chdb.query(f"SELECT formatQuery('{literal}')", "TabSeparatedRaw").bytes().decode().strip()


def created(text: str, engine_pattern: str) -> set:
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS (?:spanlens\.)?(\w+)[^;]*?ENGINE = " + engine_pattern, text, re.S))


class SchemaTopologyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = {t: rendered(t) for t in TOPOLOGIES}

    def test_renderings_equal_the_golden_files(self):
        for topology in TOPOLOGIES:
            path = GOLDEN / f"{topology}.sql"
            if os.environ.get("SPANLENS_BLESS"):
                path.write_text(self.text[topology])
            with self.subTest(topology=topology):
                self.assertEqual(self.text[topology], path.read_text(),
                                 f"{path} differs; if the change is intended: SPANLENS_BLESS=1 (see this file's doc)")

    def test_every_statement_parses_in_clickhouse(self):
        for topology in TOPOLOGIES:
            for sql in statements(self.text[topology]):
                with self.subTest(topology=topology, statement=sql[:80]):
                    formatted = format_query(sql)
                    if topology != "single" and not sql.startswith("INSERT"):
                        self.assertIn("ON CLUSTER spanlens", formatted)

    def test_the_parser_rejects_what_is_not_clickhouse(self):
        with self.assertRaises(Exception):
            format_query("CREATE TABLE t ON CLUSTER 'c' (a String) ENGINE = ReplicatedMergeTree('/p', '{replica}') ORDER BY")

    def test_single_is_the_schema_files_as_written(self):
        files = sorted((REPO / "schemas").glob("*.sql"))
        expected = [s for f in files for s in statements(f.read_text())]
        self.assertEqual(statements(self.text["single"])[2:], expected)

    def test_dashboards_see_the_same_names_in_every_topology(self):
        single_tables = created(self.text["single"], r"\w*MergeTree") - {"schema_migrations"}
        views = set(re.findall(r"CREATE (?:MATERIALIZED )?VIEW IF NOT EXISTS (?:spanlens\.)?(\w+)", self.text["single"]))
        self.assertIn("spans", single_tables)
        replicated = self.text["replicated"]
        self.assertEqual(created(replicated, r"Replicated\w*MergeTree") - {"schema_migrations"}, single_tables)
        self.assertEqual(created(replicated, r"(?!Replicated)\w*MergeTree"), set())
        sharded = self.text["sharded"]
        self.assertEqual(created(sharded, r"Distributed"), single_tables)
        self.assertEqual(created(sharded, r"Replicated\w*MergeTree") - {"schema_migrations"},
                         {f"{t}_local" for t in single_tables})
        for text in (replicated, sharded):
            self.assertEqual(set(re.findall(r"CREATE (?:MATERIALIZED )?VIEW IF NOT EXISTS spanlens\.(\w+)", text)), views)

    def test_sharded_views_read_and_write_local_tables_sharded_by_trace(self):
        sharded = self.text["sharded"]
        mvs = re.findall(r"CREATE MATERIALIZED VIEW [^;]*? TO (\S+) AS (.*?);\n", sharded, re.S)
        self.assertGreaterEqual(len(mvs), 5)
        for target, body in mvs:
            self.assertTrue(target.endswith("_local"), target)
            self.assertTrue(all(t.endswith("_local") for t in re.findall(r"FROM (\S+)", body)), body)
        self.assertIn("ENGINE = Distributed('spanlens', 'spanlens', 'spans_local', cityHash64(trace_id))", sharded)
        self.assertIn("ENGINE = Distributed('spanlens', 'spanlens', 'logs_local', cityHash64(trace_id))", sharded)
        # Plain views read the Distributed tables (every shard).
        self.assertRegex(sharded, r"(?s)CREATE VIEW IF NOT EXISTS spanlens\.otel_traces ON CLUSTER 'spanlens' AS SELECT.*?FROM spanlens\.spans;")
        # schema_migrations is one table for the whole cluster: no {shard} in its Keeper path.
        [bookkeeping] = re.findall(r"CREATE TABLE IF NOT EXISTS spanlens\.schema_migrations .*?;", sharded)
        self.assertIn("'/clickhouse/tables/spanlens_shared/{database}/{table}', '{shard}-{replica}'", bookkeeping)

    def test_sharded_layout_runs_in_the_engine_and_answers_as_single(self):
        # sharded_engine.py runs the sharded DDL in chDB (only ON CLUSTER and the Keeper paths taken
        # out), inserts through the Distributed tables, and asks the rollups and views the
        # dashboards read; every answer must equal the single topology's.
        out = run([sys.executable, Path(__file__).parent / "sharded_engine.py", collector_bin()],
                  env={"PATH": os.environ["PATH"]}, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        result = json.loads(out.stdout)
        engines = dict(result["tables"])
        self.assertEqual(engines["spans"], "Distributed")
        self.assertEqual(engines["spans_1m_local"], "AggregatingMergeTree")
        for query, (sharded, single) in result["queries"].items():
            with self.subTest(query=query[:70]):
                self.assertTrue(single.strip(), "no rows: the check would prove nothing")
                self.assertEqual(sharded, single)
        self.assertEqual(result["queries"][next(q for q in result["queries"] if q.endswith(".otel_traces"))][0],
                         "60,1830000000,30\n")


if __name__ == "__main__":
    unittest.main()
