/**
 * The Workers deployment, end to end: `wrangler deploy --dry-run` builds worker.ts as it would be
 * uploaded, and Miniflare runs that bundle in workerd with wrangler.toml's compatibility settings.
 * Streams must arrive incrementally (SSE and text), bad input is a 400, the in-process offline
 * model answers, and a client that goes away ends the flow (seen through GET /healthz's count of
 * flows in flight). Assertions are on order and counts, never on elapsed time.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { allFrames, eventually, type Frame, sseReader } from "./http_helpers.ts";
import { COMPATIBILITY_DATE, type Mf, withWorker } from "./worker_build.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "builds the Worker with wrangler and drives workerd through Miniflare from Node",
  timeout: 90_000,
};

const PACED = { REFLOW_OFFLINE_TOKEN_DELAY_MS: "10", REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "30" };

function research(mf: Mf, body: unknown, init: { query?: string; signal?: AbortSignal } = {}) {
  return mf.dispatchFetch(`http://worker.test/research${init.query ?? ""}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: init.signal,
  });
}

async function inFlight(mf: Mf): Promise<number> {
  const res = await mf.dispatchFetch("http://worker.test/healthz");
  return (await res.json()).active;
}

test(
  "worker: wrangler.toml builds offline and the bundle answers /healthz and /graph",
  async () => {
    const toml = await (await import("node:fs/promises")).readFile(
      new URL("../wrangler.toml", import.meta.url),
      "utf8",
    );
    assert.match(toml, new RegExp(`compatibility_date = "${COMPATIBILITY_DATE}"`));
    assert.match(toml, /compatibility_flags = \[.*"enable_request_signal".*\]/);
    await withWorker({}, async (mf) => {
      const health = await mf.dispatchFetch("http://worker.test/healthz");
      assert.deepEqual(await health.json(), { ok: true, active: 0 });
      const graph = await (await mf.dispatchFetch("http://worker.test/graph?format=mermaid"))
        .text();
      assert.match(graph, /^flowchart LR/);
      const page = await (await mf.dispatchFetch("http://worker.test/")).text();
      assert.match(page, /<title>reflow-edge research<\/title>/);
    });
  },
  ONLY,
);

test("worker: the offline model answers, as SSE that streams while the flow runs", async () => {
  await withWorker(PACED, async (mf) => {
    const res = await research(mf, { topic: "the history of zero" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    const reader = sseReader(res.body);
    let frame: Frame | undefined;
    while ((frame = await reader.next()) && frame.event !== "chunk");
    assert.equal(frame?.event, "chunk");
    // The first token is here while the flow is still running: not buffered to the end.
    assert.equal(await inFlight(mf), 1, "the flow is still in flight at the first chunk");
    const rest: Frame[] = [frame!];
    while ((frame = await reader.next())) rest.push(frame);
    const kinds = rest.map((f) => f.event);
    assert.deepEqual(kinds.slice(-2), ["answer", "done"]);
    const roles = new Set(rest.filter((f) => f.event === "chunk").map((f) => f.data.role));
    assert.deepEqual([...roles].sort(), ["answer", "facts", "quotes", "stats"]);
    assert.ok(kinds.filter((k) => k === "chunk").length > 100);
    assert.equal(await inFlight(mf), 0);
  });
}, ONLY);

test(
  "worker: the text format streams too (Content-Encoding: identity defeats gzip buffering)",
  async () => {
    await withWorker(PACED, async (mf) => {
      const res = await research(mf, { topic: "zero" }, { query: "?format=text" });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type"), /^text\/plain/);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      assert.match(first.value, /^\[(facts|stats|quotes)\]/);
      assert.equal(await inFlight(mf), 1, "text arrived while the flow was still running");
      // Miniflare reports the Worker's encoding here; without identity it would say gzip.
      const encoding = res.headers.get("content-encoding") ??
        res.headers.get("mf-content-encoding");
      assert.equal(encoding, "identity");
      let text = first.value;
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
      for (const role of ["facts", "stats", "quotes", "answer"]) {
        assert.ok(text.includes(`[${role}] `));
      }
    });
  },
  ONLY,
);

test("worker: bad input is a 400, and REFLOW_TOKEN guards the API", async () => {
  await withWorker({ REFLOW_TOKEN: "w-token" }, async (mf) => {
    const unauthorized = await research(mf, { topic: "zero" });
    assert.equal(unauthorized.status, 401);
    await unauthorized.body?.cancel();
    const auth = { "content-type": "application/json", authorization: "Bearer w-token" };
    for (
      const body of [
        "{",
        "{}",
        '{"topic":"   "}',
        '{"topic":1}',
        JSON.stringify({ topic: "z".repeat(501) }),
      ]
    ) {
      const res = await mf.dispatchFetch("http://worker.test/research", {
        method: "POST",
        headers: auth,
        body,
      });
      assert.equal(res.status, 400, body);
      assert.ok(Array.isArray((await res.json()).issues));
    }
    const ok = await mf.dispatchFetch("http://worker.test/research", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ topic: "zero" }),
    });
    assert.equal(ok.status, 200);
    assert.deepEqual((await allFrames(ok.body)).map((f) => f.event).slice(-2), ["answer", "done"]);
  });
}, ONLY);

test("worker: a client that goes away mid-stream ends the flow", async () => {
  // 100 ms a token: the whole reply (~250 tokens, 119 of them after the specialists) takes over
  // 15 s, so a flow that ends within the 8 s wait below was ended by the disconnect.
  const slow = { REFLOW_OFFLINE_TOKEN_DELAY_MS: "100", REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "30" };
  await withWorker(slow, async (mf) => {
    const client = new AbortController();
    const res = await research(mf, { topic: "zero" }, { signal: client.signal });
    const reader = sseReader(res.body);
    // Disconnect once tokens flow (workerd 1.20260426 under Miniflare did not report a
    // disconnect that happened while the Worker waited for the model's first token).
    let chunks = 0;
    for (let f = await reader.next(); f && chunks < 5; f = await reader.next()) {
      if (f.event === "chunk") chunks++;
    }
    assert.equal(chunks, 5);
    assert.equal(await inFlight(mf), 1);
    client.abort();
    await reader.cancel().catch(() => {});
    await eventually(async () => (await inFlight(mf)) === 0, "the flow ended", 8_000);
  });
}, ONLY);
