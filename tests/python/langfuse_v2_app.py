#!/usr/bin/env python3
"""An app instrumented with the Langfuse Python SDK v2 (`langfuse` < 3, batch ingestion API),
pointed at Spanlens. It calls the fake OpenAI server (tests/capture/tools/fake_openai.py, started
here on a free port) through `langfuse.openai`, uses `@observe` with nested spans and a generation,
streams, makes a failing call, sets session / user / tags, sends scores, and uses the low-level
client (trace, span, generation with legacy usage, event). Prints the ids it used as JSON.

Environment: LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY.
"""
import json
import os
import sys
import threading
import uuid
from http.server import ThreadingHTTPServer

# The one fake OpenAI server, shared with the capture scripts.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "capture", "tools"))
import fake_openai  # noqa: E402

srv = ThreadingHTTPServer(("127.0.0.1", 0), fake_openai.Handler)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
base_url = f"http://127.0.0.1:{srv.server_address[1]}/v1"

from langfuse import Langfuse  # noqa: E402
from langfuse.decorators import langfuse_context, observe  # noqa: E402
from langfuse.openai import OpenAI, openai  # noqa: E402

client = OpenAI(base_url=base_url, api_key="sk-test-not-a-secret", max_retries=0)
ids = {}

# 1. One wrapped call with session, user, tags and metadata, in a trace id of our own.
ids["simple"] = str(uuid.uuid4())
client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Plan a trip to Lisbon"}],
    temperature=0.2,
    max_tokens=50,
    name="plan",
    trace_id=ids["simple"],
    session_id="session-1",
    user_id="user-1",
    tags=["lisbon", "simple"],
    metadata={"feature": "planner"},
)

# 2. Streaming, with usage in the last chunk.
ids["stream"] = str(uuid.uuid4())
stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Count to three please"}],
    stream=True,
    stream_options={"include_usage": True},
    name="stream",
    trace_id=ids["stream"],
)
for _ in stream:
    pass

# 3. A failing call (the fake answers 500).
ids["fail"] = str(uuid.uuid4())
try:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "FAIL on purpose"}],
        name="fail",
        trace_id=ids["fail"],
    )
except Exception:
    pass
openai.flush_langfuse()


# 4. Decorators: an agent with a nested retrieval span and a wrapped LLM call, plus scores.
@observe()
def retrieve(query):
    return ["Lisbon is the capital of Portugal."]


@observe()
def agent(question):
    langfuse_context.update_current_trace(
        session_id="session-2", user_id="user-2", tags=["agent"], release="v2-release"
    )
    docs = retrieve(question)
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Use: " + docs[0]},
            {"role": "user", "content": question},
        ],
        name="answer",
    )
    ids["agent"] = langfuse_context.get_current_trace_id()
    ids["agent_observation"] = langfuse_context.get_current_observation_id()
    langfuse_context.score_current_trace(name="quality", value=0.9, comment="good")
    return answer.choices[0].message.content


agent("Summarise Lisbon")
langfuse_context.flush()

# 5. The low-level client: trace, span, generation with the legacy usage object, event, score.
lf = Langfuse()
trace = lf.trace(
    name="manual",
    user_id="user-3",
    session_id="session-3",
    tags=["manual"],
    metadata={"team": "search", "attempt": 2},
    input={"question": "why?"},
    output="because",
    release="r-3",
    version="v-3",
)
ids["manual"] = trace.id
span = trace.span(name="step", input="step input")
span.end(output="step output")
gen = trace.generation(
    name="llm-step",
    model="gpt-4o-mini",
    input=[{"role": "user", "content": "hi"}],
    model_parameters={"temperature": 0.5, "max_tokens": 20},
    prompt=None,
)
gen.end(
    output={"role": "assistant", "content": "hello"},
    usage={"input": 10, "output": 3, "total": 13, "unit": "TOKENS"},
    level="WARNING",
    status_message="slow",
)
trace.event(name="cache-miss", input={"key": "k1"}, level="DEBUG")
trace.score(name="thumbs", value=1, data_type="BOOLEAN", comment="ok")
ids["manual_span"] = span.id
ids["manual_generation"] = gen.id
lf.flush()
lf.shutdown()

print(json.dumps(ids))
