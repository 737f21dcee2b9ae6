#!/usr/bin/env python3
"""Tiny deterministic fake of the Gemini API's generateContent (stdlib only), 127.0.0.1 only,
with the same rules as fake_openai.py / fake_anthropic.py:

  POST /v1beta/models/{model}:generateContent
  POST /v1beta/models/{model}:streamGenerateContent?alt=sse   (one SSE event per word)

  * last_user      = text of the last `contents` entry with role "user"
  * text           = "echo: " + last_user
  * promptTokenCount = words over systemInstruction and every content's text parts
  * candidatesTokenCount = words in text; totalTokenCount = their sum
  * modelVersion   = model + "-001" (requested != returned); responseId = first 24 hex chars
    of sha256(request body)
  * last_user contains "FAIL" -> HTTP 500 {"error": {"code": 500, "status": "INTERNAL", ...}}

Every request is appended (one JSON line) to --log with "answer" (id, model, usage,
finish_reason), like the other fakes, so the fixture builder knows what the API answered.
"""
import argparse
import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
LOG_PATH = None


def words(s):
    return len(s.split())


def texts(content):
    return " ".join(p.get("text", "") for p in (content or {}).get("parts", []) if isinstance(p, dict))


def plan(model, req, raw):
    contents = req.get("contents") or []
    last_user = next((texts(c) for c in reversed(contents) if c.get("role", "user") == "user"), "")
    prompt = words(texts(req.get("systemInstruction"))) + sum(words(texts(c)) for c in contents)
    text = "echo: " + last_user
    out = words(text)
    return {"id": hashlib.sha256(raw).hexdigest()[:24], "model": model + "-001", "text": text,
            "last_user": last_user, "finish_reason": "STOP",
            "usage": {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out}}


def response(p, text):
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": p["finish_reason"], "index": 0}],
            "usageMetadata": p["usage"], "modelVersion": p["model"], "responseId": p["id"]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        m = re.match(r"^/v1beta/models/([^:/]+):(generateContent|streamGenerateContent)", self.path)
        if not m:
            return self.send_json(404, {"error": {"code": 404, "message": "not found"}})
        req = json.loads(raw or b"{}")
        p = plan(m.group(1), req, raw)
        failed = "FAIL" in p["last_user"]
        if LOG_PATH:
            entry = {"path": self.path, "body": {**req, "model": m.group(1), "stream": m.group(2) != "generateContent"}}
            if not failed:
                entry["answer"] = {"id": p["id"], "model": p["model"], "usage": p["usage"],
                                   "finish_reason": p["finish_reason"]}
            with _lock, open(LOG_PATH, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if failed:
            return self.send_json(500, {"error": {"code": 500, "status": "INTERNAL",
                                                  "message": "The server had an error (FAIL requested)"}})
        if m.group(2) == "generateContent":
            return self.send_json(200, response(p, p["text"]))
        events = []
        parts = p["text"].split(" ")
        for i, word in enumerate(parts):
            chunk = response(p, word + ("" if i == len(parts) - 1 else " "))
            if i < len(parts) - 1:
                del chunk["candidates"][0]["finishReason"]
            events.append(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
        self.send_json(200, b"".join(events), "text/event-stream")


def main():
    global LOG_PATH
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=int(os.environ.get("FAKE_GEMINI_PORT", "18092")))
    ap.add_argument("--log", default=None, help="append every request as a JSON line here")
    a = ap.parse_args()
    LOG_PATH = a.log
    ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
