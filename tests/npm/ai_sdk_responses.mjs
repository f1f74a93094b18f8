// The Vercel AI SDK with @ai-sdk/openai against the proxy: `openai(model)` is the Responses API.
// Usage: node ai_sdk_responses.mjs BASE_URL TOKEN MODEL. Prints one JSON line with what it got.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const provider = createOpenAI({ baseURL, apiKey });

const generated = await generateText({ model: provider(model), prompt: "Hello from generateText", maxRetries: 0 });

const streamed = streamText({ model: provider(model), prompt: "Hello from streamText", maxRetries: 0 });
const deltas = [];
for await (const delta of streamed.textStream) deltas.push(delta);

console.log(JSON.stringify({
  generated: { text: generated.text, finishReason: generated.finishReason, usage: generated.usage,
               responseId: generated.response.id },
  streamed: { deltas, text: await streamed.text, finishReason: await streamed.finishReason,
              usage: await streamed.usage },
}));
