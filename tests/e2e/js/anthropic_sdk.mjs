// The Anthropic TypeScript SDK against the proxy: create, then a stream. Prints one JSON line.
// argv: base URL. NODE_MODULES (env): where the pinned SDK is installed.
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_MODULES + "/");
const { default: Anthropic } = require("@anthropic-ai/sdk");

const client = new Anthropic({ baseURL: process.argv[2], apiKey: "unused", maxRetries: 0 });
const created = await client.messages.create({
  model: "claude-haiku-4-5",
  max_tokens: 200,
  messages: [{ role: "user", content: "Hello from node" }],
});
const deltas = [];
const stream = client.messages.stream({
  model: "gemini-2.5-flash",
  max_tokens: 200,
  messages: [{ role: "user", content: "Stream from node please" }],
});
stream.on("text", (text) => deltas.push(text));
const final = await stream.finalMessage();
let error = null;
try {
  await client.messages.create({ model: "claude-nothing", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
} catch (caught) {
  error = { name: caught.constructor.name, status: caught.status, type: caught.error?.error?.type };
}
console.log(JSON.stringify({ created, deltas, final, error }));
