"""Streams two OpenAI chat completions through Pydantic Logfire's instrument_openai() to a
collector (OTLP/HTTP, Logfire's own exporter setup), against tests/capture/tools/fake_openai.py.

Logfire ends a streamed call's span when the stream object is returned and records the response
in a separate "streaming response" companion span once the stream is read:
  - "across": force_flush() between the two, so the call span and its companion reach the
    collector in two export requests;
  - "within": read first, then one force_flush(): both in one export request.

    python logfire_streaming.py COLLECTOR_URL OPENAI_BASE_URL
Prints {"across": {"id": ..., "text": ...}, "within": {...}}.
"""
import json
import os
import sys


def main():
    collector, openai_url = sys.argv[1], sys.argv[2]
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector
    import logfire
    from openai import OpenAI

    logfire.configure(service_name="logfire-streaming", send_to_logfire=False, console=False,
                      environment="test", metrics=False)
    client = OpenAI(base_url=openai_url, api_key="sk-fake", max_retries=0)
    logfire.instrument_openai(client)

    def stream(prompt, flush_before_reading):
        chunks = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True,
            stream_options={"include_usage": True})
        if flush_before_reading:
            logfire.force_flush()
        ids, text = set(), ""
        for chunk in chunks:
            ids.add(chunk.id)
            text += "".join(c.delta.content or "" for c in chunk.choices)
        logfire.force_flush()
        (id_,) = ids
        return {"id": id_, "text": text}

    out = {"across": stream("Stream across two exports", True),
           "within": stream("Stream within one export", False)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
