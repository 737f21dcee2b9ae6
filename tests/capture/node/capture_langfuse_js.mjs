// Captures the Langfuse JS SDK (OTel based: @langfuse/otel's LangfuseSpanProcessor, exporting to
// Langfuse's OTLP endpoint /api/public/otel/v1/traces with Basic auth, and @langfuse/openai's
// observeOpenAI wrapper) for OpenAI chat calls against tools/fake_openai.py:
//   a_simple    one chat call
//   b_stream    a streamed call (with usage)
//   e_workflow  an agent observation around two calls, with session and user
// Run by tests/capture/run.sh (CAPTURE_URL, FAKE_OPENAI_URL).
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LangfuseSpanProcessor } from "@langfuse/otel";
import { observeOpenAI } from "@langfuse/openai";
import { propagateAttributes, startActiveObservation } from "@langfuse/tracing";
import OpenAI from "openai";

const CAP = process.env.CAPTURE_URL;
const LIB = "langfuse-js";

const processor = new LangfuseSpanProcessor({
  publicKey: "pk-lf-fixture-js", secretKey: "sk-lf-fixtures-secret", baseUrl: CAP,
  exportMode: "immediate", environment: "fixtures",
});
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": `fixture-${LIB}`, "deployment.environment": "fixtures" }),
  spanProcessors: [processor],
});
provider.register();

async function label(scenario) {
  await fetch(`${CAP}/_control/label`, { method: "POST", body: JSON.stringify({ library: LIB, scenario }) });
}
async function flush() {
  await processor.forceFlush();
  await new Promise((r) => setTimeout(r, 300));
}

const client = observeOpenAI(new OpenAI({ baseURL: process.env.FAKE_OPENAI_URL, apiKey: "sk-fake", maxRetries: 0 }));
const chat = (content, extra = {}) => client.chat.completions.create({
  model: "gpt-4o-mini", temperature: 0.2, messages: [{ role: "user", content }], ...extra,
});

await label("a_simple");
await chat("Say hello to the fixture collector");
await flush();

await label("b_stream");
const stream = await chat("Stream a short greeting for the collector", { stream: true, stream_options: { include_usage: true } });
for await (const _ of stream) {
  // consume
}
await flush();

await label("e_workflow");
await startActiveObservation("fixture_agent", async () => {
  await propagateAttributes({ sessionId: "sess-js-1", userId: "user-js-1" }, async () => {
    await chat("First step of the workflow");
    await chat("Second step of the workflow");
  });
}, { asType: "agent" });
await flush();

await label("done");
await provider.shutdown();
