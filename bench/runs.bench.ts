/**
 * The runs benchmark: the research flow on the in-process offline model (no delay), as a run.
 *
 * Node:  `npm run bench:runs` (= `node --expose-gc --import tsx bench/runs.bench.ts`)
 * Deno:  `deno run -A --node-modules-dir=manual --v8-flags=--expose-gc bench/runs.bench.ts`
 *
 * 1. Cost of the log: the same flow drained straight from its event stream vs. run through `Runs`
 *    (logged, no viewer) — time per event, median of 15 runs after 5 warm-ups, in memory and, where
 *    the runtime has node:sqlite, in SQLite (a file in a temporary directory). Target ≤ 1.3×.
 * 2. 100 runs streaming at once with 3 viewers each (every viewer reads every event): events per
 *    second delivered to viewers, and heap per live run (heapUsed after 2× gc with all 100 runs
 *    parked mid-stream on a paced model, minus the baseline, ÷ 100).
 * 3. Expiry: the heap with the 100 finished logs kept, then after they expire (clock moved past
 *    the TTL, `sweep()`), against the baseline.
 *
 * Writes bench/results/runs.<runtime>.json. Figures are from a shared 2-core machine: the ratios
 * (same process, same run) are what to compare.
 */
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { type RunEvent, Runs } from "../src/runs/runs.ts";
import { SqlRunStore } from "../src/runs/sql_store.ts";
import type { RunStore } from "../src/runs/store.ts";
import { researchEvents, researchSummary } from "../routes/run_source.ts";
import { openSqlite } from "../cli/sqlite.ts";
import { runtimeInfo } from "./lib.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
if (typeof g.gc !== "function") {
  throw new Error("run with gc exposed (see the header of bench/runs.bench.ts)");
}
const TOPIC = "the history of zero";
const RUNS = 100;
const VIEWERS = 3;
const TARGET = 1.3;

const heapUsed = (): number =>
  g.Deno?.memoryUsage ? g.Deno.memoryUsage().heapUsed : g.process.memoryUsage().heapUsed;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function settledHeap(): Promise<number> {
  await sleep(30);
  g.gc();
  await sleep(30);
  g.gc();
  return heapUsed();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

const fast = createOfflineModel({ tokenDelayMs: 0, firstTokenDelayMs: 0 });
const paced = createOfflineModel({ tokenDelayMs: 200, firstTokenDelayMs: 0 });
const source = (llmFetch: typeof fetch) => (signal: AbortSignal): ReadableStream<RunEvent> =>
  researchEvents(TOPIC, { llm: { fetch: llmFetch } }, signal);

async function drain<T>(stream: ReadableStream<T>, count: (t: T) => number = () => 1) {
  let n = 0;
  for await (const x of stream) n += count(x);
  return n;
}

/** Per-event µs of the flow drained straight, with no log. */
async function plainPerEvent(): Promise<number> {
  const t0 = performance.now();
  const events = await drain(source(fast.fetch)(new AbortController().signal));
  return ((performance.now() - t0) * 1000) / events;
}

/** Per-event µs of the same flow run through Runs (logged, nobody watching). */
async function loggedPerEvent(runs: Runs): Promise<number> {
  const t0 = performance.now();
  const id = runs.start({ input: { topic: TOPIC }, source: source(fast.fetch) });
  await runs.ended(id);
  const events = runs.info(id)!.lastSeq;
  return ((performance.now() - t0) * 1000) / events;
}

async function logCost(store: () => Promise<RunStore>) {
  const runs = new Runs({ store: await store(), reduce: researchSummary });
  const plain: number[] = [];
  const logged: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < 35; i++) {
    // Interleaved pairs, so drift on a shared machine hits both sides alike.
    const p = await plainPerEvent();
    const l = await loggedPerEvent(runs);
    if (i >= 5) {
      plain.push(p);
      logged.push(l);
      ratios.push(l / p);
    }
  }
  // The log alone: 20,000 ready events through Runs vs. drained straight.
  const N = 20_000;
  const synthetic = () =>
    new ReadableStream<RunEvent>({
      start(c) {
        for (let i = 0; i < N; i++) {
          c.enqueue({ type: "chunk", data: { role: "facts", text: ` w${i}` } });
        }
        c.close();
      },
    });
  const overhead: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await drain(synthetic());
    const t1 = performance.now();
    const id = runs.start({ source: synthetic });
    await runs.ended(id);
    const t2 = performance.now();
    if (i >= 2) overhead.push(((t2 - t1 - (t1 - t0)) * 1000) / N);
  }
  runs.store.close();
  return {
    plainUsPerEvent: round(median(plain)),
    loggedUsPerEvent: round(median(logged)),
    ratio: round(median(ratios)),
    logUsPerEvent: round(median(overhead)),
  };
}

/** Heap left by `n` plain flows (no log), after they ended: the flow's own residue. */
async function plainResidue(n: number): Promise<number> {
  const before = await settledHeap();
  await Promise.all(
    Array.from({ length: n }, () => drain(source(fast.fetch)(new AbortController().signal))),
  );
  return (await settledHeap()) - before;
}

async function manyRuns(store: () => Promise<RunStore>) {
  let now = Date.now();
  const runs = new Runs({ store: await store(), reduce: researchSummary, now: () => now });
  // Warm-up: a few runs with viewers, expired, so the baseline has the code and caches loaded.
  const warm = Array.from({ length: 10 }, () => runs.start({ source: source(fast.fetch) }));
  await Promise.all(warm.map((id) => drain(runs.watch(id, 0)!)));
  const warmPaced = runs.start({ source: source(paced.fetch) });
  while (runs.lastSeq(warmPaced)! < 12) await sleep(20);
  runs.cancel(warmPaced);
  await runs.ended(warmPaced);
  now += runs.ttlMs + 1;
  runs.sweep();
  const plainResidueKB = round((await plainResidue(2 * RUNS)) / 1024, 1);
  const baseline = await settledHeap();

  // The same flows without a log, parked the same way: what a live flow costs by itself.
  const plainCounts: number[] = [];
  const plainControllers: AbortController[] = [];
  const plainDone: Promise<unknown>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const controller = new AbortController();
    plainControllers.push(controller);
    plainCounts.push(0);
    plainDone.push(drain(source(paced.fetch)(controller.signal), () => (plainCounts[i]++, 1)));
  }
  while (plainCounts.some((n) => n < 11)) await sleep(20);
  const livePlain = await settledHeap();
  for (const c of plainControllers) c.abort();
  await Promise.all(plainDone);
  const baseline2 = await settledHeap();

  // Heap per live run: a paced model parks every run mid-stream with its viewers attached.
  const parked: string[] = [];
  const parkedViewers: Promise<number>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const id = runs.start({ input: { topic: TOPIC }, source: source(paced.fetch) });
    parked.push(id);
    for (let v = 0; v < VIEWERS; v++) {
      parkedViewers.push(drain(runs.watch(id, 0)!, (b) => b.length));
    }
  }
  while (parked.some((id) => runs.lastSeq(id)! < 12)) await sleep(20);
  const live = await settledHeap();
  for (const id of parked) runs.cancel(id);
  await Promise.all(parkedViewers);
  await Promise.all(parked.map((id) => runs.ended(id)));

  // Throughput: 100 runs at once on the zero-delay model, 3 viewers each reading everything.
  const t0 = performance.now();
  const ids: string[] = [];
  const viewers: Promise<number>[] = [];
  for (let i = 0; i < RUNS; i++) {
    const id = runs.start({ input: { topic: TOPIC }, source: source(fast.fetch) });
    ids.push(id);
    for (let v = 0; v < VIEWERS; v++) viewers.push(drain(runs.watch(id, 0)!, (b) => b.length));
  }
  const delivered = (await Promise.all(viewers)).reduce((a, b) => a + b, 0);
  const seconds = (performance.now() - t0) / 1000;
  const logged = ids.reduce((n, id) => n + runs.info(id)!.lastSeq, 0);

  const kept = await settledHeap();
  now += runs.ttlMs + 1;
  const expired = runs.sweep().length;
  const after = await settledHeap();
  runs.store.close();
  return {
    runs: RUNS,
    viewersPerRun: VIEWERS,
    eventsLogged: logged,
    eventsDelivered: delivered,
    eventsPerSecondDelivered: Math.round(delivered / seconds),
    seconds: round(seconds),
    heapPerLiveRunKB: round((live - baseline2) / RUNS / 1024, 1),
    heapPerLivePlainFlowKB: round((livePlain - baseline) / RUNS / 1024, 1),
    heapMB: {
      baseline: round(baseline / 2 ** 20),
      live: round(live / 2 ** 20),
      finishedKept: round(kept / 2 ** 20),
      afterExpiry: round(after / 2 ** 20),
    },
    expired,
    backToBaselineKB: round((after - baseline) / 1024, 1),
    sameNumberOfPlainFlowsLeaveKB: plainResidueKB,
  };
}

const stores: [string, () => Promise<RunStore>][] = [
  ["memory", () => Promise.resolve(new MemoryRunStore())],
];
let dir: string | undefined;
const sqliteProbe = await openSqlite(":memory:");
if ("driver" in sqliteProbe) {
  sqliteProbe.driver.close?.();
  const { mkdtemp } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  dir = await mkdtemp(join(tmpdir(), "reflow-bench-"));
  let n = 0;
  stores.push(["sqlite", async () => {
    const opened = await openSqlite(join(dir!, `runs-${n++}.db`));
    if (!("driver" in opened)) throw new Error(opened.unavailable);
    return new SqlRunStore(opened.driver);
  }]);
}

const results: Record<string, unknown> = {};
for (const [name, store] of stores) {
  const cost = await logCost(store);
  const many = await manyRuns(store);
  results[name] = { logCost: cost, manyRuns: many };
  console.log(
    `${runtimeInfo().name} ${name}: log cost ${cost.loggedUsPerEvent} vs ${cost.plainUsPerEvent} µs/event ` +
      `= ${cost.ratio}× (target ≤ ${TARGET}; the log alone ${cost.logUsPerEvent} µs/event); ` +
      `${RUNS}×${VIEWERS}: ` +
      `${many.eventsPerSecondDelivered} events/s delivered, ${many.heapPerLiveRunKB} KB heap per live run ` +
      `(a live flow alone: ${many.heapPerLivePlainFlowKB} KB), ` +
      `after expiry ${many.backToBaselineKB} KB over baseline (${many.expired} runs expired; ` +
      `as many plain flows leave ${many.sameNumberOfPlainFlowsLeaveKB} KB)`,
  );
}
if (!("driver" in sqliteProbe)) {
  console.log(`${runtimeInfo().name} sqlite: not run (${sqliteProbe.unavailable})`);
}
if (dir) await (await import("node:fs/promises")).rm(dir, { recursive: true, force: true });

const file = `bench/results/runs.${runtimeInfo().name}.json`;
const out = {
  runtime: runtimeInfo(),
  date: new Date().toISOString(),
  machine: "2 vCPU, shared with other sessions (noisy): compare the ratios",
  targets: { logCostMax: TARGET },
  results,
};
const text = JSON.stringify(out, null, 2) + "\n";
if (g.Deno) await g.Deno.writeTextFile(file, text);
else await (await import("node:fs/promises")).writeFile(file, text);
console.log(`wrote ${file}`);
