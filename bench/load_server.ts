/**
 * The server the load benchmark (bench/load.bench.ts) drives: the real app (`createApp`) on the
 * in-process offline model with realistic pacing, on 127.0.0.1 and a free port, under Node
 * (@hono/node-server) or Deno (`Deno.serve`). Start it with GC exposed:
 *
 *   node --expose-gc --import tsx bench/load_server.ts [--token-delay-ms 25] [--first-token-delay-ms 200]
 *   deno run -A --v8-flags=--expose-gc bench/load_server.ts [...]
 *
 * (or LOAD_TOKEN_DELAY_MS / LOAD_FIRST_TOKEN_DELAY_MS; flags win). It prints one JSON line on
 * stdout, `{"url","runtime","version","pid"}`, and serves one route of its own on top of the app:
 * `GET /__heap` → `{ heapUsed, modelActive }` after two `gc()` calls (`?gc=0` skips them, to
 * sample peaks). It exits when its stdin closes (the parent went away), on SIGTERM/SIGINT, or
 * after `--max-lifetime-s` (default 900), so a lost server never outlives its benchmark for long.
 *
 * All runtime-specific code of the load run lives in this file.
 *
 * @module
 */
import { createApp } from "../routes/app.ts";
import { createOfflineModel, REALISTIC_PACING } from "../src/llm/offline_model.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const deno = g.Deno;
const argv: string[] = deno ? deno.args : g.process.argv.slice(2);
const env = (name: string): string | undefined => deno ? deno.env.get(name) : g.process.env[name];

function option(flag: string, envName: string, fallback: number): number {
  const at = argv.indexOf(flag);
  const raw = at >= 0 ? argv[at + 1] : env(envName);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a number ≥ 0: ${raw}`);
  return n;
}

const tokenDelayMs = option(
  "--token-delay-ms",
  "LOAD_TOKEN_DELAY_MS",
  REALISTIC_PACING.tokenDelayMs!,
);
const firstTokenDelayMs = option(
  "--first-token-delay-ms",
  "LOAD_FIRST_TOKEN_DELAY_MS",
  REALISTIC_PACING.firstTokenDelayMs!,
);
const maxLifetimeS = option("--max-lifetime-s", "LOAD_MAX_LIFETIME_S", 900);

if (typeof g.gc !== "function") {
  console.error(
    "load_server: gc() is not exposed (node --expose-gc / deno --v8-flags=--expose-gc)",
  );
}

const model = createOfflineModel({ tokenDelayMs, firstTokenDelayMs });
const shutdown = new AbortController();
// Capacity is what is measured here, not admission: the flow caps (64 by default) out of reach.
const app = createApp({ llm: { fetch: model.fetch }, signal: shutdown.signal, maxFlows: 1e6 });

function heapUsed(): number {
  return deno ? deno.memoryUsage().heapUsed : g.process.memoryUsage().heapUsed;
}

async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (req.method === "GET" && url.pathname === "/__heap") {
    if (url.searchParams.get("gc") !== "0" && typeof g.gc === "function") {
      g.gc();
      // Let finalizers and microtasks run between the two collections.
      await new Promise((r) => setTimeout(r, 0));
      g.gc();
    }
    return Response.json({ heapUsed: heapUsed(), modelActive: model.stats.active });
  }
  return await app.fetch(req);
}

let close: () => Promise<void>;
let port: number;
let version: string;
if (deno) {
  const server = deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
  port = server.addr.port;
  version = deno.version.deno;
  close = () => server.shutdown();
} else {
  const { serve } = await import("@hono/node-server");
  let server!: ReturnType<typeof serve>;
  port = await new Promise<number>((resolve, reject) => {
    server = serve(
      { fetch: handler, port: 0, hostname: "127.0.0.1" },
      (info) => resolve(info.port),
    );
    server.once("error", reject);
  });
  version = g.process.versions.node;
  close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
}

let exiting = false;
async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  shutdown.abort(new DOMException("the load server is stopping", "AbortError"));
  await Promise.race([close(), new Promise((r) => setTimeout(r, 2_000))]);
  if (deno) deno.exit(code);
  else g.process.exit(code);
}

const lifetime = setTimeout(() => {
  console.error(`load_server: exiting after its ${maxLifetimeS} s lifetime`);
  void exit(1);
}, maxLifetimeS * 1000);
if (!deno) lifetime.unref?.();

if (deno) {
  for (const signal of ["SIGTERM", "SIGINT"]) deno.addSignalListener(signal, () => void exit(0));
  // EOF on stdin: the parent is gone.
  (async () => {
    const buf = new Uint8Array(256);
    try {
      while ((await deno.stdin.read(buf)) !== null);
    } catch { /* closed */ }
    void exit(0);
  })();
} else {
  for (const signal of ["SIGTERM", "SIGINT"]) g.process.on(signal, () => void exit(0));
  g.process.stdin.on("end", () => void exit(0));
  g.process.stdin.on("close", () => void exit(0));
  g.process.stdin.resume();
}

console.log(JSON.stringify({
  url: `http://127.0.0.1:${port}`,
  runtime: deno ? "deno" : "node",
  version,
  pid: deno ? deno.pid : g.process.pid,
  tokenDelayMs,
  firstTokenDelayMs,
}));
