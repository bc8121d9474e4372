/**
 * The HTTP app in-process (`app.request()`), on Node, Deno and workerd: SSE and text formats,
 * incremental arrival, input validation, auth, /graph, /healthz, model failures, backpressure and
 * abort, and that the API key never leaks. The flow and the offline model are the real ones.
 * Assertions are on order, counts and bounds, never on elapsed time.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { createApp } from "../routes/app.ts";
import { tokensEqual } from "../routes/auth.ts";
import {
  allFrames,
  countedModel,
  eventually,
  type Frame,
  researchRequest,
  SENTINEL_KEY,
  settled,
  sseReader,
} from "./http_helpers.ts";

const ROLES = ["facts", "stats", "quotes", "answer"];
const NODES = ["factual", "statistician", "quoter", "synth", "logger", "sink"];

function offlineApp(options: Parameters<typeof countedModel>[0] = {}, extra = {}) {
  const m = countedModel(options);
  const app = createApp({ llm: { fetch: m.fetch, apiKey: SENTINEL_KEY }, ...extra });
  return { app, ...m };
}

function checkSseFrames(frames: Frame[]): void {
  const kinds = frames.map((f) => f.event);
  const answerAt = kinds.indexOf("answer");
  assert.ok(answerAt > 0, `an answer event (got ${[...new Set(kinds)].join(", ")})`);
  assert.deepEqual(kinds.slice(answerAt), ["answer", "done"], "answer, then done, then the end");
  const chunks = frames.filter((f) => f.event === "chunk");
  assert.deepEqual([...new Set(chunks.map((c) => c.data.role))].sort(), [...ROLES].sort());
  for (const c of chunks) assert.equal(typeof c.data.text, "string");
  const answerText = chunks.filter((c) => c.data.role === "answer").map((c) => c.data.text).join(
    "",
  );
  assert.equal(frames[answerAt].data.text, answerText, "answer = the answer chunks joined");
  assert.ok(kinds.indexOf("chunk") < answerAt && !kinds.slice(answerAt).includes("chunk"));
  // Every node ran and was reported done; the synthesizer only after the three specialists.
  const nodes = frames.filter((f) => f.event === "node").map((f) => `${f.data.id}:${f.data.state}`);
  for (const id of NODES) {
    assert.ok(nodes.includes(`${id}:running`), `${id} running`);
    assert.ok(nodes.includes(`${id}:done`), `${id} done`);
  }
  // The synthesizer waits for all three findings: its tokens come after every specialist token.
  const roles = chunks.map((c) => c.data.role);
  const lastSpecialist = Math.max(...["facts", "stats", "quotes"].map((r) => roles.lastIndexOf(r)));
  assert.ok(lastSpecialist < roles.indexOf("answer"));
}

test("POST /research streams SSE: chunks of all four roles, then answer, then done", async () => {
  const { app, model } = offlineApp();
  const res = await app.request(...researchRequest({ topic: "the history of zero" }));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  assert.equal(res.headers.get("cache-control"), "no-cache, no-transform");
  assert.equal(res.headers.get("x-accel-buffering"), "no");
  checkSseFrames(await allFrames(res.body!));
  assert.deepEqual({ ...model.stats }, { active: 0, started: 4, completed: 4, aborted: 0 });
});

test("GET /research?topic= serves the same SSE stream (for EventSource)", async () => {
  const { app } = offlineApp();
  const res = await app.request(`/research?topic=${encodeURIComponent("the history of zero")}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  checkSseFrames(await allFrames(res.body!));
});

test("the model can be chosen per request, among the allowed models", async () => {
  const seen: string[] = [];
  const m = countedModel({ onRequest: (info) => seen.push(info.model) });
  const app = createApp({
    llm: { fetch: m.fetch, model: "default-model" },
    models: ["default-model", "offline"],
  });
  const res = await app.request(...researchRequest({ topic: "zero", model: "offline" }));
  await allFrames(res.body!);
  assert.deepEqual(seen, ["offline", "offline", "offline", "offline"]);
});

test("?format=text and Accept: text/plain stream the role-tagged text, then the answer", async () => {
  for (
    const [query, headers] of [
      ["?format=text", {}],
      ["", { accept: "text/plain" }],
    ] as [string, Record<string, string>][]
  ) {
    const { app } = offlineApp();
    const res = await app.request(...researchRequest({ topic: "zero" }, { query, headers }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain/);
    // Without it workerd gzips text/plain and buffers the whole body (notes/streams-limits.md).
    assert.equal(res.headers.get("content-encoding"), "identity");
    const text = await res.text();
    assert.match(text, /^\[(facts|stats|quotes)\] /);
    for (const role of ROLES) assert.ok(text.includes(`[${role}] `), `[${role}] tag`);
    assert.ok(!text.includes("event:"), "no SSE framing in text");
    // The answer streams as [answer] tokens (the last role), then comes once more, whole.
    const rest = text.slice(text.indexOf("[answer] ") + "[answer] ".length);
    const answer = rest.slice(0, (rest.length - 3) / 2);
    assert.ok(answer.length > 20);
    assert.equal(rest, `${answer}\n\n${answer}\n`);
  }
});

test("tokens arrive while the flow still runs (incremental), and cancelling ends every request", async () => {
  const { app, model } = offlineApp({ tokenDelayMs: 5, firstTokenDelayMs: 20 });
  const res = await app.request(...researchRequest({ topic: "zero" }));
  const reader = sseReader(res.body!);
  let frame: Frame | undefined;
  let nodeFrames = 0;
  // The first frame names the run (issue 11), then the nodes start.
  assert.equal((await reader.next())?.event, "run");
  while ((frame = await reader.next())?.event === "node") nodeFrames++;
  assert.equal(frame?.event, "chunk", "a chunk before any answer");
  assert.ok(nodeFrames >= 3, "the specialists were reported running first");
  // The first token is here, yet the model is still generating: it streamed, not buffered.
  assert.ok(model.stats.active >= 1, `requests still active: ${JSON.stringify(model.stats)}`);
  assert.equal(model.stats.completed, 0);
  let chunks = 1;
  while (chunks < 10 && (frame = await reader.next())) {
    if (frame.event === "chunk") chunks++;
    assert.notEqual(frame.event, "answer");
  }
  assert.equal(chunks, 10);
  assert.equal(model.stats.completed, 0, "ten chunks read, no model request finished yet");
  const stillOpen = model.stats.active;
  await reader.cancel();
  await eventually(() => model.stats.active === 0, "every model request ended");
  assert.equal(model.stats.aborted, stillOpen, "each open request was aborted");
  assert.equal(model.stats.completed, 0);
  await eventually(
    async () => (await (await app.request("/healthz")).json()).active === 0,
    "no flow in flight",
  );
});

test("a client that stops reading slows the model down (backpressure, bounded read-ahead)", async () => {
  const { app, model, counter } = offlineApp({}, { capacity: 2 });
  const res = await app.request(...researchRequest({ topic: "zero" }));
  const reader = sseReader(res.body!);
  while ((await reader.next())?.event !== "chunk");
  const total = 252; // tokens of the whole offline reply for this topic (4 requests)
  const pulled = await settled(() => counter.tokens);
  // Three specialists, each blocked behind a 2-packet connection and a rendezvous response body.
  assert.ok(pulled <= 30, `read ahead of the client: ${pulled} of ${total} tokens`);
  assert.equal(model.stats.completed, 0);
  assert.ok(model.stats.active >= 3);
  await reader.cancel();
  await eventually(() => model.stats.active === 0, "every model request ended");
});

test("bad input is a 400 with { error, issues }, never a 500", async () => {
  const { app, model } = offlineApp({}, { maxTopicLength: 50, maxBodyBytes: 512 });
  const cases: [string, [string, RequestInit]][] = [
    ["malformed JSON", researchRequest("{ topic: ")],
    ["empty body", researchRequest("")],
    ["missing topic", researchRequest({})],
    ["empty topic", researchRequest({ topic: "" })],
    ["whitespace topic", researchRequest({ topic: " \n\t " })],
    ["topic too long", researchRequest({ topic: "z".repeat(51) })],
    ["topic a number", researchRequest({ topic: 42 })],
    ["topic an array", researchRequest({ topic: ["zero"] })],
    ["model a number", researchRequest({ topic: "zero", model: 3 })],
    ["body null", researchRequest("null")],
    ["body an array", researchRequest("[]")],
    ["body a string", researchRequest('"zero"')],
    ["unknown format", researchRequest({ topic: "zero" }, { query: "?format=xml" })],
    ["not JSON", ["/research", { method: "POST", body: "topic=zero" }]],
    ["form body", ["/research", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "topic=zero",
    }]],
    ["GET without topic", ["/research", {}]],
    ["GET with empty topic", ["/research?topic=%20", {}]],
    ["GET with a long topic", [`/research?topic=${"z".repeat(60)}`, {}]],
  ];
  for (const [name, [path, init]] of cases) {
    const res = await app.request(path, init);
    assert.equal(res.status, 400, `${name}: status ${res.status}`);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/, name);
    const body = await res.json();
    assert.equal(typeof body.error, "string", `${name}: error`);
    assert.ok(body.error.length > 0, name);
    assert.ok(Array.isArray(body.issues), `${name}: issues`);
  }
  const missing = await (await app.request(...researchRequest({}))).json();
  assert.deepEqual(missing.issues, [{ path: "topic", message: "topic is required" }]);
  const tooLong = await (await app.request(...researchRequest({ topic: "z".repeat(51) }))).json();
  assert.match(tooLong.issues[0].message, /at most 50/);
  assert.equal(model.stats.started, 0, "no flow started for bad input");
});

test("an oversized body is a 413, streamed (chunked) or with its Content-Length", async () => {
  const { app: sized } = offlineApp({}, { maxBodyBytes: 512 });
  const over = await sized.request(...researchRequest({ topic: "zero", pad: "x".repeat(2000) }));
  assert.equal(over.status, 413);
  assert.equal((await over.json()).code, "body_too_large");
  const { app } = offlineApp({}, { maxBodyBytes: 256 });
  const bytes = new TextEncoder().encode(JSON.stringify({ topic: "zero", pad: "x".repeat(1000) }));
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 100) c.enqueue(bytes.subarray(i, i + 100));
      c.close();
    },
  });
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    duplex: "half",
  } as RequestInit);
  assert.equal(res.status, 413);
  assert.ok(Array.isArray((await res.json()).issues));
});

test("with a token, /research and /graph need Authorization: Bearer <token>", async () => {
  const token = "s3cret-token";
  const { app } = offlineApp({}, { token });
  const headers: [string, Record<string, string>][] = [
    ["missing", {}],
    ["wrong token", { authorization: "Bearer nope" }],
    ["token as prefix", { authorization: `Bearer ${token}x` }],
    ["token prefix", { authorization: `Bearer ${token.slice(0, -1)}` }],
    ["no token", { authorization: "Bearer" }],
    ["basic scheme", { authorization: `Basic ${token}` }],
    ["bare token", { authorization: token }],
  ];
  for (const [name, h] of headers) {
    for (
      const [path, init] of [
        researchRequest({ topic: "zero" }, { headers: h }),
        ["/graph", { headers: h }] as [string, RequestInit],
        [`/research?topic=zero`, { headers: h }] as [string, RequestInit],
      ]
    ) {
      const res = await app.request(path, init);
      assert.equal(res.status, 401, `${name} ${path}`);
      assert.match((await res.json()).error, /unauthorized/);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
    }
  }
  const ok = await app.request(
    ...researchRequest({ topic: "zero" }, { headers: { authorization: `Bearer ${token}` } }),
  );
  assert.equal(ok.status, 200);
  checkSseFrames(await allFrames(ok.body!));
  const graph = await app.request("/graph", { headers: { authorization: `bearer ${token}` } });
  assert.equal(graph.status, 200);
  // The page and the health check stay open: the page asks for the token itself.
  assert.equal((await app.request("/")).status, 200);
  assert.equal((await app.request("/healthz")).status, 200);
  // Bad input is still checked after auth, and is still a 400.
  const bad = await app.request(
    ...researchRequest({ topic: "" }, { headers: { authorization: `Bearer ${token}` } }),
  );
  assert.equal(bad.status, 400);
});

test("auth errors: what is wrong, the challenge, and one status (401) for all of them", async () => {
  const { app } = offlineApp({}, { token: "s3cret-token" });
  const cases: [Record<string, string>, string, RegExp][] = [
    [
      {},
      "unauthorized: missing Authorization header (expected: Bearer <token>)",
      /realm="reflow-edge"/,
    ],
    [
      { authorization: "Bearer a b" },
      "unauthorized: malformed Authorization header (expected: Bearer <token>)",
      /error="invalid_request"/,
    ],
    [
      { authorization: "Bearer not!b64" },
      "unauthorized: malformed Authorization header (expected: Bearer <token>)",
      /invalid_request/,
    ],
    [{ authorization: "Bearer nope" }, "unauthorized: wrong token", /error="invalid_token"/],
  ];
  for (const [headers, error, challenge] of cases) {
    const res = await app.request("/graph", { headers });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.deepEqual(await res.json(), { error });
    assert.match(res.headers.get("www-authenticate") ?? "", challenge);
  }
  // A token that no client could send (RFC 6750 syntax) is refused when the app is built.
  assert.throws(() => offlineApp({}, { token: "two words" }), /RFC 6750/);
});

test("tokensEqual compares whole tokens", async () => {
  assert.equal(await tokensEqual("abc", "abc"), true);
  assert.equal(await tokensEqual("abc", "abd"), false);
  assert.equal(await tokensEqual("abc", "abcd"), false);
  assert.equal(await tokensEqual("", "abc"), false);
});

test("CORS headers when configured, none otherwise", async () => {
  const { app } = offlineApp({}, { cors: "https://example.org", token: "t" });
  const pre = await app.request("/research", {
    method: "OPTIONS",
    headers: {
      origin: "https://example.org",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert.ok(pre.status === 204 || pre.status === 200, `preflight ${pre.status}`);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://example.org");
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization/i);
  const plain = offlineApp().app;
  const res = await plain.request("/healthz", { headers: { origin: "https://example.org" } });
  assert.equal(res.headers.get("access-control-allow-origin"), null);
});

test("GET /graph is the research graph as JSON, or Mermaid with ?format=mermaid", async () => {
  const { app } = offlineApp();
  const json = await (await app.request("/graph")).json();
  assert.deepEqual(Object.keys(json.processes).sort(), [...NODES].sort());
  assert.equal(json.connections.length > 8, true);
  const res = await app.request("/graph?format=mermaid");
  assert.match(res.headers.get("content-type")!, /^text\/plain/);
  const mermaid = await res.text();
  assert.match(mermaid, /^flowchart LR\n/);
  assert.match(mermaid, /synth -->\|answer\| sink/);
});

test("GET /healthz and GET / (the page)", async () => {
  const { app } = offlineApp();
  assert.deepEqual(await (await app.request("/healthz")).json(), { ok: true, active: 0 });
  const page = await app.request("/");
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  const html = await page.text();
  for (const id of ["topic", "go", "panel-facts", "panel-stats", "panel-quotes", "panel-answer"]) {
    assert.ok(html.includes(`id="${id}"`), id);
  }
  for (const id of NODES) assert.ok(html.includes(`id="node-${id}"`), `node-${id}`);
  assert.ok(!/innerHTML|insertAdjacentHTML|document\.write/.test(html), "text only");
  const missing = await app.request("/nope");
  assert.equal(missing.status, 404);
});

test("a model failure ends the stream with event: error and a clear message", async () => {
  const m = countedModel({ fault: { status: 500, roles: ["stats"] } });
  const app = createApp({ llm: { fetch: m.fetch, apiKey: SENTINEL_KEY, maxRetries: 0 } });
  const res = await app.request(...researchRequest({ topic: "zero" }));
  assert.equal(res.status, 200);
  const frames = await allFrames(res.body!); // ends: the stream closed cleanly
  const last = frames.at(-1)!;
  assert.equal(last.event, "error");
  assert.match(last.data.message, /statistician/);
  assert.equal(last.data.code, "server_error");
  assert.equal(last.data.node, "statistician");
  assert.ok(!frames.some((f) => f.event === "answer" || f.event === "done"));
  assert.ok(
    frames.some((f) =>
      f.event === "node" && f.data.id === "statistician" && f.data.state === "failed"
    ),
  );
  await eventually(() => m.model.stats.active === 0, "every model request ended");

  const text = await app.request(...researchRequest({ topic: "zero" }, { query: "?format=text" }));
  const body = await text.text();
  assert.match(body, /\n\nerror: .*statistician.*\n$/s);
});

test("the API key never appears in any response, even when the model echoes it", async () => {
  const m = countedModel({ fault: { requireKey: "the-right-key" } });
  const app = createApp({ llm: { fetch: m.fetch, apiKey: SENTINEL_KEY, maxRetries: 0 } });
  const bodies: string[] = [];
  for (const query of ["", "?format=text"]) {
    const res = await app.request(...researchRequest({ topic: "zero" }, { query }));
    bodies.push(await res.text());
  }
  assert.match(bodies[0], /event: error/);
  assert.match(bodies[1], /error: /);
  for (const path of ["/", "/healthz", "/graph", "/graph?format=mermaid", "/research?topic=zero"]) {
    const res = await app.request(path);
    bodies.push(await res.text(), JSON.stringify([...res.headers]));
  }
  for (const b of bodies) assert.ok(!b.includes(SENTINEL_KEY), `leaked in: ${b.slice(0, 200)}`);
  assert.match(bodies[0], /unauthori[sz]ed|api key|401/i);
});
