"""The compose files, checked by docker-compose itself (`config` resolves and validates them
without a daemon) and by what they must wire together."""

import json
import os
import xml.etree.ElementTree as ET
import re
import tempfile
import unittest
from pathlib import Path

from support import COMPOSE, REPO, run, tools_bin

TOPOLOGIES = ["sharded", "replicated"]


def compose(file, *args, topology=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANLENS_TOPOLOGY")}
    if topology:
        env["SPANLENS_TOPOLOGY"] = topology
    return run([tools_bin() / "docker-compose", "-f", file, *args], env=env, cwd=COMPOSE)


def resolved(file, topology=None) -> dict:
    out = compose(file, "config", "--format", "json", topology=topology)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def bind_sources(service) -> list:
    return [Path(v["source"]) for v in service.get("volumes", []) if v["type"] == "bind"]


class ComposeTest(unittest.TestCase):
    def test_config_quiet(self):
        for file, topology in [("compose.yaml", None), ("compose.cluster.yaml", None),
                               *[("compose.cluster.yaml", t) for t in TOPOLOGIES]]:
            with self.subTest(file=file, topology=topology):
                out = compose(file, "config", "--quiet", topology=topology)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, "")

    def test_config_refuses_a_broken_file(self):
        text = (COMPOSE / "compose.yaml").read_text().replace("    restart: unless-stopped", "    restart: unless-stopped\n    restrat: always", 1)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=COMPOSE) as f:
            f.write(text)
            f.flush()
            out = compose(f.name, "config", "--quiet")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("restrat", out.stderr)

    def test_server_configs_are_well_formed(self):
        files = sorted(COMPOSE.glob("**/*.xml"))
        self.assertEqual(len(files), 8)
        for path in files:
            with self.subTest(file=path.name):
                self.assertEqual(ET.parse(path).getroot().tag, "clickhouse")
        ttl_tables = {e.tag for e in ET.parse(COMPOSE / "clickhouse/system-logs.xml").getroot() if e.find("ttl") is not None}
        self.assertLessEqual({"query_log", "part_log", "trace_log", "metric_log", "asynchronous_metric_log"}, ttl_tables)
        # Naming a log the stock config leaves off would turn it on.
        self.assertFalse(ttl_tables & {"session_log", "zookeeper_log", "text_log"})

    def test_single_node_product(self):
        services = resolved("compose.yaml")["services"]
        self.assertEqual(sorted(services), ["clickhouse", "collector", "grafana", "migrate"])
        for name in ("migrate", "collector"):
            build = services[name]["build"]
            self.assertEqual(Path(build["context"]), REPO)
            self.assertTrue((REPO / build["dockerfile"]).is_file())
            self.assertEqual(services[name]["environment"]["SPANLENS_CLICKHOUSE__MIGRATE_ON_START"], "false")
        self.assertEqual(services["migrate"]["command"], ["migrate"])
        self.assertEqual(services["migrate"]["depends_on"]["clickhouse"]["condition"], "service_healthy")
        self.assertEqual(services["collector"]["depends_on"]["migrate"]["condition"], "service_completed_successfully")
        self.assertEqual({p["target"] for p in services["collector"]["ports"]}, {4317, 4318})
        self.assertEqual([v["target"] for v in services["collector"]["volumes"]], ["/var/lib/spanlens"])
        grafana = services["grafana"]
        self.assertIn("grafana-clickhouse-datasource", grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"])
        mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"]}
        self.assertEqual(mounts["/var/lib/grafana/dashboards/spanlens"], REPO / "dashboards")
        self.assertEqual(mounts["/etc/grafana/provisioning/datasources"], REPO / "dashboards/provisioning/datasources")
        # The provisioning file's variables are all set in Grafana's environment.
        provisioning = (REPO / "dashboards/provisioning/datasources/spanlens.yaml").read_text()
        needed = {v for line in provisioning.splitlines() if not line.lstrip().startswith("#")
                  for v in re.findall(r"\$\{(\w+)\}", line)}
        self.assertLessEqual(needed, set(grafana["environment"]))

    def test_cluster_wiring(self):
        for topology in TOPOLOGIES:
            with self.subTest(topology=topology):
                services = resolved("compose.cluster.yaml", topology)["services"]
                self.assertEqual(sorted(services), ["clickhouse-1", "clickhouse-2", "collector", "grafana", "keeper", "migrate"])
                env = services["collector"]["environment"]
                self.assertEqual(env["SPANLENS_CLICKHOUSE__TOPOLOGY"], topology)
                cluster_xml = {}
                macros = {}
                for node in ("clickhouse-1", "clickhouse-2"):
                    for source in bind_sources(services[node]):
                        self.assertTrue(source.is_file(), source)
                        if source.name.startswith("cluster-"):
                            cluster_xml[node] = source.read_text()
                        if source.name.startswith("macros-"):
                            macros[node] = dict(re.findall(r"<(shard|replica)>([^<]+)<", source.read_text()))
                # The cluster the collector names is the one the servers define.
                self.assertIn(f"<{env['SPANLENS_CLICKHOUSE__CLUSTER']}>", cluster_xml["clickhouse-1"])
                self.assertEqual(cluster_xml["clickhouse-1"], cluster_xml["clickhouse-2"])
                shards = cluster_xml["clickhouse-1"].count("<shard>")
                replicas = [m["replica"] for m in macros.values()]
                self.assertEqual(len(set(replicas)), 2)
                if topology == "sharded":
                    self.assertEqual(shards, 2)
                    self.assertEqual({m["shard"] for m in macros.values()}, {"01", "02"})
                else:
                    self.assertEqual(shards, 1)
                    self.assertEqual({m["shard"] for m in macros.values()}, {"01"})
                self.assertEqual(services["migrate"]["depends_on"]["clickhouse-2"]["condition"], "service_healthy")
                keeper_sources = bind_sources(services["keeper"])
                self.assertTrue(all(s.is_file() for s in keeper_sources))


if __name__ == "__main__":
    unittest.main()
