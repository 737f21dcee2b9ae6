"""Captures the OpenAI Agents SDK (openai-agents) through OpenInference's instrumentation
(openinference-instrumentation-openai-agents, its processor replacing the SDK's own exporter)
for an agent on the Chat Completions API against tools/fake_openai.py:

  a_simple  one agent run, one model call
  c_tools   an agent with a function tool: the model calls it, then answers

Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import json
import os
import time
import urllib.request

from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

CAP = os.environ["CAPTURE_URL"]
LIB = "openai-agents"


def label(scenario):
    req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                 data=json.dumps({"library": LIB, "scenario": scenario}).encode())
    urllib.request.urlopen(req).read()


def main():
    provider = TracerProvider(resource=Resource.create({"service.name": "fixture-" + LIB,
                                                       "deployment.environment": "fixtures"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=CAP + "/v1/traces")))
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider, exclusive_processor=True)

    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake", max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)

    label("a_simple")
    Runner.run_sync(Agent(name="fixture_agent", model=model),
                    "Say hello to the fixture collector")
    time.sleep(0.5)

    label("c_tools")

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"Sunny in {city}"

    Runner.run_sync(Agent(name="weather_agent", instructions="Use the tools.", model=model, tools=[get_weather]),
                    "What is the weather in Paris")
    time.sleep(0.5)
    label("done")


if __name__ == "__main__":
    main()
