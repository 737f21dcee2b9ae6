"""Shared helpers for the deploy tests: where the repository, the tools and the collector binary
are, and helm / docker-compose runs."""

import os
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "spanlens"
COMPOSE = REPO / "deploy" / "compose"


def tools_bin() -> Path:
    """helm and docker-compose: SPANLENS_TOOLS_BIN (tests/run.sh sets it), else installed now."""
    if os.environ.get("SPANLENS_TOOLS_BIN"):
        return Path(os.environ["SPANLENS_TOOLS_BIN"])
    out = subprocess.run([str(REPO / "deploy" / "tools" / "install.sh")], check=True,
                         capture_output=True, text=True)
    os.environ["SPANLENS_TOOLS_BIN"] = out.stdout.strip()
    return Path(out.stdout.strip())


def collector_bin() -> Path:
    """The collector binary the cargo tests built (SPANLENS_COLLECTOR_BIN overrides)."""
    path = Path(os.environ.get("SPANLENS_COLLECTOR_BIN", REPO / "target" / "debug" / "spanlens-collector"))
    if not path.exists():
        raise RuntimeError(f"{path} not found: build it first (cargo build -p spanlens-collector)")
    return path


def run(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)


def helm(*args) -> subprocess.CompletedProcess:
    return run([tools_bin() / "helm", *args])


def render(values_file=None, *flags, release="sl") -> list:
    """`helm template` of the chart: the rendered documents (None-free), or an AssertionError
    carrying helm's message."""
    args = ["template", release, CHART, "--namespace", "obs"]
    if values_file:
        args += ["-f", values_file]
    out = helm(*args, *flags)
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs, kind) -> list:
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name_suffix=""):
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_spec(workload) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload) -> list:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]
