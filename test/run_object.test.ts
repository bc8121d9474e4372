/**
 * Runs on Workers: one SQLite-backed Durable Object per run, in Miniflare. The store contract on
 * a Durable Object's own SQLite; the wrangler-built Worker routing /runs to the run's object: the
 * stream with ids, a viewer cut off at every stage resuming byte for byte, `POST /research` as a run
 * its client leads in its object (joined and resumed by id, stopped when its client leaves), cancel
 * ending every
 * model request (the model served from Node on loopback, so its requests can be counted), a
 * detached run that finishes with no client connected for longer than workerd's idle eviction
 * (10 s), and an object restarted mid-run (workerd stopped, storage kept) reading `interrupted`.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { STORE_CONTRACT } from "./run_store_contract.ts";
import {
  countedModel,
  eventually,
  framesText as text,
  frameStream,
  type RawFrame,
  readUntil,
} from "./http_helpers.ts";
import { serve } from "./serve.ts";
import { WORKERD_BUNDLE } from "../scripts/workerd_bundle.mjs";

const ONLY = {
  only: ["node"] as "node"[],
  why: "builds Workers with wrangler / esbuild and drives workerd through Miniflare from Node",
  timeout: 120_000,
};

// deno-lint-ignore no-explicit-any
type Mf = any;
const COMPAT = { compatibilityDate: "2026-10-01", compatibilityFlags: ["enable_request_signal"] };
// Computed when used: in the workerd bundle, where these tests do not run, import.meta.url is no base.
const root = () => new URL("..", import.meta.url).pathname;

let built: Promise<string> | undefined;

/** Builds worker.ts with wrangler, as deployed (once per file). */
function buildWorker(): Promise<string> {
  built ??= (async () => {
    const { spawn } = await import("node:child_process");
    const { mkdir, readdir, rm } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const outdir = join(root(), "dist", "worker-runs-e2e");
    await rm(outdir, { recursive: true, force: true });
    await mkdir(outdir, { recursive: true });
    // deno-lint-ignore no-explicit-any
    const env = { ...(globalThis as any).process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(join(root(), "node_modules", ".bin", "wrangler"), [
        "deploy",
        "--dry-run",
        "--outdir",
        outdir,
      ], { cwd: root(), env });
      let out = "";
      child.stdout.on("data", (d: Uint8Array) => (out += d));
      child.stderr.on("data", (d: Uint8Array) => (out += d));
      child.on("error", reject);
      child.on("exit", (code) => code === 0 ? resolve(out) : reject(new Error(`wrangler: ${out}`)));
    });
    const script = (await readdir(outdir)).find((f) => f.endsWith(".js"));
    assert.ok(script, output);
    return join(outdir, script);
  })();
  return built;
}

async function withWorker(
  bindings: Record<string, string>,
  fn: (mf: Mf) => Promise<void>,
  persist?: string,
): Promise<void> {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  // Miniflare 5 takes its own options; these are in Miniflare 4's form, which it converts. Its
  // storage persists under `resourcePersistencePath` (Miniflare 4: `durableObjectsPersist`).
  const mf = new Miniflare({
    ...convertV4MiniflareOptions({
      scriptPath: await buildWorker(),
      modules: true,
      ...COMPAT,
      bindings,
      durableObjects: {
        RUNS: { className: "RunObject", useSQLite: true },
        RUN_INDEX: { className: "RunIndex", useSQLite: true },
      },
    }),
    ...(persist ? { resourcePersistencePath: persist } : {}),
  });
  try {
    await mf.ready;
    await fn(mf);
  } finally {
    await mf.dispose();
  }
}

const post = (mf: Mf, path: string, body: unknown, signal?: AbortSignal) =>
  mf.dispatchFetch(`http://worker.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
const get = (mf: Mf, path: string, headers: Record<string, string> = {}) =>
  mf.dispatchFetch(`http://worker.test${path}`, { headers });

test("run object: the store contract on a Durable Object's own SQLite", async () => {
  const esbuild = await import("esbuild");
  const { join } = await import("node:path");
  const { builtinModules } = await import("node:module");
  const outfile = join(root(), "dist", "run-object-contract", "worker.mjs");
  await esbuild.build({
    entryPoints: [join(root(), "test", "run_object_entry.ts")],
    outfile,
    ...WORKERD_BUNDLE,
    external: ["node:*", ...builtinModules],
    logLevel: "silent",
  });
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const mf = new Miniflare(convertV4MiniflareOptions({
    scriptPath: outfile,
    modules: true,
    compatibilityDate: COMPAT.compatibilityDate,
    compatibilityFlags: ["nodejs_compat"],
    durableObjects: { CONTRACT: { className: "ContractObject", useSQLite: true } },
  }));
  try {
    await mf.ready;
    for (let n = 0; n < STORE_CONTRACT.length; n++) {
      const res = await mf.dispatchFetch(`http://contract.test/?check=${n}`);
      const result = await res.json() as { name: string; ok: boolean; error?: string };
      assert.equal(result.name, STORE_CONTRACT[n][0]);
      assert.ok(result.ok, result.error ?? "failed");
    }
  } finally {
    await mf.dispose();
  }
}, ONLY);

test(
  "run object: /runs on Workers streams from the run's object; a viewer cut off at every stage resumes byte for byte",
  async () => {
    await withWorker({
      REFLOW_OFFLINE_TOKEN_DELAY_MS: "4",
      REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "10",
    }, async (mf) => {
      const res = await post(mf, "/runs", { topic: "the history of zero" });
      assert.equal(res.status, 201);
      assert.match(res.headers.get("content-type"), /^text\/event-stream/);
      const id = res.headers.get("location").slice(6);
      const whole = readUntil(res.body);
      let running = 0;
      let chunks = 0;
      let answerChunks = 0;
      const stages: ((f: RawFrame) => boolean)[] = [
        (f) => f.event === "run",
        (f) => f.event === "node" && f.data.state === "running" && ++running === 3,
        (f) => f.event === "chunk" && ++chunks === 10,
        (f) => f.event === "chunk" && f.data.role === "answer" && ++answerChunks === 3,
        (f) => f.event === "answer",
      ];
      let seen: RawFrame[] = [];
      let last: number | undefined;
      for (const stop of stages) {
        const headers: Record<string, string> = last === undefined
          ? {}
          : { "Last-Event-ID": String(last) };
        const part = await readUntil((await get(mf, `/runs/${id}/events`, headers)).body, stop);
        assert.equal(part.ended, false);
        seen = seen.concat(part.frames);
        last = part.frames.at(-1)!.id;
      }
      seen = seen.concat(
        (await readUntil((await get(mf, `/runs/${id}/events?after=${last}`)).body)).frames,
      );
      const full = await whole;
      assert.equal(full.frames[0].event, "run");
      assert.deepEqual(full.frames[0].data, { id, topic: "the history of zero" });
      assert.deepEqual(full.frames.map((f) => f.id), full.frames.map((_, i) => i + 1));
      assert.equal(full.frames.at(-1)!.event, "done");
      assert.equal(text(seen), text(full.frames));
      const info = await (await get(mf, `/runs/${id}`)).json();
      assert.equal(info.status, "done");
      assert.equal(info.lastSeq, full.frames.length);
      // GET /runs lists it, from the run index its object told at its start and its end.
      const list = (await (await get(mf, "/runs")).json()).runs;
      assert.deepEqual(
        list.map((
          r: { id: string; status: string; lastSeq: number },
        ) => [r.id, r.status, r.lastSeq]),
        [[id, "done", full.frames.length]],
      );
      assert.deepEqual(list[0].input, { topic: "the history of zero" });
      // Another run is another object: its id never serves the first run's events.
      const other = crypto.randomUUID();
      assert.equal((await get(mf, `/runs/${other}/events`)).status, 204);
      assert.equal((await get(mf, `/runs/${other}`)).status, 404);
      assert.equal((await get(mf, "/runs/nope/events")).status, 400);
    });
  },
  ONLY,
);

test(
  "run object: POST /research on Workers is a run its client leads in the run's own object: ids, resumable by id while alive, stopped when its client leaves",
  async () => {
    const m = countedModel({ tokenDelayMs: 40, firstTokenDelayMs: 5 });
    const model = await serve(m.handle);
    try {
      await withWorker({
        OPENAI_BASE_URL: `${model.url}/v1`,
        OPENAI_API_KEY: "k",
        REFLOW_MODEL: "m",
      }, async (mf) => {
        const health = async () => (await (await get(mf, "/healthz")).json()).active;
        // 1. The client leads; a colleague joins by id; the client's connection drops and it comes
        // back with Last-Event-ID: what it saw is the run's log, byte for byte, no gap, no repeat.
        const client = new AbortController();
        const res = await post(mf, "/research", { topic: "the history of zero" }, client.signal);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type"), /^text\/event-stream/);
        const id = /^\/runs\/([0-9a-f-]{36})$/.exec(res.headers.get("content-location"))?.[1];
        assert.ok(id, `Content-Location names the run: ${res.headers.get("content-location")}`);
        const lead = frameStream(res.body);
        let chunks = 0;
        await lead.until((f) => f.event === "chunk" && ++chunks === 5);
        assert.deepEqual(lead.all[0].data, { id, topic: "the history of zero" });
        assert.equal(lead.all[0].event, "run");
        assert.deepEqual(lead.all.map((f) => f.id), lead.all.map((_, i) => i + 1));
        assert.equal(await health(), 1, "the Worker holds the flow's place while it streams");
        const colleague = frameStream((await get(mf, `/runs/${id}/events`)).body);
        await colleague.until((f) => f.id === lead.all.length);
        // The client's connection drops; the colleague still watches, so the run goes on.
        client.abort();
        await lead.cancel();
        const last = lead.all.at(-1)!.id!;
        const before = m.model.stats.completed;
        const back = frameStream(
          (await get(mf, `/runs/${id}/events`, { "Last-Event-ID": String(last) })).body,
        );
        await back.until(() => false);
        await colleague.until(() => false);
        assert.equal(back.all.at(-1)!.event, "done", "the run went on after the drop");
        assert.ok(m.model.stats.completed >= before + 1);
        const seen = lead.all.concat(back.all);
        assert.equal(back.all[0].id, last + 1);
        assert.equal(text(seen), text(colleague.all), "resumed byte for byte");
        const replay = await readUntil((await get(mf, `/runs/${id}/events`)).body);
        assert.equal(text(replay.frames), text(seen));
        assert.equal((await (await get(mf, `/runs/${id}`)).json()).status, "done");
        await eventually(async () => (await health()) === 0, "the Worker let the place go");

        // 2. Today's contract: a client alone on its run that disconnects stops the run and
        // every model request.
        const alone = new AbortController();
        const second = await post(mf, "/research", { topic: "zero" }, alone.signal);
        const run2 = second.headers.get("content-location").slice(6);
        const frames = frameStream(second.body);
        chunks = 0;
        await frames.until((f) => f.event === "chunk" && ++chunks === 5);
        assert.equal(m.model.stats.active, 3, "three specialists streaming");
        const aborted = m.model.stats.aborted;
        alone.abort();
        await frames.cancel();
        await eventually(() => m.model.stats.active === 0, "every model request ended", 15_000);
        assert.equal(m.model.stats.aborted, aborted + 3);
        await eventually(
          async () => (await (await get(mf, `/runs/${run2}`)).json()).status === "cancelled",
          "the run reads cancelled",
          15_000,
        );
        const log = await readUntil((await get(mf, `/runs/${run2}/events`)).body);
        assert.equal(log.frames.at(-1)!.event, "error");
        assert.deepEqual(log.frames.at(-1)!.data, { message: "the run's client went away" });
        await eventually(async () => (await health()) === 0, "no flow in flight");

        // 3. The AI SDK's UI message stream (useChat) is the same run: its message id is the run's.
        const ui = await post(mf, "/research?format=ui", { topic: "zero" });
        assert.equal(ui.headers.get("x-vercel-ai-ui-message-stream"), "v1");
        const run3 = ui.headers.get("content-location").slice(6);
        const parts = (await ui.text()).split("\n\n").filter((p: string) => p.startsWith("data: "));
        assert.deepEqual(JSON.parse(parts[0].slice(6)), { type: "start", messageId: run3 });
        assert.equal(parts.at(-1), "data: [DONE]");
        assert.equal((await (await get(mf, `/runs/${run3}`)).json()).status, "done");
      });
    } finally {
      await model.close();
    }
  },
  ONLY,
);

test(
  "run object: cancel ends every model request; a detached run outlives workerd's idle eviction",
  async () => {
    const m = countedModel({ tokenDelayMs: 40, firstTokenDelayMs: 5 });
    const model = await serve(m.handle);
    try {
      await withWorker({
        OPENAI_BASE_URL: `${model.url}/v1`,
        OPENAI_API_KEY: "k",
        REFLOW_MODEL: "m",
      }, async (mf) => {
        const started = await (await post(mf, "/runs?detach=1", { topic: "zero" })).json();
        assert.match(started.events, /^\/runs\/[0-9a-f-]{36}\/events$/);
        await eventually(() => m.model.stats.active === 3, "three specialists streaming", 10_000);
        const cancel = await post(mf, `/runs/${started.id}/cancel`, {});
        assert.deepEqual(await cancel.json(), { id: started.id, status: "cancelled" });
        await eventually(() => m.model.stats.active === 0, "every model request ended", 5_000);
        assert.equal(m.model.stats.aborted, 3);
        const log = await readUntil((await get(mf, started.events)).body);
        assert.deepEqual(log.frames.at(-1)!.data, { message: "the run was cancelled" });

        // Nobody connected for longer than the 10 s after which workerd evicts an idle object: the
        // run keeps going (about 250 tokens at 40 ms) and finishes.
        const before = m.model.stats.completed;
        const detached = await (await post(mf, "/runs?detach=1", { topic: "zero" })).json();
        await new Promise((r) => setTimeout(r, 12_000));
        await eventually(
          () => m.model.stats.completed === before + 4,
          "all four model calls completed",
          30_000,
        );
        const info = await (await get(mf, `/runs/${detached.id}`)).json();
        assert.equal(info.status, "done");
        const listed = (await (await get(mf, "/runs")).json()).runs;
        assert.deepEqual(
          listed.map((r: { id: string; status: string }) => [r.id, r.status]),
          [[detached.id, "done"], [started.id, "cancelled"]],
        );
        assert.ok(info.answer.length > 100);
      });
    } finally {
      await model.close();
    }
  },
  ONLY,
);

test(
  "run object: an object restarted mid-run finds its run interrupted, with an error event",
  async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const persist = await mkdtemp(join(tmpdir(), "reflow-do-"));
    const slow = { REFLOW_OFFLINE_TOKEN_DELAY_MS: "100", REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "5" };
    try {
      let id = "";
      let seenBefore = 0;
      await withWorker(slow, async (mf) => {
        id = (await (await post(mf, "/runs?detach=1", { topic: "zero" })).json()).id;
        let chunks = 0;
        const part = await readUntil(
          (await get(mf, `/runs/${id}/events`)).body,
          (f) => f.event === "chunk" && ++chunks === 5,
        );
        seenBefore = part.frames.length;
        // Let the batch write reach storage, then stop workerd with the flow mid-run.
        await new Promise((r) => setTimeout(r, 200));
      }, persist);
      await withWorker(slow, async (mf) => {
        const info = await (await get(mf, `/runs/${id}`)).json();
        assert.equal(info.status, "interrupted");
        // Its object, restarting, told the index too.
        const listed = (await (await get(mf, "/runs")).json()).runs;
        assert.deepEqual(listed.map((r: { status: string }) => r.status), ["interrupted"]);
        const log = await readUntil((await get(mf, `/runs/${id}/events`)).body);
        assert.ok(log.ended);
        assert.ok(
          log.frames.length > seenBefore,
          "the log kept what was logged before the restart",
        );
        assert.equal(log.frames.at(-1)!.event, "error");
        assert.match(log.frames.at(-1)!.data.message, /interrupted/);
        assert.deepEqual(log.frames.map((f) => f.id), log.frames.map((_, i) => i + 1));
      }, persist);
    } finally {
      await rm(persist, { recursive: true, force: true });
    }
  },
  ONLY,
);
