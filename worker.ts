/**
 * The Cloudflare Workers entry (named by wrangler.toml): the same Hono app as `--serve`.
 *
 * Bindings (vars or secrets): OPENAI_BASE_URL, OPENAI_API_KEY, REFLOW_MODEL, the app's settings
 * (routes/env.ts: REFLOW_TOKEN, REFLOW_CORS, REFLOW_MODELS, the limits, …), REFLOW_OFFLINE ("1"
 * forces the offline model), REFLOW_OFFLINE_TOKEN_DELAY_MS / REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS
 * (its pacing). A Worker has no local Ollama, so without OPENAI_BASE_URL it answers with the
 * in-process offline model. A binding that is present but wrong (a blank REFLOW_TOKEN, …) makes
 * every request a 500 `misconfigured`, with the one-line reason in the Worker's log.
 *
 * Client addresses (for the per-client cap) come from `CF-Connecting-IP`, which Cloudflare's edge
 * sets on every request; the server-wide cap counts per isolate.
 *
 * @module
 */
import type { Hono } from "hono";
import { type AppConfig, createApp, researchRuns } from "./routes/app.ts";
import { serverSettings, SettingsError } from "./routes/env.ts";
import { type SqlDriver, SqlRunStore, type SqlValue } from "./src/runs/sql_store.ts";
import { DEFAULT_RUN_TTL_MS, type RunInfo } from "./src/runs/runs.ts";
import type { RunRecord } from "./src/runs/store.ts";
import { createOfflineModel } from "./src/llm/offline_model.ts";
import { baseUrlProblem, type LlmConfig } from "./src/llm/config.ts";

/** The Worker's bindings this entry reads; all optional. */
export interface Env {
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
  REFLOW_MODEL?: string;
  REFLOW_TOKEN?: string;
  REFLOW_CORS?: string;
  REFLOW_MODELS?: string;
  REFLOW_ANY_MODEL?: string;
  REFLOW_MAX_FLOWS?: string;
  REFLOW_MAX_FLOWS_PER_CLIENT?: string;
  REFLOW_MAX_FLOW_STARTS_PER_MINUTE?: string;
  REFLOW_FLOW_START_BURST?: string;
  REFLOW_TIMEOUT_MS?: string;
  REFLOW_BODY_TIMEOUT_MS?: string;
  REFLOW_MAX_BODY_BYTES?: string;
  REFLOW_VERBOSE_ERRORS?: string;
  REFLOW_HEARTBEAT_MS?: string;
  REFLOW_STALL_TIMEOUT_MS?: string;
  REFLOW_SILENT_FLOW_MS?: string;
  REFLOW_MAX_TOKENS?: string;
  REFLOW_MAX_REPLY_BYTES?: string;
  REFLOW_MAX_PROMPT_BYTES?: string;
  REFLOW_OFFLINE?: string;
  REFLOW_OFFLINE_TOKEN_DELAY_MS?: string;
  REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS?: string;
  /** The Durable Object namespace of runs (wrangler.toml); without it runs stay in the isolate. */
  RUNS?: DurableObjectNamespaceLike;
  /** The one object that lists runs (`GET /runs`); without it that route answers 501. */
  RUN_INDEX?: DurableObjectNamespaceLike;
}

/** The parts of the Durable Object API this entry uses (no Workers types in the repo). */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** A Durable Object's storage, as far as runs use it. */
export interface DurableObjectStorageLike {
  sql: { exec(query: string, ...bindings: SqlValue[]): { toArray(): Record<string, SqlValue>[] } };
  transactionSync<T>(fn: () => T): T;
  setAlarm(scheduledTime: number): Promise<void>;
  deleteAll(): Promise<void>;
}

/** A Durable Object's state, as far as runs use it. */
export interface DurableObjectStateLike {
  storage: DurableObjectStorageLike;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** A flow silent this long is gone (AppConfig.silentFlowMs): 15 missed ticks of its guard. */
const SILENT_FLOW_MS = 15_000;

/** The same pacing as the CLI's offline model: quick, but slow enough to watch. */
const OFFLINE_PACING = { tokenDelayMs: 12, firstTokenDelayMs: 120 };

const KEYS: (keyof Env)[] = [
  "OPENAI_BASE_URL",
  "OPENAI_API_KEY",
  "REFLOW_MODEL",
  "REFLOW_TOKEN",
  "REFLOW_CORS",
  "REFLOW_MODELS",
  "REFLOW_ANY_MODEL",
  "REFLOW_MAX_FLOWS",
  "REFLOW_MAX_FLOWS_PER_CLIENT",
  "REFLOW_MAX_FLOW_STARTS_PER_MINUTE",
  "REFLOW_FLOW_START_BURST",
  "REFLOW_TIMEOUT_MS",
  "REFLOW_BODY_TIMEOUT_MS",
  "REFLOW_MAX_BODY_BYTES",
  "REFLOW_VERBOSE_ERRORS",
  "REFLOW_HEARTBEAT_MS",
  "REFLOW_STALL_TIMEOUT_MS",
  "REFLOW_SILENT_FLOW_MS",
  "REFLOW_MAX_TOKENS",
  "REFLOW_MAX_REPLY_BYTES",
  "REFLOW_MAX_PROMPT_BYTES",
  "REFLOW_OFFLINE",
  "REFLOW_OFFLINE_TOKEN_DELAY_MS",
  "REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS",
];

// One app per isolate and configuration (bindings only change with a new deployment, but an
// isolate may serve several environments in local development).
let cached: { key: string; app: Hono | SettingsError } | undefined;

function setting(env: Env, name: keyof Env): string | undefined {
  const value = env[name];
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function delay(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** The binding as set (a string binding left empty is ""), for routes/env.ts to judge. */
function raw(env: Env, name: string): string | undefined {
  const value = (env as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
}

/**
 * The app's configuration for these bindings (shared by the Worker and each run's object); a
 * {@link SettingsError} when one is present but wrong.
 */
function configFor(env: Env): AppConfig {
  const settings = serverSettings((name) => raw(env, name), {
    model: setting(env, "REFLOW_MODEL"),
  });
  const baseURL = setting(env, "OPENAI_BASE_URL");
  const badUrl = baseURL && baseUrlProblem("OPENAI_BASE_URL", baseURL);
  if (badUrl) throw new SettingsError(badUrl);
  const offline = /^(1|true|yes)$/i.test(setting(env, "REFLOW_OFFLINE") ?? "") || !baseURL;
  const llm: LlmConfig = {
    baseURL,
    apiKey: setting(env, "OPENAI_API_KEY"),
    model: setting(env, "REFLOW_MODEL"),
  };
  if (offline) {
    llm.fetch = createOfflineModel({
      tokenDelayMs: delay(
        setting(env, "REFLOW_OFFLINE_TOKEN_DELAY_MS"),
        OFFLINE_PACING.tokenDelayMs,
      ),
      firstTokenDelayMs: delay(
        setting(env, "REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS"),
        OFFLINE_PACING.firstTokenDelayMs,
      ),
    }).fetch;
  }
  return {
    llm,
    ...settings,
    // workerd stops a request's timers and promises when its client leaves, not always saying so.
    silentFlowMs: settings.silentFlowMs ?? SILENT_FLOW_MS,
    clientAddress: (request) => request.headers.get("cf-connecting-ip") ?? undefined,
    log: (line) => console.error(line),
  };
}

/** Builds the app for these bindings, or the {@link SettingsError} that stops it. */
export function appFor(env: Env = {}): Hono | SettingsError {
  const key = JSON.stringify([...KEYS.map((k) => raw(env, k) ?? null), !!env.RUNS]);
  if (cached?.key === key) return cached.app;
  let config: AppConfig;
  try {
    config = configFor(env);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    console.error(`reflow-edge: ${error.message}`);
    cached = { key, app: error };
    return error;
  }
  const runs = env.RUNS;
  const app = createApp({
    ...config,
    // Every request about run {id} goes to that run's own Durable Object.
    runs: runs && {
      forward: (id, request) => runs.get(runs.idFromName(id)).fetch(request),
      list: env.RUN_INDEX &&
        (async (limit: number) => {
          const res = await runIndex(env.RUN_INDEX!).fetch(
            new Request(`https://run-index/list?limit=${limit}`),
          );
          return await res.json() as RunInfo[];
        }),
    },
  });
  cached = { key, app };
  return app;
}

/** A {@link SqlDriver} over a SQLite-backed Durable Object's storage. */
export function durableObjectSqlDriver(storage: DurableObjectStorageLike): SqlDriver {
  return {
    exec: (sql, ...params) => storage.sql.exec(sql, ...params).toArray(),
    transaction: (fn) => storage.transactionSync(fn),
  };
}

/**
 * One run per object (wrangler.toml: `RUNS`, a SQLite-backed class). The Worker routes every
 * request about run {id} here (`POST /runs`, and `/research` as a run its client leads); the flow
 * executes here and its log is this object's SQLite, so viewers anywhere reach the same run. While the flow runs, an alarm handler waits for it: an
 * object busy with an event is not evicted, even with no client connected. An object that was
 * evicted or restarted mid-run anyway finds its run still `running` in storage when it starts
 * again, and marks it `interrupted` with an `error` event. A finished run's object deletes its
 * storage when the run expires.
 */
export class RunObject {
  readonly #state: DurableObjectStateLike;
  readonly #runs: ReturnType<typeof researchRuns>;
  readonly #app: Hono;
  readonly #index?: DurableObjectNamespaceLike;
  readonly #silentFlowMs: number;

  constructor(state: DurableObjectStateLike, env: Env) {
    this.#state = state;
    this.#index = env.RUN_INDEX;
    const config = configFor(env);
    this.#silentFlowMs = config.silentFlowMs ?? SILENT_FLOW_MS;
    this.#runs = researchRuns({
      store: new SqlRunStore(durableObjectSqlDriver(state.storage), "durable-object"),
    });
    state.blockConcurrencyWhile(async () => {
      for (const id of this.#runs.recover()) await this.#tellIndex(id);
    });
    // No auth here: only the Worker reaches this object, and it has checked the request.
    this.#app = createApp({
      ...config,
      token: undefined,
      runIdFromHeader: true,
      runs: this.#runs,
    });
  }

  async fetch(request: Request): Promise<Response> {
    const response = await this.#app.fetch(request);
    const path = new URL(request.url).pathname;
    // A run started here: by POST /runs, or by POST /research (a run led by its one client).
    const started = request.method === "POST" &&
      ((path === "/runs" && response.status === 201) ||
        (path === "/research" && response.ok && response.headers.has("content-location")));
    if (started) {
      await this.#state.storage.setAlarm(Date.now());
      const id = request.headers.get("x-reflow-run-id");
      if (id) await this.#tellIndex(id);
    }
    return response;
  }

  /** Tells the run index (if bound) that this run started or ended. */
  async #tellIndex(id: string): Promise<void> {
    const run = this.#runs.store.get(id);
    if (!this.#index || !run) return;
    await runIndex(this.#index).fetch(
      new Request("https://run-index/", { method: "POST", body: JSON.stringify(run) }),
    ).then((r) => r.body?.cancel(), () => {});
  }

  /**
   * Holds the object while its run is in flight; afterwards, deletes it once it has expired. While
   * the run is in flight it looks at it every `silentFlowMs`: a run whose request workerd froze (its
   * client left before the body flowed) never ends by itself, and a request to the app (this
   * look) is what lets the app count such a flow as gone and finish its record.
   */
  async alarm(): Promise<void> {
    const run = this.#runs.list(1)[0];
    if (!run) return await this.#state.storage.deleteAll();
    if (run.status === "running") {
      for (;;) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const over = await Promise.race([
          this.#runs.ended(run.id).then(() => true),
          new Promise<false>((r) => (timer = setTimeout(() => r(false), this.#silentFlowMs))),
        ]);
        clearTimeout(timer);
        if (over) break;
        const look = await this.#app.fetch(new Request("https://run-object/healthz"));
        await look.body?.cancel();
      }
    }
    const finished = this.#runs.info(run.id)?.finishedAt ?? Date.now();
    const expiresAt = finished + this.#runs.ttlMs;
    if (Date.now() >= expiresAt) {
      this.#runs.sweep();
      await this.#state.storage.deleteAll();
    } else {
      // The run's end, for the index (the run may have ended before this first alarm fired: a
      // client that left at once); told again is harmless.
      await this.#tellIndex(run.id);
      await this.#state.storage.setAlarm(expiresAt);
    }
  }
}

/** The one run index object. */
function runIndex(namespace: DurableObjectNamespaceLike) {
  return namespace.get(namespace.idFromName("index"));
}

/**
 * The list behind `GET /runs` on Workers, where each run is its own object: one SQLite-backed
 * object (wrangler.toml: `RUN_INDEX`) keeps a record of every run (no events), told by each run's
 * object when its run starts and when it ends. Finished runs leave the
 * list when they expire. It is touched twice per run, so it is no bottleneck for the events.
 */
export class RunIndex {
  readonly #sql: SqlDriver;

  constructor(state: DurableObjectStateLike) {
    this.#sql = durableObjectSqlDriver(state.storage);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS reflow_run_index (
      id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at INTEGER NOT NULL,
      finished_at INTEGER, last_seq INTEGER NOT NULL, input TEXT NOT NULL, summary TEXT
    )`);
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "POST") {
      // A run's record as its object has it now (at its start, or at its end).
      const run = await request.json() as RunRecord;
      // A finished record is never replaced by an older one still running: the start and the end
      // of a short run are told from two requests, which may arrive in either order.
      this.#sql.exec(
        `INSERT INTO reflow_run_index VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status,
           finished_at = excluded.finished_at, last_seq = excluded.last_seq,
           summary = excluded.summary
         WHERE reflow_run_index.finished_at IS NULL`,
        run.id,
        run.status,
        run.createdAt,
        run.finishedAt ?? null,
        run.lastSeq,
        JSON.stringify(run.input ?? null),
        run.summary === undefined ? null : JSON.stringify(run.summary),
      );
      return new Response(null, { status: 204 });
    }
    this.#sql.exec(
      "DELETE FROM reflow_run_index WHERE finished_at IS NOT NULL AND finished_at < ?",
      Date.now() - DEFAULT_RUN_TTL_MS,
    );
    const rows = this.#sql.exec(
      "SELECT * FROM reflow_run_index ORDER BY created_at DESC, rowid DESC LIMIT ?",
      Math.min(200, Math.max(1, Number(url.searchParams.get("limit")) || 50)),
    );
    const runs: RunInfo[] = rows.map((row) => ({
      id: String(row.id),
      status: String(row.status) as RunInfo["status"],
      createdAt: Number(row.created_at),
      ...(row.finished_at === null ? {} : { finishedAt: Number(row.finished_at) }),
      lastSeq: Number(row.last_seq),
      input: JSON.parse(String(row.input)),
      ...(row.summary === null ? {} : { summary: JSON.parse(String(row.summary)) }),
    }));
    return Response.json(runs);
  }
}

export default {
  fetch(request: Request, env: Env, ctx: unknown): Response | Promise<Response> {
    const app = appFor(env);
    if (app instanceof SettingsError) {
      return Response.json({
        error: "the server is misconfigured; its operator can read why in the Worker's log",
        code: "misconfigured",
      }, { status: 500 });
    }
    // deno-lint-ignore no-explicit-any
    return app.fetch(request, env, ctx as any);
  },
};
