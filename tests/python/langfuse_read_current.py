#!/usr/bin/env python3
"""Reads Spanlens through the current Langfuse Python SDK's generated API client (`LangfuseAPI`
of `langfuse` 5.x, pydantic-validated against Langfuse's schema): v2 observations (field groups,
filters, cursor pages), v3 scores (field groups, subjects), v2 metrics (observations and scores
views, aggregations, dimensions, time granularity); and with another project's key.

Runs with PYTHONPATH pointing at the separately installed current SDK (tests/prepare.sh installs it;
the test virtualenv holds the 2.x SDK). Prints what it read as JSON.

Usage: langfuse_read_current.py HOST PUBLIC SECRET OTHER_PUBLIC OTHER_SECRET IDS_JSON
"""
import json
import sys

from langfuse.api import LangfuseAPI
from langfuse.api.core import ApiError

host, public, secret, other_public, other_secret, ids = sys.argv[1:7]
ids = json.loads(ids)
c = LangfuseAPI(base_url=host, username=public, password=secret)
out = {}

# v2 observations: default groups, then more groups, filters and cursor pages.
manual = c.observations.get_many(trace_id=ids["manual"])
out["manual_default"] = sorted(
    [o.name, o.type, o.parent_observation_id, o.level, o.is_root_observation, o.model]
    for o in manual.data
)
gen = c.observations.get_many(
    trace_id=ids["manual"], type="GENERATION", fields="core,basic,io,usage,model,metrics,trace_context,prompt,time,metadata"
).data[0]
out["generation"] = {
    "id": gen.id,
    "traceId": gen.trace_id,
    "input": gen.input,
    "output": gen.output,
    "usageDetails": gen.usage_details,
    "model": gen.model,
    "latency_positive": gen.latency is not None and gen.latency > 0,
    "traceName": gen.trace_name,
    "tags": gen.tags,
    "release": gen.release,
    "userId": gen.user_id,
    "sessionId": gen.session_id,
    "statusMessage": gen.status_message,
    "metadata": gen.metadata,
}
pages, cursor = [], None
while True:
    page = c.observations.get_many(limit=3, cursor=cursor)
    pages.append(len(page.data))
    cursor = page.meta.cursor
    if not cursor:
        break
out["observation_pages"] = pages
out["by_level"] = sorted(o.name for o in c.observations.get_many(level="WARNING").data)
out["by_user"] = sorted(o.name for o in c.observations.get_many(user_id="user-2").data)
try:
    c.observations.get_many(fields="core,everything")
    out["bad_fields"] = None
except ApiError as e:
    out["bad_fields"] = e.status_code

# v3 scores.
scores = c.scores.get_many(fields="details,subject")
out["scores"] = sorted(
    [s.name, s.data_type, s.value, s.comment, s.subject.kind if s.subject else None, s.subject.id if s.subject else None]
    for s in scores.data
)

first = c.scores.get_many(limit=1)
second = c.scores.get_many(limit=1, cursor=first.meta.cursor)
out["score_pages"] = [
    [s.name for s in first.data],
    first.meta.cursor is not None,
    [s.name for s in second.data],
    second.meta.cursor,
]

# v2 metrics.
window = {"fromTimestamp": "2020-01-01T00:00:00.000Z", "toTimestamp": "2100-01-01T00:00:00.000Z"}
q = dict(
    view="observations",
    dimensions=[{"field": "type"}],
    metrics=[{"measure": "count", "aggregation": "count"}, {"measure": "totalTokens", "aggregation": "sum"}],
    orderBy=[{"field": "type", "direction": "asc"}],
    **window,
)
out["metrics_by_type"] = c.metrics.metrics(query=json.dumps(q)).data
q = dict(
    view="observations",
    metrics=[{"measure": "latency", "aggregation": "p95"}, {"measure": "timeToFirstToken", "aggregation": "max"}],
    filters=[{"column": "type", "operator": "=", "value": "GENERATION", "type": "string"}],
    timeDimension={"granularity": "day"},
    **window,
)
out["metrics_latency"] = c.metrics.metrics(query=json.dumps(q)).data
q = dict(
    view="observations",
    metrics=[{"measure": "count", "aggregation": "count"}],
    filters=[{"column": "traceId", "operator": "=", "value": ids["manual"], "type": "string"}],
    **window,
)
out["metrics_one_trace"] = c.metrics.metrics(query=json.dumps(q)).data
q = dict(
    view="scores-numeric",
    dimensions=[{"field": "name"}],
    metrics=[{"measure": "value", "aggregation": "avg"}],
    orderBy=[{"field": "name", "direction": "asc"}],
    **window,
)
out["metrics_scores"] = c.metrics.metrics(query=json.dumps(q)).data
try:
    c.metrics.metrics(query=json.dumps(dict(view="traces", metrics=[{"measure": "count", "aggregation": "count"}], **window)))
    out["bad_view"] = None
except ApiError as e:
    out["bad_view"] = e.status_code

other = LangfuseAPI(base_url=host, username=other_public, password=other_secret)
out["other_observations"] = len(other.observations.get_many().data)
out["other_scores"] = len(other.scores.get_many().data)
out["other_metrics"] = other.metrics.metrics(
    query=json.dumps(dict(view="observations", metrics=[{"measure": "count", "aggregation": "count"}], **window))
).data

print(json.dumps(out, default=str))
