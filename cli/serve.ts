/**
 * `--serve`: serves the HTTP app (routes/app.ts) with `Deno.serve` under Deno and
 * `@hono/node-server` under Node, until Ctrl-C.
 *
 * Environment: PORT (default 8787; `--port` wins), HOST (default 127.0.0.1), REFLOW_TOKEN (bearer
 * token for /research and /graph), REFLOW_CORS (comma-separated origins, or `*`), plus the CLI's
 * model settings (OPENAI_BASE_URL, OPENAI_API_KEY, REFLOW_MODEL) with the same offline fallback.
 * REFLOW_RUNS_DB: where /runs are kept (cli/sqlite.ts); REFLOW_RUNS_TTL_MS: how long finished runs
 * stay (default one hour).
 */
import { createApp, researchRuns } from "../routes/app.ts";
import { chooseRunStore } from "./sqlite.ts";
import type { CliArgs } from "./args.ts";
import { env, onInterrupt, printError } from "./platform.ts";
import { chooseLlm, type CliEnv } from "./research.ts";

// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno;

/** A running server: its URL and how to stop it. */
interface Running {
  url: string;
  close(): Promise<void>;
}

/** Where `--serve` listens: `--port`, else PORT, else 8787; HOST, else 127.0.0.1. */
export function listenAddress(args: CliArgs): { port: number; hostname: string } | undefined {
  const port = args.port ?? Number(env("PORT") ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { port, hostname: env("HOST") ?? "127.0.0.1" };
}

/** Serves until Ctrl-C; resolves with the exit code. */
export async function serve(args: CliArgs, settings: CliEnv): Promise<number> {
  const address = listenAddress(args);
  if (!address) {
    printError(`reflow-edge: PORT must be a whole number from 0 to 65535`);
    return 2;
  }
  const { port, hostname } = address;
  let llm;
  try {
    llm = await chooseLlm(args, settings, printError);
  } catch (error) {
    printError(`reflow-edge: ${(error as Error).message}`);
    return 1;
  }
  const cors = env("REFLOW_CORS")?.split(",").map((s) => s.trim()).filter(Boolean);
  const shutdown = new AbortController();
  const chosen = await chooseRunStore(env("REFLOW_RUNS_DB"));
  printError(chosen.notice);
  const ttl = Number(env("REFLOW_RUNS_TTL_MS"));
  const runs = researchRuns({
    store: chosen.store,
    ttlMs: Number.isFinite(ttl) && ttl > 0 ? ttl : undefined,
  });
  const interrupted = runs.recover();
  if (interrupted.length) {
    printError(
      `reflow-edge: ${interrupted.length} run(s) left unfinished by the last server: interrupted`,
    );
  }
  // Expired runs go even when nobody asks about runs.
  const sweeper = setInterval(() => runs.sweep(), Math.min(60_000, runs.ttlMs));
  unrefTimer(sweeper);
  let app;
  try {
    app = createApp({
      llm,
      token: env("REFLOW_TOKEN"),
      cors: cors?.length ? cors : undefined,
      signal: shutdown.signal,
      runs,
    });
  } catch (error) {
    clearInterval(sweeper);
    printError(`reflow-edge: REFLOW_TOKEN: ${(error as Error).message}`); // e.g. not RFC 6750 syntax
    return 2;
  }

  let running: Running;
  try {
    running = deno
      ? serveDeno(app.fetch, port, hostname)
      : await serveNode(app.fetch, port, hostname);
  } catch (error) {
    printError(`reflow-edge: cannot listen on ${hostname}:${port}: ${(error as Error).message}`);
    return 1;
  }
  console.log(`reflow-edge: serving ${running.url} (Ctrl-C to stop)`);

  await new Promise<void>((resolve) => {
    const stop = onInterrupt(() => {
      stop();
      resolve();
    });
  });
  printError("reflow-edge: shutting down");
  // Ends every flow in flight (and its model requests), so the streams close and the server can.
  shutdown.abort(new DOMException("the server is shutting down", "AbortError"));
  clearInterval(sweeper);
  await runs.close();
  await running.close();
  chosen.store.close();
  return 0;
}

/** Lets the process exit with the timer pending. */
function unrefTimer(timer: ReturnType<typeof setInterval>): void {
  if (deno) deno.unrefTimer(timer as unknown as number);
  else (timer as unknown as { unref(): void }).unref();
}

type Handler = (req: Request) => Response | Promise<Response>;

function urlOf(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}/`;
}

function serveDeno(handler: Handler, port: number, hostname: string): Running {
  const server = deno.serve({ port, hostname, onListen() {} }, handler);
  return {
    url: urlOf(hostname, server.addr.port),
    close: () => withLimit(server.shutdown(), 3_000),
  };
}

async function serveNode(handler: Handler, port: number, hostname: string): Promise<Running> {
  const { serve } = await import("@hono/node-server");
  let server!: ReturnType<typeof serve>;
  const info = await new Promise<{ port: number }>((resolve, reject) => {
    server = serve({ fetch: handler, port, hostname }, resolve);
    server.once("error", reject);
  });
  return {
    url: urlOf(hostname, info.port),
    close: () =>
      withLimit(
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        }),
        3_000,
      ),
  };
}

function withLimit(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then(() => {}, () => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}
