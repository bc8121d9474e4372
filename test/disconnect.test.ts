/**
 * A client that goes away at every stage of the research flow: while the specialists wait for
 * their first token, while they stream, and while the synthesizer streams. Per-role pacing makes
 * each stage long enough to be told from the frames already read. Over real HTTP (node, deno: the
 * client aborts its fetch) and in-process (`app.request` with an AbortSignal, on all three).
 *
 * Afterwards every model request has ended on the model server (each `onRequest` `ended` resolves,
 * `stats.active === 0`), `/healthz` reports no flow in flight, and nothing is left behind: on Node
 * the active timers and sockets return to what they were; on Deno its op and resource sanitizers
 * are on for these tests. Plus a research-level node timeout (`timeoutMs` in the graph JSON).
 */
import assert from "node:assert/strict";
import { deferred, runtime, test } from "./harness.ts";
import { serve } from "./serve.ts";
import { createApp } from "../routes/app.ts";
import { ActorError } from "../src/errors.ts";
import { createOfflineModel, type OfflinePacing } from "../src/llm/offline_model.ts";
import { researchGraph, runResearch } from "../src/research/run_research.ts";
import {
  eventually,
  type Frame,
  researchRequest,
  SENTINEL_KEY,
  sseReader,
} from "./http_helpers.ts";

type Stage = "before the first token" | "mid-specialists" | "mid-synthesis";

/** Pacing that holds the flow in `stage` for far longer than the test needs to get there. */
const PACING: Record<Stage, Record<string, OfflinePacing>> = {
  "before the first token": {
    facts: { firstTokenDelayMs: 60_000 },
    stats: { firstTokenDelayMs: 60_000 },
    quotes: { firstTokenDelayMs: 60_000 },
  },
  "mid-specialists": {
    facts: { tokenDelayMs: 200 },
    stats: { tokenDelayMs: 200 },
    quotes: { tokenDelayMs: 200 },
  },
  "mid-synthesis": { answer: { tokenDelayMs: 200 } },
};

/** Requests the model server has seen, per stage, for the checks below. */
function pacedModel(stage: Stage) {
  const ended: Promise<void>[] = [];
  const roles: string[] = [];
  const specialistsAsked = deferred();
  const model = createOfflineModel({
    pacing: PACING[stage],
    onRequest: (info) => {
      ended.push(info.ended);
      roles.push(info.role);
      if (roles.length === 3) specialistsAsked.resolve();
    },
  });
  return { model, ended, roles, specialistsAsked: specialistsAsked.promise };
}

/**
 * Reads frames until the flow is surely in `stage`, checking that it has not gone past it: no chunk
 * before the first token, specialists' chunks but none of the answer mid-specialists, answer chunks
 * mid-synthesis.
 */
async function reachStage(
  stage: Stage,
  reader: ReturnType<typeof sseReader>,
  m: ReturnType<typeof pacedModel>,
): Promise<Frame[]> {
  const frames: Frame[] = [];
  const chunk = (role?: string) =>
    frames.some((f) => f.event === "chunk" && (role === undefined || f.data.role === role));
  if (stage === "before the first token") {
    // Three specialists running and their model requests made: only tokens can come next.
    while (frames.filter((f) => f.event === "node" && f.data.state === "running").length < 3) {
      const f = await reader.next();
      assert.ok(f, "the stream ended early");
      frames.push(f);
    }
    await m.specialistsAsked;
    assert.ok(!chunk(), "no token yet");
  } else {
    const role = stage === "mid-specialists" ? undefined : "answer";
    while (!chunk(role)) {
      const f = await reader.next();
      assert.ok(f, "the stream ended early");
      frames.push(f);
    }
    if (stage === "mid-specialists") {
      assert.ok(!chunk("answer"), "the synthesizer has not begun");
      // The first token may come before the last specialist's request is made.
      await m.specialistsAsked;
    }
  }
  assert.ok(!frames.some((f) => ["answer", "done", "error"].includes(f.event)), "flow not over");
  assert.equal(m.model.stats.completed, stage === "mid-synthesis" ? 3 : 0);
  assert.equal(m.model.stats.active, 1 + (stage === "mid-synthesis" ? 0 : 2), "requests in flight");
  return frames;
}

/** What Node has open now: timers, sockets, servers (other handle kinds are the runner's own). */
function nodeResources(): Record<string, number> {
  // deno-lint-ignore no-explicit-any
  const info: string[] = (globalThis as any).process.getActiveResourcesInfo();
  const counts: Record<string, number> = {};
  for (const kind of info) {
    if (/Timeout|Immediate|TCP|Pipe|Socket|Server|Timer/.test(kind)) {
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
  }
  return counts;
}

/** Waits (bounded) until Node holds no more timers or sockets than `before`. */
async function nothingLeftBehind(before: Record<string, number>): Promise<void> {
  if (runtime !== "node") return; // Deno: the sanitizers check it; workerd: no such API.
  await eventually(
    () => Object.entries(nodeResources()).every(([k, n]) => n <= (before[k] ?? 0)),
    `no timer or socket left: before ${JSON.stringify(before)}, now ${
      JSON.stringify(nodeResources())
    }`,
    3_000,
  ).catch((e) => {
    // The message above was built before the wait; say what is left now.
    throw new Error(`${e.message}; left: ${JSON.stringify(nodeResources())}`);
  });
}

/** The model side and the app are both quiet again. */
async function everythingEnded(
  m: ReturnType<typeof pacedModel>,
  health: () => Promise<number>,
  stage: Stage,
): Promise<void> {
  await Promise.all(m.ended); // every request the model server saw ended there
  assert.equal(m.model.stats.active, 0);
  assert.equal(m.model.stats.aborted, stage === "mid-synthesis" ? 1 : 3, "the open ones aborted");
  assert.deepEqual(
    [...m.roles].sort(),
    stage === "mid-synthesis"
      ? ["answer", "facts", "quotes", "stats"]
      : ["facts", "quotes", "stats"],
  );
  await eventually(async () => (await health()) === 0, "/healthz active back to 0");
}

const STAGES: Stage[] = ["before the first token", "mid-specialists", "mid-synthesis"];

for (const stage of STAGES) {
  test(`disconnect over HTTP ${stage}: every model request ends, nothing left behind`, async () => {
    const m = pacedModel(stage);
    const app = createApp({ llm: { fetch: m.model.fetch, apiKey: SENTINEL_KEY } });
    const before = runtime === "node" ? nodeResources() : {};
    const served = await serve(async (req) => await app.fetch(req));
    try {
      const client = new AbortController();
      const res = await fetch(`${served.url}/research`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "the history of zero" }),
        signal: client.signal,
      });
      assert.equal(res.status, 200);
      const reader = sseReader(res.body!);
      await reachStage(stage, reader, m);
      client.abort();
      await reader.cancel().catch(() => {});
      await everythingEnded(
        m,
        async () => (await (await app.request("/healthz")).json()).active,
        stage,
      );
    } finally {
      await served.close();
    }
    await nothingLeftBehind(before);
  }, {
    only: ["node", "deno"],
    why: "workerd cannot listen on a loopback port (test/worker.test.ts drives a real Worker)",
    sanitize: true,
  });
}

/**
 * In-process: the request's AbortSignal alone (the body is neither read further nor cancelled),
 * which is how workerd reports a client that went away.
 */
for (const stage of STAGES) {
  test(`disconnect in-process (request signal) ${stage}: every model request ends`, async () => {
    const m = pacedModel(stage);
    const app = createApp({ llm: { fetch: m.model.fetch, apiKey: SENTINEL_KEY } });
    const before = runtime === "node" ? nodeResources() : {};
    const client = new AbortController();
    const res = await app.request(
      ...withSignal(researchRequest({ topic: "the history of zero" }), client.signal),
    );
    assert.equal(res.status, 200);
    const reader = sseReader(res.body!);
    await reachStage(stage, reader, m);
    client.abort();
    await everythingEnded(
      m,
      async () => (await (await app.request("/healthz")).json()).active,
      stage,
    );
    // The body ends (errored or closed) rather than hanging.
    await drain(reader);
    await nothingLeftBehind(before);
  }, { sanitize: true });

  test(`cancel the response body in-process ${stage}: every model request ends`, async () => {
    const m = pacedModel(stage);
    const app = createApp({ llm: { fetch: m.model.fetch, apiKey: SENTINEL_KEY } });
    const before = runtime === "node" ? nodeResources() : {};
    const res = await app.request(...researchRequest({ topic: "the history of zero" }));
    const reader = sseReader(res.body!);
    await reachStage(stage, reader, m);
    await reader.cancel();
    // cancel() resolves once the flow and every model request have ended.
    assert.equal(m.model.stats.active, 0);
    await everythingEnded(
      m,
      async () => (await (await app.request("/healthz")).json()).active,
      stage,
    );
    await nothingLeftBehind(before);
  }, { sanitize: true });
}

function withSignal(
  [path, init]: [string, RequestInit],
  signal: AbortSignal,
): [string, RequestInit] {
  return [path, { ...init, signal }];
}

async function drain(reader: ReturnType<typeof sseReader>): Promise<void> {
  try {
    while (await reader.next());
  } catch {
    // errored: the client is gone
  }
}

test(
  "research-level node timeout: graph JSON timeoutMs on a stalled specialist fails clearly",
  async () => {
    const model = createOfflineModel({
      tokenDelayMs: 0,
      pacing: { stats: { firstTokenDelayMs: 60_000 } },
    });
    const graph = researchGraph();
    graph.nodes.find((n) => n.id === "statistician")!.metadata = { timeoutMs: 150 };
    const error = await runResearch("the history of zero", {
      llm: { fetch: model.fetch, apiKey: SENTINEL_KEY, maxRetries: 0 },
      graph,
    }).then(() => assert.fail("the flow succeeded"), (e: unknown) => e);
    assert.ok(error instanceof ActorError, `an ActorError: ${error}`);
    assert.equal(error.nodeId, "statistician");
    assert.match(error.message, /^node "statistician" failed: .*timed out after 150 ms/);
    assert.ok(!error.message.includes(SENTINEL_KEY));
    await eventually(() => model.stats.active === 0, "every model request ended");
    assert.equal(model.stats.started, 3, "the synthesizer never ran");
  },
  { sanitize: true },
);
