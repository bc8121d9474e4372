/**
 * The load benchmark: `npm run bench:load` (tsx, Node). For each runtime (node, deno) and each
 * N of concurrent clients (50, 200, 500) it spawns bench/load_server.ts (the real app on the
 * offline model with realistic pacing, GC exposed), records the heap baseline, lets N clients
 * stream `POST /research` back to back until the time budget is spent (at least one request each;
 * distinct topics, `topic ${i % 20}`), samples the server's heap every 250 ms without GC for the
 * peak, and measures it again with GC once every client has finished. Every response is checked
 * (bench/load_check.ts): complete, well-formed, exactly one answer then done, and word for word
 * the offline model's text for that client's own topic. Prints a table and writes
 * bench/results/load.json; exits 1 if any request failed.
 *
 * Settings (environment): LOAD_RUNTIMES (`node,deno`), LOAD_N (`50,200,500`), LOAD_BUDGET_MS
 * (15000, per run), LOAD_TOKEN_DELAY_MS / LOAD_FIRST_TOKEN_DELAY_MS (the server's pacing,
 * default REALISTIC_PACING: 25 / 200).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { REALISTIC_PACING } from "../src/llm/offline_model.ts";
import { percentile, researchOnce, type ResearchOutcome } from "./load_check.ts";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const list = (name: string, fallback: string) =>
  (process.env[name] || fallback).split(",").map((s) => s.trim()).filter(Boolean);
const RUNTIMES = list("LOAD_RUNTIMES", "node,deno") as Runtime[];
const NS = list("LOAD_N", "50,200,500").map(Number);
const BUDGET_MS = Number(process.env.LOAD_BUDGET_MS || 15_000);
const TOKEN_DELAY_MS = Number(process.env.LOAD_TOKEN_DELAY_MS ?? REALISTIC_PACING.tokenDelayMs);
const FIRST_TOKEN_DELAY_MS = Number(
  process.env.LOAD_FIRST_TOKEN_DELAY_MS ?? REALISTIC_PACING.firstTokenDelayMs,
);
/** Hard bound on one run's client phase: the budget, plus time for the last requests to finish. */
const RUN_LIMIT_MS = BUDGET_MS + 90_000;
const SAMPLE_EVERY_MS = 250;
/** Longer than undici's 4 s and Node's 5 s keep-alive timeouts: idle connections are gone. */
const IDLE_MS = Number(process.env.LOAD_IDLE_MS || 6_000);
const TOPICS = 20;
const MB = 1024 * 1024;

type Runtime = "node" | "deno";

interface RunResult {
  runtime: Runtime;
  version: string;
  clients: number;
  budgetMs: number;
  /** Requests that ended (completed or failed). */
  requests: number;
  completed: number;
  failures: number;
  /** First few problems, for the record. */
  problems: string[];
  wallMs: number;
  requestsPerSecond: number;
  ttfcMs: { median: number; p99: number; max: number };
  /** Request sent → response headers (client side). */
  headersMs: { median: number; p99: number };
  requestMs: { median: number; p99: number };
  heapMB: {
    cold: number;
    before: number;
    peak: number;
    after: number;
    afterSamples: number[];
    /** After IDLE_MS more, once the clients' idle keep-alive sockets have been closed. */
    afterIdle: number;
  };
  peakSamples: number;
  /** /healthz `active` and the model's `stats.active` once every client finished (must be 0). */
  leftActive: { flows: number; modelRequests: number };
}

interface Server {
  url: string;
  version: string;
  child: ChildProcess;
  stderr: () => string;
}

const children = new Set<ChildProcess>();
const killAll = () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
};
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function startServer(runtime: Runtime): Promise<Server> {
  const pacing = [
    "--token-delay-ms",
    String(TOKEN_DELAY_MS),
    "--first-token-delay-ms",
    String(FIRST_TOKEN_DELAY_MS),
    "--max-lifetime-s",
    String(Math.ceil((RUN_LIMIT_MS + 120_000) / 1000)),
  ];
  const entry = join(root, "bench", "load_server.ts");
  const [command, args] = runtime === "node"
    ? [process.execPath, ["--expose-gc", "--import", "tsx", entry, ...pacing]]
    : [
      join(root, "node_modules", ".bin", "deno"),
      ["run", "-A", "--v8-flags=--expose-gc", entry, ...pacing],
    ];
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const end = Date.now() + 30_000;
  while (!out.includes("\n")) {
    if (child.exitCode !== null || Date.now() > end) {
      await stopServer(child);
      throw new Error(`${runtime} load server did not start (stderr: ${err.trim()})`);
    }
    await sleep(20);
  }
  const info = JSON.parse(out.slice(0, out.indexOf("\n")));
  return { url: info.url, version: info.version, child, stderr: () => err };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.stdin?.end();
  child.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 5_000)));
  if (await Promise.race([exited.then(() => false), late])) {
    child.kill("SIGKILL");
    await exited;
  }
  clearTimeout(timer);
}

async function heap(url: string, gc: boolean): Promise<{ heapUsed: number; modelActive: number }> {
  const res = await fetch(`${url}/__heap${gc ? "" : "?gc=0"}`);
  if (!res.ok) throw new Error(`/__heap: HTTP ${res.status}`);
  return await res.json();
}

async function flowsActive(url: string): Promise<number> {
  return (await (await fetch(`${url}/healthz`)).json()).active;
}

async function runOnce(runtime: Runtime, clients: number): Promise<RunResult> {
  const server = await startServer(runtime);
  try {
    const cold = (await heap(server.url, true)).heapUsed;
    // One request first, so the baseline includes code the first request loads and compiles.
    const warm = await researchOnce(server.url, "warm-up");
    if (warm.problems.length) throw new Error(`warm-up request: ${warm.problems.join("; ")}`);
    const before = (await heap(server.url, true)).heapUsed;

    let peak = before;
    let peakSamples = 0;
    let running = true;
    const sampler = (async () => {
      while (running) {
        try {
          peak = Math.max(peak, (await heap(server.url, false)).heapUsed);
          peakSamples++;
        } catch { /* a sample lost under load is not a failure of the app */ }
        await sleep(SAMPLE_EVERY_MS);
      }
    })();

    const outcomes: ResearchOutcome[] = [];
    const start = performance.now();
    const deadline = start + BUDGET_MS;
    const hardStop = start + RUN_LIMIT_MS;
    const client = async (i: number) => {
      const topic = `topic ${i % TOPICS}`;
      do {
        outcomes.push(await researchOnce(server.url, topic));
      } while (performance.now() < deadline);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<"limit">((r) => (timer = setTimeout(() => r("limit"), RUN_LIMIT_MS)));
    const all = Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
    const ended = await Promise.race([all, limit]);
    clearTimeout(timer);
    const wallMs = performance.now() - start;
    running = false;
    await sampler;
    if (ended === "limit" || performance.now() > hardStop) {
      throw new Error(`${runtime} N=${clients}: clients still running after ${RUN_LIMIT_MS} ms`);
    }

    // Every flow and model request must have ended by now; give the server a moment to settle.
    let flows = -1;
    let modelRequests = -1;
    for (let i = 0; i < 50; i++) {
      flows = await flowsActive(server.url);
      modelRequests = (await heap(server.url, false)).modelActive;
      if (flows === 0 && modelRequests === 0) break;
      await sleep(100);
    }
    const afterSamples: number[] = [];
    for (let i = 0; i < 3; i++) {
      if (i) await sleep(300);
      afterSamples.push((await heap(server.url, true)).heapUsed);
    }
    await sleep(IDLE_MS);
    await heap(server.url, true);
    const afterIdle = (await heap(server.url, true)).heapUsed;

    const failed = outcomes.filter((o) => o.problems.length);
    const ok = outcomes.filter((o) => !o.problems.length);
    const ttfc = ok.map((o) => o.ttfcMs!);
    const totals = ok.map((o) => o.totalMs);
    const heads = ok.map((o) => o.headersMs!);
    const problems = [...new Set(failed.flatMap((o) => o.problems.map((p) => `${o.topic}: ${p}`)))]
      .slice(0, 10);
    if (flows !== 0 || modelRequests !== 0) {
      problems.push(`left active after the run: ${flows} flows, ${modelRequests} model requests`);
    }
    return {
      runtime,
      version: server.version,
      clients,
      budgetMs: BUDGET_MS,
      requests: outcomes.length,
      completed: ok.length,
      failures: failed.length + (flows !== 0 || modelRequests !== 0 ? 1 : 0),
      problems,
      wallMs: Math.round(wallMs),
      requestsPerSecond: round(ok.length / (wallMs / 1000), 1),
      ttfcMs: {
        median: round(percentile(ttfc, 50), 1),
        p99: round(percentile(ttfc, 99), 1),
        max: round(Math.max(...ttfc), 1),
      },
      headersMs: {
        median: round(percentile(heads, 50), 1),
        p99: round(percentile(heads, 99), 1),
      },
      requestMs: {
        median: Math.round(percentile(totals, 50)),
        p99: Math.round(percentile(totals, 99)),
      },
      heapMB: {
        cold: round(cold / MB, 1),
        before: round(before / MB, 1),
        peak: round(peak / MB, 1),
        after: round(afterSamples.at(-1)! / MB, 1),
        afterSamples: afterSamples.map((h) => round(h / MB, 1)),
        afterIdle: round(afterIdle / MB, 1),
      },
      peakSamples,
      leftActive: { flows, modelRequests },
    };
  } catch (error) {
    const stderr = server.stderr().trim();
    if (stderr) console.error(`${runtime} server stderr:\n${stderr.slice(-2000)}`);
    throw error;
  } finally {
    await stopServer(server.child);
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const COLUMNS = [
  ["runtime", 8],
  ["N", 5],
  ["requests", 9],
  ["req/s", 8],
  ["TTFC p50", 10],
  ["TTFC p99", 10],
  ["heap before", 12],
  ["peak", 8],
  ["after", 8],
  ["idle", 8],
  ["failures", 9],
] as const;

function row(r: RunResult): string {
  const cells = [
    r.runtime,
    r.clients,
    r.requests,
    r.requestsPerSecond.toFixed(1),
    `${r.ttfcMs.median.toFixed(0)} ms`,
    `${r.ttfcMs.p99.toFixed(0)} ms`,
    `${r.heapMB.before.toFixed(1)} MB`,
    `${r.heapMB.peak.toFixed(1)}`,
    `${r.heapMB.after.toFixed(1)}`,
    `${r.heapMB.afterIdle.toFixed(1)}`,
    r.failures,
  ];
  return cells.map((c, i) => String(c).padStart(COLUMNS[i][1])).join(" ");
}

const started = Date.now();
console.log(
  `load: runtimes ${RUNTIMES.join(", ")}; N ${NS.join(", ")}; ${BUDGET_MS} ms per run; ` +
    `pacing ${TOKEN_DELAY_MS} ms/token, ${FIRST_TOKEN_DELAY_MS} ms to first token`,
);
console.log(COLUMNS.map(([name, width]) => name.padStart(width)).join(" "));
const results: RunResult[] = [];
let exitCode = 0;
try {
  for (const runtime of RUNTIMES) {
    for (const n of NS) {
      const result = await runOnce(runtime, n);
      results.push(result);
      console.log(row(result));
      for (const p of result.problems) console.log(`    ${p}`);
      if (result.failures) exitCode = 1;
    }
  }
} catch (error) {
  console.error(`load: ${(error as Error).stack ?? error}`);
  exitCode = 1;
} finally {
  killAll();
}

const file = join(root, "bench", "results", "load.json");
await mkdir(join(root, "bench", "results"), { recursive: true });
await writeFile(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      client: { runtime: "node", version: process.versions.node },
      method: `per (runtime, N): a fresh server (bench/load_server.ts); heap "before" after one ` +
        `warm-up request and two gc(); N clients POST /research back to back (topic i % ${TOPICS}) ` +
        `until ${BUDGET_MS} ms are spent, at least one request each; heap peak = max of ` +
        `/__heap?gc=0 every ${SAMPLE_EVERY_MS} ms; heap "after" = /__heap with gc once all ` +
        `clients finished (last of 3, 300 ms apart), and again ("afterIdle") ${IDLE_MS} ms later, ` +
        `once idle keep-alive connections have closed; TTFC = request sent → first chunk event ` +
        `(client side); every response checked word for word against the offline model.`,
      pacing: { tokenDelayMs: TOKEN_DELAY_MS, firstTokenDelayMs: FIRST_TOKEN_DELAY_MS },
      totalSeconds: Math.round((Date.now() - started) / 1000),
      results,
    },
    null,
    2,
  ) + "\n",
);
console.log(`${Math.round((Date.now() - started) / 1000)} s in all; wrote ${file}`);
process.exit(exitCode);
