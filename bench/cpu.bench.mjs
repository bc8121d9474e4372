#!/usr/bin/env node
/**
 * `npm run bench:cpu`: CPU per streamed research flow, server process only, on Node, Deno and
 * workerd, beside a floor measured in the same run.
 *
 * - The model: the four upstream SSE byte streams of one flow, recorded once from the offline
 *   model at zero delay (bench/cpu/record.ts) and replayed in-process, chunk for chunk
 *   (bench/cpu/replay.ts). What the replay itself costs is measured apart (`model` phase) and
 *   subtracted from both the app and the floor.
 * - The app: routes/app.ts served as `--serve` serves it (bench/cpu/app_server.ts), and in workerd
 *   as worker.ts serves it (bench/cpu/worker_app.ts, Miniflare, no inspector, the client on the
 *   Worker's own socket so Miniflare's entry worker is not in the path).
 * - The floor: the same job by hand, no framework (bench/cpu/floor.ts): node:http on Node,
 *   Deno.serve on Deno, a bare fetch handler in workerd.
 * - CPU: utime + stime of the server process from /proc/<pid>/stat (all threads, 10 ms ticks),
 *   and the main thread's on-CPU time from /proc/<pid>/task/<pid>/schedstat (ns), read around
 *   each batch. A round runs every phase (floor, app, model, empty, and the baseline's app with
 *   --baseline) in short batches (about 150 ms of CPU each; 8 clients in a loop, keep-alive),
 *   taking turns until each has spent --min-cpu-ms, so that the machine's other tenants weigh on
 *   all of them alike; the figures are the median of the rounds, with their min–max, and the
 *   ratios are taken per round.
 *
 * Options: --runtimes node,deno,workerd  --rounds 5  --min-cpu-ms 1500  --concurrency 8
 *          --phases floor,app,model,empty  --out bench/results/cpu.json  --label text
 * Linux only (/proc). Writes bench/results/cpu.json.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { WORKERD_BUNDLE } from "../scripts/workerd_bundle.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const work = join(root, "dist", "bench-cpu");
const TOPIC = "the history of zero";

const { values: opts } = parseArgs({
  options: {
    runtimes: { type: "string", default: "node,deno,workerd" },
    rounds: { type: "string", default: "5" },
    "min-cpu-ms": { type: "string", default: "1500" },
    concurrency: { type: "string", default: "8" },
    phases: { type: "string", default: "floor,app,model,empty" },
    out: { type: "string", default: "bench/results/cpu.json" },
    label: { type: "string", default: "" },
    baseline: { type: "string" },
    variant: { type: "string" },
    profile: { type: "boolean", default: false },
    latency: { type: "boolean", default: false },
    memory: { type: "boolean", default: false },
    "memory-flows": { type: "string", default: "1000" },
    "memory-out": { type: "string", default: "bench/results/memory.workerd.json" },
    "latency-flows": { type: "string", default: "300" },
    "latency-concurrency": { type: "string", default: "100" },
    "latency-out": { type: "string", default: "bench/results/first-token.json" },
    "profile-out": { type: "string", default: "bench/results/cpu-profile.json" },
  },
});
const RUNTIMES = opts.runtimes.split(",").filter(Boolean);
const ROUNDS = Number(opts.rounds);
const MIN_CPU_MS = Number(opts["min-cpu-ms"]);
const CONCURRENCY = Number(opts.concurrency);
const PHASES = opts.phases.split(",").filter(Boolean);
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) ||
  100;

// ---------------------------------------------------------------------------------------------
// CPU of a process, from /proc

/** Process CPU (all threads, ms; 1/CLK_TCK resolution) and main-thread on-CPU time (ms, ns). */
function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const sched = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ");
  return { processMs: (ticks * 1000) / CLK_TCK, mainMs: Number(sched[0]) / 1e6 };
}

/** Resident set size of a process, MB. */
function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

/** Pids of our child processes whose executable is `name`. */
async function childrenNamed(name) {
  const out = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === name && ppid === process.pid) out.push(Number(entry));
    } catch { /* gone */ }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Every process and Miniflare this run started, ended on Ctrl-C or kill too. */
const running = new Set();
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, async () => {
    for (const r of running) await r.close().catch(() => {});
    process.exit(130);
  });
}

/** Spawns a server that prints `listening <port>`; resolves once it does. */
function spawnServer(label, command, args, cwd = root, env = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", ...env },
    });
    let out = "";
    let err = "";
    const timer = setTimeout(
      () => fail(new Error(`${label}: no "listening" line in 60 s`)),
      60_000,
    );
    const fail = (e) => {
      clearTimeout(timer);
      child.kill();
      reject(new Error(`${e.message}\n${err}`));
    };
    child.stderr.on("data", (d) => {
      err += d;
      // What the app server says about its run store, once (it matters for the figures).
      const notice = /reflow-edge: runs are kept [^\n]*/.exec(String(d));
      if (notice) console.log(`${label}: ${notice[0]}`);
    });
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const entry = { close: () => (child.kill("SIGTERM"), Promise.resolve()) };
        running.add(entry);
        child.once("exit", () => running.delete(entry));
        resolvePromise({
          label,
          pid: child.pid,
          inspector: /(ws:\/\/[^\s]+)/.exec(err)?.[1],
          url: `http://127.0.0.1:${m[1]}`,
          close: async () => {
            child.kill("SIGTERM");
            await new Promise((r) => child.once("exit", r));
          },
        });
      }
    });
    child.once("exit", (code) => fail(new Error(`${label} exited with ${code}`)));
  });
}

async function bundleWorker(name, tree = root) {
  const outfile = join(work, `${name}${tree === root ? "" : "-baseline"}.mjs`);
  await esbuild.build({
    entryPoints: [join(tree, "bench", "cpu", `${name}.ts`)],
    outfile,
    ...WORKERD_BUNDLE,
    logLevel: "silent",
  });
  return outfile;
}

/**
 * --baseline <rev>: the repository at `rev` (git archive) with today's bench/cpu/ dropped in, so
 * that the same servers run the old code beside the new one in the same rounds.
 */
function baselineTree(rev) {
  const dir = join(work, `baseline-${rev.replace(/[^\w.-]/g, "_")}`);
  spawnSync("rm", ["-rf", dir]);
  spawnSync("mkdir", ["-p", dir]);
  const archive = spawnSync("sh", [
    "-c",
    `git archive ${JSON.stringify(rev)} | tar -x -C ${JSON.stringify(dir)}`,
  ], {
    cwd: root,
    encoding: "utf8",
  });
  if (archive.status !== 0) throw new Error(`baseline ${rev}: ${archive.stderr}`);
  spawnSync("rm", ["-rf", join(dir, "bench", "cpu")]);
  spawnSync("cp", ["-r", join(root, "bench", "cpu"), join(dir, "bench", "cpu")]);
  spawnSync("ln", ["-s", join(root, "node_modules"), join(dir, "node_modules")]);
  return dir;
}

/** One Miniflare (one workerd process) running `script`, reached on the Worker's own socket. */
async function startWorkerd(label, script, recording, modelUrl) {
  const before = new Set(await childrenNamed("workerd"));
  // Miniflare 5 takes its own options; these are in Miniflare 4's form, which it converts.
  const mf = new Miniflare(convertV4MiniflareOptions({
    ...(opts.profile ? { inspectorPort: 0 } : {}),
    workers: [{
      ...(opts.profile ? { unsafeInspectorProxy: true } : {}),
      name: "bench",
      modules: [{ type: "ESModule", path: script, contents: await readFile(script, "utf8") }],
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["enable_request_signal"], // as wrangler.toml
      bindings: { RECORDING: recording, ...(modelUrl ? { MODEL_URL: modelUrl } : {}) },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    }],
  }));
  const entry = { close: () => mf.dispose() };
  running.add(entry);
  await mf.ready;
  const url = (await mf.unsafeGetDirectURL("bench")).toString().replace(/\/$/, "");
  const pids = (await childrenNamed("workerd")).filter((p) => !before.has(p));
  if (pids.length !== 1) throw new Error(`${label}: expected one new workerd, found ${pids}`);
  let inspector;
  if (opts.profile) {
    const base = new URL(await mf.getInspectorURL());
    const list = await (await fetch(`http://${base.host}/json`)).json();
    inspector = list.find((t) => /bench/.test(`${t.id} ${t.title}`))?.webSocketDebuggerUrl;
    if (!inspector) throw new Error(`${label}: no inspector target in ${JSON.stringify(list)}`);
  }
  return { label, pid: pids[0], url, inspector, script, close: () => mf.dispose() };
}

// ---------------------------------------------------------------------------------------------
// Client

function agentFor(server) {
  server.agent ??= new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  return server.agent;
}

/** One request; resolves with the body as text. */
function request(server, method, path, body) {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(`${server.url}${path}`, {
      method,
      agent: agentFor(server),
      headers: body
        ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
        : {},
    }, (res) => {
      const parts = [];
      res.on("data", (d) => parts.push(d));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        if (res.statusCode >= 300) reject(new Error(`${server.label} ${path}: ${res.statusCode}`));
        else resolvePromise(text);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const FLOW_BODY = JSON.stringify({ topic: TOPIC });

function count(text, needle) {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) n++;
  return n;
}

/** What one unit of a phase is: a flow, a model-only request, an empty request. */
const UNITS = {
  app: (s) => request(s, "POST", "/research", FLOW_BODY),
  base: (s) => request(s, "POST", "/research", FLOW_BODY),
  floor: (s) => request(s, "POST", "/research", FLOW_BODY),
  model: (s) => request(s, "GET", "/model"),
  empty: (s) => request(s, "GET", "/empty"),
};

/** Checks a flow's body: every token frame there and the flow ended well. */
function checkFlow(server, text, expect) {
  const chunks = count(text, "event: chunk\n");
  if (chunks !== expect.chunks || !/event: done\n/.test(text.slice(-200))) {
    throw new Error(
      `${server.label}: a flow sent ${chunks} chunk frames (expected ${expect.chunks}) and ended ` +
        `with ${JSON.stringify(text.slice(-120))}`,
    );
  }
  return Buffer.byteLength(text);
}

/** Runs `n` units with CONCURRENCY clients in a loop. */
async function drive(server, kind, n, expect) {
  let next = 0;
  let bytes = 0;
  const client = async () => {
    while (next++ < n) {
      const text = await UNITS[kind](server);
      if (kind === "app" || kind === "floor" || kind === "base") {
        bytes += checkFlow(server, text, expect);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, client));
  return bytes;
}

/**
 * One round: every target (`[kind, server]`) in turn, a short batch each (about 150 ms of its
 * CPU), over and over until each has spent MIN_CPU_MS. Interleaving this finely puts every target
 * under the same load as the machine's other tenants come and go; CPU per unit for each.
 */
async function interleaved(targets, expect) {
  const acc = targets.map(() => ({ units: 0, processMs: 0, mainMs: 0, bytes: 0, wallMs: 0 }));
  const batch = targets.map(() => CONCURRENCY);
  while (acc.some((a) => a.processMs < MIN_CPU_MS)) {
    for (const [i, [kind, server]] of targets.entries()) {
      const c0 = cpuOf(server.pid);
      const t0 = performance.now();
      acc[i].bytes += await drive(server, kind, batch[i], expect);
      const c1 = cpuOf(server.pid);
      acc[i].wallMs += performance.now() - t0;
      acc[i].units += batch[i];
      acc[i].processMs += c1.processMs - c0.processMs;
      acc[i].mainMs += c1.mainMs - c0.mainMs;
      const perUnit = Math.max(acc[i].mainMs, 1) / acc[i].units;
      batch[i] = Math.max(CONCURRENCY, Math.min(5000, Math.ceil(150 / perUnit)));
    }
  }
  return Object.fromEntries(targets.map(([kind], i) => [kind, {
    units: acc[i].units,
    processMsPerUnit: acc[i].processMs / acc[i].units,
    mainMsPerUnit: acc[i].mainMs / acc[i].units,
    bytesPerUnit: acc[i].bytes / acc[i].units,
    wallMs: acc[i].wallMs,
  }]));
}

// ---------------------------------------------------------------------------------------------
// CPU profiles (--profile): where the time goes, per layer

/** A Chrome DevTools Protocol session over the runtime's inspector WebSocket. */
async function cdpSession(url) {
  // Miniflare's inspector proxy wants an Origin it knows (undici's WebSocket takes headers).
  const ws = new WebSocket(url, { headers: { origin: "http://localhost" } });
  ws.binaryType = "arraybuffer";
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = () => fail(new Error(`cannot connect to the inspector at ${url}`));
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (e) => {
    const msg = JSON.parse(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data));
    const p = msg.id !== undefined && pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
    else p.resolve(msg.result);
  };
  return {
    send: (method, params = {}) =>
      new Promise((ok, fail) => {
        pending.set(++id, { resolve: ok, reject: fail, method });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/**
 * The layers of a flow, by the file a frame's function lives in (a path relative to the repo,
 * a `node:` or `ext:` URL, or, in a workerd bundle, the module esbuild put the line in). The
 * first match wins.
 */
const LAYERS = [
  ["replayed model (bench, subtracted)", /bench\/cpu\/(replay|model_only)\.ts/],
  ["the floor's own code", /bench\/cpu\/floor/],
  [
    "model stream parsing",
    /src\/llm\/(sse|chunks)\.ts|node_modules\/openai\/.*(stream|decoder|line)/i,
  ],
  ["openai SDK (request, other)", /node_modules\/openai\//],
  ["our LLM layer", /src\/llm\//],
  ["research agents (actors)", /src\/research\/agents\.ts/],
  ["Logger, events, formatters, SSE", /src\/research\/|src\/turn\.ts|routes\/stream\.ts/],
  ["run log", /src\/runs\/|routes\/runs\.ts|routes\/run_source\.ts/],
  [
    "graph loading and validation (per flow)",
    /src\/graph|src\/(issues|wiring|schema)\.ts|node_modules\/zod\//,
  ],
  ["network and actors (runtime)", /src\/[a-z_]+\.ts$/],
  [
    "Hono and HTTP glue",
    // Not all of Deno's Node compatibility: its nextTick queue (ext:deno_node/_next_tick.ts) runs
    // every promise job of a --serve'd Deno, which is not HTTP's.
    /node_modules\/(hono|@hono)\/|routes\/|cli\/|node:_http|node:http|node:internal\/(http|streams|net|stream_base|js_stream)|node:net|node:stream|ext:deno_http|ext:deno_net|ext:deno_node\/(_http|http|net|internal\/streams|internal\/stream_base|internal_binding\/(stream_wrap|tcp_wrap))/,
  ],
];
const WEB_STREAMS = /node:internal\/webstreams|ext:deno_web\/06_streams/;

/** Where a frame's code is: a repo-relative path or the runtime's own URL. */
function frameFile(callFrame, bundleModules) {
  let url = callFrame.url ?? "";
  if (bundleModules && /\.mjs$/.test(url)) {
    // A workerd bundle: the module whose `// path` marker precedes the line.
    let lo = 0;
    let hi = bundleModules.length - 1;
    let found = "";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (bundleModules[mid][0] <= callFrame.lineNumber) {
        found = bundleModules[mid][1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
  url = url.replace(/^file:\/\//, "");
  return url.startsWith(root) ? url.slice(root.length + 1) : url;
}

/** `// path` markers of a non-minified esbuild bundle: [line (0-based), path][]. */
async function bundleModulesOf(file) {
  const lines = (await readFile(file, "utf8")).split("\n");
  const out = [];
  lines.forEach((line, i) => {
    const m = /^\/\/ ((?:\.\.\/)*[\w@./-]+\.(?:ts|js|mjs|cjs))$/.exec(line);
    if (m) out.push([i, m[1].replace(/^(\.\.\/)+/, "")]);
  });
  return out;
}

function layerOf(file) {
  for (const [name, re] of LAYERS) if (re.test(file)) return name;
  return undefined;
}

/**
 * Self time per layer: each sample goes to the layer of the nearest frame on its stack that
 * belongs to one (so time in JSON, web streams or the runtime called from our code counts for
 * the caller); samples with no such frame go to "web streams with no caller on the stack",
 * "garbage collector" or "runtime, other".
 */
function summarizeProfile(profile, bundleModules) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cache = new Map();
  const layerOfNode = (id) => {
    if (cache.has(id)) return cache.get(id);
    const chain = [];
    let layer;
    let streams = false;
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      const file = frameFile(node.callFrame, bundleModules);
      if (at === id && WEB_STREAMS.test(file)) streams = true;
      layer = layerOf(file);
      if (layer) break;
      chain.push(at);
    }
    if (!layer) {
      const name = byId.get(id).callFrame.functionName;
      const file = frameFile(byId.get(id).callFrame, bundleModules);
      layer = name === "(garbage collector)"
        ? "garbage collector"
        : name === "(idle)"
        ? "(idle)"
        : WEB_STREAMS.test(file) || streams
        ? "web streams, no caller of ours on the stack"
        : "runtime, other";
    }
    const result = { layer, streams };
    cache.set(id, result);
    return result;
  };
  const totals = {};
  let streamsSelf = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const { layer, streams } = layerOfNode(id);
    if (layer === "(idle)") return;
    totals[layer] = (totals[layer] ?? 0) + dt;
    if (streams) streamsSelf += dt;
    total += dt;
  });
  const share = {};
  for (const [layer, us] of Object.entries(totals).sort((a, b) => b[1] - a[1])) {
    share[layer] = us / total;
  }
  return { sampledMs: total / 1000, share, webStreamsSelfShare: streamsSelf / total };
}

/** Starts `server`'s profiler, runs `flows` units of `kind`, returns the summary. */
async function profilePhase(server, kind, flows, expect, bundleModules) {
  const session = await cdpSession(server.inspector);
  await session.send("Profiler.enable");
  await session.send("Profiler.setSamplingInterval", { interval: 250 });
  await session.send("Profiler.start");
  const c0 = cpuOf(server.pid);
  await drive(server, kind, flows, expect);
  const c1 = cpuOf(server.pid);
  const { profile } = await session.send("Profiler.stop");
  session.close();
  // Kept for a closer look (Chrome DevTools, Performance → Load profile).
  await writeFile(
    join(work, `${server.label.replace(/ /g, "-")}.cpuprofile`),
    JSON.stringify(profile),
  );
  const summary = summarizeProfile(profile, bundleModules);
  return { flows, processMsPerFlow: (c1.processMs - c0.processMs) / flows, ...summary };
}

// ---------------------------------------------------------------------------------------------
// Time added to the first token (--latency)

/** The model server (bench/cpu/model_server.mjs), in its own process. */
async function startModelServer(recordingPath) {
  const server = await spawnServer("model", process.execPath, [
    "bench/cpu/model_server.mjs",
    recordingPath,
  ]);
  return {
    ...server,
    url: `${server.url}/v1`,
    /** When the model wrote each flow's first token (process.hrtime ns, as a string). */
    firstBytes: async () => JSON.parse(await request(server, "GET", "/first-bytes")),
  };
}

/** One flow on topic `#n`; resolves with when its first `chunk` frame arrived. */
function timedFlow(server, agent, n, expect) {
  const body = JSON.stringify({ topic: `${TOPIC} #${n}` });
  return new Promise((ok, fail) => {
    const req = http.request(`${server.url}/research`, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
    }, (res) => {
      let first;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        text += d;
        if (first === undefined && text.includes("event: chunk\n")) first = process.hrtime.bigint();
      });
      res.on("end", () => {
        try {
          checkFlow(server, text, expect);
          ok(first);
        } catch (e) {
          fail(e);
        }
      });
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end(body);
  });
}

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** FLOWS flows, CONCURRENCY at a time; the first token's delay from model to client, ms. */
async function firstTokenDelays(server, model, flows, concurrency, expect, from) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = from;
  const end = from + flows;
  const arrivals = new Map();
  // Staggered starts (a flow lasts about 5 s here): flows that all start at once would put
  // every server's burst of request starts in front of every first token.
  const client = async (i) => {
    await new Promise((ok) => setTimeout(ok, (i * 5000) / concurrency));
    while (next < end) {
      const n = next++;
      arrivals.set(String(n), await timedFlow(server, agent, n, expect));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => client(i)));
  agent.destroy();
  const sent = await model.firstBytes();
  return [...arrivals].map(([n, arrived]) => {
    if (sent[n] === undefined || arrived === undefined) {
      throw new Error(`${server.label}: flow #${n} has no first token timing`);
    }
    return Number(arrived - BigInt(sent[n])) / 1e6;
  });
}

/**
 * --latency: p50/p99 of the first token's delay through the floor and the app (and the baseline's
 * app with --baseline/--variant), per runtime. The sides take turns in --rounds waves (order
 * reversed every other wave), so the machine's other tenants weigh on all of them alike.
 */
async function latencies(servers, model, expect) {
  const flows = Number(opts["latency-flows"]);
  const concurrency = Number(opts["latency-concurrency"]);
  const waves = Math.max(1, ROUNDS);
  const perWave = Math.ceil(flows / waves);
  const out = {};
  let n = 1_000_000;
  for (const runtime of RUNTIMES) {
    out[runtime] = {};
    const sides = ["floor", "app", ...(servers[runtime].base ? ["base"] : [])];
    const delays = Object.fromEntries(sides.map((side) => [side, []]));
    const cpu = Object.fromEntries(sides.map((side) => [side, { ms: 0, wallMs: 0 }]));
    for (const side of sides) {
      // Warm-up at the same concurrency.
      await firstTokenDelays(servers[runtime][side], model, concurrency, concurrency, expect, n);
      n += concurrency;
    }
    for (let wave = 0; wave < waves; wave++) {
      for (const side of wave % 2 ? [...sides].reverse() : sides) {
        const server = servers[runtime][side];
        const c0 = cpuOf(server.pid);
        const t0 = performance.now();
        delays[side].push(
          ...await firstTokenDelays(server, model, perWave, concurrency, expect, n),
        );
        n += perWave;
        cpu[side].ms += cpuOf(server.pid).processMs - c0.processMs;
        cpu[side].wallMs += performance.now() - t0;
      }
    }
    for (const side of sides) {
      const d = delays[side];
      out[runtime][side] = {
        flows: d.length,
        concurrency,
        p50Ms: percentile(d, 50),
        p90Ms: percentile(d, 90),
        p99Ms: percentile(d, 99),
        serverCpuBusy: cpu[side].ms / cpu[side].wallMs,
      };
      const r = out[runtime][side];
      console.log(
        `${runtime.padEnd(8)} ${side.padEnd(6)} model's first byte → client's first chunk: ` +
          `p50 ${ms(r.p50Ms)} ms, p90 ${ms(r.p90Ms)} ms, p99 ${ms(r.p99Ms)} ms ` +
          `(${d.length} flows in ${waves} waves, ${concurrency} at a time; server CPU ${
            (r.serverCpuBusy * 100).toFixed(0)
          } % busy)`,
      );
    }
    const { app, floor, base } = out[runtime];
    out[runtime].addedP50Ms = app.p50Ms - floor.p50Ms;
    out[runtime].addedP99Ms = app.p99Ms - floor.p99Ms;
    if (base) {
      out[runtime].baseAddedP50Ms = base.p50Ms - floor.p50Ms;
      out[runtime].baseAddedP99Ms = base.p99Ms - floor.p99Ms;
    }
  }
  const result = {
    date: new Date().toISOString(),
    label: opts.label,
    commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" })
      .stdout.trim(),
    method: "the model is a node:http server in its own process (bench/cpu/model_server.mjs: " +
      "recorded chunks; first token after 100–300 ms, then one every 15–35 ms); per flow, the " +
      "time from the model writing the first byte of the first specialist token to the client " +
      "(the bench process) receiving the first `chunk` frame, both on the system's monotonic " +
      "clock (process.hrtime); the floor measured the same way shows what loopback HTTP and the " +
      "two Node processes add; the sides take turns in waves of the same flows",
    ...(opts.baseline ? { baseline: opts.baseline } : {}),
    ...(opts.variant ? { variant: opts.variant } : {}),
    results: out,
  };
  const file = resolve(root, opts["latency-out"]);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${file}`);
}

// ---------------------------------------------------------------------------------------------
// Memory in workerd (--memory): RSS of the workerd process as a proxy for the isolate's heap

/** One fresh workerd: RSS before, with n flows (or 8 n streams) live, and after they ended. */
async function workerdMemory(kind, n, script) {
  const server = await startWorkerd(`workerd memory ${kind}`, script, "{}");
  try {
    // Warm-up: the same paths compiled, in the same isolate.
    await request(server, "GET", `/run?kind=${kind}&n=20&holdMs=100`);
    await new Promise((ok) => setTimeout(ok, 500));
    const baseline = rssOf(server.pid);
    const figures = { baselineMB: baseline };
    await new Promise((ok, fail) => {
      http.get(`${server.url}/run?kind=${kind}&n=${n}&holdMs=3000`, (res) => {
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          buffered += d;
          const lines = buffered.split("\n");
          buffered = lines.pop();
          for (const text of lines) {
            const line = JSON.parse(text);
            if (line.error) fail(new Error(`workerd: ${line.error}`));
            if (line.parked) figures.liveMB = rssOf(server.pid);
            if (line.ended) figures.ended = line;
            if (line.done) figures.afterMB = rssOf(server.pid);
          }
        });
        res.on("end", ok);
        res.on("error", fail);
      }).on("error", fail);
    });
    figures.perFlowKB = ((figures.liveMB - baseline) * 1024) / n;
    figures.leftPerFlowKB = ((figures.afterMB - baseline) * 1024) / n;
    return figures;
  } finally {
    await server.close();
  }
}

async function memory() {
  const n = Number(opts["memory-flows"]);
  const script = await bundleWorker("worker_memory");
  const out = {};
  for (const kind of ["streams", "flows"]) {
    out[kind] = await workerdMemory(kind, n, script);
    const f = out[kind];
    console.log(
      `workerd ${
        kind === "flows" ? `${n} live flows (offline model)` : `${8 * n} parked streams`
      }: ` +
        `RSS ${f.baselineMB.toFixed(1)} → ${f.liveMB.toFixed(1)} → ${f.afterMB.toFixed(1)} MB, ` +
        `${f.perFlowKB.toFixed(1)} KB per flow${kind === "streams" ? " (8 streams)" : ""}, ` +
        `${f.leftPerFlowKB.toFixed(1)} KB per flow left after`,
    );
  }
  const result = {
    date: new Date().toISOString(),
    label: opts.label,
    commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" })
      .stdout.trim(),
    method: "RSS of a fresh workerd process (/proc/<pid>/status VmRSS) before, with N research " +
      "flows live on the in-process offline model (each specialist parked after its first " +
      "token: three open model requests per flow), and 3 s after aborting them; the same for " +
      "8 N parked connection streams (the stream floor). workerd exposes no heap figure and no " +
      "gc(): RSS includes heap slack and is seldom given back",
    flows: n,
    workerd: out,
  };
  const file = resolve(root, opts["memory-out"]);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${file}`);
}

// ---------------------------------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const ms = (x) => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

async function main() {
  await mkdir(work, { recursive: true });
  // Run logs the app servers kept in SQLite last time.
  spawnSync("sh", ["-c", `rm -f ${JSON.stringify(work)}/runs-*.db*`]);
  if (opts.memory) return await memory();
  console.log(`recording the upstream of one flow ("${TOPIC}") from the offline model…`);
  const rec = spawnSync(process.execPath, ["--import", "tsx", "bench/cpu/record.ts", TOPIC], {
    cwd: root,
    encoding: "utf8",
  });
  if (rec.status !== 0) throw new Error(`record failed:\n${rec.stderr}`);
  const recordingPath = join(work, "upstream.json");
  await writeFile(recordingPath, rec.stdout);
  const recording = JSON.parse(rec.stdout);
  const tokens = Object.values(recording).reduce(
    (n, chunks) => n + chunks.filter((c) => /"content":"[^"]/.test(c)).length,
    0,
  );
  const upstreamBytes = Object.values(recording).reduce(
    (n, chunks) => n + Buffer.byteLength(chunks.join("")),
    0,
  );
  const expect = { chunks: tokens };
  console.log(`upstream: 4 streams, ${tokens} tokens, ${upstreamBytes} bytes`);

  const deno = join(root, "node_modules", ".bin", "deno");
  const inspect = opts.profile ? ["--inspect=127.0.0.1:0"] : [];
  const denoArgs = ["run", "-A", "--node-modules-dir=manual", ...inspect];
  // --latency: the model is a server in this process (so that its first byte and the client's
  // are timed on one clock); otherwise the servers replay it in-process.
  const model = opts.latency ? await startModelServer(recordingPath) : undefined;
  const extra = model ? [model.url] : [];
  const startersIn = (tree, tag = "", env = {}) => ({
    node: {
      app: () =>
        spawnServer(
          `node app${tag}`,
          process.execPath,
          [
            ...inspect,
            "--import",
            "tsx",
            "bench/cpu/app_server.ts",
            recordingPath,
            ...extra,
          ],
          tree,
          env,
        ),
      floor: () =>
        spawnServer("node floor", process.execPath, [
          ...inspect,
          "--import",
          "tsx",
          "bench/cpu/floor_server.ts",
          recordingPath,
          ...extra,
        ]),
    },
    deno: {
      app: () =>
        spawnServer(
          `deno app${tag}`,
          deno,
          [
            ...denoArgs,
            "bench/cpu/app_server.ts",
            recordingPath,
            ...extra,
          ],
          tree,
          env,
        ),
      floor: () =>
        spawnServer("deno floor", deno, [
          ...denoArgs,
          "bench/cpu/floor_server.ts",
          recordingPath,
          ...extra,
        ]),
    },
    workerd: {
      app: async () =>
        startWorkerd(
          `workerd app${tag}`,
          await bundleWorker("worker_app", tree),
          rec.stdout,
          model?.url,
        ),
      floor: async () =>
        startWorkerd("workerd floor", await bundleWorker("worker_floor"), rec.stdout, model?.url),
    },
  });
  const starters = startersIn(root);
  // The "base" app: an older commit's (--baseline <rev>), or this one's with BENCH_VARIANT set
  // (--variant <name>: see bench/cpu/app_server.ts).
  const baseline = opts.baseline
    ? startersIn(baselineTree(opts.baseline), ` (${opts.baseline})`)
    : opts.variant
    ? startersIn(root, ` (${opts.variant})`, { BENCH_VARIANT: opts.variant })
    : undefined;
  const phases = baseline ? [...PHASES, "base"] : PHASES;

  const servers = {};
  const results = {};
  try {
    for (const runtime of RUNTIMES) {
      servers[runtime] = {
        app: await starters[runtime].app(),
        floor: await starters[runtime].floor(),
        ...(baseline ? { base: await baseline[runtime].app() } : {}),
      };
      // Warm-up: every path compiled and the heap grown before anything is measured.
      const { app, floor, base } = servers[runtime];
      for (
        const [kind, server] of [["app", app], ["floor", floor], ["model", floor], ["base", base]]
      ) {
        if ((kind === "model" && model) || !server) continue;
        await drive(server, kind, 40, expect);
      }
      results[runtime] = {
        rounds: [],
        idleRssMB: { app: rssOf(app.pid), floor: rssOf(floor.pid) },
      };
      console.log(`${runtime}: app pid ${app.pid}, floor pid ${floor.pid}, warmed up`);
    }
    if (opts.profile) return await profiles(servers, expect);
    if (model) return await latencies(servers, model, expect);
    for (let round = 0; round < ROUNDS; round++) {
      for (const runtime of RUNTIMES) {
        const { app, floor, base } = servers[runtime];
        // Alternate the order per round so neither side always runs first.
        const order = round % 2 ? [...phases].reverse() : phases;
        const serverOf = { app, base, floor, model: floor, empty: floor };
        const figures = await interleaved(order.map((k) => [k, serverOf[k]]), expect);
        results[runtime].rounds.push(figures);
        console.log(
          `round ${round + 1} ${runtime.padEnd(8)} ` +
            order.map((k) => `${k} ${ms(figures[k].processMsPerUnit)} ms (${figures[k].units})`)
              .join(" | "),
        );
      }
    }
  } finally {
    await model?.close();
    for (const pair of Object.values(servers)) {
      for (const server of Object.values(pair)) {
        if (!server) continue;
        server.agent?.destroy();
        await server.close();
      }
    }
  }

  const summary = {};
  for (const runtime of RUNTIMES) {
    const rounds = results[runtime].rounds;
    const per = (kind, key = "processMsPerUnit") =>
      rounds[0][kind] ? rounds.map((r) => r[kind][key]) : undefined;
    const replay = rounds.map((r) =>
      r.model && r.empty ? r.model.processMsPerUnit - r.empty.processMsPerUnit : 0
    );
    const net = (kind) => rounds.map((r, i) => r[kind].processMsPerUnit - replay[i]);
    const s = {
      appMsPerFlow: spread(per("app")),
      floorMsPerFlow: spread(per("floor")),
      appMainThreadMsPerFlow: spread(per("app", "mainMsPerUnit")),
      floorMainThreadMsPerFlow: spread(per("floor", "mainMsPerUnit")),
      modelReplayMsPerFlow: spread(replay),
      emptyRequestMs: per("empty") && spread(per("empty")),
      appNetMsPerFlow: spread(net("app")),
      floorNetMsPerFlow: spread(net("floor")),
      ratioNet: spread(rounds.map((_, i) => net("app")[i] / net("floor")[i])),
      ratioRaw: spread(rounds.map((r) => r.app.processMsPerUnit / r.floor.processMsPerUnit)),
      bytesPerFlow: { app: rounds[0].app.bytesPerUnit, floor: rounds[0].floor.bytesPerUnit },
      ...(rounds[0].base
        ? {
          baselineMsPerFlow: spread(per("base")),
          appToBaseline: spread(
            rounds.map((r) => r.app.processMsPerUnit / r.base.processMsPerUnit),
          ),
          baselineToFloorNet: spread(
            rounds.map((r, i) => (r.base.processMsPerUnit - replay[i]) / net("floor")[i]),
          ),
        }
        : {}),
    };
    summary[runtime] = s;
  }

  console.log(
    `\nCPU per streamed flow, server process (median of ${ROUNDS} rounds, min–max); ` +
      `net = minus the replayed model's own cost`,
  );
  console.log(
    `${"".padEnd(9)}${"app".padStart(22)}${"floor".padStart(22)}${"model replay".padStart(16)}` +
      `${"app net".padStart(10)}${"floor net".padStart(11)}${"app÷floor (net)".padStart(24)}`,
  );
  const cell = (x) => `${ms(x.median)} (${ms(x.min)}–${ms(x.max)})`;
  for (const [runtime, s] of Object.entries(summary)) {
    console.log(
      `${runtime.padEnd(9)}${cell(s.appMsPerFlow).padStart(22)}${
        cell(s.floorMsPerFlow).padStart(22)
      }${ms(s.modelReplayMsPerFlow.median).padStart(16)}${
        ms(s.appNetMsPerFlow.median).padStart(10)
      }${ms(s.floorNetMsPerFlow.median).padStart(11)}${
        `×${s.ratioNet.median.toFixed(2)} (${s.ratioNet.min.toFixed(2)}–${
          s.ratioNet.max.toFixed(2)
        })`.padStart(24)
      }`,
    );
  }
  if (opts.baseline || opts.variant) {
    const what = opts.baseline ?? `variant ${opts.variant}`;
    console.log(`\nthe same against the baseline ${what}, in the same rounds:`);
    for (const [runtime, s] of Object.entries(summary)) {
      console.log(
        `${runtime.padEnd(9)} baseline ${cell(s.baselineMsPerFlow)} ms (net ×${
          s.baselineToFloorNet.median.toFixed(2)
        } the floor) → app ${cell(s.appMsPerFlow)} ms: app ÷ baseline ×${
          s.appToBaseline.median.toFixed(2)
        } (${s.appToBaseline.min.toFixed(2)}–${s.appToBaseline.max.toFixed(2)})`,
      );
    }
  }
  const versions = {
    node: process.versions.node,
    deno: spawnSync(join(root, "node_modules", ".bin", "deno"), ["--version"], {
      encoding: "utf8",
    }).stdout.split("\n")[0].replace(/^deno /, "").replace(/ .*/, ""),
    workerd:
      JSON.parse(await readFile(join(root, "node_modules", "workerd", "package.json"), "utf8"))
        .version,
  };
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const result = {
    date: new Date().toISOString(),
    label: opts.label,
    commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" })
      .stdout.trim(),
    ...(opts.baseline ? { baseline: opts.baseline } : {}),
    ...(opts.variant ? { variant: opts.variant } : {}),
    machine: `${spawnSync("nproc", { encoding: "utf8" }).stdout.trim()} vCPU, shared with ` +
      `other sessions (load average at the end: ${load})`,
    versions,
    method: `server process CPU (utime+stime, /proc/<pid>/stat) per unit; ${CONCURRENCY} ` +
      `keep-alive clients in a loop; each phase runs until the server spent ≥ ${MIN_CPU_MS} ms ` +
      `of CPU; ${ROUNDS} rounds, phases alternating; model replayed from a recording ` +
      `(${tokens} tokens, ${upstreamBytes} upstream bytes), its cost (model − empty phase) ` +
      `subtracted for the net figures`,
    upstream: { tokens, bytes: upstreamBytes },
    summary,
    rounds: Object.fromEntries(RUNTIMES.map((r) => [r, results[r].rounds])),
  };
  const out = resolve(root, opts.out);
  await writeFile(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${out}`);
}

/** --profile: one profiled app phase and floor phase per runtime; shares per layer. */
async function profiles(servers, expect) {
  const out = {};
  for (const runtime of RUNTIMES) {
    const { app, floor } = servers[runtime];
    const modules = (s) => s.script ? bundleModulesOf(s.script) : undefined;
    out[runtime] = {
      app: await profilePhase(app, "app", 80, expect, await modules(app)),
      floor: await profilePhase(floor, "floor", 400, expect, await modules(floor)),
    };
    for (const side of ["app", "floor"]) {
      const p = out[runtime][side];
      console.log(
        `\n${runtime} ${side}: ${ms(p.processMsPerFlow)} ms of process CPU per flow under the ` +
          `profiler (${p.flows} flows, ${ms(p.sampledMs)} ms sampled on the JS thread); ` +
          `web streams' own code ${(p.webStreamsSelfShare * 100).toFixed(0)} %`,
      );
      for (const [layer, share] of Object.entries(p.share)) {
        console.log(
          `  ${layer.padEnd(44)} ${(share * 100).toFixed(1).padStart(5)} %  ≈ ${
            ms(share * p.processMsPerFlow).padStart(6)
          } ms/flow`,
        );
      }
    }
  }
  const result = {
    date: new Date().toISOString(),
    label: opts.label,
    commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" })
      .stdout.trim(),
    method: "V8 CPU profile (inspector, 250 µs sampling) of the server while 8 clients run " +
      "flows; each sample goes to the layer of the nearest frame of ours on its stack; ms/flow = " +
      "share × the process CPU per flow measured during the profile (the profiler adds its own)",
    layers: LAYERS.map(([name, re]) => ({ name, files: String(re) })),
    profiles: out,
  };
  const file = resolve(root, opts["profile-out"]);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${file}`);
}

await main();
