"""Captures pydantic-ai's own OpenTelemetry instrumentation (Agent.instrument_all(), GenAI
semantic conventions) for an agent on OpenAI's chat API against tools/fake_openai.py:

  a_simple  one agent run, one model call
  b_stream  a streamed run
  c_tools   an agent with a tool: the model calls it, then answers

Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import json
import os
import time
import urllib.request

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

CAP = os.environ["CAPTURE_URL"]
LIB = "pydantic-ai"


def label(scenario):
    req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                 data=json.dumps({"library": LIB, "scenario": scenario}).encode())
    urllib.request.urlopen(req).read()


def main():
    provider = TracerProvider(resource=Resource.create({"service.name": "fixture-" + LIB,
                                                       "deployment.environment": "fixtures"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=CAP + "/v1/traces")))
    trace.set_tracer_provider(provider)

    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=os.environ["FAKE_OPENAI_URL"],
                                                                   api_key="sk-fake"))
    Agent.instrument_all()
    agent = Agent(model, name="fixture_agent")

    label("a_simple")
    agent.run_sync("Say hello to the fixture collector")
    time.sleep(0.3)

    label("b_stream")

    async def stream():
        async with agent.run_stream("Stream a short greeting for the collector") as result:
            async for _ in result.stream_text():
                pass

    import asyncio
    asyncio.run(stream())
    time.sleep(0.3)

    label("c_tools")
    tool_agent = Agent(model, name="weather_agent")

    @tool_agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"Sunny in {city}"

    tool_agent.run_sync("What is the weather in Paris")
    time.sleep(0.3)
    label("done")


if __name__ == "__main__":
    main()
