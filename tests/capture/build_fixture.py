"""Turns one library's raw captures (tools/capture_server.py's output) into a fixture folder
tests/fixtures/otlp/<library>/ in the format of the shared captures: NAME.pb (the
ExportTraceServiceRequest as sent; several requests of one scenario are merged), NAME.json (the
same as spec OTLP/JSON) and expected.json. The facts of each LLM call in expected.json come from
the fake provider's log (what the API really answered: ids, models, token counts with the cache
parts), not from the library's payload; the span tree comes from the payload.

    python build_fixture.py --raw RAW --library NAME --provider-log LOG --out DIR \
        --scenario a_simple=... [--llm-scope SCOPE] [--description TEXT]
"""
import argparse
import base64
import json
import os
import subprocess
import sys

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_KEYS = {"traceId", "spanId", "parentSpanId"}
KIND = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def hexify(o):
    if isinstance(o, dict):
        return {k: (base64.b64decode(v).hex() if k in ID_KEYS and isinstance(v, str) else hexify(v)) for k, v in o.items()}
    if isinstance(o, list):
        return [hexify(x) for x in o]
    return o


def attr(span, key):
    for kv in span.attributes:
        if kv.key == key:
            v = MessageToDict(kv.value)
            return next(iter(v.values())) if v else None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--provider-log", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--llm-scope", required=True, help="instrumentation scope of the LLM spans")
    ap.add_argument("--llm-marker", default="", help="KEY=VALUE an LLM span also has")
    ap.add_argument("--scenario", action="append", required=True,
                    help="NAME=PROMPT: scenario and the user prompt of its call(s)")
    ap.add_argument("--packages", nargs="*", default=[])
    ap.add_argument("--python", default=sys.executable, help="the capture venv's python (pip freeze)")
    args = ap.parse_args()

    index = [json.loads(l) for l in open(os.path.join(args.raw, "index.jsonl"))]
    index = [e for e in index if e["library"] == args.library and e["signal"] == "traces"]
    answers = [json.loads(l) for l in open(args.provider_log)]
    os.makedirs(args.out, exist_ok=True)
    marker = args.llm_marker.split("=", 1) if args.llm_marker else None

    scenarios = {}
    for spec in args.scenario:
        name, prompt = spec.split("=", 1)
        merged = ExportTraceServiceRequest()
        for e in (e for e in index if e["scenario"] == name):
            part = ExportTraceServiceRequest()
            part.ParseFromString(open(os.path.join(args.raw, e["dir"], e["files"]["decoded"]), "rb").read())
            merged.resource_spans.extend(part.resource_spans)
        open(os.path.join(args.out, name + ".pb"), "wb").write(merged.SerializeToString())
        doc = hexify(MessageToDict(merged, use_integers_for_enums=True))
        open(os.path.join(args.out, name + ".json"), "w").write(json.dumps(doc, indent=2) + "\n")

        spans, calls, by_id = [], [], {}
        for rs in merged.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    by_id[sp.span_id.hex()] = sp.name
        for rs in merged.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    llm = ss.scope.name == args.llm_scope and (not marker or attr(sp, marker[0]) == marker[1])
                    parent = sp.parent_span_id.hex() or None
                    spans.append({"name": sp.name, "span_id": sp.span_id.hex(), "trace_id": sp.trace_id.hex(),
                                  "parent_span_id": parent, "parent_name": by_id.get(parent) if parent else None,
                                  "kind": KIND[sp.kind], "scope": ss.scope.name, "status": STATUS[sp.status.code],
                                  "role": "llm" if llm else "http-client"})
                    if not llm:
                        continue
                    # The provider's answer to this call: the request whose last user text is the prompt.
                    answer = next(a["answer"] for a in answers if prompt in json.dumps(a.get("body", a)))
                    usage = answer["usage"]
                    cache_read = usage.get("cache_read_input_tokens") or 0
                    cache_write = usage.get("cache_creation_input_tokens") or 0
                    inputs = usage["input_tokens"] + cache_read + cache_write
                    request = next(a for a in answers if prompt in json.dumps(a.get("body", a)))
                    calls.append({
                        "span_name": sp.name, "span_id": sp.span_id.hex(), "parent_span_name": None,
                        "error": False, "request_model": request["body"]["model"], "response_model": answer["model"],
                        "provider": "anthropic", "operation": "chat",
                        "input_tokens": inputs, "output_tokens": usage["output_tokens"],
                        "total_tokens": None, "cached_tokens": cache_read, "cache_creation_tokens": cache_write,
                        "streamed": bool(request["body"].get("stream")), "ttft_present": False,
                        "prompt_contains": prompt, "completion_contains": "echo: " + prompt,
                        "finish_reason": answer["stop_reason"], "response_id": answer["id"],
                        "session_id": None, "user_id": None,
                    })
        scenarios[name] = {
            "files": {"traces_pb": [name + ".pb"], "traces_json": [name + ".json"]},
            "span_count": len(spans), "trace_count": len({s["trace_id"] for s in spans}),
            "log_record_count": 0, "log_event_names": [], "spans": spans, "llm_calls": calls,
            "error": False, "session_ids": [], "user_ids": [],
        }

    first = index[0]
    headers = {k.lower(): v for k, v in first["headers"].items()}
    freeze = subprocess.run([args.python, "-m", "pip", "freeze"], capture_output=True, text=True).stdout.split()
    packages = {}
    for line in freeze:
        name, _, version = line.partition("==")
        if name.lower() in args.packages or name.lower().startswith("opentelemetry-"):
            packages[name] = version
    expected = {
        "library": args.library, "description": args.description, "packages": packages,
        "export": {"path": first["path"], "content_type": first["content_type"],
                   "content_encoding": first["content_encoding"] or None,
                   "user_agent": headers.get("user-agent"), "auth_header": None, "other_headers": {}},
        "scenarios": scenarios,
    }
    open(os.path.join(args.out, "expected.json"), "w").write(json.dumps(expected, indent=2) + "\n")
    open(os.path.join(args.out, "pip-freeze.txt"), "w").write("\n".join(freeze) + "\n")


if __name__ == "__main__":
    main()
