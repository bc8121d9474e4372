/**
 * The HTTP app: `POST /research` (and `GET /research?topic=` for EventSource) streams the research
 * flow as it runs; `GET /graph` describes it; `GET /` is the live page; `GET /healthz` reports
 * liveness and how many flows are in flight. Nothing here reads the environment: each entry point
 * (cli/serve.ts, worker.ts) builds an {@link AppConfig} and calls {@link createApp}.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import * as z from "zod/mini";
import { check } from "../src/schema.ts";
import type { LlmConfig } from "../src/llm/config.ts";
import { toGraphJson } from "../src/graph/write.ts";
import { toMermaid } from "../src/mermaid.ts";
import { researchGraph } from "../src/research/run_research.ts";
import { bearerAuth } from "./auth.ts";
import { pageHtml } from "./page.ts";
import { researchStream, type StreamFormat } from "./stream.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { Runs } from "../src/runs/runs.ts";
import { researchEvents, researchGraphIssues, researchSummary } from "./run_source.ts";
import { leadRunResponse, mountRuns, type RunBackend } from "./runs.ts";

/** How to build the app. */
export interface AppConfig {
  /** The model server (pass the offline model's `fetch` to run without one). */
  llm: LlmConfig;
  /** When set, `/research` and `/graph` require `Authorization: Bearer <token>`. */
  token?: string;
  /** Allowed CORS origin(s); `"*"` for any. No CORS headers when unset. */
  cors?: string | string[];
  /** Longest topic accepted, in characters (default 500). */
  maxTopicLength?: number;
  /** Largest request body accepted, in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /** Give up on a flow after this long (default: runResearch's 300,000 ms). */
  timeoutMs?: number;
  /** Aborting it stops every flow in flight (e.g. on server shutdown). */
  signal?: AbortSignal;
  /** Packets each connection of a flow holds (runResearch's default 64); bounds read-ahead. */
  capacity?: number;
  /**
   * runResearch's error policy when a request does not choose one (default `"fail-fast"`);
   * a request may pass `policy` in its JSON body or query to override it.
   */
  policy?: Policy;
  /**
   * Where `/runs` live: a {@link Runs} (default: one in memory, made here), or `{ forward }` to
   * pass each run's requests to its own host (the Worker: one Durable Object per run).
   */
  runs?: Runs | { forward: (id: string, request: Request) => Promise<Response> };
  /** Take a new run's id from the Worker's header (inside a run's Durable Object only). */
  runIdFromHeader?: boolean;
}

/** The `Runs` a server makes for the research flow: its summary and error wording. */
export function researchRuns(options: Omit<ConstructorParameters<typeof Runs>[0], "reduce">): Runs {
  return new Runs({ reduce: researchSummary, ...options });
}

/** runResearch's error policies, as a request or {@link AppConfig} names them. */
export type Policy = "fail-fast" | "continue";

/** One problem with a request, as reported in a 400's `issues`. */
export interface Issue {
  path: string;
  message: string;
}

const FORMATS = ["sse", "text"] as const;
const POLICIES = ["fail-fast", "continue"] as const;

/** Builds the Hono app for `config`. */
export function createApp(config: AppConfig): Hono {
  const maxTopicLength = config.maxTopicLength ?? 500;
  const maxBodyBytes = config.maxBodyBytes ?? 16 * 1024;
  const topic = z.string({
    error: (i) => i.input === undefined ? "topic is required" : "topic must be a string",
  }).check(
    z.trim(),
    z.minLength(1, "topic must not be empty"),
    z.maxLength(maxTopicLength, `topic must be at most ${maxTopicLength} characters`),
  );
  const model = z.optional(
    z.string({ error: "model must be a string" }).check(
      z.trim(),
      z.minLength(1, "model must not be empty"),
      z.maxLength(200, "model must be at most 200 characters"),
    ),
  );
  const format = z.optional(
    z.enum(FORMATS, { error: `format must be one of: ${FORMATS.join(", ")}` }),
  );
  const policy = z.optional(
    z.enum(POLICIES, { error: `policy must be one of: ${POLICIES.join(", ")}` }),
  );
  const bodySchema = z.object({ topic, model, policy }, {
    error: "the body must be a JSON object",
  });
  // POST /runs may also name the graph to run (topic still required: it goes into the graph).
  const runBodySchema = z.object({ topic, model, policy, graph: z.optional(z.unknown()) }, {
    error: "the body must be a JSON object",
  });
  const querySchema = z.object({ format });
  const getQuerySchema = z.object({ topic, model, format, policy });

  // The requests whose flows are running. Holding the Requests (not just a signal) matters: on
  // Node 20 a Request follows the signal it was made with through a weak reference, so once a
  // Request made in-process (`app.request(path, { signal })`) is collected, aborting that signal
  // no longer reaches `request.signal` and the flow would run on for a client that is gone. The
  // body limit wraps the request in a second one whose signal follows the first: hold both.
  const inFlight = new Set<Request[]>();
  const received = new WeakMap<Context, Request>();
  const app = new Hono();
  app.use("/research", async (c, next) => {
    received.set(c, c.req.raw);
    await next();
  });

  app.onError((error, c) => {
    // A middleware's own response (bearer auth's 401 and its challenge) goes out as it is.
    if (error instanceof HTTPException && error.res) return error.getResponse();
    if (error instanceof HTTPException && error.status < 500) {
      return c.json({ error: error.message || "bad request", issues: [] }, error.status);
    }
    return c.json({ error: "internal error" }, 500);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  if (config.cors !== undefined) {
    app.use(
      "*",
      cors({
        origin: config.cors,
        allowMethods: ["GET", "POST", "OPTIONS"],
        allowHeaders: ["Authorization", "Content-Type", "Accept", "Last-Event-ID"],
        exposeHeaders: ["Location"],
        maxAge: 600,
      }),
    );
  }
  if (config.token !== undefined) {
    const auth = bearerAuth(config.token);
    app.use("/research", auth);
    app.use("/graph", auth);
  }

  // The page draws the same graph GET /graph serves.
  const page = pageHtml(researchGraph());
  app.get("/", (c) => c.html(page, 200, { "Cache-Control": "no-cache" }));
  app.get("/healthz", (c) => c.json({ ok: true, active: inFlight.size }));

  // Reflow's JSON (default), a Mermaid flowchart, or the graph model itself (what the page draws).
  app.get("/graph", (c) => {
    const graph = researchGraph(c.req.query("topic") || undefined);
    const format = c.req.query("format") ?? "reflow";
    if (format === "mermaid") return c.text(toMermaid(graph));
    if (format === "model") return c.json(graph);
    if (format === "reflow") return c.json(toGraphJson(graph));
    const message = "format must be one of: reflow, mermaid, model";
    return c.json({ error: message, issues: [{ path: "format", message }] }, 400);
  });

  const backend: RunBackend = config.runs && "forward" in config.runs
    ? { kind: "forward", forward: config.runs.forward }
    : {
      kind: "local",
      runs: config.runs ?? researchRuns({ store: new MemoryRunStore() }),
      idFromHeader: config.runIdFromHeader,
      source: (input, signal) =>
        researchEvents(input.topic, {
          llm: input.model ? { ...config.llm, model: input.model } : config.llm,
          graph: input.graph,
          timeoutMs: config.timeoutMs,
          capacity: config.capacity,
          policy: input.policy ?? config.policy,
        }, signal),
    };

  const stream = (
    c: Context,
    input: { topic: string; model?: string; format?: StreamFormat; policy?: Policy },
  ) => {
    const fmt = input.format ?? preferredFormat(c.req.header("accept"));
    const requests = [c.req.raw, received.get(c) ?? c.req.raw];
    if (fmt === "sse" && backend.kind === "local") {
      // A run led by this one client: frames with ids, resumable while somebody watches.
      const { topic, model, policy } = input;
      inFlight.add(requests);
      return leadRunResponse(c, backend.runs, {
        input: { topic, ...(model ? { model } : {}), ...(policy ? { policy } : {}) },
        source: (signal) => backend.source({ topic, model, policy }, signal),
        stop: config.signal,
        onEnd: () => inFlight.delete(requests),
      });
    }
    inFlight.add(requests);
    const signals = [c.req.raw.signal, config.signal].filter((s): s is AbortSignal => !!s);
    const body = researchStream(input.topic, {
      llm: input.model ? { ...config.llm, model: input.model } : config.llm,
      format: fmt,
      signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals),
      timeoutMs: config.timeoutMs,
      capacity: config.capacity,
      policy: input.policy ?? config.policy,
      onEnd: () => inFlight.delete(requests),
    });
    return new Response(body, {
      headers: {
        "Content-Type": fmt === "sse"
          ? "text/event-stream; charset=utf-8"
          : "text/plain; charset=utf-8",
        // Without it workerd (miniflare and Cloudflare's edge) gzips text/plain, which buffers the
        // whole body until the flow ends. See notes/streams-limits.md.
        "Content-Encoding": "identity",
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
      },
    });
  };

  // The body of POST /research and POST /runs: the same limit, type and schema.
  const researchBody = [
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        c.json({
          error: `the request body is larger than ${maxBodyBytes} bytes`,
          issues: [{ path: "", message: `at most ${maxBodyBytes} bytes` }],
        }, 400),
    }),
    jsonBody(bodySchema),
  ] as const;

  app.post(
    "/research",
    researchBody[0],
    validator("query", (value, c) => parse(querySchema, value, c)),
    researchBody[1],
    (c) => stream(c, { ...c.req.valid("json"), format: c.req.valid("query").format }),
  );

  app.get(
    "/research",
    validator("query", (value, c) => parse(getQuerySchema, value, c)),
    (c) => stream(c, c.req.valid("query")),
  );

  mountRuns(app, {
    backend,
    validateBody: [researchBody[0], jsonBody(runBodySchema)],
    checkGraph: researchGraphIssues,
    token: config.token,
  });

  return app;
}

/** A JSON body (by Content-Type) validated with `schema` into `c.req.valid("json")`. */
function jsonBody<T extends z.ZodMiniType>(schema: T) {
  return validator("json", (value, c) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) {
      return bad(c, "the body must be JSON (Content-Type: application/json)", []);
    }
    return parse(schema, value, c);
  });
}

/** `text` when the client asks for text/plain rather than event streams; SSE otherwise. */
function preferredFormat(accept: string | undefined): StreamFormat {
  if (!accept) return "sse";
  const wantsText = /(^|,)\s*text\/plain\s*(;|,|$)/i.test(accept);
  const wantsSse = /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
  return wantsText && !wantsSse ? "text" : "sse";
}

function parse<T extends z.ZodMiniType>(
  schema: T,
  value: unknown,
  c: Context,
): z.output<T> | Response {
  const result = check(schema, value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  return bad(c, `invalid request: ${issues.map((i) => i.message).join("; ")}`, issues);
}

function bad(c: Context, error: string, issues: Issue[]): Response {
  return c.json({ error, issues }, 400);
}
