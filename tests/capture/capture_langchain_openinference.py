"""Captures LangChain (langchain-openai's ChatOpenAI) through OpenInference's LangChain
instrumentation against tools/fake_openai.py:

  a_simple    one chat model call
  b_stream    a streamed call
  e_workflow  a chain (prompt | model | output parser) around one call

Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import json
import os
import time
import urllib.request

from openinference.instrumentation.langchain import LangChainInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

CAP = os.environ["CAPTURE_URL"]
LIB = "langchain-openinference"


def label(scenario):
    req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                 data=json.dumps({"library": LIB, "scenario": scenario}).encode())
    urllib.request.urlopen(req).read()


def main():
    provider = TracerProvider(resource=Resource.create({"service.name": "fixture-" + LIB,
                                                       "deployment.environment": "fixtures"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=CAP + "/v1/traces")))
    LangChainInstrumentor().instrument(tracer_provider=provider)

    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="gpt-4o-mini", base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake",
                     temperature=0.2, max_retries=0)

    label("a_simple")
    llm.invoke("Say hello to the fixture collector")
    time.sleep(0.3)

    label("b_stream")
    for _ in ChatOpenAI(model="gpt-4o-mini", base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake",
                        stream_usage=True, max_retries=0).stream("Stream a short greeting for the collector"):
        pass
    time.sleep(0.3)

    label("e_workflow")
    chain = ChatPromptTemplate.from_template("Summarise the fixture topic {topic}") | llm | StrOutputParser()
    chain.invoke({"topic": "collectors"})
    time.sleep(0.3)
    label("done")


if __name__ == "__main__":
    main()
