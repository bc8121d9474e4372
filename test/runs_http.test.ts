/**
 * The `/runs` routes over the real app, in-process (every runtime) and over real HTTP on loopback
 * (Node, Deno), with the research flow on the offline model: a run's stream carries `id:` on
 * every frame; a viewer cut off at every stage and resumed with `Last-Event-ID` sees exactly the
 * uninterrupted stream, byte for byte; a detached run finishes with nobody watching; cancel ends
 * every model request; three viewers, one stalled; expiry; bad input and auth. Assertions are on
 * order and counts, never on elapsed time.
 */
import assert from "node:assert/strict";
import { runtime, test } from "./harness.ts";
import { serve } from "./serve.ts";
import { createApp, researchRuns } from "../routes/app.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { signRunToken } from "../routes/run_token.ts";
import {
  countedModel,
  eventually,
  framesText as text,
  type RawFrame,
  readUntil,
} from "./http_helpers.ts";
import researchGraphJson from "../src/research/research.graph.json" with { type: "json" };

type Transport = "in-process" | "loopback";
const TRANSPORTS: Transport[] = runtime === "workerd" ? ["in-process"] : ["in-process", "loopback"];

type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

/** The app on `transport`: a fetch taking paths, and how to stop it. */
async function client(app: ReturnType<typeof createApp>, transport: Transport) {
  if (transport === "in-process") {
    const f: Fetch = async (path, init) => await app.request(path, init);
    return { fetch: f, close: () => Promise.resolve() };
  }
  const served = await serve(async (req) => await app.fetch(req));
  const f: Fetch = (path, init) => fetch(`${served.url}${path}`, init);
  return { fetch: f, close: served.close };
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

for (const transport of TRANSPORTS) {
  test(`runs (${transport}): POST /runs streams the run from its first event, every frame with an id`, async () => {
    const m = countedModel();
    const app = createApp({ llm: { fetch: m.fetch } });
    const c = await client(app, transport);
    try {
      const res = await c.fetch("/runs", json({ topic: "the history of zero" }));
      assert.equal(res.status, 201);
      assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
      const location = res.headers.get("location")!;
      assert.match(location, /^\/runs\/[0-9a-f-]{36}$/);
      const id = location.slice(6);
      const { frames, ended } = await readUntil(res);
      assert.ok(ended);
      assert.deepEqual(frames[0].event, "run");
      assert.deepEqual(frames[0].data, { id, topic: "the history of zero" });
      assert.deepEqual(
        frames.map((f) => f.id),
        frames.map((_, i) => i + 1),
        "ids 1, 2, 3… with no gap",
      );
      assert.deepEqual(frames.slice(-2).map((f) => f.event), ["answer", "done"]);
      const roles = new Set(frames.filter((f) => f.event === "chunk").map((f) => f.data.role));
      assert.deepEqual([...roles].sort(), ["answer", "facts", "quotes", "stats"]);

      const info = await (await c.fetch(location)).json();
      assert.equal(info.status, "done");
      assert.equal(info.lastSeq, frames.length);
      assert.equal(info.answer, frames.at(-2)!.data.text);
      assert.deepEqual(info.input, { topic: "the history of zero" });
      assert.deepEqual(Object.keys(info.nodes).sort(), [
        "factual",
        "logger",
        "quoter",
        "sink",
        "statistician",
        "synth",
      ]);
      assert.ok(Object.values(info.nodes).every((s) => s === "done"));
      const list = await (await c.fetch("/runs")).json();
      assert.deepEqual(list.runs.map((r: { id: string }) => r.id), [id]);
      // A late viewer gets the same bytes.
      const again = await readUntil(await c.fetch(`${location}/events`));
      assert.equal(text(again.frames), text(frames));
    } finally {
      await c.close();
    }
  });

  test(`runs (${transport}): a viewer cut off at every stage resumes with Last-Event-ID: no gap, no duplicate, byte for byte`, async () => {
    const m = countedModel({ tokenDelayMs: 3, firstTokenDelayMs: 10 });
    const app = createApp({ llm: { fetch: m.fetch } });
    const c = await client(app, transport);
    try {
      const res = await c.fetch("/runs", json({ topic: "zero" }));
      const id = res.headers.get("location")!.slice(6);
      const whole = readUntil(res);
      let chunks = 0;
      let answerChunks = 0;
      let running = 0;
      const stages: [string, (f: RawFrame) => boolean][] = [
        ["the run's first frame", (f) => f.event === "run"],
        [
          "before the first token",
          (f) => f.event === "node" && f.data.state === "running" && ++running === 3,
        ],
        ["mid-specialists", (f) => f.event === "chunk" && ++chunks === 10],
        [
          "mid-synthesis",
          (f) => f.event === "chunk" && f.data.role === "answer" && ++answerChunks === 3,
        ],
        ["at the answer", (f) => f.event === "answer"],
      ];
      let seen: RawFrame[] = [];
      let last: number | undefined;
      for (const [stage, stop] of stages) {
        const headers: Record<string, string> = last === undefined
          ? {}
          : { "Last-Event-ID": String(last) };
        const part = await readUntil(await c.fetch(`/runs/${id}/events`, { headers }), stop);
        assert.equal(part.ended, false, `cut at ${stage}`);
        seen = seen.concat(part.frames);
        last = part.frames.at(-1)!.id;
      }
      const rest = await readUntil(await c.fetch(`/runs/${id}/events?after=${last}`));
      seen = seen.concat(rest.frames);
      const full = await whole;
      assert.equal(text(seen), text(full.frames));
      assert.equal(full.frames.at(-1)!.event, "done");
    } finally {
      await c.close();
    }
  });

  test(`runs (${transport}): a detached run finishes with nobody watching and is read afterwards`, async () => {
    const m = countedModel({ tokenDelayMs: 1 });
    const app = createApp({ llm: { fetch: m.fetch } });
    const c = await client(app, transport);
    try {
      const res = await c.fetch("/runs?detach=1", json({ topic: "zero" }));
      assert.equal(res.status, 201);
      const body = await res.json();
      assert.equal(res.headers.get("location"), `/runs/${body.id}`);
      assert.equal(body.events, `/runs/${body.id}/events`);
      await eventually(
        async () => (await (await c.fetch(`/runs/${body.id}`)).json()).status === "done",
        "the run finished",
        15_000,
      );
      assert.equal(m.model.stats.completed, 4);
      const { frames, ended } = await readUntil(await c.fetch(body.events));
      assert.ok(ended);
      assert.deepEqual([frames[0].event, ...frames.slice(-2).map((f) => f.event)], [
        "run",
        "answer",
        "done",
      ]);
    } finally {
      await c.close();
    }
  });

  test(`runs (${transport}): cancel stops the run and every model request; its viewers end with the error`, async () => {
    const m = countedModel({ tokenDelayMs: 50, firstTokenDelayMs: 5 });
    const app = createApp({ llm: { fetch: m.fetch } });
    const c = await client(app, transport);
    try {
      const res = await c.fetch("/runs", json({ topic: "zero" }));
      const id = res.headers.get("location")!.slice(6);
      let chunks = 0;
      const head = await readUntil(res, (f) => f.event === "chunk" && ++chunks === 3);
      assert.equal(head.ended, false);
      // The first viewer has gone; the run goes on. A second viewer watches.
      const viewer = readUntil(await c.fetch(`/runs/${id}/events`));
      const open = m.model.stats.active;
      assert.equal(open, 3, "three specialists streaming");
      const cancelled = await c.fetch(`/runs/${id}/cancel`, { method: "POST" });
      assert.equal(cancelled.status, 200);
      assert.deepEqual(await cancelled.json(), { id, status: "cancelled" });
      assert.equal(m.model.stats.active, 0, "every model request ended before cancel answered");
      assert.equal(m.model.stats.aborted, open);
      assert.equal(m.model.stats.completed, 0);
      const seen = await viewer;
      assert.ok(seen.ended);
      assert.equal(seen.frames.at(-1)!.event, "error");
      assert.deepEqual(seen.frames.at(-1)!.data, { message: "the run was cancelled" });
      const again = await c.fetch(`/runs/${id}/cancel`, { method: "POST" });
      assert.equal(again.status, 409);
      assert.match((await again.json()).error, /already ended \(cancelled\)/);
    } finally {
      await c.close();
    }
  });
}

test(
  "runs (loopback): three viewers, one stalled: the others and the flow are not slowed; it catches up",
  async () => {
    const m = countedModel({ tokenDelayMs: 1 });
    const app = createApp({ llm: { fetch: m.fetch } });
    const c = await client(app, "loopback");
    try {
      const res = await c.fetch("/runs?detach=1", json({ topic: "zero" }));
      const { id } = await res.json();
      const stalled = (await c.fetch(`/runs/${id}/events`)).body!.getReader();
      const first = await stalled.read(); // one read, then nothing until the run is over
      assert.ok(first.value!.byteLength > 0);
      const [a, b] = await Promise.all([
        readUntil(await c.fetch(`/runs/${id}/events`)),
        readUntil(await c.fetch(`/runs/${id}/events`)),
      ]);
      assert.ok(a.ended && b.ended);
      assert.equal(text(a.frames), text(b.frames));
      assert.equal((await (await c.fetch(`/runs/${id}`)).json()).status, "done");
      // Now the stalled one reads on: everything, in order, from the log.
      const rest = new Response(
        new ReadableStream({
          start(ctl) {
            ctl.enqueue(first.value!);
          },
          async pull(ctl) {
            const r = await stalled.read();
            if (r.done) ctl.close();
            else ctl.enqueue(r.value);
          },
        }),
      );
      assert.equal(await rest.text(), text(a.frames));
    } finally {
      await c.close();
    }
  },
  { only: ["node", "deno"], why: "a stalled reader needs a real socket between it and the server" },
);

test("runs: finished runs expire (204 for their events, 404 for the rest), running ones never", async () => {
  let now = Date.now();
  const m = countedModel();
  const runs = researchRuns({ store: new MemoryRunStore(), ttlMs: 60_000, now: () => now });
  const app = createApp({ llm: { fetch: m.fetch }, runs });
  const res = await app.request("/runs", json({ topic: "zero" }));
  const id = res.headers.get("location")!.slice(6);
  await readUntil(res);
  now += 61_000;
  const events = await app.request(`/runs/${id}/events`);
  assert.equal(events.status, 204);
  assert.equal(events.body, null);
  assert.equal((await app.request(`/runs/${id}`)).status, 404);
  assert.equal((await app.request(`/runs/${id}/cancel`, { method: "POST" })).status, 404);
  assert.deepEqual((await (await app.request("/runs")).json()).runs, []);
});

test("runs: bad input is a clear 4xx that leaks nothing", async () => {
  const TOKEN = "srv-token-SENTINEL-4b1d";
  const m = countedModel();
  const app = createApp({ llm: { fetch: m.fetch }, token: TOKEN });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const res = await app.request("/runs", json({ topic: "zero" }, auth));
  assert.equal(res.status, 201);
  const id = res.headers.get("location")!.slice(6);
  const all = await readUntil(res);
  const last = all.frames.length;
  const other = crypto.randomUUID();
  const cases: [string, RequestInit, number, RegExp][] = [
    ["/runs", json({ topic: "" }, auth), 400, /topic must not be empty/],
    ["/runs", json({ topic: "zero" }), 401, /missing Authorization/],
    [`/runs/${id}`, {}, 401, /missing Authorization/],
    [`/runs/not-a-uuid/events`, { headers: auth }, 400, /run id must be a UUID/],
    [
      `/runs/${id}/events`,
      { headers: { ...auth, "Last-Event-ID": "abc" } },
      400,
      /Last-Event-ID must be a whole number/,
    ],
    [`/runs/${id}/events?after=-1`, { headers: auth }, 400, /after must be a whole number/],
    [
      `/runs/${id}/events`,
      { headers: { ...auth, "Last-Event-ID": String(last + 1) } },
      400,
      new RegExp(`beyond the run's last event \\(${last}\\)`),
    ],
    [`/runs/${other}`, { headers: auth }, 404, /unknown, or expired/],
    [`/runs/${id}/events?token=garbage`, {}, 401, /token is malformed/],
    [
      `/runs/${id}/events?token=${await signRunToken("wrong-key", id, 9_999_999_999)}`,
      {},
      401,
      /not valid for this run/,
    ],
    [
      `/runs/${id}/events?token=${await signRunToken(TOKEN, other, 9_999_999_999)}`,
      {},
      401,
      /not valid for this run/,
    ],
    [`/runs/${id}/events?token=${await signRunToken(TOKEN, id, 1_000)}`, {}, 401, /expired/],
    // A token opens the event stream only.
    [
      `/runs/${id}?token=${await signRunToken(TOKEN, id, 9_999_999_999)}`,
      {},
      401,
      /missing Authorization/,
    ],
  ];
  for (const [path, init, status, says] of cases) {
    const r = await app.request(path, init);
    const body = await r.text();
    assert.equal(r.status, status, `${path}: ${body}`);
    assert.match(body, says, path);
    assert.ok(!body.includes(TOKEN), `${path} leaks the server token`);
  }
  assert.equal((await app.request(`/runs/${other}/events`, { headers: auth })).status, 204);
  // A good token (from the run's token route) opens that run's events, and only them.
  const issued = await (await app.request(`/runs/${id}/token`, { method: "POST", headers: auth }))
    .json();
  assert.match(issued.events, new RegExp(`^/runs/${id}/events\\?token=\\d+\\.[\\w-]{43}$`));
  const viaToken = await readUntil(await app.request(issued.events));
  assert.equal(text(viaToken.frames), text(all.frames));
  const detached = await (await app.request("/runs?detach=1", json({ topic: "one" }, auth))).json();
  assert.match(detached.events, /\?token=/);
  assert.equal((await app.request(issued.events.replace(id, detached.id))).status, 401);
});

for (const transport of TRANSPORTS) {
  test(`runs (${transport}): POST /research is a run: ids on every frame, joinable and resumable while watched, stopped when its last client leaves`, async () => {
    const m = countedModel({ tokenDelayMs: 15, firstTokenDelayMs: 5 });
    const app = createApp({ llm: { fetch: m.fetch } });
    const c = await client(app, transport);
    try {
      const res = await c.fetch("/research", json({ topic: "zero" }));
      assert.equal(res.status, 200);
      const id = res.headers.get("content-location")!.slice(6);
      // A colleague joins by id, and keeps the run alive while the first client is away…
      const joined = readUntil(await c.fetch(`/runs/${id}/events`));
      let chunks = 0;
      const head = await readUntil(res, (f) => f.event === "chunk" && ++chunks === 10);
      assert.equal(head.frames[0].event, "run");
      assert.deepEqual(head.frames[0].data, { id, topic: "zero" });
      // …and the first client, cut off above, comes back where it left off.
      const back = await readUntil(
        await c.fetch(`/runs/${id}/events`, {
          headers: { "Last-Event-ID": String(head.frames.at(-1)!.id) },
        }),
      );
      const all = await joined;
      assert.equal(text([...head.frames, ...back.frames]), text(all.frames));
      assert.equal(all.frames.at(-1)!.event, "done");

      // Alone, a client that leaves stops the run and every model request.
      const before = { ...m.model.stats };
      const alone = await c.fetch("/research", json({ topic: "one" }));
      let n = 0;
      const part = await readUntil(alone, (f) => f.event === "chunk" && ++n === 3);
      const aloneId = part.frames[0].data.id;
      await eventually(() => m.model.stats.active === 0, "every model request ended");
      assert.equal(m.model.stats.aborted - before.aborted, 3);
      await eventually(
        async () => (await (await c.fetch(`/runs/${aloneId}`)).json()).status === "cancelled",
        "the run was cancelled",
      );
      const log = await readUntil(await c.fetch(`/runs/${aloneId}/events`));
      assert.deepEqual(log.frames.at(-1)!.data, { message: "the run's client went away" });
    } finally {
      await c.close();
    }
  });
}

test("runs: POST /runs runs a graph it is given, and refuses a broken one with every fault and its path", async () => {
  const m = countedModel();
  const app = createApp({ llm: { fetch: m.fetch } });
  // The research graph as JSON, as a client would send it.
  const graph = structuredClone(researchGraphJson) as {
    processes: Record<string, unknown>;
    connections: { from?: { nodeId: string }; to: { nodeId: string } }[];
  };
  const ok = await app.request("/runs", json({ topic: "zero", graph }));
  assert.equal(ok.status, 201);
  const frames = (await readUntil(ok)).frames;
  assert.equal(frames.at(-1)!.event, "done");
  const id = ok.headers.get("location")!.slice(6);
  assert.deepEqual((await (await app.request(`/runs/${id}`)).json()).input.graph, graph);

  const broken = structuredClone(graph);
  (broken.processes.quoter as { component: string }).component = "tpl_poet";
  broken.connections.push({
    from: { nodeId: "ghost", portName: "out" },
    to: { nodeId: "synth", portName: "facts" },
  } as never);
  const bad = await app.request("/runs", json({ topic: "zero", graph: broken }));
  assert.equal(bad.status, 400);
  const body = await bad.json();
  assert.match(body.error, /^invalid graph: /);
  assert.ok(body.issues.length >= 2, JSON.stringify(body.issues));
  assert.ok(
    body.issues.some((i: { path: string; message: string }) =>
      i.path === "graph.processes.quoter.component" && /tpl_poet/.test(i.message)
    ),
    JSON.stringify(body.issues),
  );
  assert.ok(body.issues.every((i: { path: string }) => i.path.startsWith("graph")));
  const notGraph = await app.request("/runs", json({ topic: "zero", graph: 42 }));
  assert.equal(notGraph.status, 400);
  assert.equal(m.model.stats.started, 4, "nothing ran for the refused graphs");
});
