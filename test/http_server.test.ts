/**
 * The HTTP app over real HTTP on loopback: @hono/node-server under Node, Deno.serve under Deno
 * (test/serve.ts). Formats, disconnect → every model request aborted, slow-reader backpressure,
 * and `main.ts --serve` as a process. Assertions are on order, counts and bounds, never on time.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { startServe } from "./serve_process.ts";
import { createApp, researchRuns } from "../routes/app.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { offlineReply, offlineTokens } from "../src/llm/offline_text.ts";
import { allFrames, countedModel, eventually, type Frame, sseReader } from "./http_helpers.ts";

const NET = {
  only: ["node", "deno"] as ("node" | "deno")[],
  why: "workerd cannot listen on a loopback port (test/worker.test.ts drives a real Worker)",
};

/** The app as the serve helper's handler. */
function handler(app: ReturnType<typeof createApp>) {
  return async (req: Request) => await app.fetch(req);
}

function post(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/research`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...init,
  });
}

test("over HTTP: SSE by default, text on request, both complete", async () => {
  const m = countedModel();
  const served = await serve(handler(createApp({ llm: { fetch: m.fetch } })));
  try {
    const sse = await post(served.url, { topic: "the history of zero" });
    assert.equal(sse.status, 200);
    assert.match(sse.headers.get("content-type")!, /^text\/event-stream/);
    const frames = await allFrames(sse.body!);
    const kinds = frames.map((f) => f.event);
    assert.deepEqual(kinds.slice(-2), ["answer", "done"]);
    const roles = new Set(frames.filter((f) => f.event === "chunk").map((f) => f.data.role));
    assert.deepEqual([...roles].sort(), ["answer", "facts", "quotes", "stats"]);

    const text = await fetch(`${served.url}/research?format=text`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "zero" }),
    });
    assert.match(text.headers.get("content-type")!, /^text\/plain/);
    assert.equal(text.headers.get("content-encoding"), "identity");
    const body = await text.text();
    for (const role of ["facts", "stats", "quotes", "answer"]) {
      assert.ok(body.includes(`[${role}] `));
    }

    const get = await fetch(`${served.url}/research?topic=zero`);
    assert.deepEqual((await allFrames(get.body!)).map((f) => f.event).slice(-2), [
      "answer",
      "done",
    ]);

    const bad = await post(served.url, { topic: "" });
    assert.equal(bad.status, 400);
    assert.ok(Array.isArray((await bad.json()).issues));
    assert.deepEqual({ ...m.model.stats }, { active: 0, started: 12, completed: 12, aborted: 0 });
  } finally {
    await served.close();
  }
}, NET);

test(
  "over HTTP: a client that disconnects mid-stream aborts the flow and every model request",
  async () => {
    const m = countedModel({ tokenDelayMs: 10, firstTokenDelayMs: 20 });
    const app = createApp({ llm: { fetch: m.fetch } });
    const served = await serve(handler(app));
    try {
      const client = new AbortController();
      const res = await post(served.url, { topic: "zero" }, { signal: client.signal });
      const reader = sseReader(res.body!);
      let frame: Frame | undefined;
      let chunks = 0;
      while (chunks < 5 && (frame = await reader.next())) if (frame.event === "chunk") chunks++;
      assert.equal(chunks, 5);
      const open = m.model.stats.active;
      assert.ok(open >= 3, `specialists streaming: ${JSON.stringify(m.model.stats)}`);
      client.abort();
      await reader.cancel().catch(() => {});
      await eventually(() => m.model.stats.active === 0, "every model request ended");
      assert.equal(m.model.stats.aborted, open, "each open request was aborted, none completed");
      assert.equal(m.model.stats.completed, 0);
      await eventually(
        async () => (await (await fetch(`${served.url}/healthz`)).json()).active === 0,
        "no flow in flight",
      );
    } finally {
      await served.close();
    }
  },
  NET,
);

test("over HTTP: a client that stops reading stalls the model (bounded read-ahead)", async () => {
  // Big tokens (a topic of long words, which the offline model repeats) make the reply far larger
  // than what sockets and server buffers hold between a stalled client and the flow (4.4 MB on
  // Node's loopback), without needing many tokens.
  const topic = Array.from({ length: 300 }, (_, i) => `${i}`.padEnd(8000, "z")).join(" ");
  const tokens = ["facts", "stats", "quotes"].map((role) =>
    offlineTokens(offlineReply(role, topic))
  );
  const total = tokens.reduce((n, t) => n + t.length, 0);
  const totalBytes = tokens.flat().reduce((n, t) => n + t.length, 0);
  const m = countedModel();
  const served = await serve(
    handler(createApp({
      llm: { fetch: m.fetch },
      maxTopicLength: 3e6,
      maxBodyBytes: 4e6,
      // Backpressure is what is tested, not the cap on a reply's size (64 KiB by default).
      maxReplyBytes: 100e6,
      capacity: 4,
      // Nor the cap on a run's log (POST /research is a run; 4 MiB by default): ~4.4 MB fit in
      // loopback buffers before a stalled client's stall reaches the flow.
      runs: researchRuns({ store: new MemoryRunStore(), maxRunBytes: 64 * 2 ** 20 }),
    })),
  );
  try {
    const res = await post(served.url, { topic });
    const reader = sseReader(res.body!);
    while ((await reader.next())?.event !== "chunk");
    let last = -1;
    // Settled: the count stops moving once every buffer on the way is full.
    for (let same = 0; same < 10;) {
      await new Promise((r) => setTimeout(r, 30));
      same = m.counter.bytes === last ? same + 1 : 0;
      last = m.counter.bytes;
    }
    assert.ok(totalBytes > 20e6, `a reply of ${totalBytes} bytes`);
    const sent = `${m.counter.tokens} of ${total} tokens, ${last} of ${totalBytes} bytes`;
    assert.ok(
      m.counter.tokens < total && last < totalBytes / 2,
      `sent to a stalled client: ${sent}`,
    );
    assert.equal(m.model.stats.completed, 0);
    assert.equal(m.model.stats.active, 3);
    await reader.cancel();
    await eventually(() => m.model.stats.active === 0, "every model request ended");
  } finally {
    await served.close();
  }
}, { ...NET, timeout: 60_000 });

test(
  "main.ts --serve: prints its URL, serves /healthz and a research, stops on Ctrl-C",
  async () => {
    const server = await startServe("deno");
    try {
      const url = server.url;
      assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { ok: true, active: 0 });
      const res = await post(url, { topic: "zero" });
      const frames = await allFrames(res.body!);
      assert.deepEqual(frames.map((f) => f.event).slice(-2), ["answer", "done"]);
      assert.match(await (await fetch(`${url}/`)).text(), /<title>reflow-edge research<\/title>/);
    } finally {
      server.kill("SIGINT");
    }
    assert.equal(await server.exited, 0, `exit code (stderr: ${server.err()})`);
    assert.match(server.err(), /shutting down/);
  },
  {
    only: ["node"],
    why: "spawns the Deno CLI as a child process from Node (node:child_process); once is enough",
    timeout: 60_000,
  },
);

// The same server under Node: tsx runs main.ts with @hono/node-server.
test("main.ts --serve under Node (tsx) serves and stops on Ctrl-C", async () => {
  const server = await startServe("node", { REFLOW_TOKEN: "tok" });
  try {
    const url = server.url;
    assert.equal((await post(url, { topic: "zero" })).status, 401, "REFLOW_TOKEN is honoured");
    const res = await post(url, { topic: "zero" }, {
      headers: { "content-type": "application/json", authorization: "Bearer tok" },
    });
    assert.equal(res.status, 200);
    // Ctrl-C while a flow streams: the server aborts it and exits cleanly.
    const reader = sseReader(res.body!);
    while ((await reader.next())?.event !== "chunk");
    assert.equal(await server.kill("SIGINT"), 0, `exit code (stderr: ${server.err()})`);
    await reader.cancel().catch(() => {});
  } finally {
    await server.kill("SIGKILL");
  }
}, {
  only: ["node"],
  why: "spawns tsx as a child process from Node (node:child_process)",
  timeout: 60_000,
});
