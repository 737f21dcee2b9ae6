"""Captures LangChain (langchain-openai's ChatOpenAI) through OpenLLMetry: traceloop-sdk's
LangChain instrumentation (opentelemetry-instrumentation-langchain, a LangChain callback
handler) against tools/fake_openai.py:

  a_simple    one chat model call
  b_stream    a streamed call
  c_tools     a model bound to a tool: it calls the tool, the tool runs, the model answers
  e_workflow  a chain (prompt | model | output parser) around one call

traceloop-sdk instruments LangChain only when the `langchain` package (or langgraph) is
installed, not for langchain-core alone: requirements/langchain-traceloop.txt pins it.
Run by tests/capture/run.sh, which starts the fakes and the capture server.
"""
import json
import os
import time
import urllib.request

CAP = os.environ["CAPTURE_URL"]
LIB = "langchain-traceloop"


def label(scenario):
    req = urllib.request.Request(CAP + "/_control/label", method="POST",
                                 data=json.dumps({"library": LIB, "scenario": scenario}).encode())
    urllib.request.urlopen(req).read()


def main():
    from traceloop.sdk import Traceloop

    Traceloop.init(app_name="fixture-" + LIB, api_endpoint=CAP, disable_batch=True,
                   resource_attributes={"deployment.environment": "fixtures"})

    from langchain_core.messages import HumanMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    def model(**extra):
        return ChatOpenAI(model="gpt-4o-mini", base_url=os.environ["FAKE_OPENAI_URL"], api_key="sk-fake",
                          max_retries=0, **extra)

    llm = model(temperature=0.2)

    label("a_simple")
    llm.invoke("Say hello to the fixture collector")
    time.sleep(0.3)

    label("b_stream")
    for _ in model(stream_usage=True).stream("Stream a short greeting for the collector"):
        pass
    time.sleep(0.3)

    label("c_tools")

    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"Sunny in {city}"

    with_tools = llm.bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris")]
    call = with_tools.invoke(messages)
    messages += [call, get_weather.invoke(call.tool_calls[0])]
    with_tools.invoke(messages)
    time.sleep(0.3)

    label("e_workflow")
    chain = ChatPromptTemplate.from_template("Summarise the fixture topic {topic}") | llm | StrOutputParser()
    chain.invoke({"topic": "collectors"})
    time.sleep(0.3)
    label("done")


if __name__ == "__main__":
    main()
