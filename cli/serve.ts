/**
 * `--serve`: serves the HTTP app (routes/app.ts) over node:http (cli/listen.ts) under Node and
 * under Deno, until Ctrl-C.
 *
 * Environment: PORT (default 8787; `--port` wins), HOST (default 127.0.0.1), the app's settings
 * (routes/env.ts: REFLOW_TOKEN, REFLOW_CORS, REFLOW_MODELS, the limits, …), the connection limits
 * REFLOW_HEADERS_TIMEOUT_MS, REFLOW_REQUEST_TIMEOUT_MS and REFLOW_KEEPALIVE_TIMEOUT_MS, plus the
 * CLI's model settings (OPENAI_BASE_URL, OPENAI_API_KEY, REFLOW_MODEL) with the same offline
 * fallback. REFLOW_RUNS_DB: where /runs are kept (cli/sqlite.ts); REFLOW_RUNS_TTL_MS: how long
 * finished runs stay (default one hour). A setting that is present but wrong stops the server
 * before it listens, with one line saying why (exit 2).
 */
import { createApp, researchRuns } from "../routes/app.ts";
import { serverSettings, SettingsError, wholeNumber } from "../routes/env.ts";
import { chooseRunStore } from "./sqlite.ts";
import type { CliArgs } from "./args.ts";
import { clientAddress, listen, type Listening, type ListenLimits } from "./listen.ts";
import { env, envRaw, onInterrupt, printError } from "./platform.ts";
import { chooseLlm, type CliEnv } from "./research.ts";
import { traceNetwork } from "../src/otel/mod.ts";

// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno;

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
  let appSettings;
  const limits: Partial<ListenLimits> = {};
  try {
    appSettings = serverSettings(envRaw, { model: args.model ?? settings.model });
    const set = (name: string, key: keyof ListenLimits) => {
      const n = wholeNumber(envRaw, name);
      if (n !== undefined) limits[key] = n;
    };
    set("REFLOW_HEADERS_TIMEOUT_MS", "headersTimeoutMs");
    set("REFLOW_REQUEST_TIMEOUT_MS", "requestTimeoutMs");
    set("REFLOW_KEEPALIVE_TIMEOUT_MS", "keepAliveTimeoutMs");
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    printError(`reflow-edge: ${error.message}`);
    return 2;
  }
  let llm;
  try {
    llm = await chooseLlm(args, settings, printError);
  } catch (error) {
    printError(`reflow-edge: ${(error as Error).message}`);
    return 1;
  }
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
      ...appSettings,
      clientAddress,
      signal: shutdown.signal,
      log: printError,
      runs,
      // Traced for whatever OpenTelemetry provider is registered (Deno: OTEL_DENO=true; Node: one
      // loaded with --import); with none it stops listening as each flow starts. The logger's
      // per-token ticks are left out: one span per agent and per model call.
      instrument: (net) =>
        traceNetwork(net, {
          workflowName: "research",
          nodes: (_id, component) => component !== "logger",
        }),
    });
  } catch (error) {
    clearInterval(sweeper);
    printError(`reflow-edge: REFLOW_TOKEN: ${(error as Error).message}`); // e.g. not RFC 6750 syntax
    return 2;
  }

  let running: Listening;
  try {
    running = await listen(app.fetch, { port, hostname, limits });
  } catch (error) {
    clearInterval(sweeper);
    printError(`reflow-edge: cannot listen on ${hostname}:${port}: ${(error as Error).message}`);
    return 1;
  }
  console.log(`reflow-edge: serving ${running.url}/ (Ctrl-C to stop)`);

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
