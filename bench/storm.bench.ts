/**
 * The storm benchmark: `npm run bench:storm` (tsx, Node). For each runtime it serves the app as it
 * ships — `main.ts --serve --offline` under Node (tsx) and Deno (node:http, cli/listen.ts), and the
 * wrangler-built Worker in workerd through Miniflare — and measures, on fresh connections:
 *
 * - `/healthz` latency (one probe every 100 ms, each on a new connection, from 127.0.0.3);
 * - one normal client's time to its first `chunk` (127.0.0.1);
 * - the server's resident memory at the start and at the end of each phase (the workerd process
 *   for the Worker);
 *
 * first with nothing else going on (the baseline), then during a storm: `STORM_CLIENTS` loops
 * (default 100) that each connect from 127.0.0.2, ask `GET /research?topic=…` and leave as soon as
 * the status line is in, over and over. The storm runs twice: with the default flow caps, and with
 * the caps lifted (`REFLOW_MAX_FLOWS`, `…_PER_CLIENT` and `REFLOW_MAX_FLOW_STARTS_PER_MINUTE` out
 * of reach: what the server did before it had them). Afterwards it waits for `/healthz` `active` to come back to 0. Every figure is also
 * given as a ratio to the baseline of the same run; the machine is shared, so only ratios mean
 * much. Prints a table and writes bench/results/storm.json.
 *
 * Settings (environment): STORM_RUNTIMES (`node,deno,workerd`), STORM_CLIENTS (100),
 * STORM_RATE (480 connections a second in all, as in issue 15's storm; 0: as fast as they can),
 * STORM_PHASE_MS (20000). The normal client asks again one second after each first chunk (about
 * 50 a minute, within the per-client start limit).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { percentile } from "./load_check.ts";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const RUNTIMES = (process.env.STORM_RUNTIMES || "node,deno,workerd").split(",").map((s) =>
  s.trim()
) as Runtime[];
const CLIENTS = Number(process.env.STORM_CLIENTS || 100);
const PHASE_MS = Number(process.env.STORM_PHASE_MS || 20_000);
/** Connections per second the storm makes in all (0: as fast as it can). The issue's: ≈480. */
const RATE = Number(process.env.STORM_RATE ?? 480);
const NO_CAPS = {
  REFLOW_MAX_FLOWS: "100000",
  REFLOW_MAX_FLOWS_PER_CLIENT: "100000",
  REFLOW_MAX_FLOW_STARTS_PER_MINUTE: "100000000",
  REFLOW_FLOW_START_BURST: "100000000",
};

type Runtime = "node" | "deno" | "workerd";
type Phase = "baseline" | "storm (caps)" | "storm (no caps)";

interface PhaseResult {
  phase: Phase;
  healthz: { n: number; failed: number; p50: number; p95: number; p99: number; max: number };
  firstChunk: { n: number; failed: number; p50: number; p99: number };
  storm?: { attempts: number; perSecond: number; ok: number; busy: number; other: number };
  /** ms after the storm for `/healthz` active to come back to 0 (undefined: it did not in 60 s). */
  drainedMs?: number;
  /** The server's resident memory, MB: at the start, at the end of the phase. */
  rssMb?: [number, number];
}

interface Server {
  url: URL;
  pid?: number;
  stop(): Promise<void>;
}

// --- Raw HTTP on fresh connections ---------------------------------------------------------------

/** Sends `request` from `localAddress`; resolves at `until` (status line, first chunk, the end). */
function exchange(
  url: URL,
  request: string,
  localAddress: string,
  until: (received: string) => boolean,
  limitMs = 30_000,
): Promise<{ ms: number; status?: number; ok: boolean }> {
  return new Promise((resolve) => {
    const start = performance.now();
    let received = "";
    let settled = false;
    const socket = net.connect({ host: url.hostname, port: Number(url.port), localAddress });
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
      resolve({ ms: performance.now() - start, ok, ...(status ? { status: Number(status) } : {}) });
    };
    const timer = setTimeout(() => finish(false), limitMs);
    socket.on("connect", () => socket.write(request));
    socket.on("data", (d: Uint8Array) => {
      received += new TextDecoder().decode(d);
      if (until(received)) finish(true);
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(until(received)));
  });
}

const get = (url: URL, path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`;

// --- The three loops -------------------------------------------------------------------------------

async function probeHealthz(url: URL, stop: { done: boolean }, out: number[], fails: number[]) {
  while (!stop.done) {
    const r = await exchange(url, get(url, "/healthz"), "127.0.0.3", (t) => /"active":\d+/.test(t));
    if (r.ok && r.status === 200) out.push(r.ms);
    else fails.push(r.ms);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function normalClient(url: URL, stop: { done: boolean }, out: number[], fails: number[]) {
  let i = 0;
  while (!stop.done) {
    const r = await exchange(
      url,
      get(url, `/research?topic=normal+${i++ % 5}`),
      "127.0.0.1",
      (t) => t.includes("event: chunk"),
    );
    if (r.ok) out.push(r.ms);
    else fails.push(r.ms);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function stormLoop(url: URL, stop: { done: boolean }, tally: Record<string, number>) {
  let i = 0;
  // Each loop's share of the rate, started at a random point so the loops do not march in step.
  const everyMs = RATE > 0 ? (CLIENTS / RATE) * 1000 : 0;
  let next = performance.now() + Math.random() * everyMs;
  while (!stop.done) {
    if (everyMs) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      next = Math.max(next + everyMs, performance.now());
      if (stop.done) break;
    }
    const r = await exchange(
      url,
      get(url, `/research?topic=storm+${i++ % 50}`),
      "127.0.0.2",
      (t) => /^HTTP\/1\.1 \d{3}/.test(t),
      10_000,
    );
    const key = r.status === 200 ? "ok" : r.status === 429 ? "busy" : "other";
    tally[key]++;
  }
}

async function active(url: URL): Promise<number> {
  const r = await fetch(new URL("/healthz", url));
  return (await r.json()).active;
}

function rssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

async function phase(server: Server, name: Phase): Promise<PhaseResult> {
  const stop = { done: false };
  const healthz: number[] = [];
  const healthzFailed: number[] = [];
  const chunk: number[] = [];
  const chunkFailed: number[] = [];
  const tally = { ok: 0, busy: 0, other: 0 };
  const rssBefore = rssMb(server.pid);
  const loops: Promise<void>[] = [
    probeHealthz(server.url, stop, healthz, healthzFailed),
    normalClient(server.url, stop, chunk, chunkFailed),
  ];
  if (name !== "baseline") {
    for (let i = 0; i < CLIENTS; i++) loops.push(stormLoop(server.url, stop, tally));
  }
  await new Promise((r) => setTimeout(r, PHASE_MS));
  const rssAfter = rssMb(server.pid);
  stop.done = true;
  await Promise.all(loops);
  const stats = (xs: number[]) => ({
    p50: round(percentile(xs, 50)),
    p95: round(percentile(xs, 95)),
    p99: round(percentile(xs, 99)),
    max: round(Math.max(0, ...xs)),
  });
  let drainedMs: number | undefined;
  const t0 = performance.now();
  while (performance.now() - t0 < 60_000) {
    if ((await active(server.url).catch(() => -1)) === 0) {
      drainedMs = round(performance.now() - t0);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const attempts = tally.ok + tally.busy + tally.other;
  return {
    phase: name,
    healthz: { n: healthz.length, failed: healthzFailed.length, ...stats(healthz) },
    firstChunk: {
      n: chunk.length,
      failed: chunkFailed.length,
      p50: stats(chunk).p50,
      p99: stats(chunk).p99,
    },
    ...(name === "baseline" ? {} : {
      storm: { attempts, perSecond: round(attempts / (PHASE_MS / 1000)), ...tally },
    }),
    drainedMs,
    ...(rssBefore !== undefined && rssAfter !== undefined
      ? { rssMb: [rssBefore, rssAfter] as [number, number] }
      : {}),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

// --- Servers --------------------------------------------------------------------------------------

async function processServer(runtime: "node" | "deno", env: Record<string, string>) {
  const main = join(root, "main.ts");
  const [bin, args] = runtime === "node"
    ? [join(root, "node_modules/.bin/tsx"), [main]]
    : [join(root, "node_modules/.bin/deno"), ["run", "-A", "--node-modules-dir=manual", main]];
  const { REFLOW_TOKEN: _, ...inherited } = process.env;
  const child: ChildProcess = spawn(
    bin,
    [...args, "--serve", "--port", "0", "--offline"],
    {
      env: {
        ...inherited,
        ...env,
        PORT: "",
        REFLOW_RUNS_DB: "memory",
        DENO_NO_UPDATE_CHECK: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", () => {});
  const started = Date.now();
  while (!/serving (http:\/\/\S+)/.test(out)) {
    if (Date.now() - started > 60_000 || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`${runtime} server did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const served = new URL(/serving (http:\/\/\S+)/.exec(out)![1]);
  // tsx runs the server in a child of its own: measure the process that listens.
  const pid = runtime === "node" ? childPid(child.pid!) : child.pid;
  return {
    url: served,
    pid,
    stop: async () => {
      child.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 500));
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  } satisfies Server;
}

function childPid(pid: number): number {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
    return kids[0] ? Number(kids[0]) : pid;
  } catch {
    return pid;
  }
}

/** The workerd process Miniflare started for this run: our child named `workerd`. */
function workerdPid(): number | undefined {
  for (
    const pid of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8")
      .trim().split(/\s+/).map(Number)
  ) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd") return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

let workerScript: string | undefined;

async function workerServer(env: Record<string, string>): Promise<Server> {
  if (!workerScript) {
    const outdir = join(root, "dist", "worker-storm");
    await rm(outdir, { recursive: true, force: true });
    await mkdir(outdir, { recursive: true });
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        join(root, "node_modules/.bin/wrangler"),
        ["deploy", "--dry-run", "--outdir", outdir],
        { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" } },
      );
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`wrangler: ${code}`))));
    });
    workerScript = join(outdir, (await readdir(outdir)).find((f) => f.endsWith(".js"))!);
  }
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  // Miniflare 5 takes its own options; these are in Miniflare 4's form, which it converts.
  const mf = new Miniflare(convertV4MiniflareOptions({
    scriptPath: workerScript,
    modules: true,
    compatibilityDate: "2026-10-01",
    compatibilityFlags: ["enable_request_signal"],
    // The CLI's offline pacing (cli/research.ts), so that the three runtimes do the same work.
    bindings: {
      REFLOW_OFFLINE_TOKEN_DELAY_MS: "12",
      REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "120",
      ...env,
    },
  }));
  const url: URL = await mf.ready;
  return {
    url,
    pid: workerdPid(),
    stop: () => mf.dispose(),
  };
}

// --- The run --------------------------------------------------------------------------------------

const results: Record<string, PhaseResult[]> = {};
for (const runtime of RUNTIMES) {
  results[runtime] = [];
  for (const name of ["baseline", "storm (caps)", "storm (no caps)"] as Phase[]) {
    const env = name === "storm (no caps)" ? NO_CAPS : {};
    const server = runtime === "workerd"
      ? await workerServer(env)
      : await processServer(runtime, env);
    try {
      const r = await phase(server, name);
      results[runtime].push(r);
      console.log(`${runtime} ${name}: ${JSON.stringify(r)}`);
    } finally {
      await server.stop();
    }
  }
}

const ratio = (x: number, base: number) => (base > 0 ? (x / base).toFixed(1) : "—");
const lines = [
  `storm: ${CLIENTS} connect-and-leave loops, ${
    RATE ? `${RATE} connections/s in all` : "as fast as they can"
  }, ${PHASE_MS / 1000} s per phase; ` +
  `node ${process.version}; shared 2-vCPU VM`,
  "",
  "| runtime | phase | storm req/s (200 / 429) | /healthz p50 / p95 / p99 ms (p99 × base) | normal client first chunk p50 / p99 ms (× base) | active back to 0 | RSS MB start → end |",
  "| --- | --- | --- | --- | --- | --- | --- |",
];
for (const [runtime, rs] of Object.entries(results)) {
  const base = rs[0];
  for (const r of rs) {
    const storm = r.storm
      ? `${r.storm.perSecond} (${r.storm.ok} / ${r.storm.busy}${
        r.storm.other ? `, ${r.storm.other} other` : ""
      })`
      : "—";
    lines.push(
      `| ${runtime} | ${r.phase} | ${storm} | ${r.healthz.p50} / ${r.healthz.p95} / ${r.healthz.p99} (×${
        ratio(r.healthz.p99, base.healthz.p99)
      })${
        r.healthz.failed ? `, ${r.healthz.failed} failed` : ""
      } | ${r.firstChunk.p50} / ${r.firstChunk.p99} (×${
        ratio(r.firstChunk.p99, base.firstChunk.p99)
      }), n=${r.firstChunk.n}${r.firstChunk.failed ? `, ${r.firstChunk.failed} failed` : ""} | ${
        r.drainedMs === undefined ? "not in 60 s" : `${r.drainedMs} ms`
      } | ${r.rssMb ? `${r.rssMb[0]} → ${r.rssMb[1]}` : "—"} |`,
    );
  }
}
console.log(lines.join("\n"));
await mkdir(join(root, "bench", "results"), { recursive: true });
await writeFile(
  join(root, "bench", "results", "storm.json"),
  JSON.stringify(
    { clients: CLIENTS, rate: RATE, phaseMs: PHASE_MS, node: process.version, results },
    null,
    2,
  ) +
    "\n",
);
process.exit(0);
