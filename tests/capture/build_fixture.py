"""Turns one library's raw captures (tools/capture_server.py's output) into a fixture folder
tests/fixtures/otlp/<library>/ in the format of the shared captures: NAME.pb (the
ExportTraceServiceRequest as sent; several requests of one scenario are merged), NAME.json (the
same as spec OTLP/JSON) and expected.json. The facts of each LLM call in expected.json come from
the fake provider's log (what the API really answered: ids, models, token counts with the cache
parts), not from the library's payload; the span tree comes from the payload.

    python build_fixture.py --raw RAW --library NAME --provider openai|anthropic \
        --provider-log LOG --out DIR --llm-scope SCOPE --scenario a_simple [--scenario …]
"""
import argparse
import base64
import json
import os
import subprocess
import sys

from google.protobuf.json_format import MessageToDict, ParseDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
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


def unhexify(o):
    """OTLP/JSON ids (hex) as the protobuf JSON mapping wants them (base64)."""
    if isinstance(o, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in ID_KEYS and isinstance(v, str) else unhexify(v))
                for k, v in o.items()}
    if isinstance(o, list):
        return [unhexify(x) for x in o]
    return o


def attr(span, key):
    for kv in span.attributes:
        if kv.key == key:
            v = MessageToDict(kv.value)
            return next(iter(v.values())) if v else None
    return None


def last_user_text(body):
    """The text of the request's last user message (OpenAI, Anthropic or Gemini shape)."""
    text = ""
    for c in body.get("contents") or []:  # Gemini: contents[].parts[].text
        if c.get("role", "user") == "user":
            text = " ".join(p.get("text", "") for p in c.get("parts", []) if isinstance(p, dict))
    for m in body.get("messages") or []:
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            text = c
        elif isinstance(c, list):
            text = " ".join(b.get("text", "") for b in c if isinstance(b, dict) and b.get("type") == "text")
    return text


def truth(request, provider):
    """The call facts the API answered (expected.json llm_calls fields)."""
    answer = request.get("answer") or {}
    usage = answer.get("usage")
    # The fakes answer HTTP 500 to a prompt containing FAIL (the planned answer is not sent).
    failed = usage is None or "FAIL" in last_user_text(request["body"])
    if provider == "anthropic" and not failed:
        cache_read = usage.get("cache_read_input_tokens") or 0
        cache_write = usage.get("cache_creation_input_tokens") or 0
        tokens = {"input_tokens": usage["input_tokens"] + cache_read + cache_write,
                  "output_tokens": usage["output_tokens"], "total_tokens": None,
                  "cached_tokens": cache_read, "cache_creation_tokens": cache_write}
        finish = answer["stop_reason"]
    elif provider == "gcp.gemini" and not failed:
        tokens = {"input_tokens": usage["promptTokenCount"], "output_tokens": usage["candidatesTokenCount"],
                  "total_tokens": usage["totalTokenCount"]}
        finish = answer["finish_reason"]
    elif not failed:
        tokens = {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"],
                  "total_tokens": usage["total_tokens"]}
        finish = answer.get("finish_reason")
    else:
        tokens = {"input_tokens": None, "output_tokens": None, "total_tokens": None}
        finish = None
    prompt = last_user_text(request["body"])
    completion = None if failed else "echo: " + prompt
    if finish in ("tool_calls", "tool_use"):  # the answer is a call of the request's first tool
        tool = (request["body"].get("tools") or [{}])[0]
        completion = tool.get("function", tool).get("name")
    return {"error": failed, "request_model": request["body"]["model"],
            "response_model": None if failed else answer["model"], "provider": provider, "operation": "chat",
            **tokens, "streamed": bool(request["body"].get("stream")), "ttft_present": False,
            "prompt_contains": prompt, "completion_contains": completion,
            "finish_reason": finish, "response_id": None if failed else answer["id"],
            "session_id": None, "user_id": None}


def recorded_stream_flag(span):
    """Whether the span's data says the call streamed: a flag attribute, or a recorded request
    object (without `stream`: not streamed); None when the data does not say."""
    for key in ("gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming"):
        value = attr(span, key)
        if value is not None:
            return bool(value)
    if attr(span, "langfuse.observation.completion_start_time"):  # Langfuse: only streams have it
        return True
    operation = attr(span, "ai.operationId")  # Vercel AI SDK: the provider call says it
    if operation in ("ai.streamText.doStream", "ai.generateText.doGenerate"):
        return operation.endswith("doStream")
    for key in ("request_data", "mlflow.spanInputs", "llm.invocation_parameters",
                "langfuse.observation.model.parameters"):
        value = attr(span, key)
        if isinstance(value, str):
            try:
                return bool(json.loads(value).get("stream", False))
            except (ValueError, AttributeError):
                pass
    return None


def recorded_total(span):
    """The total token count the span's data records (a total is never computed): None if none."""
    for key in ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total",
                "ai.usage.totalTokens"):
        value = attr(span, key)
        if value is not None:
            return int(value)
    for key in ("gen_ai.usage.raw", "mlflow.chat.tokenUsage", "langfuse.observation.usage_details"):
        value = attr(span, key)
        if isinstance(value, str):
            try:
                usage = json.loads(value)
                total = usage.get("total_tokens", usage.get("total"))
            except (ValueError, AttributeError):
                continue
            if total is not None:
                return int(total)
    return None


def recorded_request_model(span):
    """The requested model the span's data names, if any."""
    for key in ("gen_ai.request.model", "llm.request.model"):
        if attr(span, key):
            return attr(span, key)
    for key in ("llm.invocation_parameters", "request_data", "mlflow.spanInputs"):
        value = attr(span, key)
        if isinstance(value, str):
            try:
                model = json.loads(value).get("model")
            except (ValueError, AttributeError):
                continue
            if model:
                return model
    return None


def declared_role(span):
    """The kind a non-LLM span declares itself (OpenInference span kind, GenAI operation, MLflow
    span type, OpenLLMetry span kind): tool, agent or chain; None when it declares none."""
    declared = {
        "TOOL": "tool", "AGENT": "agent", "CHAIN": "chain", "PROMPT": "chain",
        "execute_tool": "tool", "invoke_agent": "agent", "create_agent": "agent", "invoke_workflow": "chain",
        "tool": "tool", "agent": "agent", "workflow": "chain", "task": "chain",  # traceloop.span.kind
    }
    # OpenLLMetry's own span kind before the GenAI operation: its LangChain instrumentation
    # writes invoke_agent on every workflow span (a chain, as traceloop.span.kind says).
    for key in ("openinference.span.kind", "traceloop.span.kind", "gen_ai.operation.name", "mlflow.spanType"):
        value = attr(span, key)
        if isinstance(value, str) and value.strip('"') in declared:
            return declared[value.strip('"')]
    return "tool" if attr(span, "gen_ai.tool.name") else None


def first_attr(span, keys):
    return next((attr(span, k) for k in keys if attr(span, k)), None)


def recorded_session(span):
    """The session the span's data names (a conversation id counts when nothing else does)."""
    return first_attr(span, ("langfuse.session.id", "session.id", "traceloop.association.properties.session_id",
                             "ai.telemetry.metadata.sessionId", "gen_ai.conversation.id"))


def recorded_user(span):
    return first_attr(span, ("langfuse.user.id", "user.id", "traceloop.association.properties.user_id",
                             "ai.telemetry.metadata.userId", "enduser.id"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--provider", choices=["openai", "anthropic", "gcp.gemini"], required=True)
    ap.add_argument("--provider-log", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--llm-scope", action="append", required=True, help="instrumentation scope of LLM spans")
    ap.add_argument("--no-content-scope", action="append", default=[],
                    help="an LLM span scope that records no prompt / completion")
    ap.add_argument("--finish-reason-attr", action="store_true",
                    help="record where the span's finish reason, response model / id or token counts differ "
                         "from the API's answer (differs_from_truth)")
    ap.add_argument("--llm-marker", action="append", default=[],
                    help="KEY=VALUE an LLM span also has (value as OTLP/JSON shows it); any of several")
    ap.add_argument("--other-role", default="http-client", help="role of the other spans")
    ap.add_argument("--scenario", action="append", required=True)
    ap.add_argument("--packages", nargs="*", default=[])
    ap.add_argument("--python", default=sys.executable, help="the capture venv's python (pip freeze)")
    ap.add_argument("--npm-package", default=None, help="package.json of a JavaScript capture (its pinned versions)")
    ap.add_argument("--ttft-scope", action="append", default=[],
                    help="a scope whose streamed calls record the time to first token")
    args = ap.parse_args()

    all_index = [json.loads(l) for l in open(os.path.join(args.raw, "index.jsonl"))]
    index = [e for e in all_index if e["library"] == args.library and e["signal"] == "traces"]
    requests = [json.loads(l) for l in open(args.provider_log)]
    os.makedirs(args.out, exist_ok=True)
    markers = [m.split("=", 1) for m in args.llm_marker]

    scenarios = {}
    for name in args.scenario:
        merged = ExportTraceServiceRequest()
        as_received = []  # OTLP/JSON bodies, kept byte for byte to be replayed as sent
        for e in (e for e in index if e["scenario"] == name):
            body = open(os.path.join(args.raw, e["dir"], e["files"]["decoded"]), "rb").read()
            part = ExportTraceServiceRequest()
            if e["content_type"].startswith("application/json"):
                ParseDict(unhexify(json.loads(body)), part)
                as_received.append(f"{name}.as_received.{len(as_received) + 1}.json")
                open(os.path.join(args.out, as_received[-1]), "wb").write(body)
            else:
                part.ParseFromString(body)
            merged.resource_spans.extend(part.resource_spans)
        open(os.path.join(args.out, name + ".pb"), "wb").write(merged.SerializeToString())
        doc = hexify(MessageToDict(merged, use_integers_for_enums=True))
        open(os.path.join(args.out, name + ".json"), "w").write(json.dumps(doc, indent=2) + "\n")

        all_spans = [(ss.scope.name, sp) for rs in merged.resource_spans for ss in rs.scope_spans for sp in ss.spans]
        all_spans.sort(key=lambda s: s[1].start_time_unix_nano)  # calls in the order they were made
        # Logfire's streaming companion spans are joined into their call's row by the collector.
        companions = [sp for _, sp in all_spans
                      if str(attr(sp, "logfire.msg_template") or "").startswith("streaming response from ")]
        all_spans = [(scope, sp) for scope, sp in all_spans if sp not in companions]
        names = {sp.span_id.hex(): sp.name for _, sp in all_spans}
        spans, calls, used = [], [], set()
        for scope, sp in all_spans:
            llm = scope in args.llm_scope and (not markers or any(attr(sp, k) == v for k, v in markers))
            parent = sp.parent_span_id.hex() or None
            spans.append({"name": sp.name, "span_id": sp.span_id.hex(), "trace_id": sp.trace_id.hex(),
                          "parent_span_id": parent, "parent_name": names.get(parent) if parent else None,
                          "kind": KIND[sp.kind], "scope": scope, "status": STATUS[sp.status.code],
                          "role": "llm" if llm else declared_role(sp) or args.other_role})
            if not llm:
                continue
            # The API call this span describes: the answer whose id it records, else the
            # request whose prompt it carries.
            text = json.dumps(MessageToDict(sp))
            request = next((r for r in requests if (r.get("answer") or {}).get("id", "\0") in text), None) or next(
                r for r in requests
                if id(r) not in used and last_user_text(r["body"])
                and json.dumps(last_user_text(r["body"]))[1:-1] in text)
            used.add(id(request))
            call = {"span_name": sp.name, "span_id": sp.span_id.hex(),
                    "parent_span_name": names.get(parent) if parent else None, **truth(request, args.provider)}
            call["ttft_present"] = scope in args.ttft_scope and call["streamed"]
            companion = next((c for c in companions
                              if attr(c, "gen_ai.input.messages") == attr(sp, "gen_ai.input.messages")), None)
            call["streamed"] = True if companion else recorded_stream_flag(sp)
            call["operation"] = attr(sp, "gen_ai.operation.name") or call["operation"]
            call["session_id"] = recorded_session(sp)
            call["user_id"] = recorded_user(sp)
            provider_keys = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system",
                             "ai.model.provider", "mlflow.message.format")
            if not any(attr(sp, k) for k in provider_keys):
                call["provider"] = None  # the data names no provider
            if not call["error"]:
                call["total_tokens"] = recorded_total(companion or sp)
            differs = {}
            if scope in args.no_content_scope:
                differs["prompt"] = {"truth": call["prompt_contains"], "data": None}
                differs["completion"] = {"truth": call["completion_contains"], "data": None}
            if args.finish_reason_attr and not call["error"]:
                source = companion or sp
                reported = (attr(source, "gen_ai.response.finish_reasons") or attr(source, "anthropic.message.stop_reason")
                            or attr(source, "llm.finish_reason")
                            or attr(source, "langfuse.observation.metadata.finish_reason"))
                if isinstance(reported, str) and reported.startswith('"'):  # JSON-encoded (Langfuse)
                    reported = json.loads(reported)
                if isinstance(reported, dict):  # an OTLP array value
                    reported = next((v.get("stringValue") for v in reported.get("values", [])), None)
                elif isinstance(reported, str) and reported.startswith("["):  # a JSON array text
                    reported = next(iter(json.loads(reported)), None)
                if reported != call["finish_reason"]:
                    differs["finish_reason"] = {"truth": call["finish_reason"], "data": reported}
                for key in ("gen_ai.response.model", "llm.model_name", "langfuse.observation.model.name"):
                    model = attr(source, key)
                    if model is not None:
                        if model != call["response_model"]:
                            differs["response_model"] = {"truth": call["response_model"], "data": model}
                        break
                if recorded_request_model(source) is None:
                    differs["request_model"] = {"truth": call["request_model"], "data": None}
                recorded_id = attr(source, "gen_ai.response.id")
                if recorded_id is None and call["response_id"] in str(attr(source, "output.value")):
                    recorded_id = call["response_id"]
                if recorded_id != call["response_id"]:
                    differs["response_id"] = {"truth": call["response_id"], "data": recorded_id}
                for field in ("input_tokens", "output_tokens"):
                    counted = attr(source, "gen_ai.usage." + field)
                    if counted is not None and int(counted) != call[field]:
                        differs[field] = {"truth": call[field], "data": int(counted)}
            if differs:
                call["differs_from_truth"] = differs
            calls.append(call)
        scenarios[name] = {
            "files": {"traces_pb": [name + ".pb"], "traces_json": [name + ".json"],
                      **({"traces_json_as_received": as_received} if as_received else {})},
            "span_count": len(spans), "trace_count": len({s["trace_id"] for s in spans}),
            "companions_joined": len(companions),
            "log_record_count": 0, "log_event_names": [], "spans": spans, "llm_calls": calls,
            "error": any(c["error"] for c in calls),
            "user_ids": sorted({recorded_user(sp) for _, sp in all_spans} - {None}),
            "session_ids": sorted({recorded_session(sp) for _, sp in all_spans} - {None}),
        }

    # Metrics (exported when the process ends, or periodically): every request, as sent.
    metric_requests = [e for e in all_index if e["library"] == args.library and e["signal"] == "metrics"]
    for n, e in enumerate(metric_requests, 1):
        body = open(os.path.join(args.raw, e["dir"], e["files"]["decoded"]), "rb").read()
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        open(os.path.join(args.out, f"run{n}.metrics.pb"), "wb").write(body)
        doc = hexify(MessageToDict(request, use_integers_for_enums=True))
        open(os.path.join(args.out, f"run{n}.metrics.json"), "w").write(json.dumps(doc, indent=2) + "\n")

    first = index[0]
    headers = {k.lower(): v for k, v in first["headers"].items()}
    basic = headers.get("authorization", "").startswith("Basic ")
    if args.npm_package:
        packages = json.load(open(args.npm_package))["dependencies"]
        freeze = None
    else:
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
                   "user_agent": headers.get("user-agent"), "auth_header": "Basic" if basic else None,
                   "other_headers": {k: v for k, v in headers.items() if k.startswith("x-langfuse-")}},
        "scenarios": scenarios,
    }
    open(os.path.join(args.out, "expected.json"), "w").write(json.dumps(expected, indent=2) + "\n")
    if freeze is not None:
        open(os.path.join(args.out, "pip-freeze.txt"), "w").write("\n".join(freeze) + "\n")


if __name__ == "__main__":
    main()
