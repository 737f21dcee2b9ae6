// An app instrumented with the Langfuse JS SDK v3 (`langfuse@3`, batch ingestion API), pointed
// at Spanlens: `observeOpenAI` around the OpenAI client (one call, one streamed call, session,
// user, tags, and the SDK's own `clientInitParams`, whose secret key the SDK copies into the
// trace body), then the low-level client (trace, span, generation, score). Prints the ids.
//
// Environment: LANGFUSE_BASEURL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, OPENAI_BASE_URL.
import { Langfuse, observeOpenAI } from "langfuse";
import OpenAI from "openai";
import { randomUUID } from "node:crypto";

const clientInitParams = {
  publicKey: process.env.LANGFUSE_PUBLIC_KEY,
  secretKey: process.env.LANGFUSE_SECRET_KEY,
  baseUrl: process.env.LANGFUSE_BASEURL,
};
const ids = { chat: randomUUID(), stream: randomUUID() };
const base = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: "sk-test-not-a-secret", maxRetries: 0 });

const chat = observeOpenAI(base, {
  clientInitParams,
  traceId: ids.chat,
  traceName: "js-chat-trace",
  generationName: "js-chat",
  sessionId: "js-session",
  userId: "js-user",
  tags: ["js"],
  metadata: { feature: "js-planner" },
});
await chat.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Plan a trip to Porto" }],
  temperature: 0.3,
});
await chat.flushAsync();

const streamed = observeOpenAI(base, { clientInitParams, traceId: ids.stream, generationName: "js-stream" });
const stream = await streamed.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Count to three" }],
  stream: true,
  stream_options: { include_usage: true },
});
for await (const _ of stream) {
  // consume
}
await streamed.flushAsync();

const langfuse = new Langfuse(clientInitParams);
const trace = langfuse.trace({ name: "js-manual", userId: "js-user-2", input: { q: "why" } });
ids.manual = trace.id;
const span = trace.span({ name: "js-step", input: "in" });
span.end({ output: "out" });
const generation = trace.generation({ name: "js-gen", model: "gpt-4o-mini", input: [{ role: "user", content: "hi" }] });
generation.end({ output: "hello", usage: { input: 4, output: 1 } });
trace.update({ output: "because" });
trace.score({ name: "js-thumbs", value: 0 , comment: "meh" });
await langfuse.shutdownAsync();
await streamed.shutdownAsync();

console.log(JSON.stringify(ids));
