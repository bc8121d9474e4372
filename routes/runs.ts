/**
 * The `/runs` routes: flows that outlive their connection.
 *
 * - `POST /runs` `{ topic, model?, policy? }` → 201, `Location: /runs/{id}`, the run's SSE from its
 *   first event; `?detach=1` → 201 `{ id, events }` at once.
 * - `GET /runs/{id}/events` → SSE: the log, then live; resumes after `Last-Event-ID` or `?after=N`;
 *   `: keep-alive` every 15 s; 204 for an unknown or expired run. `?format=ui`: the AI SDK's UI
 *   message stream instead, always from the start (routes/ui_stream.ts). `?reasoning=false` (and
 *   `reasoning: false` in a `POST /runs` body): the stream leaves the reasoning out.
 * - `GET /runs/{id}`, `GET /runs`, `POST /runs/{id}/cancel`, `POST /runs/{id}/token`.
 *
 * Where the runs live is a {@link RunBackend}: a {@link Runs} in this process (Node, Deno, and
 * inside a run's Durable Object), or a forwarder to one Durable Object per run (the Worker).
 *
 * @module
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { RunLimitError } from "../src/runs/store.ts";
import type { RunEvent, RunInfo, Runs } from "../src/runs/runs.ts";
import { runEventsToSse } from "../src/runs/sse.ts";
import { DEFAULT_CAPACITY } from "../src/connection.ts";
import { bearerAuth } from "./auth.ts";
import { checkRunToken, signRunToken } from "./run_token.ts";
import { runEventsToUi, uiHeaders } from "./ui_stream.ts";
import { reasoningQuery, withoutReasoning } from "./options.ts";

/** What `POST /runs` starts (validated with the same rules as `POST /research`). */
export interface RunInput {
  topic: string;
  model?: string;
  policy?: "fail-fast" | "continue";
  /** The graph to run (`POST /runs` only; default: the research graph). */
  graph?: unknown;
  /**
   * `false`: the response to this request leaves the reasoning out (routes/options.ts). Not
   * part of the run: its log keeps the reasoning for other viewers.
   */
  reasoning?: boolean;
}

/** Where runs are executed and stored. */
export type RunBackend =
  | {
    kind: "local";
    runs: Runs;
    /** Starts a run's flow. */
    source: (input: RunInput, signal: AbortSignal) => ReadableStream<RunEvent>;
    /**
     * Take a new run's id from the `x-reflow-run-id` header (inside a run's Durable Object, which
     * only the Worker can reach); otherwise ids are made here.
     */
    idFromHeader?: boolean;
  }
  | {
    kind: "forward";
    /** Passes a request on to the run's own host (its Durable Object). */
    forward: (id: string, request: Request) => Promise<Response>;
    /** The most recent runs, newest first (an index kept beside the runs), for `GET /runs`. */
    list?: (limit: number) => Promise<RunInfo[]>;
  };

/** Options of {@link mountRuns}. */
export interface RunRoutesOptions {
  backend: RunBackend;
  /** Middlewares that validate a `POST /runs` body into `c.req.valid("json")` as a {@link RunInput}. */
  validateBody: MiddlewareHandler[];
  /** Faults of a `graph` given to `POST /runs` (each with its JSON path); empty when it runs. */
  checkGraph?: (graph: unknown) => { path: string; message: string }[];
  /** The server's bearer token (auth is off without it); also the key of `?token=`. */
  token?: string;
  /** Keep-alive comment interval on event streams (default 15,000 ms). */
  keepAliveMs?: number;
  /** Wraps every event stream's body (the app's lifetime guard: routes/lifetime.ts). */
  guard?: (body: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
  /** Lifetime of a `?token=` (default 900 s). */
  tokenTtlSeconds?: number;
}

/** Headers of every event stream: no compression (workerd would buffer), no caching. */
export const SSE_HEADERS: Record<string, string> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Content-Encoding": "identity",
  "Cache-Control": "no-cache, no-transform",
  "X-Accel-Buffering": "no",
};

/** The header that carries a new run's id from the Worker to the run's Durable Object. */
export const RUN_ID_HEADER = "x-reflow-run-id";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The topic as a run's first frame names it: at most 200 characters, so a very long topic (the
 * server may accept megabytes) does not fill the run's log before the flow has said anything.
 */
function headline(topic: string): string {
  return topic.length <= 200 ? topic : `${topic.slice(0, 199)}…`;
}

/** Whether `id` looks like a run id (a lowercase UUID). */
export function isRunId(id: string): boolean {
  return UUID.test(id);
}

function problem(c: Context, status: 400 | 401 | 404 | 409 | 501 | 503, error: string): Response {
  return c.json({ error }, status);
}

/**
 * The position to resume after: `Last-Event-ID` (what `EventSource` sends back) wins over
 * `?after=`; neither means from the start. A string if it is not a sequence number.
 */
export function resumeAfter(
  header: string | undefined,
  query: string | undefined,
): number | string {
  const [name, value] = header !== undefined ? ["Last-Event-ID", header] : ["after", query];
  if (value === undefined || value.trim() === "") return 0;
  if (!/^\d{1,15}$/.test(value.trim())) {
    return `${name} must be a whole number (an event id), not ${
      JSON.stringify(value.slice(0, 40))
    }`;
  }
  return Number(value.trim());
}

/** The JSON a run is described with: `GET /runs/{id}` and, per run, `GET /runs`. */
export function describeRun(info: RunInfo): Record<string, unknown> {
  const summary = (info.summary ?? {}) as Record<string, unknown>;
  return {
    id: info.id,
    status: info.status,
    createdAt: new Date(info.createdAt).toISOString(),
    ...(info.finishedAt !== undefined
      ? { finishedAt: new Date(info.finishedAt).toISOString() }
      : {}),
    lastSeq: info.lastSeq,
    input: info.input,
    nodes: summary.nodes ?? {},
    ...(summary.answer !== undefined ? { answer: summary.answer } : {}),
    ...(summary.usage !== undefined ? { usage: summary.usage } : {}),
    ...(summary.error !== undefined ? { error: summary.error } : {}),
  };
}

/** Registers the `/runs` routes on `app`. */
export function mountRuns(app: Hono, options: RunRoutesOptions): void {
  const { backend, token } = options;
  const guard = options.guard ?? ((body: ReadableStream<Uint8Array>) => body);
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const tokenTtl = options.tokenTtlSeconds ?? 900;
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  if (token !== undefined) {
    const bearer = bearerAuth(token);
    // GET …/events also accepts ?token= signed for that run; everything else needs the bearer.
    app.use("/runs/*", async (c, next) => {
      const given = c.req.query("token");
      const match = /^\/runs\/([^/]+)\/events$/.exec(c.req.path);
      if (given === undefined || !match || c.req.method !== "GET") return await bearer(c, next);
      const verdict = await checkRunToken(token, match[1], given, nowSeconds());
      if (verdict === "ok") return await next();
      const why = verdict === "expired"
        ? "the token has expired (ask POST /runs/{id}/token for a new one)"
        : verdict === "forged"
        ? "the token is not valid for this run"
        : "the token is malformed";
      return problem(c, 401, `unauthorized: ${why}`);
    });
    app.use("/runs", bearer);
  }

  /** A token for the events of run `id`, when auth is on. */
  const eventsUrl = async (id: string) => {
    const base = `/runs/${id}/events`;
    if (token === undefined) return { events: base };
    const expiresAt = nowSeconds() + tokenTtl;
    const signed = await signRunToken(token, id, expiresAt);
    return {
      events: `${base}?token=${signed}`,
      token: signed,
      expiresAt: new Date(expiresAt * 1000).toISOString(),
    };
  };

  const checkId = (c: Context): string | Response => {
    const id = c.req.param("id") ?? "";
    return isRunId(id)
      ? id
      : problem(c, 400, `run id must be a UUID, not ${JSON.stringify(id.slice(0, 60))}`);
  };

  for (const check of options.validateBody) app.post("/runs", check);
  app.post("/runs", async (c) => {
    const input = (c.req as unknown as { valid(t: "json"): RunInput }).valid("json");
    const queried = reasoningQuery(c.req.query("reasoning"));
    if (typeof queried === "object") return problem(c, 400, queried.error);
    const detach = /^(1|true|yes)$/i.test(c.req.query("detach") ?? "");
    if (input.graph !== undefined && options.checkGraph) {
      const issues = options.checkGraph(input.graph)
        .map((i) => ({ path: `graph${i.path.replace(/^\$/, "")}`, message: i.message }));
      if (issues.length) {
        const list = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`).join("; ");
        return c.json({ error: `invalid graph: ${list}`, issues }, 400);
      }
    }
    if (backend.kind === "forward") {
      const id = crypto.randomUUID();
      const url = new URL(c.req.url);
      const forwarded = new Request(`${url.origin}/runs${url.search}`, {
        method: "POST",
        headers: { "content-type": "application/json", [RUN_ID_HEADER]: id },
        body: JSON.stringify(input),
        signal: c.req.raw.signal,
      });
      const res = await backend.forward(id, forwarded);
      if (res.status !== 201 || !detach) return res;
      return c.json({ id, ...(await eventsUrl(id)) }, 201, { Location: `/runs/${id}` });
    }
    const wanted = backend.idFromHeader ? c.req.header(RUN_ID_HEADER) : undefined;
    let id: string;
    try {
      id = backend.runs.start({
        id: wanted,
        input: {
          topic: input.topic,
          ...(input.model ? { model: input.model } : {}),
          ...(input.policy ? { policy: input.policy } : {}),
          ...(input.graph !== undefined ? { graph: input.graph } : {}),
        },
        source: (signal) => backend.source(input, signal),
        announce: { topic: headline(input.topic) },
      });
    } catch (error) {
      if (error instanceof RunLimitError) return problem(c, 503, error.message);
      throw error;
    }
    const location = `/runs/${id}`;
    if (detach) return c.json({ id, ...(await eventsUrl(id)) }, 201, { Location: location });
    const viewer = backend.runs.watch(id, 0, {
      signal: c.req.raw.signal,
      keepAliveMs,
      coalesce: true,
    })!;
    const shown = (input.reasoning ?? queried) === false ? withoutReasoning(viewer) : viewer;
    return new Response(guard(runEventsToSse(shown)), {
      status: 201,
      headers: { ...SSE_HEADERS, Location: location },
    });
  });

  app.get("/runs", async (c) => {
    const limit = Math.min(200, Math.max(1, Number(c.req.query("limit") ?? 50) || 50));
    if (backend.kind === "forward") {
      if (!backend.list) {
        return problem(c, 501, "listing runs needs the run index (RUN_INDEX in wrangler.toml)");
      }
      return c.json({ runs: (await backend.list(limit)).map(describeRun) });
    }
    return c.json({ runs: backend.runs.list(limit).map(describeRun) });
  });

  app.get("/runs/:id/events", async (c) => {
    const id = checkId(c);
    if (typeof id !== "string") return id;
    const format = c.req.query("format") ?? "sse";
    if (format !== "sse" && format !== "ui") {
      return problem(c, 400, `format must be one of: sse, ui (not ${JSON.stringify(format)})`);
    }
    // A UI message stream is rebuilt by its client from its start: it never resumes mid-log.
    const after = format === "ui"
      ? 0
      : resumeAfter(c.req.header("last-event-id"), c.req.query("after"));
    if (typeof after === "string") return problem(c, 400, after);
    const reasoning = reasoningQuery(c.req.query("reasoning"));
    if (typeof reasoning === "object") return problem(c, 400, reasoning.error);
    if (backend.kind === "forward") return await backend.forward(id, c.req.raw);
    const last = backend.runs.lastSeq(id);
    // 204 tells EventSource to stop reconnecting: the run is unknown or has expired.
    if (last === undefined) return c.body(null, 204);
    if (after > last) {
      return problem(c, 400, `event ${after} is beyond the run's last event (${last})`);
    }
    const viewer = backend.runs.watch(id, after, {
      signal: c.req.raw.signal,
      keepAliveMs,
      coalesce: true,
    });
    if (!viewer) return c.body(null, 204);
    const shown = reasoning === false ? withoutReasoning(viewer) : viewer;
    if (format === "ui") {
      return new Response(guard(runEventsToUi(shown, id)), { headers: uiHeaders() });
    }
    return new Response(guard(runEventsToSse(shown)), { headers: SSE_HEADERS });
  });

  app.get("/runs/:id", async (c) => {
    const id = checkId(c);
    if (typeof id !== "string") return id;
    if (backend.kind === "forward") return await backend.forward(id, c.req.raw);
    const info = backend.runs.info(id);
    if (!info) return problem(c, 404, `no run ${id} (unknown, or expired)`);
    return c.json(describeRun(info));
  });

  app.post("/runs/:id/cancel", async (c) => {
    const id = checkId(c);
    if (typeof id !== "string") return id;
    if (backend.kind === "forward") return await backend.forward(id, c.req.raw);
    const { runs } = backend;
    const before = runs.info(id);
    if (!before) return problem(c, 404, `no run ${id} (unknown, or expired)`);
    if (before.status !== "running" || !runs.cancel(id)) {
      return c.json(
        { error: `run ${id} had already ended (${before.status})`, status: before.status },
        409,
      );
    }
    await runs.ended(id);
    const info = runs.info(id)!;
    return c.json({ id, status: info.status });
  });

  app.post("/runs/:id/token", async (c) => {
    const id = checkId(c);
    if (typeof id !== "string") return id;
    return c.json({ id, ...(await eventsUrl(id)) });
  });
}

/**
 * `POST /research` as a run: its one client is the run's lead viewer, so it paces the flow (a
 * client that stops reading stops the agents reading the model), and the run is cancelled when
 * its last viewer leaves. Its frames carry `id:` and the first names the run, so while it runs
 * others may join it (`GET /runs/{id}/events`) and a client that lost its connection may come back
 * with `Last-Event-ID`, as long as somebody still watches.
 */
export function leadRunResponse(
  c: Context,
  runs: Runs,
  options: {
    /** The run's id (default: a new one); a run's Durable Object passes the id it was made for. */
    id?: string;
    input: RunInput;
    source: (signal: AbortSignal) => ReadableStream<RunEvent>;
    /** Aborting it (server shutdown) cancels the run. */
    stop?: AbortSignal;
    /** Called once when the run has ended. */
    onEnd?: () => void;
    /** `ui`: answer with the AI SDK's UI message stream (the message id is the run id). */
    format?: "sse" | "ui";
    /** `false`: this response leaves the reasoning out (the run's log keeps it). */
    reasoning?: boolean;
    /**
     * Events the flow may get ahead of its client (default 64, a connection's capacity): what
     * is ready when the client's connection takes more goes out in one write.
     */
    readAhead?: number;
  },
): Response {
  let id: string;
  try {
    id = runs.start({
      id: options.id,
      input: options.input,
      source: options.source,
      readAhead: options.readAhead ?? DEFAULT_CAPACITY,
      stopWhenUnwatched: true,
      announce: { topic: headline(options.input.topic) },
    });
  } catch (error) {
    if (error instanceof RunLimitError) return problem(c, 503, error.message);
    throw error;
  }
  const { stop } = options;
  const onStop = () => runs.cancel(id, "the run was interrupted: its server shut down");
  if (stop?.aborted) onStop();
  else stop?.addEventListener("abort", onStop, { once: true });
  runs.ended(id).then(() => {
    stop?.removeEventListener("abort", onStop);
    options.onEnd?.();
  });
  const watched = runs.watch(id, 0, {
    lead: true,
    batch: 64,
    coalesce: true,
    signal: c.req.raw.signal,
  })!;
  const viewer = options.reasoning === false ? withoutReasoning(watched) : watched;
  if (options.format === "ui") {
    return new Response(runEventsToUi(viewer, id), {
      headers: uiHeaders({ "Content-Location": `/runs/${id}` }),
    });
  }
  return new Response(runEventsToSse(viewer), {
    headers: { ...SSE_HEADERS, "Content-Location": `/runs/${id}` },
  });
}
