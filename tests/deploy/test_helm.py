"""The Helm chart, proven offline: `helm lint --strict` and `helm template` of every ci/ values
file, each rendered document validated strictly against the Kubernetes schemas, and assertions on
what the chart must guarantee (secrets, spool volumes, hooks, Grafana sidecar ConfigMaps, cluster
settings reaching a config the collector itself accepts)."""

import base64
import json
import os
import re
import tempfile
import tomllib
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import kubernetes_validate
import yaml

from support import CHART, REPO, collector_bin, containers, helm, of_kind, one, pod_spec, render, run

CI = {p.stem.removesuffix("-values"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))}
# The chart's kubeVersion floor and the newest schemas kubernetes-validate carries.
KUBE_VERSIONS = ["1.27.0", "1.35.0"]
PASSWORD = "not-a-real-password"  # ci/hardened-values.yaml
# Environment variables that may carry literal values: nothing secret.
LITERAL_ENV_OK = {"SPANLENS_CONFIG", "CLICKHOUSE_USER", "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"}


def config_toml(docs, suffix="spanlens") -> dict:
    cm = one(docs, "ConfigMap", suffix)
    return tomllib.loads(cm["data"]["spanlens.toml"])


class ChartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rendered = {name: render(path) for name, path in CI.items()}

    def test_ci_values_files_are_the_issue_list(self):
        self.assertEqual(
            sorted(CI),
            ["autoscaling", "bundled-clickhouse", "cluster-sharded", "default", "external-secret", "hardened"],
        )

    def test_chart_renders_offline(self):
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertNotIn("dependencies", chart)  # no remote subcharts: rendering needs no network
        self.assertFalse((CHART / "charts").exists())

    def test_lint_strict(self):
        for name, path in CI.items():
            with self.subTest(values=name):
                out = helm("lint", "--strict", CHART, "-f", path)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                self.assertIn("0 chart(s) failed", out.stdout)

    def test_rendered_manifests_are_valid_kubernetes_strictly(self):
        for name, docs in self.rendered.items():
            for version in KUBE_VERSIONS:
                for doc in docs:
                    with self.subTest(values=name, kube=version, kind=doc["kind"], name=doc["metadata"]["name"]):
                        kubernetes_validate.validate(doc, version, strict=True)

    def test_strict_validation_can_fail(self):
        # The validator is no rubber stamp: an unknown field in a rendered StatefulSet is refused.
        sts = json.loads(json.dumps(one(self.rendered["default"], "StatefulSet", "spanlens")))
        sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
        with self.assertRaises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(sts, KUBE_VERSIONS[0], strict=True)

    def test_no_secret_in_a_configmap_or_literal_env(self):
        for name, docs in self.rendered.items():
            with self.subTest(values=name):
                for cm in of_kind(docs, "ConfigMap"):
                    text = json.dumps(cm)
                    self.assertNotIn(PASSWORD, text, cm["metadata"]["name"])
                    self.assertNotRegex(text, r"[0-9a-f]{64}", f"a key hash in {cm['metadata']['name']}")
                    self.assertNotRegex(text, r"(?i)password\s*[=:]\s*\"?[A-Za-z0-9]", cm["metadata"]["name"])
                for workload in of_kind(docs, "StatefulSet") + of_kind(docs, "Deployment") + of_kind(docs, "Job"):
                    for c in containers(workload):
                        for env in c.get("env", []):
                            if "value" in env:
                                self.assertIn(env["name"], LITERAL_ENV_OK, f"{c['name']}: literal {env}")
                            else:
                                self.assertIn("secretKeyRef", env["valueFrom"], env)
                        self.assertNotIn("envFrom", c)

    def test_credentials_come_from_the_right_secret(self):
        secret = one(self.rendered["hardened"], "Secret", "spanlens")
        self.assertEqual(base64.b64decode(secret["data"]["clickhouse-password"]).decode(), PASSWORD)
        # External Secret: no Secret rendered, every reference names it with the configured keys.
        docs = self.rendered["external-secret"]
        self.assertEqual(of_kind(docs, "Secret"), [])
        refs = {(e["name"], e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                for w in of_kind(docs, "StatefulSet") + of_kind(docs, "Job") for c in containers(w)
                for e in c["env"] if "valueFrom" in e}
        self.assertEqual(refs, {("SPANLENS_CLICKHOUSE__PASSWORD", "spanlens-credentials", "password"),
                                ("SPANLENS_AUTH__KEYS", "spanlens-credentials", "api-keys")})

    def test_the_collector_accepts_the_rendered_config_and_secret(self):
        # The rendered spanlens.toml and the Secret's values, given to the real binary the way the
        # pod gives them (SPANLENS_CONFIG file + environment): print-config shows what it runs with.
        docs = self.rendered["hardened"]
        secret = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", "spanlens")["data"].items()}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "spanlens.toml"
            path.write_text(one(docs, "ConfigMap", "spanlens")["data"]["spanlens.toml"])
            env = {"PATH": os.environ["PATH"], "SPANLENS_CONFIG": str(path),
                   "SPANLENS_CLICKHOUSE__PASSWORD": secret["clickhouse-password"],
                   "SPANLENS_AUTH__KEYS": secret["auth-keys"]}
            out = run([collector_bin(), "print-config"], env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        effective = tomllib.loads(out.stdout)
        self.assertEqual(effective["clickhouse"]["password"], PASSWORD)
        self.assertFalse(effective["clickhouse"]["migrate_on_start"])
        self.assertEqual(effective["receiver"]["http_listen"], "0.0.0.0:4318")
        self.assertEqual(effective["pipeline"]["spool_dir"], "/var/lib/spanlens/spool")
        self.assertEqual([k["project"] for k in effective["auth"]["keys"]], ["shop", "search"])
        self.assertEqual(effective["auth"]["keys"][1]["langfuse_public_key"], "pk-lf-search")

    def test_cluster_settings_reach_the_config(self):
        config = config_toml(self.rendered["cluster-sharded"])["clickhouse"]
        self.assertEqual(
            {k: config[k] for k in ("topology", "cluster", "distributed_insert", "ddl_timeout_s", "migrate_on_start")},
            {"topology": "sharded", "cluster": "spanlens", "distributed_insert": "foreground",
             "ddl_timeout_s": 600, "migrate_on_start": False},
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "spanlens.toml"
            path.write_text(one(self.rendered["cluster-sharded"], "ConfigMap", "spanlens")["data"]["spanlens.toml"])
            out = run([collector_bin(), "migrate", "--print"], env={"PATH": os.environ["PATH"], "SPANLENS_CONFIG": str(path)})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ENGINE = Distributed('spanlens', 'spanlens', 'spans_local', cityHash64(trace_id))", out.stdout)

    def test_statefulset_spool_on_a_pvc_deployment_on_an_emptydir(self):
        sts = one(self.rendered["default"], "StatefulSet", "spanlens")
        self.assertEqual(of_kind(self.rendered["default"], "Deployment"), [])
        [claim] = sts["spec"]["volumeClaimTemplates"]
        self.assertEqual((claim["metadata"]["name"], claim["spec"]["resources"]["requests"]["storage"]), ("spool", "2Gi"))
        collector = pod_spec(sts)["containers"][0]
        self.assertIn({"name": "spool", "mountPath": "/var/lib/spanlens"}, collector["volumeMounts"])
        self.assertNotIn("spool", [v["name"] for v in pod_spec(sts)["volumes"]])
        self.assertGreaterEqual(pod_spec(sts)["terminationGracePeriodSeconds"], 60)
        hardened = one(self.rendered["hardened"], "StatefulSet", "spanlens")["spec"]["volumeClaimTemplates"][0]
        self.assertEqual(hardened["spec"]["storageClassName"], "fast-ssd")

        dep = one(self.rendered["autoscaling"], "Deployment", "spanlens")
        self.assertEqual(of_kind(self.rendered["autoscaling"], "StatefulSet"), [])
        self.assertIn({"name": "spool", "emptyDir": {"sizeLimit": "2Gi"}}, pod_spec(dep)["volumes"])
        self.assertNotIn("replicas", dep["spec"])  # the HPA owns it
        hpa = one(self.rendered["autoscaling"], "HorizontalPodAutoscaler")
        self.assertEqual(hpa["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sl-spanlens"})
        self.assertEqual((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]), (2, 8))

    def test_tls_from_secrets(self):
        docs = self.rendered["hardened"]
        config = config_toml(docs)
        self.assertEqual((config["receiver"]["tls_cert_file"], config["receiver"]["tls_key_file"]),
                         ("/etc/spanlens-tls/receiver.crt", "/etc/spanlens-tls/receiver.key"))
        self.assertEqual(config["clickhouse"]["tls_ca_file"], "/etc/spanlens-tls/clickhouse-ca.pem")
        self.assertNotIn("tls_client_ca_file", config["receiver"])
        for workload in (one(docs, "StatefulSet", "spanlens"), one(docs, "Job", "migrate")):
            [tls] = [v for v in pod_spec(workload)["volumes"] if v["name"] == "tls"]
            files = {item["path"]: (src["secret"]["name"], item["key"])
                     for src in tls["projected"]["sources"] for item in src["secret"]["items"]}
            self.assertEqual(files, {"receiver.crt": ("spanlens-otlp-tls", "tls.crt"),
                                     "receiver.key": ("spanlens-otlp-tls", "tls.key"),
                                     "clickhouse-ca.pem": ("clickhouse-ca", "ca.crt")})
            for c in containers(workload):
                self.assertIn({"name": "tls", "mountPath": "/etc/spanlens-tls", "readOnly": True}, c["volumeMounts"])
        collector = pod_spec(one(docs, "StatefulSet", "spanlens"))["containers"][0]
        self.assertEqual(collector["readinessProbe"]["httpGet"]["scheme"], "HTTPS")
        # Mutual TLS: the kubelet has no client certificate, so the probes check the port.
        mtls = pod_spec(one(render(CI["hardened"], "--set", "tls.clientCASecret=otlp-clients"), "StatefulSet", "spanlens"))
        self.assertEqual(mtls["containers"][0]["livenessProbe"]["tcpSocket"], {"port": "otlp-http"})
        # No TLS: no volume, plain HTTP probes.
        plain = pod_spec(one(self.rendered["default"], "StatefulSet", "spanlens"))
        self.assertNotIn("tls", [v["name"] for v in plain["volumes"]])
        self.assertEqual(plain["containers"][0]["readinessProbe"]["httpGet"]["scheme"], "HTTP")

    def test_service_ports_and_probes(self):
        docs = self.rendered["default"]
        svc = one(docs, "Service", "spanlens")
        self.assertEqual({p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]},
                         {"otlp-grpc": (4317, "otlp-grpc"), "otlp-http": (4318, "otlp-http"), "metrics": (9464, "otlp-http")})
        c = pod_spec(one(docs, "StatefulSet", "spanlens"))["containers"][0]
        self.assertEqual({p["name"]: p["containerPort"] for p in c["ports"]}, {"otlp-grpc": 4317, "otlp-http": 4318})
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(c["startupProbe"]["httpGet"]["path"], "/healthz")

    def test_hardened_security_context_everywhere(self):
        for name, docs in self.rendered.items():
            for w in of_kind(docs, "StatefulSet") + of_kind(docs, "Deployment") + of_kind(docs, "Job"):
                pod = pod_spec(w)
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertEqual(pod["securityContext"]["seccompProfile"], {"type": "RuntimeDefault"})
                self.assertFalse(pod["automountServiceAccountToken"])
                for c in containers(w):
                    with self.subTest(values=name, workload=w["metadata"]["name"], container=c["name"]):
                        sc = c["securityContext"]
                        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                        self.assertTrue(sc["readOnlyRootFilesystem"])
                        self.assertFalse(sc["allowPrivilegeEscalation"])

    def test_migrations_run_as_a_job_and_collectors_wait(self):
        docs = self.rendered["default"]
        job = one(docs, "Job", "migrate")
        self.assertNotIn("annotations", job["metadata"])  # install: part of the release, no hook
        self.assertEqual(pod_spec(job)["containers"][0]["args"], ["migrate"])
        [init] = pod_spec(one(docs, "StatefulSet", "spanlens"))["initContainers"]
        self.assertEqual(init["args"], ["migrate", "--wait", "--timeout", "900"])
        self.assertIs(config_toml(docs)["clickhouse"]["migrate_on_start"], False)

        upgrade = render(CI["default"], "--is-upgrade")
        job = one(upgrade, "Job", "migrate-upgrade")
        self.assertEqual(job["metadata"]["annotations"]["helm.sh/hook"], "pre-upgrade")
        self.assertIn("before-hook-creation", job["metadata"]["annotations"]["helm.sh/hook-delete-policy"])
        hook_cm = one(upgrade, "ConfigMap", "spanlens-migrate")
        self.assertEqual(hook_cm["metadata"]["annotations"]["helm.sh/hook"], "pre-upgrade")
        self.assertLess(int(hook_cm["metadata"]["annotations"]["helm.sh/hook-weight"]),
                        int(job["metadata"]["annotations"]["helm.sh/hook-weight"]))
        self.assertEqual(hook_cm["data"], one(upgrade, "ConfigMap", "spanlens")["data"])
        self.assertEqual(pod_spec(job)["volumes"][0]["configMap"]["name"], "sl-spanlens-migrate")
        self.assertEqual(of_kind(upgrade, "Job"), [job])

    def test_config_change_rolls_the_pods(self):
        def checksum(*flags):
            sts = one(render(CI["default"], *flags), "StatefulSet", "spanlens")
            return sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        self.assertEqual(checksum(), checksum())
        self.assertNotEqual(checksum(), checksum("--set", "config.pipeline.batch_max_rows=5000"))

    def test_service_monitor_only_when_enabled_and_the_api_exists(self):
        api = ("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
        self.assertEqual(of_kind(self.rendered["autoscaling"], "ServiceMonitor"), [])  # enabled, no API
        self.assertEqual(of_kind(render(CI["default"], *api), "ServiceMonitor"), [])  # API, not enabled
        sm = one(render(CI["autoscaling"], *api), "ServiceMonitor")
        self.assertEqual(sm["metadata"]["labels"]["release"], "kube-prometheus-stack")
        self.assertEqual(sm["spec"]["endpoints"], [{"port": "metrics", "path": "/metrics", "interval": "30s"}])

    def test_network_policy_pdb(self):
        policy = one(self.rendered["hardened"], "NetworkPolicy")
        ingress_ports = {p["port"] for p in policy["spec"]["ingress"][0]["ports"]}
        self.assertEqual(ingress_ports, {"otlp-grpc", "otlp-http"})
        self.assertEqual(policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"],
                         {"spanlens.io/send-traces": "true"})
        egress_ports = [{p["port"] for p in rule["ports"]} for rule in policy["spec"]["egress"]]
        self.assertEqual(egress_ports, [{53}, {8443}])
        self.assertEqual(of_kind(self.rendered["default"], "NetworkPolicy"), [])
        self.assertEqual(one(self.rendered["default"], "PodDisruptionBudget")["spec"]["maxUnavailable"], 1)

    def test_every_dashboard_in_a_labelled_configmap(self):
        docs = self.rendered["external-secret"]
        dashboards = {cm["metadata"]["name"]: cm for cm in of_kind(docs, "ConfigMap")
                      if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"}
        files = sorted((REPO / "dashboards").glob("*.json"))
        self.assertEqual(len(dashboards), len(files))
        for path in files:
            cm = dashboards[f"sl-spanlens-dashboard-{path.stem}"]
            self.assertEqual(cm["metadata"]["annotations"], {"grafana_folder": "Spanlens"})
            self.assertEqual(json.loads(cm["data"][path.name]), json.loads(path.read_text()))
        self.assertEqual(of_kind(self.rendered["default"], "ConfigMap")[1:], [])  # off by default

    def test_datasource_configmap(self):
        ds_cm = one(self.rendered["external-secret"], "ConfigMap", "datasource")
        self.assertEqual(ds_cm["metadata"]["labels"]["grafana_datasource"], "1")
        [ds] = yaml.safe_load(ds_cm["data"]["spanlens-datasource.yaml"])["datasources"]
        self.assertEqual(ds["type"], "grafana-clickhouse-datasource")
        self.assertEqual(ds["uid"], "spanlens-clickhouse")
        self.assertEqual({k: ds["jsonData"][k] for k in ("host", "port", "protocol", "username", "defaultDatabase")},
                         {"host": "clickhouse.example.internal", "port": 9123, "protocol": "http",
                          "username": "grafana_reader", "defaultDatabase": "llm_traces"})
        self.assertEqual(ds["jsonData"]["traces"]["defaultDatabase"], "llm_traces")
        self.assertEqual(ds["secureJsonData"], {"password": "${SPANLENS_CLICKHOUSE_PASSWORD}"})
        # Every dashboard selects this datasource by its uid.
        for path in (REPO / "dashboards").glob("*.json"):
            self.assertIn('"spanlens-clickhouse"', path.read_text(), path.name)

    def test_bundled_clickhouse(self):
        docs = self.rendered["bundled-clickhouse"]
        ch = one(docs, "StatefulSet", "clickhouse")
        self.assertEqual(ch["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"], "10Gi")
        server_xml = one(docs, "ConfigMap", "clickhouse")["data"]["spanlens.xml"]
        self.assertIn("<query_log>\n    <ttl>event_date + INTERVAL 3 DAY DELETE</ttl>", server_xml)
        self.assertIn("<part_log>", server_xml)
        ttl = {e.tag: e.findtext("ttl") for e in ET.fromstring(server_xml)}
        self.assertEqual(ttl["opentelemetry_span_log"], "finish_date + INTERVAL 3 DAY DELETE")
        self.assertEqual(config_toml(docs)["clickhouse"]["url"], "http://sl-spanlens-clickhouse:8123")
        env = {e["name"]: e for e in pod_spec(ch)["containers"][0]["env"]}
        self.assertEqual(env["CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"], {"name": "sl-spanlens", "key": "clickhouse-password"})
        self.assertEqual(of_kind(self.rendered["default"], "StatefulSet")[0]["metadata"]["name"], "sl-spanlens")

    def test_bad_values_are_refused_with_the_reason(self):
        cases = {
            "replicas: 3\n": "additional properties 'replicas' not allowed",
            "config:\n  clickhouse:\n    url: http://ch:8123\n    topolgy: sharded\n": "additional properties 'topolgy' not allowed",
            "config:\n  clickhouse:\n    url: http://ch:8123\n    topology: sharded\n": "/config/clickhouse/cluster",
            "config:\n  clickhouse:\n    url: ch:8123\n": "/config/clickhouse/url",
            "mode: daemonset\nconfig:\n  clickhouse:\n    url: http://ch:8123\n": "/mode",
            "config:\n  pipeline:\n    ack: sometimes\n  clickhouse:\n    url: http://ch:8123\n": "/config/pipeline/ack",
            "tls:\n  clientCASecret: ca\nconfig:\n  clickhouse:\n    url: http://ch:8123\n": "/tls/receiverSecret",
            "{}\n": "config.clickhouse.url is required",
        }
        for values, message in cases.items():
            with self.subTest(values=values), tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                f.write(values)
                f.flush()
                with self.assertRaises(AssertionError) as refused:
                    render(f.name)
                self.assertIn(message, str(refused.exception))

    def test_packaged_chart_carries_the_dashboards(self):
        # dashboards/ in the chart is a link to the repository's; the package must contain the files.
        with tempfile.TemporaryDirectory() as tmp:
            out = helm("package", CHART, "-d", tmp)
            self.assertEqual(out.returncode, 0, out.stderr)
            [package] = Path(tmp).glob("spanlens-*.tgz")
            out = helm("template", "sl", package, "-f", CI["external-secret"])
            self.assertEqual(out.returncode, 0, out.stderr)
        docs = [d for d in yaml.safe_load_all(out.stdout) if d]
        dashboards = [cm for cm in of_kind(docs, "ConfigMap") if "grafana_dashboard" in cm["metadata"].get("labels", {})]
        self.assertEqual(len(dashboards), len(list((REPO / "dashboards").glob("*.json"))))

    def test_notes_say_how_to_send_otlp(self):
        out = helm("install", "sl", CHART, "--namespace", "obs", "--dry-run=client", "-f", CI["default"])
        self.assertEqual(out.returncode, 0, out.stderr)
        notes = out.stdout.split("NOTES:", 1)[1]
        self.assertIn("OTEL_EXPORTER_OTLP_ENDPOINT=http://sl-spanlens.obs.svc:4318", notes)
        self.assertIn("OTEL_EXPORTER_OTLP_ENDPOINT=http://sl-spanlens.obs.svc:4317", notes)

    def test_schema_rejects_unknown_keys_everywhere(self):
        # Every object in values.schema.json says what else it takes; only Kubernetes passthrough
        # objects (validated when rendered) and string maps take other keys.
        schema = json.loads((CHART / "values.schema.json").read_text())
        open_objects = []

        def walk(node, path):
            if isinstance(node, dict):
                if node.get("type") == "object":
                    self.assertIn("additionalProperties", node, path)
                    if node["additionalProperties"] is True:
                        open_objects.append(path)
                for key, value in node.items():
                    walk(value, f"{path}/{key}")
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, f"{path}[{i}]")
        walk(schema, "")
        self.assertEqual(sorted(open_objects), [
            "/properties/affinity",
            "/properties/networkPolicy/properties/clickhouseEgressTo/items",
            "/properties/networkPolicy/properties/ingressFrom/items",
            "/properties/podSecurityContext",
            "/properties/securityContext",
            "/properties/tolerations/items",
            "/properties/topologySpreadConstraints/items",
        ])

    def test_readme_values_table_covers_every_value(self):
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        table = set(re.findall(r"^\| `([^`]+)` \|", (CHART / "README.md").read_text(), re.M))

        def leaves(node, prefix=""):
            if isinstance(node, dict) and node:
                for k, v in node.items():
                    yield from leaves(v, f"{prefix}{k}.")
            else:
                yield prefix[:-1]
        missing = [k for k in leaves(values) if k not in table and not any(k.startswith(t + ".") for t in table)]
        self.assertEqual(missing, [])
        self.assertEqual(sorted(t for t in table if not any(l == t or l.startswith(t + ".") for l in leaves(values))), [])


if __name__ == "__main__":
    unittest.main()
