/**
 * `POST /chat` and `?format=ui` read by the AI SDK's own client (`ai` 7.0.173): the chat
 * transport `useChat` uses (`DefaultChatTransport`) sends its request body to the real app, and
 * `readUIMessageStream` builds the message `useChat` renders. The flow runs on the offline model.
 */
import assert from "node:assert/strict";
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from "ai";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { allFrames, eventually, SENTINEL_KEY } from "./http_helpers.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel, type OfflineModelOptions } from "../src/llm/mod.ts";

const ROLES = ["facts", "stats", "quotes", "answer"];
const TOPIC = "the history of zero";

type Fetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** What `useChat` shows after a `sendMessage({ text })`: the assistant message, and the errors. */
async function chat(
  fetch: Fetch,
  text: string,
  options: { api?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ message: UIMessage | undefined; errors: string[]; updates: number }> {
  const transport = new DefaultChatTransport({
    api: options.api ?? "http://reflow.test/chat",
    headers: options.headers,
    fetch,
  });
  const stream = await transport.sendMessages({
    chatId: "chat-1",
    messages: [
      { id: "u0", role: "user", parts: [{ type: "text", text: "an earlier question" }] },
      { id: "a0", role: "assistant", parts: [{ type: "text", text: "an earlier answer" }] },
      { id: "u1", role: "user", parts: [{ type: "text", text }] },
    ],
    abortSignal: options.signal,
    trigger: "submit-message",
    messageId: undefined,
  });
  const errors: string[] = [];
  let message: UIMessage | undefined;
  let updates = 0;
  for await (
    const m of readUIMessageStream({ stream, onError: (e) => errors.push(String(e)) })
  ) {
    message = m;
    updates++;
  }
  return { message, errors, updates };
}

/** The flow's four streams, as `POST /research` (the default SSE) sends them. */
async function streamsOf(app: ReturnType<typeof createApp>, topic: string) {
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  });
  const texts: Record<string, string> = {};
  for (const f of await allFrames(res.body!)) {
    if (f.event === "chunk") texts[f.data.role] = (texts[f.data.role] ?? "") + f.data.text;
  }
  return texts;
}

const textParts = (m: UIMessage | undefined) =>
  (m?.parts ?? []).flatMap((p) =>
    p.type === "text" ? [[(p.providerMetadata?.reflow as { role: string }).role, p.text]] : []
  );

function appOn(options: OfflineModelOptions = {}, config: { token?: string } = {}) {
  const model = createOfflineModel(options);
  return { model, app: createApp({ llm: { fetch: model.fetch }, ...config }) };
}

const inProcess = (app: ReturnType<typeof createApp>): Fetch => (input, init) =>
  Promise.resolve(app.fetch(new Request(input, init)));

test("chat: useChat's transport gets one assistant message, one text part per agent", async () => {
  const { app } = appOn({ reasoning: "reasoning" });
  const expected = await streamsOf(app, TOPIC);
  assert.deepEqual(Object.keys(expected).sort(), [...ROLES].sort());
  const { message, errors, updates } = await chat(inProcess(app), TOPIC);
  assert.deepEqual(errors, []);
  assert.equal(message?.role, "assistant");
  // Four text parts whose texts are the flow's four streams (the three specialists in the order
  // their first words arrived, which their reasoning decides; the answer last).
  const texts = textParts(message);
  assert.equal(texts.length, 4);
  assert.deepEqual(Object.fromEntries(texts), expected);
  assert.equal(texts[3][0], "answer");
  assert.ok(updates > 50, `the message grew as the flow streamed (${updates} updates)`);
  const parts = message!.parts;
  // Role and node of every agent's part; all closed with the model's finish reason.
  const NODES: Record<string, string> = {
    facts: "factual",
    stats: "statistician",
    quotes: "quoter",
    answer: "synth",
  };
  assert.deepEqual(
    parts.flatMap((p) => p.type === "text" ? [p.providerMetadata?.reflow] : []),
    texts.map(([role]) => ({ role, node: NODES[role], finishReason: "stop" })),
  );
  assert.ok(
    parts.every((p) => (p.type !== "text" && p.type !== "reasoning") || p.state === "done"),
  );
  // Reasoning is its own part per agent, never in the text.
  const thoughts = parts.filter((p) => p.type === "reasoning");
  assert.equal(thoughts.length, 4);
  // Node states: one part per node, left at its last state.
  const nodes = Object.fromEntries(
    parts.filter((p) => p.type === "data-node").map((p) => {
      const d = p as unknown as { id: string; data: { state: string } };
      return [d.id, d.data.state];
    }),
  );
  for (const node of ["factual", "statistician", "quoter", "synth", "sink"]) {
    assert.equal(nodes[node], "done", node);
  }
  // Usage: one part per agent and one for the flow, the flow's being the sum.
  const usage = parts.filter((p) => p.type === "data-usage").map((p) =>
    p as unknown as { id: string; data: { totalTokens: number } }
  );
  assert.deepEqual(usage.map((u) => u.id).sort(), [...ROLES, "flow"].sort());
  const flow = usage.find((u) => u.id === "flow")!.data.totalTokens;
  const sum = usage.filter((u) => u.id !== "flow").reduce((n, u) => n + u.data.totalTokens, 0);
  assert.equal(flow, sum);
});

test("chat: the last user message is the topic; ?format=ui on /research answers alike", async () => {
  const { app } = appOn();
  const viaChat = textParts((await chat(inProcess(app), "  the number zero  ")).message);
  // POST /research?format=ui and GET ?format=ui: the same stream, read by the same client.
  const post = await app.request("/research?format=ui", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: "the number zero" }),
  });
  assert.equal(post.headers.get("x-vercel-ai-ui-message-stream"), "v1");
  assert.equal(post.headers.get("content-type"), "text/event-stream");
  const viaPost = textParts((await chat(() => Promise.resolve(post), "ignored")).message);
  const get = await app.request("/research?topic=the%20number%20zero&format=ui");
  const viaGet = textParts((await chat(() => Promise.resolve(get), "ignored")).message);
  assert.deepEqual(viaChat.map(([role]) => role), ROLES);
  assert.deepEqual(viaPost, viaChat);
  assert.deepEqual(viaGet, viaChat);
  assert.ok(viaChat[0][1].includes("zero"));
  // The wire ends as the SDK's own streams do.
  const raw = await (await app.request("/research?topic=zero&format=ui")).text();
  assert.ok(raw.startsWith('data: {"type":"start","messageId":"'), raw.slice(0, 60));
  assert.ok(raw.endsWith('data: {"type":"finish","finishReason":"stop"}\n\ndata: [DONE]\n\n'));
});

test("chat: a failing flow reaches useChat as its error, without the key", async () => {
  const model = createOfflineModel({ fault: { requireKey: "another-key", roles: ["stats"] } });
  const app = createApp({ llm: { fetch: model.fetch, apiKey: SENTINEL_KEY, maxRetries: 0 } });
  const { message, errors } = await chat(inProcess(app), TOPIC);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /statistician/);
  assert.ok(!errors[0].includes(SENTINEL_KEY) && !errors[0].includes("another-key"));
  // What arrived before the failure stays in the message.
  assert.ok(textParts(message).length >= 1);
  assert.equal(model.stats.active, 0);
});

test("chat: bad chat bodies are 400s that say what is wrong", async () => {
  const { app, model } = appOn();
  const post = (body: unknown, type = "application/json") =>
    app.request("/chat", {
      method: "POST",
      headers: { "content-type": type },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const cases: [unknown, RegExp, string?][] = [
    ["{not json", /JSON|json/],
    [[], /JSON object/],
    [{ messages: [] }, /id \(the chat id\) must be a string/],
    [{ id: "c", messages: "hi" }, /messages must be an array/],
    [{ id: "c", messages: [] }, /there is no user message/],
    [
      { id: "c", messages: [{ id: "m", role: "user", parts: [{ type: "file", url: "x" }] }] },
      /the last user message has no text/,
    ],
    [
      { id: "c", messages: [{ id: "m", role: "robot", parts: [] }] },
      /role must be system, user or assistant/,
    ],
    [
      {
        id: "c",
        messages: [{ id: "m", role: "user", parts: [{ type: "text", text: "x".repeat(501) }] }],
      },
      /at most 500 characters/,
    ],
    [{ id: "c", messages: [] }, /Content-Type: application\/json/, "text/plain"],
  ];
  for (const [body, message, type] of cases) {
    const res = await post(body, type);
    assert.equal(res.status, 400, JSON.stringify(body));
    const json = await res.json();
    assert.match(json.error, message, JSON.stringify(json));
  }
  assert.equal(model.stats.started, 0, "no flow started");
});

test("chat: with a token, /chat needs it (useChat sends it as a header)", async () => {
  const { app } = appOn({}, { token: "chat-token" });
  const denied = await app.request("/chat", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: "c", messages: [] }),
  });
  assert.equal(denied.status, 401);
  const { message, errors } = await chat(inProcess(app), "zero", {
    headers: { Authorization: "Bearer chat-token" },
  });
  assert.deepEqual(errors, []);
  assert.equal(textParts(message).length, 4);
});

test("chat: over HTTP, stopping the chat ends the flow and every model request", async () => {
  const ended: Promise<void>[] = [];
  const model = createOfflineModel({
    tokenDelayMs: 40,
    firstTokenDelayMs: 10,
    onRequest: (info) => ended.push(info.ended),
  });
  const app = createApp({ llm: { fetch: model.fetch } });
  const served = await serve((req) => Promise.resolve(app.fetch(req)));
  try {
    const stop = new AbortController();
    const transport = new DefaultChatTransport({
      api: `${served.url}/chat`,
      ...(served.fetch ? { fetch: served.fetch } : {}),
    });
    const stream = await transport.sendMessages({
      chatId: "c",
      messages: [{ id: "u", role: "user", parts: [{ type: "text", text: "zero" }] }],
      abortSignal: stop.signal,
      trigger: "submit-message",
      messageId: undefined,
    });
    let text = "";
    try {
      for await (const m of readUIMessageStream({ stream })) {
        text = textParts(m).map(([, t]) => t).join("");
        if (text.length > 30 && model.stats.active >= 3) stop.abort(); // what useChat's stop() does
      }
    } catch (error) {
      assert.equal((error as Error).name, "AbortError");
    }
    assert.ok(text.length > 30);
    await eventually(() => model.stats.active === 0, "every model request ended");
    await Promise.all(ended);
    assert.equal(model.stats.aborted, 3, JSON.stringify(model.stats));
    assert.equal(model.stats.completed, 0);
    await eventually(
      async () => (await (await app.request("/healthz")).json()).active === 0,
      "flow over",
    );
  } finally {
    await served.close();
  }
}, { timeout: 30_000 });

test("chat: the answer is a run: GET /runs/{id}/events?format=ui replays the same message", async () => {
  const { app } = appOn({ reasoning: "reasoning" });
  let location: string | null = null;
  const live = await chat(async (input, init) => {
    const res = await app.fetch(new Request(input, init));
    location = res.headers.get("content-location");
    return res;
  }, TOPIC);
  assert.match(location ?? "", /^\/runs\/[0-9a-f-]{36}$/);
  const id = location!.slice("/runs/".length);
  assert.equal(live.message?.id, id, "the message id is the run id");
  // Replayed from the log after the run ended: the message useChat would rebuild on resume.
  const replay = await app.request(`/runs/${id}/events?format=ui`);
  assert.equal(replay.headers.get("x-vercel-ai-ui-message-stream"), "v1");
  const again = await chat(() => Promise.resolve(replay), "ignored");
  assert.deepEqual(again.errors, []);
  assert.equal(again.message?.id, id);
  assert.deepEqual(again.message?.parts, live.message?.parts);
  // A UI stream always starts from the beginning: Last-Event-ID does not cut it.
  const resumed = await app.request(`/runs/${id}/events?format=ui`, {
    headers: { "Last-Event-ID": "40" },
  });
  assert.deepEqual(
    textParts((await chat(() => Promise.resolve(resumed), "ignored")).message),
    textParts(live.message),
  );
  const bad = await app.request(`/runs/${id}/events?format=xml`);
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /format must be one of: sse, ui/);
});

test("chat: a detached run (POST /runs) can be watched live as a UI message stream", async () => {
  const { app } = appOn({ tokenDelayMs: 1 });
  const started = await app.request("/runs?detach=1", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: TOPIC }),
  });
  assert.equal(started.status, 201);
  const { id } = await started.json();
  const watched = await app.request(`/runs/${id}/events?format=ui`);
  const { message, errors } = await chat(() => Promise.resolve(watched), "ignored");
  assert.deepEqual(errors, []);
  assert.equal(message?.id, id);
  assert.deepEqual(textParts(message).map(([role]) => role).sort(), [...ROLES].sort());
});
