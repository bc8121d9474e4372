/**
 * Every flow has an owner and an end (issue 15): a client that stops reading, a flow that times
 * out while its client does not read, a quiet flow (keep-alive comments), and the body guard's
 * own rules (routes/lifetime.ts). In-process through `app.request()` on Node, Deno and workerd;
 * over raw sockets against the `--serve` server on node and deno. The Worker's early disconnects
 * are in worker_hostile.test.ts. Assertions are on counts (`/healthz` active, the model's
 * requests) and bytes; time only as generous bounds around the configured limits.
 */
import assert from "node:assert/strict";
import { type Runtime, test } from "./harness.ts";
import { createApp } from "../routes/app.ts";
import { ClientStalledError, guardBody } from "../routes/lifetime.ts";
import { createOfflineModel, type OfflineModelOptions } from "../src/llm/offline_model.ts";
import { eventually, researchRequest, sseReader } from "./http_helpers.ts";

function appWith(
  config: Partial<Parameters<typeof createApp>[0]> = {},
  model: OfflineModelOptions = {},
) {
  const offline = createOfflineModel(model);
  const logged: string[] = [];
  const app = createApp({
    llm: { fetch: offline.fetch, maxRetries: 0 },
    log: (line) => logged.push(line),
    ...config,
  });
  const active = async () => (await (await app.request("/healthz")).json()).active as number;
  return { app, model: offline, active, logged };
}

const enc = new TextEncoder();
const text = (bytes: Uint8Array[]) => new TextDecoder().decode(concat(bytes));
function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

// --- The guard itself ---------------------------------------------------------------------------

test("guardBody passes a source through unchanged, in order, and closes with it", async () => {
  const parts = ["a", "bb", "ccc"].map((s) => enc.encode(s));
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
  const got: Uint8Array[] = [];
  for await (const chunk of guardBody(source, { stallMs: 10_000, keepAliveMs: 10_000 })) {
    got.push(chunk);
  }
  assert.equal(text(got), "abbccc");
});

test("guardBody: a source error errors the body; cancelling the body cancels the source", async () => {
  const failing = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode("x"));
      c.error(new Error("boom"));
    },
  });
  const reader = guardBody(failing).getReader();
  await assert.rejects(async () => {
    while (!(await reader.read()).done);
  }, /boom/);
  let cancelled: unknown;
  const endless = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(enc.encode("y")),
    cancel: (reason) => void (cancelled = reason),
  }, { highWaterMark: 0 });
  const body = guardBody(endless).getReader();
  await body.read();
  await body.cancel("bye");
  assert.equal(cancelled, "bye");
});

test("guardBody: keep-alive bytes while the source is quiet and the client waits", async () => {
  let push!: (s: string) => void;
  let end!: () => void;
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      push = (s) => c.enqueue(enc.encode(s));
      end = () => c.close();
    },
  });
  const reader = guardBody(source, {
    keepAlive: enc.encode(":\n\n"),
    keepAliveMs: 50,
    stallMs: 60_000,
  }).getReader();
  const first = await reader.read(); // nothing from the source yet: a keep-alive comes instead
  assert.equal(new TextDecoder().decode(first.value), ":\n\n");
  push("data");
  let next = await reader.read();
  while (new TextDecoder().decode(next.value) === ":\n\n") next = await reader.read();
  assert.equal(new TextDecoder().decode(next.value), "data");
  end();
  while (!(next = await reader.read()).done);
});

test("guardBody: a client that takes nothing ends the body and cancels the source", async () => {
  let cancelled: unknown;
  let pulled = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(enc.encode("z"));
    },
    cancel: (reason) => void (cancelled = reason),
  }, { highWaterMark: 0 });
  let stalled: ClientStalledError | undefined;
  const body = guardBody(source, { stallMs: 100, onStall: (e) => (stalled = e) });
  const reader = body.getReader();
  await reader.read(); // one chunk, then the client stops asking
  await eventually(() => stalled !== undefined, "the stall limit fired", 10_000);
  assert.ok(cancelled instanceof ClientStalledError, `source cancelled with ${cancelled}`);
  assert.match(stalled!.message, /read nothing for 100 ms/);
  assert.ok(pulled <= 3, `read ahead of the client by one chunk at most (pulled ${pulled})`);
  await assert.rejects(reader.read(), ClientStalledError);
});

test("guardBody: past deadlineMs a chunk left untaken for a tick ends the body; a reader is not cut", async () => {
  const endless = (cancelled: { reason?: unknown }) =>
    new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(enc.encode("w")),
      cancel: (reason) => void (cancelled.reason = reason),
    }, { highWaterMark: 0 });
  // A client that stops reading: the stall limit (10 minutes) is not what ends it.
  const stalled: { reason?: unknown } = {};
  let reported: ClientStalledError | undefined;
  const body = guardBody(endless(stalled), {
    stallMs: 600_000,
    keepAliveMs: 500, // ticks of 100 ms
    deadlineMs: 200,
    onStall: (e) => (reported = e),
  });
  const reader = body.getReader();
  await reader.read();
  await eventually(() => reported !== undefined, "the time limit ended the body", 10_000);
  assert.equal(reported!.deadlineMs, 200);
  assert.match(reported!.message, /time limit \(200 ms\) passed/);
  assert.ok(stalled.reason instanceof ClientStalledError);
  await assert.rejects(reader.read(), ClientStalledError);
  // A client that keeps reading past the time limit is not cut off.
  const reading: { reason?: unknown } = {};
  const kept = guardBody(endless(reading), { stallMs: 600_000, keepAliveMs: 500, deadlineMs: 50 });
  const r = kept.getReader();
  for (let i = 0; i < 40; i++) {
    await r.read();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(reading.reason, undefined, "still open after ~400 ms past its time limit");
  await r.cancel();
});

// --- Flows --------------------------------------------------------------------------------------

for (const format of ["sse", "text"] as const) {
  test(`a client that stops reading (${format}): the flow ends after the stall limit`, async () => {
    const { app, model, active, logged } = appWith({ stallTimeoutMs: 300 }, {
      tokenDelayMs: 1,
    });
    const res = await app.request(
      ...researchRequest({ topic: "zero" }, { query: format === "text" ? "?format=text" : "" }),
    );
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read(); // the first bytes, then nothing more
    await eventually(async () => (await active()) === 0, "the flow ended", 15_000);
    await eventually(() => model.stats.active === 0, "every model request ended", 15_000);
    assert.ok(model.stats.aborted > 0, "the model requests were cut, not completed");
    assert.match(logged.join("\n"), /the client read nothing for 300 ms; the flow was stopped/);
    // The body ends (errored) rather than hanging.
    await assert.rejects(async () => {
      while (!(await reader.read()).done);
    });
  }, { timeout: 40_000 });
}

test("a quiet flow sends keep-alive comments; the text format never does", async () => {
  const { app, model, active } = appWith({ heartbeatMs: 100 }, { firstTokenDelayMs: 60_000 });
  const sse = await app.request("/research?topic=zero");
  const reader = sse.body!.getReader();
  let seen = "";
  while (!seen.includes(": keep-alive\n\n")) {
    const { value, done } = await reader.read();
    assert.ok(!done, "the stream ended early");
    seen += new TextDecoder().decode(value);
  }
  // And the frames are still well-formed SSE around it.
  assert.match(seen, /event: node/);
  await reader.cancel();
  const plain = await app.request("/research?topic=zero&format=text");
  const textReader = plain.body!.getReader();
  const race = await Promise.race([
    textReader.read().then(() => "bytes"),
    new Promise((r) => setTimeout(() => r("quiet"), 500)),
  ]);
  assert.equal(race, "quiet", "no keep-alive in the seed's text");
  await textReader.cancel();
  await eventually(async () => (await active()) === 0, "the flows ended");
  await eventually(() => model.stats.active === 0, "every model request ended");
});

// The time limit is a bound by itself (issue 15, point 3): once a flow has timed out, its last
// frames (ending with its `error` frame) go to a client that takes them; one that has stopped
// reading has its stream cancelled a tick later, long before the stall limit (here 10 minutes).
const TIMES_OUT = {
  config: { timeoutMs: 300, stallTimeoutMs: 600_000 },
  // Quick specialists (with reasoning: plenty of events to fill what is read ahead of the client),
  // and an answer whose first token comes long after the time limit.
  model: {
    tokenDelayMs: 1,
    reasoning: "reasoning" as const,
    pacing: { answer: { firstTokenDelayMs: 600_000 } },
  },
};

for (const format of ["sse", "text"] as const) {
  test(
    `a flow that times out while its client does not read ends at its time limit, not the stall limit (${format})`,
    async () => {
      const { app, model, active, logged } = appWith(TIMES_OUT.config, TIMES_OUT.model);
      const res = await app.request(
        ...researchRequest({ topic: "zero" }, { query: format === "text" ? "?format=text" : "" }),
      );
      const reader = res.body!.getReader();
      await reader.read(); // then never again
      await eventually(async () => (await active()) === 0, "the flow ended", 30_000);
      await eventually(() => model.stats.active === 0, "every model request ended", 15_000);
      assert.ok(model.stats.aborted > 0, "the model requests were cut by the time limit");
      // In this order: the flow timed out; then its stream was cancelled, its client having taken
      // none of its last frames. The stall limit never came into it.
      const timedOut = logged.findIndex((l) =>
        /research flow failed: .*timed out after 300 ms/.test(l)
      );
      const cut = logged.findIndex((l) =>
        /time limit \(300 ms\) passed and the client took none of its last frames/.test(l)
      );
      assert.ok(timedOut >= 0 && cut > timedOut, logged.join("\n"));
      assert.ok(!logged.some((l) => /read nothing for/.test(l)), logged.join("\n"));
      // The body ends (errored) rather than hanging.
      await assert.rejects(async () => {
        while (!(await reader.read()).done);
      });
    },
    { timeout: 60_000 },
  );
}

test(
  "a flow that times out while its client reads: its error frame comes last, then the end",
  async () => {
    const { app, active, logged } = appWith(TIMES_OUT.config, TIMES_OUT.model);
    const sse = await app.request(...researchRequest({ topic: "zero" }));
    const frames: { event: string; data: { code?: string } }[] = [];
    const reader = sseReader(sse.body!);
    for (let f = await reader.next(); f; f = await reader.next()) frames.push(f);
    assert.equal(frames.at(-1)!.event, "error");
    assert.equal(frames.at(-1)!.data.code, "flow_timeout");
    const text = await (await app.request(...researchRequest({ topic: "zero" }, {
      query: "?format=text",
    }))).text();
    assert.match(text, /\n\nerror: .*\n$/);
    assert.equal(await active(), 0);
    assert.ok(!logged.some((l) => /the client took none of its last frames/.test(l)));
  },
  { timeout: 60_000 },
);

test("a client that reads slowly but steadily is not cut off", async () => {
  const { app, active } = appWith({ stallTimeoutMs: 400 }, { tokenDelayMs: 0 });
  const res = await app.request("/research?topic=zero");
  const reader = sseReader(res.body!);
  const events: string[] = [];
  for (let f = await reader.next(); f; f = await reader.next()) {
    events.push(f.event);
    // Slower than the model, far quicker than the stall limit.
    if (events.length % 25 === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(events.slice(-2), ["answer", "done"]);
  assert.equal(await active(), 0);
});

// --- Raw sockets ----------------------------------------------------------------------------------

const SOCKETS = {
  only: ["node", "deno"] as Runtime[],
  why: "raw TCP sockets against a listening server (workerd cannot listen; the Worker's own " +
    "disconnects are in worker_hostile.test.ts, driven through Miniflare)",
};

test("sockets: a client that never reads is disconnected after the stall limit", async () => {
  const { listen, clientAddress } = await import("../cli/listen.ts");
  const net = await import("node:net");
  const { app, model, active } = appWith({
    clientAddress,
    stallTimeoutMs: 500,
    maxTopicLength: 3e6,
    maxBodyBytes: 4e6,
    maxReplyBytes: 100e6, // the stall limit ends it, not the cap on a reply
  });
  const server = await listen(app.fetch, { port: 0, hostname: "127.0.0.1" });
  try {
    // A reply of tens of MB: the socket buffers between the flow and this client fill up.
    const topic = Array.from({ length: 200 }, (_, i) => `${i}`.padEnd(8_000, "z")).join(" ");
    const body = JSON.stringify({ topic });
    const socket = net.connect(server.port, "127.0.0.1", () => {
      socket.write(
        `POST /research HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body}`,
      );
      socket.pause(); // never reads a byte
    });
    socket.on("error", () => {});
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    try {
      await eventually(() => model.stats.started > 0, "the flow started", 15_000);
      await eventually(async () => (await active()) === 0, "the flow ended", 20_000);
      await eventually(() => model.stats.active === 0, "every model request ended", 15_000);
      assert.ok(
        model.stats.aborted > 0,
        `cut short, not run to the end: ${JSON.stringify(model.stats)}`,
      );
      // The server has let go of the connection: a paused socket cannot see that until it reads
      // again, so read what is left, and the connection ends there (rather than stay open).
      socket.resume();
      let ended = false;
      closed.then(() => (ended = true));
      await eventually(() => ended, "the connection was closed by the server", 20_000);
    } finally {
      socket.destroy();
    }
  } finally {
    await server.close();
  }
}, { ...SOCKETS, timeout: 60_000 });
