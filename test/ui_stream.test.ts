/**
 * The UI message stream formatter read by the AI SDK's own client code (`ai` 7.0.173):
 * `DefaultChatTransport` parses the bytes exactly as `useChat` does, and `readUIMessageStream`
 * builds the message `useChat` renders. Interleaved agents stay separate parts, `data-*` parts
 * update in place, reasoning is its own part, and a failure reaches the client as its error.
 */
import assert from "node:assert/strict";
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from "ai";
import { test } from "./harness.ts";
import type { ResearchEvent } from "../src/research/events.ts";
import { formatStream } from "../src/research/format.ts";
import {
  formatUi,
  UI_MESSAGE_STREAM_HEADERS,
  type UIMessageChunk,
} from "../src/research/ui_message_stream.ts";

/** Formats `events` into a Response body, as a route does. */
function respond(events: ResearchEvent[], messageId = "run-1"): Response {
  const body = ReadableStream.from(events)
    .pipeThrough(formatStream(formatUi({ messageId })))
    .pipeThrough(new TextEncoderStream());
  return new Response(body, { headers: UI_MESSAGE_STREAM_HEADERS });
}

/** What `useChat` would show: the last state of the assistant message, read by the SDK. */
async function readAsClient(
  events: ResearchEvent[],
): Promise<{ message: UIMessage | undefined; errors: string[]; request: unknown }> {
  let request: unknown;
  const transport = new DefaultChatTransport({
    api: "http://reflow.test/chat",
    fetch: (_url, init) => {
      request = JSON.parse(String(init?.body));
      return Promise.resolve(respond(events));
    },
  });
  const stream = await transport.sendMessages({
    chatId: "chat-1",
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "zero" }] }],
    abortSignal: undefined,
    trigger: "submit-message",
    messageId: undefined,
  });
  const errors: string[] = [];
  let message: UIMessage | undefined;
  for await (
    const m of readUIMessageStream({ stream, onError: (e) => errors.push(String(e)) })
  ) message = m;
  return { message, errors, request };
}

/** `[id, data]` of the message's `data-*` parts of this type. */
const data = (parts: UIMessage["parts"], type: string) =>
  parts.filter((p) => p.type === type).map((p) => {
    const d = p as { id?: string; data?: unknown };
    return [d.id, d.data];
  });

const texts = (m: UIMessage | undefined) =>
  (m?.parts ?? []).flatMap((p) =>
    p.type === "text"
      ? [{ role: (p.providerMetadata?.reflow as { role?: string })?.role, text: p.text }]
      : []
  );

test("ui stream: interleaved agents are separate text parts, in first-chunk order", async () => {
  const { message, errors, request } = await readAsClient([
    { event: "node", id: "factual", state: "running" },
    { event: "node", id: "statistician", state: "running" },
    { event: "chunk", role: "facts", node: "factual", text: "Zero " },
    { event: "chunk", role: "stats", node: "statistician", text: "3 " },
    { event: "chunk", role: "facts", node: "factual", text: "is old." },
    { event: "chunk", role: "quotes", node: "quoter", text: "“Nothing”" },
    { event: "chunk", role: "stats", node: "statistician", text: "numbers." },
    { event: "finish", role: "facts", node: "factual", finishReason: "stop" },
    { event: "node", id: "factual", state: "done" },
    { event: "finish", role: "stats", node: "statistician", finishReason: "length" },
    { event: "node", id: "statistician", state: "done" },
    { event: "chunk", role: "answer", node: "synth", text: "In short, zero." },
    { event: "answer", text: "In short, zero." },
    { event: "done" },
  ]);
  assert.deepEqual(errors, []);
  assert.deepEqual(request, {
    id: "chat-1",
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "zero" }] }],
    trigger: "submit-message",
  });
  assert.equal(message?.id, "run-1");
  assert.equal(message?.role, "assistant");
  assert.deepEqual(texts(message), [
    { role: "facts", text: "Zero is old." },
    { role: "stats", text: "3 numbers." },
    { role: "quotes", text: "“Nothing”" },
    { role: "answer", text: "In short, zero." },
  ]);
  const parts = message!.parts;
  const stats = parts.find((p) => p.type === "text" && p.text === "3 numbers.");
  assert.deepEqual(stats?.type === "text" && stats.providerMetadata, {
    reflow: { role: "stats", node: "statistician", finishReason: "length" },
  });
  // Every part is closed at the end, whether its agent said so or the flow ended.
  assert.ok(parts.every((p) => p.type !== "text" || p.state === "done"));
  // Node states: one part per node, updated in place.
  assert.deepEqual(data(parts, "data-node"), [
    ["factual", { state: "done" }],
    ["statistician", { state: "done" }],
  ]);
});

test("ui stream: reasoning is its own part; usage per agent and per flow updates in place", async () => {
  const usage = (n: number) => ({ inputTokens: n, outputTokens: 2 * n, totalTokens: 3 * n });
  const { message, errors } = await readAsClient([
    { event: "reasoning", role: "facts", node: "factual", text: "Let me " },
    { event: "reasoning", role: "facts", node: "factual", text: "think." },
    { event: "chunk", role: "facts", node: "factual", text: "Zero." },
    {
      event: "usage",
      scope: "agent",
      role: "facts",
      node: "factual",
      usage: { ...usage(1), reasoningTokens: 1 },
    },
    { event: "usage", scope: "flow", usage: usage(1) },
    { event: "finish", role: "facts", node: "factual", finishReason: "stop" },
    { event: "usage", scope: "flow", usage: usage(4) },
    { event: "done" },
  ]);
  assert.deepEqual(errors, []);
  const parts = message!.parts;
  assert.deepEqual(parts.map((p) => p.type), ["reasoning", "text", "data-usage", "data-usage"]);
  const thinking = parts[0];
  assert.ok(thinking.type === "reasoning");
  assert.equal(thinking.text, "Let me think.");
  assert.equal(thinking.state, "done");
  assert.deepEqual(thinking.providerMetadata, { reflow: { role: "facts", node: "factual" } });
  assert.deepEqual(data(parts, "data-usage"), [
    ["facts", { role: "facts", node: "factual", ...usage(1), reasoningTokens: 1 }],
    ["flow", usage(4)],
  ]);
});

test("ui stream: a failure is the client's error; what arrived stays", async () => {
  const { message, errors } = await readAsClient([
    { event: "chunk", role: "facts", node: "factual", text: "Zero" },
    { event: "node", id: "statistician", state: "failed" },
    { event: "error", message: 'node "statistician" failed: unauthorized' },
    { event: "chunk", role: "facts", node: "factual", text: " (after the end: dropped)" },
  ]);
  assert.deepEqual(errors, ['Error: node "statistician" failed: unauthorized']);
  assert.deepEqual(texts(message), [{ role: "facts", text: "Zero" }]);
});

test("ui stream: the wire format is the AI SDK's: headers, data frames, [DONE], finish reasons", async () => {
  const res = respond([
    { event: "chunk", role: "answer", node: "synth", text: "x" },
    { event: "finish", role: "answer", node: "synth", finishReason: "length" },
    { event: "done" },
  ], "m1");
  assert.equal(res.headers.get("x-vercel-ai-ui-message-stream"), "v1");
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const frames = (await res.text()).split("\n\n");
  assert.equal(frames.pop(), "");
  assert.equal(frames.pop(), "data: [DONE]");
  const parts = frames.map((f) => JSON.parse(f.replace(/^data: /, "")) as UIMessageChunk);
  assert.deepEqual(parts, [
    { type: "start", messageId: "m1" },
    {
      type: "text-start",
      id: "answer",
      providerMetadata: { reflow: { role: "answer", node: "synth" } },
    },
    { type: "text-delta", id: "answer", delta: "x" },
    {
      type: "text-end",
      id: "answer",
      providerMetadata: { reflow: { role: "answer", node: "synth", finishReason: "length" } },
    },
    { type: "finish", finishReason: "length" },
  ]);
});
