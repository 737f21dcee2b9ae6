#!/usr/bin/env python3
"""Tiny deterministic fake of the Anthropic Messages API (stdlib only).

Listens on 127.0.0.1 only.  Endpoint: POST /v1/messages (non-streaming and
streaming SSE).  Same rules as fake_openai.py, in Anthropic's format:
  * last_user      = text of the last message with role "user" (string
                     content, or the text blocks of a content list)
  * text           = "echo: " + last_user
  * input_tokens   = number of whitespace-separated words over the system
                     prompt and the text of ALL messages (text blocks,
                     tool_result content; tool_use input as JSON)
  * output_tokens  = words in text (for a tool call: words in the input JSON)
  * response model = request model + "-20251001" (requested != returned)
  * id             = "msg_" + first 24 hex chars of sha256(request body)
  * usage also carries cache_creation_input_tokens / cache_read_input_tokens
    and service_tier "standard", as the real API does. Prompt caching: the
    words of system blocks marked with cache_control are cache tokens — read
    (cache_read_input_tokens) when the system text contains CACHE_HIT, else
    written (cache_creation_input_tokens) — and, as in the real API,
    input_tokens then counts only the rest (0 and 0 without cache_control)
  * tools present, tool_choice not {"type":"none"}, last message is a user
    message whose content is not a tool_result -> stop_reason "tool_use",
    one block {"type":"tool_use","id":"toolu_"+hex, "name": FIRST tool,
    "input": {"<first required property or 'input'>": last_user}}
    otherwise stop_reason "end_turn"
  * last_user contains "FAIL429" -> HTTP 429 rate_limit_error;
    contains "FAIL" -> HTTP 500 api_error  ({"type":"error","error":{...}})
  * stream=true: SSE events message_start (usage.input_tokens, output_tokens
    1), content_block_start, ping, one content_block_delta per word
    (text_delta; input_json_delta in 8-char pieces for tool_use),
    content_block_stop, message_delta (stop_reason, usage.output_tokens),
    message_stop.
Every request is appended (one JSON line) to the file named by --log, with
"answer" (id, model, usage, stop_reason of the planned response).
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_SUFFIX = "-20251001"
_log_lock = threading.Lock()
LOG_PATH = None


def words(s):
    return len(s.split())


def text_of(content):
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for b in content:
        if not isinstance(b, dict):
            continue
        t = b.get("type")
        if t == "text":
            out.append(b.get("text", ""))
        elif t == "tool_result":
            out.append(text_of(b.get("content")))
        elif t == "tool_use":
            out.append(json.dumps(b.get("input", {})))
    return " ".join(out)


def is_tool_result(m):
    c = m.get("content")
    return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c)


def plan_messages(req, raw):
    messages = req.get("messages") or []
    last_user = ""
    for m in messages:
        if m.get("role") == "user" and not is_tool_result(m):
            last_user = text_of(m.get("content"))
    system = req.get("system")
    input_tokens = words(text_of(system)) + sum(words(text_of(m.get("content"))) for m in messages)
    digest = hashlib.sha256(raw).hexdigest()
    plan = {"id": "msg_" + digest[:24], "model": req.get("model", "unknown") + MODEL_SUFFIX,
            "last_user": last_user, "input_tokens": input_tokens, "tool_use": None, "text": None}
    tools = req.get("tools") or []
    last = messages[-1] if messages else {}
    if (tools and (req.get("tool_choice") or {}).get("type") != "none"
            and last.get("role") == "user" and not is_tool_result(last)):
        t = tools[0]
        schema = t.get("input_schema") or {}
        req_params = schema.get("required") or list((schema.get("properties") or {}).keys())
        arg = req_params[0] if req_params else "input"
        plan["tool_use"] = {"type": "tool_use", "id": "toolu_" + digest[24:40], "name": t.get("name", "tool"),
                            "input": {arg: last_user}}
        plan["output_tokens"] = words(json.dumps(plan["tool_use"]["input"]))
        plan["stop_reason"] = "tool_use"
    else:
        plan["text"] = "echo: " + last_user
        plan["output_tokens"] = words(plan["text"])
        plan["stop_reason"] = "end_turn"
    cached = sum(words(b.get("text", "")) for b in (system if isinstance(system, list) else [])
                 if isinstance(b, dict) and b.get("cache_control"))
    hit = "CACHE_HIT" in text_of(system)
    plan["usage"] = {"input_tokens": input_tokens - cached,
                     "cache_creation_input_tokens": 0 if hit else cached,
                     "cache_read_input_tokens": cached if hit else 0,
                     "output_tokens": plan["output_tokens"], "service_tier": "standard"}
    return plan


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1.0"

    def log_message(self, fmt, *args):
        sys.stderr.write("[fake-anthropic] " + (fmt % args) + "\n")

    def _record(self, entry):
        if LOG_PATH:
            with _log_lock, open(LOG_PATH, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def _send_json(self, code, obj, extra_headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", "req_fake_" + hashlib.sha256(body).hexdigest()[:12])
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            req = json.loads(raw or b"{}")
        except Exception:
            self._send_json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad json"}})
            return
        path = self.path.split("?")[0].rstrip("/")
        entry = {"t": time.time(), "path": path, "body": req,
                 "headers": {k.lower(): v for k, v in self.headers.items()
                             if k.lower() not in ("authorization", "x-api-key")}}
        plan = plan_messages(req, raw) if path.endswith("/v1/messages") else None
        if plan:
            entry["answer"] = {"id": plan["id"], "model": plan["model"], "usage": plan["usage"],
                               "stop_reason": plan["stop_reason"]}
        self._record(entry)
        if not plan:
            self._send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "unknown path " + path}})
            return
        if "FAIL429" in plan["last_user"]:
            self._send_json(429, {"type": "error", "error": {"type": "rate_limit_error",
                                  "message": "Rate limit reached (FAIL429 requested)"}}, {"retry-after": "0"})
            return
        if "FAIL" in plan["last_user"]:
            self._send_json(500, {"type": "error", "error": {"type": "api_error",
                                  "message": "Internal server error (FAIL requested)"}})
            return
        if req.get("stream"):
            self.stream(plan)
            return
        content = [plan["tool_use"]] if plan["tool_use"] else [{"type": "text", "text": plan["text"]}]
        self._send_json(200, {"id": plan["id"], "type": "message", "role": "assistant", "model": plan["model"],
                              "content": content, "stop_reason": plan["stop_reason"], "stop_sequence": None,
                              "usage": plan["usage"]})

    def stream(self, plan):
        ev = []
        start_usage = dict(plan["usage"], output_tokens=1)
        ev.append(("message_start", {"type": "message_start", "message": {
            "id": plan["id"], "type": "message", "role": "assistant", "model": plan["model"], "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}))
        if plan["tool_use"]:
            tu = plan["tool_use"]
            ev.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": tu["id"], "name": tu["name"], "input": {}}}))
            ev.append(("ping", {"type": "ping"}))
            js = json.dumps(tu["input"])
            for i in range(0, len(js), 8):
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "input_json_delta", "partial_json": js[i:i + 8]}}))
        else:
            ev.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
            ev.append(("ping", {"type": "ping"}))
            for i, w in enumerate(plan["text"].split(" ")):
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": w if i == 0 else " " + w}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        ev.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": plan["stop_reason"], "stop_sequence": None},
                                     "usage": {"output_tokens": plan["output_tokens"]}}))
        ev.append(("message_stop", {"type": "message_stop"}))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in ev:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.005)


def main():
    global LOG_PATH
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=int(os.environ.get("FAKE_ANTHROPIC_PORT", "18091")))
    ap.add_argument("--log", default=None, help="append every request as a JSON line here")
    a = ap.parse_args()
    LOG_PATH = a.log
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print(f"fake-anthropic listening on http://127.0.0.1:{a.port}/v1/messages", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
