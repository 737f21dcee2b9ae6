#!/usr/bin/env python3
"""Reads Spanlens through Langfuse's own generated API client of the v1 endpoints (the
`FernLangfuse` client of the Python SDK 2.x, which validates every response against Langfuse's
schema): traces (list with filters and pages, get), observations (list, get), sessions (list,
get), scores, daily metrics; and with another project's key. Prints what it read as JSON.

Usage: langfuse_read_v1.py HOST PUBLIC SECRET OTHER_PUBLIC OTHER_SECRET IDS_JSON
"""
import json
import sys

from langfuse.api.client import FernLangfuse
from langfuse.api.core import ApiError

host, public, secret, other_public, other_secret, ids = sys.argv[1:7]
ids = json.loads(ids)
c = FernLangfuse(base_url=host, username=public, password=secret)
out = {}


def names(traces):
    return sorted(t.name or "" for t in traces.data)


page1 = c.trace.list(limit=2, page=1, order_by="timestamp.asc")
page3 = c.trace.list(limit=2, page=3, order_by="timestamp.asc")
out["trace_pages"] = {
    "page1": [t.id for t in page1.data],
    "page3": [t.id for t in page3.data],
    "meta": {"totalItems": page1.meta.total_items, "totalPages": page1.meta.total_pages},
    "list_observations": len(page1.data[0].observations),
}
out["traces_by_user"] = names(c.trace.list(user_id="user-3"))
out["traces_by_tags"] = names(c.trace.list(tags=["manual"]))
out["traces_by_session"] = names(c.trace.list(session_id="session-2"))
out["traces_by_name"] = [t.id for t in c.trace.list(name="agent").data]

t = c.trace.get(ids["manual"])
out["trace"] = {
    "id": t.id,
    "name": t.name,
    "input": t.input,
    "output": t.output,
    "userId": t.user_id,
    "sessionId": t.session_id,
    "tags": t.tags,
    "release": t.release,
    "metadata": t.metadata,
    "latency_positive": t.latency > 0,
    "totalCost": round(t.total_cost, 12),
    "htmlPath": t.html_path,
    "observations": sorted(
        [o.name, o.type, o.parent_observation_id, o.usage.input, o.usage.output, o.level]
        for o in t.observations
    ),
    "scores": [[s.name, s.value, s.data_type] for s in t.scores],
}

page2 = c.observations.get_many(trace_id=ids["manual"], limit=2, page=2)
out["observations_page2"] = {"items": len(page2.data), "totalItems": page2.meta.total_items}
gens = c.observations.get_many(trace_id=ids["manual"], type="GENERATION")
out["generations"] = [[o.id, o.name, o.model, o.usage_details, o.status_message] for o in gens.data]
agent = c.observations.get_many(trace_id=ids["agent"])
out["agent_observations"] = sorted([o.name, o.parent_observation_id] for o in agent.data)
o = c.observations.get(ids["manual_generation"])
out["observation"] = {
    "id": o.id,
    "traceId": o.trace_id,
    "input": o.input,
    "output": o.output,
    "modelParameters": o.model_parameters,
    "latency_positive": o.latency > 0,
}
stream = c.observations.get_many(trace_id=ids["stream"], type="GENERATION").data[0]
out["stream_ttft_positive"] = stream.time_to_first_token is not None and stream.time_to_first_token > 0

sessions = c.sessions.list()
out["sessions"] = sorted(s.id for s in sessions.data)
sessions_page2 = c.sessions.list(limit=2, page=2)
out["sessions_page2"] = {"items": [s.id for s in sessions_page2.data], "totalPages": sessions_page2.meta.total_pages}
session = c.sessions.get("session-3")
out["session"] = {"id": session.id, "traces": [t.id for t in session.traces]}

scores = c.score.get(name="thumbs")
out["scores"] = [[s.name, s.value, s.trace_id, s.trace.user_id] for s in scores.data]

daily = c.metrics.daily()
out["daily"] = [
    {
        "countTraces": d.count_traces,
        "countObservations": d.count_observations,
        "usage": sorted([u.model, u.input_usage, u.output_usage] for u in d.usage),
    }
    for d in daily.data
]

try:
    c.trace.list(limit=1000)
    out["bad_limit"] = None
except ApiError as e:
    out["bad_limit"] = [e.status_code, e.body]

other = FernLangfuse(base_url=host, username=other_public, password=other_secret)
out["other_traces"] = len(other.trace.list().data)
out["other_sessions"] = len(other.sessions.list().data)
out["other_scores"] = len(other.score.get().data)
try:
    other.trace.get(ids["manual"])
    out["other_trace"] = "visible"
except ApiError as e:
    out["other_trace"] = e.status_code

print(json.dumps(out))
