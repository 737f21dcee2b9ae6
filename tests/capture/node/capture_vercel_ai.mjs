// Captures the Vercel AI SDK's own telemetry (`experimental_telemetry`) for OpenAI chat calls
// against tools/fake_openai.py, exported with the OpenTelemetry JS SDK over OTLP/HTTP protobuf:
//   a_simple  generateText
//   b_stream  streamText (with usage)
// Run by tests/capture/run.sh (CAPTURE_URL, FAKE_OPENAI_URL).
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";

const CAP = process.env.CAPTURE_URL;
const LIB = "vercel-ai";

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ "service.name": `fixture-${LIB}`, "deployment.environment": "fixtures" }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${CAP}/v1/traces` }))],
});
provider.register();

async function label(scenario) {
  await fetch(`${CAP}/_control/label`, { method: "POST", body: JSON.stringify({ library: LIB, scenario }) });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const openai = createOpenAI({ baseURL: process.env.FAKE_OPENAI_URL, apiKey: "sk-fake" });
const model = openai.chat("gpt-4o-mini");
const telemetry = { isEnabled: true, functionId: "fixture", metadata: { sessionId: "sess-vercel-1" } };

await label("a_simple");
await generateText({ model, prompt: "Say hello to the fixture collector", temperature: 0.2, experimental_telemetry: telemetry });
await provider.forceFlush();
await sleep(300);

await label("b_stream");
const stream = streamText({ model, prompt: "Stream a short greeting for the collector", experimental_telemetry: telemetry });
for await (const _ of stream.textStream) {
  // consume
}
await stream.usage;
await provider.forceFlush();
await sleep(300);

await label("done");
await provider.shutdown();
