/**
 * The HTTP app: `POST /research` (and `GET /research?topic=` for EventSource) streams the research
 * flow as it runs; `POST /chat` does the same for the AI SDK's `useChat`; `GET /graph` describes it; `GET /` is the live page; `GET /healthz` reports
 * liveness and how many flows are in flight. Nothing here reads the environment: each entry point
 * (cli/serve.ts, worker.ts) builds an {@link AppConfig} and calls {@link createApp}.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import * as z from "zod/mini";
import { check } from "../src/schema.ts";
import type { LlmConfig } from "../src/llm/config.ts";
import { toGraphJson } from "../src/graph/write.ts";
import { toMermaid } from "../src/mermaid.ts";
import { RESEARCH_TIMEOUT_MS, researchGraph } from "../src/research/run_research.ts";
import { AGENT_LIMITS } from "../src/research/agents.ts";
import { Admission } from "./admission.ts";
import { GUARD_LIMITS, guardBody, onSettled } from "./lifetime.ts";
import { bearerAuth } from "./auth.ts";
import { readBody } from "./body.ts";
import { clientError, logLine } from "./errors.ts";
import { pageHtml } from "./page.ts";
import { createScrubber, type Scrubber } from "./secrets.ts";
import { researchStream, type StreamFormat } from "./stream.ts";
import { parseChatRequest } from "./chat.ts";
import { uiHeaders } from "./ui_stream.ts";
import type { Network } from "../src/network.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { type RunInfo, Runs } from "../src/runs/runs.ts";
import { researchEvents, researchGraphIssues, researchSummary } from "./run_source.ts";
import { isRunId, leadRunResponse, mountRuns, RUN_ID_HEADER, type RunBackend } from "./runs.ts";
import { modelOption, POLICIES, policyOption, reasoningOption } from "./options.ts";

/** How to build the app. */
export interface AppConfig {
  /** The model server (pass the offline model's `fetch` to run without one). */
  llm: LlmConfig;
  /** When set, `/research`, `/chat`, `/graph` and `/runs` require `Authorization: Bearer <token>`. */
  token?: string;
  /** Allowed CORS origin(s); `"*"` for any. No CORS headers when unset. */
  cors?: string | string[];
  /** Longest topic accepted, in characters (default 500). */
  maxTopicLength?: number;
  /** Largest request body accepted, in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /**
   * Largest `POST /chat` body, in bytes (default 1 MiB): `useChat` sends the whole conversation
   * every time, and each answer of the research flow is a few KB.
   */
  maxChatBodyBytes?: number;
  /**
   * Called with each flow's network before it starts, to observe it, and with `waitUntil` (the
   * Worker's `ctx.waitUntil`; elsewhere it just lets the promise run): e.g.
   * `(net) => traceNetwork(net, { workflowName: "research" })` from reflow-edge/otel.
   */
  instrument?: (net: Network, request: { waitUntil(promise: Promise<unknown>): void }) => void;
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
   * The models a client may ask for (`model` in the body or query); the default is `llm.model`,
   * which must be one of them, or else the first. Without it a request naming a model is refused
   * (400), unless {@link AppConfig.anyModel} is set.
   */
  models?: string[];
  /** Let clients ask for any model (the operator pays for it). Default false. */
  anyModel?: boolean;
  /** Flows in flight at once, server-wide (per isolate on Workers); more are a 429. Default 64. */
  maxFlows?: number;
  /** Flows in flight at once per client address (see {@link AppConfig.clientAddress}). Default 8. */
  maxFlowsPerClient?: number;
  /**
   * Flows one client address may start per minute in the long run (default 60), in bursts of at
   * most {@link AppConfig.flowStartBurstPerClient}; more are a 429 saying when to try again.
   */
  maxFlowStartsPerClientPerMinute?: number;
  /** Flow starts one client may make at once before the per-minute rate applies. Default 10. */
  flowStartBurstPerClient?: number;
  /** `Retry-After` on a 429, in seconds. Default 5. */
  retryAfterSeconds?: number;
  /**
   * The client's address, from what the runtime tells about the connection (`env` is the second
   * argument of `app.fetch`). Without it only the server-wide cap applies.
   */
  clientAddress?: (request: Request, env: unknown) => string | undefined;
  /** The request body must arrive within this many ms, or the answer is a 408. Default 15,000. */
  bodyTimeoutMs?: number;
  /**
   * Show clients the full error of a failed flow (the model server's host and words, scrubbed of
   * secrets) instead of a code and a message. Default false.
   */
  verboseErrors?: boolean;
  /** Where failed flows are logged, with full detail (scrubbed of secrets). Default: nowhere. */
  log?: (line: string) => void;
  /**
   * An SSE comment (`: keep-alive`) goes out when a stream has been quiet this long. Each one is a
   * write, which is how workerd notices a client that left before the body started flowing.
   * Default 15,000 ms.
   */
  heartbeatMs?: number;
  /**
   * A client that takes nothing of what is waiting for it for this long is taken to be gone: its
   * flow ends and its connection is closed. Default 30,000 ms.
   */
  stallTimeoutMs?: number;
  /**
   * For workerd: a flow whose body has shown no sign of life (its guard ticks at least once a
   * second) for this long is counted as gone: its place is freed, and a run it leads is
   * cancelled. workerd stops every timer and promise of a request whose client left, and does
   * not always say so (neither `request.signal` nor the body's `cancel()`), so such a flow never
   * ends by itself. Checked whenever a request comes in. Default: off (Node and Deno always say).
   */
  silentFlowMs?: number;
  /**
   * `max_tokens` sent with every model call: a number for every agent, or per role label
   * (`{ "*": 2048, answer: 4096 }`); node metadata `maxTokens` in a graph wins. Default 4096 for
   * every agent, unless `llm.maxTokens` is set.
   */
  maxTokens?: number | Record<string, number>;
  /** The most one agent's reply may hold, in UTF-8 bytes; past it the call is cut (default 64 KiB). */
  maxReplyBytes?: number;
  /** The most the synthesizer's prompt may hold, in UTF-8 bytes (default 256 KiB). */
  maxPromptBytes?: number;
  /**
   * Where `/runs` live: a {@link Runs} (default: one in memory, made here), or `{ forward }` to
   * pass each run's requests to its own host (the Worker: one Durable Object per run).
   */
  runs?: Runs | {
    forward: (id: string, request: Request) => Promise<Response>;
    list?: (limit: number) => Promise<RunInfo[]>;
  };
  /** Take a new run's id from the Worker's header (inside a run's Durable Object only). */
  runIdFromHeader?: boolean;
}

/** The `Runs` a server makes for the research flow: its summary and error wording. */
export function researchRuns(options: Omit<ConstructorParameters<typeof Runs>[0], "reduce">): Runs {
  return new Runs({ reduce: researchSummary, ...options });
}

/** The defaults of {@link AppConfig}'s limits, as the README documents them. */
export const APP_LIMITS = Object.freeze({
  maxTopicLength: 500,
  maxBodyBytes: 16 * 1024,
  maxChatBodyBytes: 1024 * 1024,
  maxFlows: 64,
  maxFlowsPerClient: 8,
  maxFlowStartsPerClientPerMinute: 60,
  flowStartBurstPerClient: 10,
  retryAfterSeconds: 5,
  bodyTimeoutMs: 15_000,
  heartbeatMs: GUARD_LIMITS.keepAliveMs,
  stallTimeoutMs: GUARD_LIMITS.stallMs,
  maxTokens: 4096,
  maxReplyBytes: AGENT_LIMITS.maxReplyBytes,
  maxPromptBytes: AGENT_LIMITS.maxPromptBytes,
});

/** A flow in flight: when it last showed a sign of life, and how to end it from outside. */
interface Flow {
  seen: number;
  end(): void;
}

/** runResearch's error policies, as a request or {@link AppConfig} names them. */
export type Policy = (typeof POLICIES)[number];

/** One problem with a request, as reported in a 400's `issues`. */
export interface Issue {
  path: string;
  message: string;
}

const FORMATS = ["sse", "text", "ui"] as const;

/** Builds the Hono app for `config`. */
export function createApp(config: AppConfig): Hono {
  const maxTopicLength = config.maxTopicLength ?? APP_LIMITS.maxTopicLength;
  const maxBodyBytes = config.maxBodyBytes ?? APP_LIMITS.maxBodyBytes;
  const maxChatBodyBytes = config.maxChatBodyBytes ?? APP_LIMITS.maxChatBodyBytes;
  const bodyTimeoutMs = config.bodyTimeoutMs ?? APP_LIMITS.bodyTimeoutMs;
  const retryAfter = String(config.retryAfterSeconds ?? APP_LIMITS.retryAfterSeconds);
  const models = config.models?.length ? [...config.models] : undefined;
  if (models && config.llm.model !== undefined && !models.includes(config.llm.model)) {
    throw new Error(
      `createApp: the default model ${config.llm.model} is not among the allowed models ` +
        `(${models.join(", ")})`,
    );
  }
  const llm = models && config.llm.model === undefined
    ? { ...config.llm, model: models[0] }
    : config.llm;
  const scrub: Scrubber = createScrubber({
    apiKey: llm.apiKey,
    token: config.token,
    urls: [llm.baseURL],
  });
  // What the models may send (runResearch's limits).
  const maxTokens = config.maxTokens ??
    (llm.maxTokens ? undefined : APP_LIMITS.maxTokens);
  const limits = {
    maxTokens: typeof maxTokens === "number" ? { "*": maxTokens } : maxTokens,
    maxReplyBytes: config.maxReplyBytes ?? APP_LIMITS.maxReplyBytes,
    maxPromptBytes: config.maxPromptBytes ?? APP_LIMITS.maxPromptBytes,
  };
  const admission = new Admission({
    maxFlows: config.maxFlows ?? APP_LIMITS.maxFlows,
    maxFlowsPerClient: config.maxFlowsPerClient ?? APP_LIMITS.maxFlowsPerClient,
    maxFlowStartsPerClientPerMinute: config.maxFlowStartsPerClientPerMinute ??
      APP_LIMITS.maxFlowStartsPerClientPerMinute,
    flowStartBurstPerClient: config.flowStartBurstPerClient ?? APP_LIMITS.flowStartBurstPerClient,
  });
  const topic = z.string({
    error: (i) => i.input === undefined ? "topic is required" : "topic must be a string",
  }).check(
    z.trim(),
    z.minLength(1, "topic must not be empty"),
    z.maxLength(maxTopicLength, `topic must be at most ${maxTopicLength} characters`),
  );
  const model = modelOption;
  const format = z.optional(
    z.enum(FORMATS, { error: `format must be one of: ${FORMATS.join(", ")}` }),
  );
  const policy = policyOption;
  const reasoning = reasoningOption;
  const bodySchema = z.object({ topic, model, policy, reasoning }, {
    error: "the body must be a JSON object",
  });
  // POST /runs may also name the graph to run (topic still required: it goes into the graph).
  const runBodySchema = z.object({
    topic,
    model,
    policy,
    reasoning,
    graph: z.optional(z.unknown()),
  }, {
    error: "the body must be a JSON object",
  });
  const querySchema = z.object({ format, reasoning });
  const getQuerySchema = z.object({ topic, model, format, policy, reasoning });

  // The requests whose flows are running. Holding the Requests (not just a signal) matters: on
  // Node 20 a Request follows the signal it was made with through a weak reference, so once a
  // Request made in-process (`app.request(path, { signal })`) is collected, aborting that signal
  // no longer reaches `request.signal` and the flow would run on for a client that is gone.
  const inFlight = new Map<Request, Flow>();
  const slots = new WeakMap<Context, { release(): void }>();
  const app = new Hono();

  // Hono answers HEAD by running the GET handler and dropping its body without cancelling it: a
  // streamed body would run on for nobody. Cancel whatever body a HEAD produced.
  app.use("*", async (c, next) => {
    sweep();
    await next();
    if (c.req.method === "HEAD") await c.res.body?.cancel().catch(() => {});
  });

  /** Ends the flows that have gone silent (see AppConfig.silentFlowMs). */
  const sweep = () => {
    const silentMs = config.silentFlowMs;
    if (silentMs === undefined || inFlight.size === 0) return;
    const now = Date.now();
    for (const flow of inFlight.values()) {
      if (now - flow.seen > silentMs) {
        config.log?.(`reflow-edge: a flow showed no sign of life for ${silentMs} ms; ended`);
        flow.end();
      }
    }
  };

  app.onError((error, c) => {
    // A middleware's own response (bearer auth's 401 and its challenge) goes out as it is.
    if (error instanceof HTTPException && error.res) return error.getResponse();
    if (error instanceof HTTPException && error.status < 500) {
      return c.json(
        { error: error.message || "bad request", code: "bad_request", issues: [] },
        error.status,
      );
    }
    config.log?.(`reflow-edge: ${c.req.method} ${c.req.path} failed: ${logLine(error, scrub)}`);
    return c.json({ error: "internal error", code: "internal" }, 500);
  });
  app.notFound((c) =>
    c.json({ error: `no route for ${c.req.method} ${c.req.path}`, code: "not_found" }, 404)
  );

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
    app.use("/chat", auth);
    app.use("/graph", auth);
  }

  // Admission: a slot per request that may start a flow, taken before its body is read and held
  // until the flow ends (or handed back at once when the request is refused).
  const admit: MiddlewareHandler = async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "POST") return await next();
    const slot = admission.enter(config.clientAddress?.(c.req.raw, c.env));
    if ("reason" in slot) {
      const wait = String(slot.retryAfter ?? retryAfter);
      const { limits } = admission;
      return c.json(
        {
          error: slot.reason === "server"
            ? `the server is running as many research flows as it allows ` +
              `(${limits.maxFlows}); try again in ${wait} s`
            : slot.reason === "client"
            ? `this client already runs as many research flows as one client may ` +
              `(${limits.maxFlowsPerClient}); try again in ${wait} s`
            : `this client starts research flows faster than one client may ` +
              `(${limits.maxFlowStartsPerClientPerMinute} a minute, ` +
              `${limits.flowStartBurstPerClient} at once); try again in ${wait} s`,
          code: "busy",
        },
        429,
        { "Retry-After": wait },
      );
    }
    slots.set(c, slot);
    try {
      await next();
    } finally {
      // A flow took the slot over (and releases it when it ends); otherwise it is free again.
      if (slots.get(c) === slot) slot.release();
    }
  };
  app.use("/research", admit);
  app.use("/chat", admit);

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

  /** The model a request may use, or the 400 that refuses it. */
  const chooseModel = (c: Context, asked: string | undefined): string | undefined | Response => {
    if (asked === undefined || asked === llm.model) return asked;
    if (models) {
      if (models.includes(asked)) return asked;
      return bad(
        c,
        `model ${JSON.stringify(asked)} is not allowed here; allowed: ${models.join(", ")}`,
        [
          { path: "model", message: `must be one of: ${models.join(", ")}` },
        ],
      );
    }
    if (config.anyModel) return asked;
    return bad(
      c,
      "this server does not let clients choose the model; leave out `model` " +
        "(the server's operator can allow models with REFLOW_MODELS)",
      [{ path: "model", message: "not accepted by this server" }],
    );
  };

  // What a client sees of a failed flow (and of a specialist's failure under "continue"); the
  // server log gets the whole story.
  const errorViews = {
    renderError: (error: unknown) => {
      config.log?.(`reflow-edge: research flow failed: ${logLine(error, scrub)}`);
      return clientError(error, { scrub, verbose: config.verboseErrors });
    },
    describeError: (error: unknown) => {
      config.log?.(`reflow-edge: an agent failed (the flow goes on): ${logLine(error, scrub)}`);
      return clientError(error, { scrub, verbose: config.verboseErrors }).message;
    },
  };

  // Every streamed body a flow feeds: keep-alive comments on event streams while it is quiet,
  // and an end for a client that stops reading (routes/lifetime.ts). A flow's own response (given
  // `onTick`, its sign of life) is also bounded by the flow's time limit: past it, its last frames
  // go out only to a client that takes them.
  const keepAlive = new TextEncoder().encode(": keep-alive\n\n");
  const guard = (body: ReadableStream<Uint8Array>, sse: boolean, onTick?: () => void) =>
    guardBody(body, {
      onTick,
      deadlineMs: onTick ? config.timeoutMs ?? RESEARCH_TIMEOUT_MS : undefined,
      keepAlive: sse ? keepAlive : undefined,
      keepAliveMs: config.heartbeatMs ?? APP_LIMITS.heartbeatMs,
      stallMs: config.stallTimeoutMs ?? APP_LIMITS.stallTimeoutMs,
      onStall: (error) => config.log?.(`reflow-edge: ${error.message}`),
    });

  const headersFor = (fmt: StreamFormat): Record<string, string> =>
    fmt === "ui" ? uiHeaders() : {
      "Content-Type": fmt === "sse"
        ? "text/event-stream; charset=utf-8"
        : "text/plain; charset=utf-8",
      // Without it workerd (miniflare and Cloudflare's edge) gzips text/plain, which buffers the
      // whole body until the flow ends. See notes/streams-limits.md.
      "Content-Encoding": "identity",
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
    };

  // What every flow of this app runs with, given a request's model and policy; `waitUntil` is
  // its request's (the Worker's ctx.waitUntil) when there is one.
  const flowOptions = (
    input: { model?: string; policy?: Policy },
    waitUntil: (promise: Promise<unknown>) => void,
  ) => {
    const instrument = config.instrument;
    return {
      llm: input.model ? { ...llm, model: input.model } : llm,
      timeoutMs: config.timeoutMs,
      capacity: config.capacity,
      policy: input.policy ?? config.policy,
      ...errorViews,
      limits,
      instrument: instrument && ((net: Network) => instrument(net, { waitUntil })),
    };
  };

  // A run's flow.
  const runSource = (
    input: { topic: string; model?: string; policy?: Policy; graph?: unknown },
    signal: AbortSignal,
    waitUntil: (promise: Promise<unknown>) => void,
  ) =>
    researchEvents(
      input.topic,
      { ...flowOptions(input, waitUntil), graph: input.graph },
      signal,
    );

  const backend: RunBackend = config.runs && "forward" in config.runs
    ? { kind: "forward", forward: config.runs.forward, list: config.runs.list }
    : {
      kind: "local",
      runs: config.runs ?? researchRuns({ store: new MemoryRunStore() }),
      idFromHeader: config.runIdFromHeader,
      source: (input, signal) => runSource(input, signal, inBackground),
    };

  const stream = (
    c: Context,
    input: {
      topic: string;
      model?: string;
      format?: StreamFormat;
      policy?: Policy;
      /** `false`: leave the agents' reasoning out of this response (routes/options.ts). */
      reasoning?: boolean;
    },
  ) => {
    const fmt = input.format ?? preferredFormat(c.req.header("accept"));
    // HEAD: the headers a GET would get, and no flow.
    if (c.req.method === "HEAD") return new Response(null, { headers: headersFor(fmt) });
    const chosen = chooseModel(c, input.model);
    if (chosen instanceof Response) return chosen;
    const request = c.req.raw;
    const slot = slots.get(c);
    slots.delete(c);
    const flow: Flow = { seen: Date.now(), end: () => ended() };
    inFlight.set(request, flow);
    const ended = () => {
      request.signal.removeEventListener("abort", ended);
      inFlight.delete(request);
      slot?.release();
    };
    // The client is gone: its place is free now. (workerd may never run the flow's own teardown
    // once the client has left: the request's timers and promises stop for good.)
    request.signal.addEventListener("abort", ended, { once: true });
    const alive = () => (flow.seen = Date.now());
    if ((fmt === "sse" || fmt === "ui") && backend.kind === "forward") {
      // On Workers each run is its own Durable Object: this client leads the run there, and its
      // frames come back through here (ids, the first naming the run, resumable by id while it is
      // alive). The client leaving cancels the request to the object, which stops the run; the
      // place here is held until the object's stream ends.
      const id = crypto.randomUUID();
      const url = new URL(c.req.url);
      const { topic, policy, reasoning } = input;
      const forwarded = new Request(`${url.origin}/research?format=${fmt}`, {
        method: "POST",
        headers: { "content-type": "application/json", [RUN_ID_HEADER]: id },
        body: JSON.stringify({
          topic,
          ...(chosen ? { model: chosen } : {}),
          ...(policy ? { policy } : {}),
          ...(reasoning !== undefined ? { reasoning } : {}),
        }),
        signal: request.signal,
      });
      return backend.forward(id, forwarded).then((res) => {
        if (!res.ok || !res.body) {
          ended();
          return res;
        }
        return new Response(guard(onSettled(res.body, ended), true, alive), res);
      }, (error) => {
        ended();
        throw error;
      });
    }
    if ((fmt === "sse" || fmt === "ui") && backend.kind === "local") {
      // A run led by this one client: frames with ids, resumable while somebody watches (the UI
      // stream's message id is the run id: GET /runs/{id}/events?format=ui replays it).
      const { topic, policy } = input;
      const model = chosen;
      // Inside a run's Durable Object: the id the Worker made for it.
      const wanted = backend.idFromHeader ? c.req.header(RUN_ID_HEADER) : undefined;
      const led = leadRunResponse(c, backend.runs, {
        id: wanted !== undefined && isRunId(wanted) ? wanted : undefined,
        input: { topic, ...(model ? { model } : {}), ...(policy ? { policy } : {}) },
        source: (signal) => runSource({ topic, model, policy }, signal, waitUntilOf(c)),
        stop: config.signal,
        onEnd: ended,
        format: fmt,
        reasoning: input.reasoning,
        readAhead: config.capacity,
      });
      const run = /^\/runs\/(.+)$/.exec(led.headers.get("content-location") ?? "")?.[1];
      flow.end = () => {
        ended();
        // A run whose flow went silent cannot end by itself, and cannot be stopped from this
        // request (workerd: its flow belongs to the dead one): its record is finished here.
        if (run) backend.runs.forget(run, "cancelled", "the run was stopped: its client is gone");
      };
      return led.ok && led.body ? new Response(guard(led.body, true, alive), led) : led;
    }
    const signals = [request.signal, config.signal].filter((s): s is AbortSignal => !!s);
    const body = researchStream(input.topic, {
      ...flowOptions({ model: chosen, policy: input.policy }, waitUntilOf(c)),
      format: fmt,
      signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals),
      // Nobody else sees this flow: without reasoning the agents need not send it at all.
      reasoning: input.reasoning,
      onEnd: ended,
    });
    return new Response(guard(body, fmt !== "text", alive), { headers: headersFor(fmt) });
  };

  // The body of POST /research and POST /runs: read within the limits (routes/body.ts), JSON,
  // the schema, and a model the client may ask for; then `c.req.valid("json")` holds it.
  /** The request's JSON body, read within the limits (routes/body.ts), or the answer refusing it. */
  const readJson = async (c: Context, maxBytes: number): Promise<{ json: unknown } | Response> => {
    if (!/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
      return bad(c, "the body must be JSON (Content-Type: application/json)", []);
    }
    const text = await readBody(c.req.raw, { maxBytes, timeoutMs: bodyTimeoutMs });
    if (typeof text !== "string") {
      return c.json(
        { error: text.error, code: text.code, issues: [{ path: "", message: text.error }] },
        text.status,
        text.close ? { Connection: "close" } : {},
      );
    }
    try {
      return { json: JSON.parse(text) };
    } catch {
      return bad(c, "Malformed JSON in request body", []);
    }
  };
  const jsonBody =
    <T extends z.ZodMiniType<{ model?: string }>>(schema: T): MiddlewareHandler =>
    async (c, next) => {
      const body = await readJson(c, maxBodyBytes);
      if (body instanceof Response) return body;
      const input = parse(schema, body.json, c);
      if (input instanceof Response) return input;
      const chosen = chooseModel(c, input.model);
      if (chosen instanceof Response) return chosen;
      c.req.addValidatedData("json", { ...input, model: chosen });
      await next();
    };
  const researchBody = jsonBody(bodySchema);

  app.post(
    "/research",
    validator("query", (value, c) => parse(querySchema, value, c)),
    researchBody,
    (c) => {
      const input = (c.req as unknown as { valid(t: "json"): z.output<typeof bodySchema> })
        .valid("json");
      const query = c.req.valid("query");
      // The body's `reasoning` wins over the query's.
      return stream(c, {
        ...input,
        format: query.format,
        reasoning: input.reasoning ?? query.reasoning,
      });
    },
  );

  app.get(
    "/research",
    validator("query", (value, c) => parse(getQuerySchema, value, c)),
    (c) => stream(c, c.req.valid("query")),
  );

  // The AI SDK's chat transport (useChat): researches the last user message and answers as a UI
  // message stream (routes/chat.ts reads the body).
  app.post("/chat", async (c) => {
    const body = await readJson(c, maxChatBodyBytes);
    if (body instanceof Response) return body;
    const result = parseChatRequest(body.json, maxTopicLength);
    if (!result.ok) {
      const { issues } = result;
      return bad(c, `invalid request: ${issues.map((i) => i.message).join("; ")}`, issues);
    }
    const { topic, model, policy, reasoning } = result.value;
    return stream(c, { topic, model, policy, reasoning, format: "ui" });
  });

  mountRuns(app, {
    backend,
    guard: (body) => guard(body, true),
    validateBody: [jsonBody(runBodySchema)],
    checkGraph: researchGraphIssues,
    token: config.token,
  });

  return app;
}

/** For a flow no request waits for: the promise simply runs. */
function inBackground(promise: Promise<unknown>): void {
  promise.catch(() => {});
}

/** The Worker's `ctx.waitUntil` when there is one; elsewhere the promise simply runs. */
function waitUntilOf(c: Context): (promise: Promise<unknown>) => void {
  return (promise) => {
    promise.catch(() => {});
    try {
      c.executionCtx.waitUntil(promise);
    } catch {
      // Not on Workers: Hono has no execution context, and nothing ends the isolate early.
    }
  };
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
  return c.json({ error, code: "bad_request", issues }, 400);
}
