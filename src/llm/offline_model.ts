/**
 * The offline model: an OpenAI-compatible chat-completions server as a plain fetch handler.
 * It streams deterministic, topic-aware text ({@link offlineReply}) with configurable pacing, so
 * the CLI, the server, the tests and the benchmarks run without a model server. It can also
 * misbehave on purpose (see {@link OfflineFault}) so the LLM layer's error paths can be tested.
 *
 * @module
 */
import {
  detectRole,
  offlineReasoning,
  offlineReply,
  offlineTokens,
  parseTopic,
} from "./offline_text.ts";

/** Time to first token and per-token delay, in ms. 0 means no delay (tokens still arrive async). */
export interface OfflinePacing {
  tokenDelayMs?: number;
  firstTokenDelayMs?: number;
}

/**
 * How a fault reports an error inside a `200` response, as real servers do:
 * - `data`: `data: {"error":{…}}` then `data: [DONE]` (OpenAI, vLLM, Ollama);
 * - `error-line`: an `error: {…}` field line then `data: [DONE]` (llama.cpp before late 2025);
 * - `event-error`: `event: error` with data that has no `error` key (LM Studio);
 * - `raw-json`: a bare `{"error":{…}}` object in the `text/event-stream` body;
 * - `json-200`: a `200 application/json` body `{"error":"…"}` (LM Studio on an unknown path).
 */
export type OfflineErrorShape = "data" | "error-line" | "event-error" | "raw-json" | "json-200";

/**
 * Deliberate misbehaviour, for tests. Each knob applies to chat-completion requests only; when
 * `roles` is given, only to requests whose detected role is listed; when `count` is given, only
 * to that many of them (the first ones).
 */
export interface OfflineFault {
  /** Answer with this HTTP status and an OpenAI-style `{ error: { message, type } }` body. */
  status?: number;
  /** The error's message, `type` and `code` (with `status` or `errorShape`), over the defaults. */
  error?: { message?: string; type?: string; code?: string | number | null };
  /** With `status`: a `Retry-After` header (seconds, or an HTTP date). */
  retryAfter?: string;
  /** With `status`: a `retry-after-ms` header. */
  retryAfterMs?: number;
  /** With `status`: an `x-should-retry` header. */
  shouldRetry?: boolean;
  /** Answer 400 "Unrecognized request argument supplied: stream_options" when it is sent. */
  rejectStreamOptions?: boolean;
  /** Extra wait before the first token (the response headers go out at once). */
  stallBeforeFirstTokenMs?: number;
  /** Send this many tokens, then nothing more, without closing the stream. */
  stallAfterTokens?: number;
  /** Send `data:` events that are not JSON. */
  garbage?: boolean;
  /** Send this many tokens, then error the body stream (the connection drops). */
  dropAfterTokens?: number;
  /** Send a JSON chat.completion instead of an event stream, even when `stream: true`. */
  notEventStream?: boolean;
  /** After this many tokens (default 0), report `errorMessage` inside the 200 stream, this way. */
  errorShape?: OfflineErrorShape;
  errorAfterTokens?: number;
  /** The in-stream error's message (default llama.cpp's context overflow). */
  errorMessage?: string;
  /**
   * The last chunk's `finish_reason` (default `stop`, or `length` when cut by `max_tokens` or
   * `stopAfterTokens`); `null` sends no finish at all, only `data: [DONE]`.
   */
  finishReason?: string | null;
  /** End the answer after this many tokens (finishing with `length` unless `finishReason`). */
  stopAfterTokens?: number;
  /** Send no content at all: a role chunk, the finish, usage and `[DONE]` (LM Studio on overflow). */
  empty?: boolean;
  /** After `data: [DONE]`, keep the connection open instead of closing it. */
  holdOpenAfterDone?: boolean;
  /**
   * Answer 401 unless the request carries `Authorization: Bearer <requireKey>`. The 401 message
   * echoes the key it was given, as real servers do, so tests can check that clients scrub it.
   */
  requireKey?: string;
  /** Limit the fault to these roles (facts, stats, quotes, answer, generic). */
  roles?: string[];
  /** Limit the fault to the first `count` requests it applies to. */
  count?: number;
}

/**
 * Whether and how the offline model reasons before answering: the reasoning goes out as
 * `delta.reasoning` (Ollama, vLLM), `delta.reasoning_content` (llama.cpp, DeepSeek), or inline as
 * a `<think>…</think>` block at the start of the content (older servers).
 */
export type OfflineReasoning = "reasoning" | "reasoning_content" | "think";

/** What `onRequest` learns about each chat-completion request. */
export interface OfflineRequestInfo {
  role: string;
  model: string;
  /** Resolves if the client goes away (abort, disconnect, body cancelled) before the end. */
  aborted: Promise<void>;
  /** Resolves when the server is done with the request, whether it completed or was aborted. */
  ended: Promise<void>;
}

/** Options of {@link createOfflineModel}. */
export interface OfflineModelOptions extends OfflinePacing {
  /** Pacing per role (facts, stats, quotes, answer, generic), over the global pacing. */
  pacing?: Record<string, OfflinePacing>;
  /** Called as each chat-completion request starts. */
  onRequest?: (info: OfflineRequestInfo) => void;
  fault?: OfflineFault;
  /** Reason before answering (see {@link OfflineReasoning}); off by default. */
  reasoning?: OfflineReasoning;
}

/** Chat-completion requests seen; `active` = `started` − `completed` − `aborted`. */
export interface OfflineModelStats {
  active: number;
  started: number;
  /** Requests the server finished, including fault responses. */
  completed: number;
  /** Requests the client abandoned before the server finished. */
  aborted: number;
}

/** A running offline model. */
export interface OfflineModel {
  /** An in-process `fetch`: give it to the OpenAI client and no port is needed. */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** The fetch handler, to serve on a real port (`Deno.serve`, `@hono/node-server`, Workers). */
  handle(req: Request): Promise<Response>;
  readonly stats: OfflineModelStats;
}

/** Pacing that feels like a small local model; the default is no delay at all. */
export const REALISTIC_PACING: Readonly<OfflinePacing> = Object.freeze({
  tokenDelayMs: 25,
  firstTokenDelayMs: 200,
});

/** Model names listed by `GET /v1/models`. Chat requests accept any name. */
export const OFFLINE_MODELS: readonly string[] = ["qwen2.5:3b", "offline"];

const encoder = new TextEncoder();
/** One token of a reply, as offlineTokens cuts them, from `lastIndex` on. */
const NEXT_TOKEN = /\s*\S+|\s+/y;

/**
 * What the model reads of a request: a `Request`, or (in-process, the OpenAI client's usual call
 * with a string body) the fetch arguments themselves, which spares a Request and its body stream.
 */
interface RequestLike {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly signal: AbortSignal;
  json(): Promise<unknown>;
}

/**
 * The signal of a request made without one: never aborts. Made on first use: workerd forbids an
 * AbortController in a module's global scope (the Worker would not start).
 */
let neverAborted: AbortSignal | undefined;

/** The fetch arguments as a {@link RequestLike}, or undefined when only a Request will do. */
function requestOf(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): RequestLike | undefined {
  if (input instanceof Request || typeof init?.body !== "string") return undefined;
  return new InProcessRequest(String(input), init, init.body);
}

/** A request made in-process with a string body: what the model reads of it, nothing more. */
class InProcessRequest implements RequestLike {
  readonly url: string;
  readonly method: string;
  readonly signal: AbortSignal;
  // The init's headers and body, not the init: a live request keeps nothing else of the call.
  #headersInit: HeadersInit | undefined;
  #body: string | undefined;
  #headers: Headers | undefined;
  constructor(url: string, init: RequestInit, body: string) {
    this.url = url;
    this.method = (init.method ?? "GET").toUpperCase();
    this.signal = init.signal ?? (neverAborted ??= new AbortController().signal);
    this.#headersInit = init.headers;
    this.#body = body;
  }
  get headers(): Headers {
    return this.#headers ??= new Headers(this.#headersInit);
  }
  /** The body, parsed; read once, like a Request's. */
  json(): Promise<unknown> {
    const body = this.#body;
    this.#body = undefined;
    if (body === undefined) return Promise.reject(new TypeError("the body was read already"));
    return Promise.resolve(body).then(JSON.parse);
  }
}

/**
 * Creates an offline model.
 *
 * @example
 * ```ts
 * const offline = createOfflineModel({ tokenDelayMs: 10 });
 * for await (const delta of streamChat({ system, user, fetch: offline.fetch })) write(delta);
 * // or on a port, under Deno:
 * Deno.serve({ port: 8787 }, offline.handle);
 * ```
 */
export function createOfflineModel(options: OfflineModelOptions = {}): OfflineModel {
  const stats: OfflineModelStats = { active: 0, started: 0, completed: 0, aborted: 0 };
  let nextId = 0;

  async function serve(req: RequestLike, inProcess: boolean): Promise<Response> {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    if (req.method === "GET" && path.endsWith("/models")) return models();
    if (req.method === "POST" && path.endsWith("/chat/completions")) {
      return await chat(req, inProcess);
    }
    return errorResponse(404, `no route for ${req.method} ${path}`, "not_found_error");
  }

  let faulted = 0;

  async function chat(req: RequestLike, inProcess: boolean): Promise<Response> {
    let body: ChatRequest;
    try {
      body = await req.json() as ChatRequest;
    } catch {
      return errorResponse(400, "the request body is not valid JSON", "invalid_request_error");
    }
    if (
      !body || typeof body !== "object" || !Array.isArray(body.messages) || !body.messages.length
    ) {
      return errorResponse(400, "'messages' is required and must be a non-empty array");
    }
    const model = typeof body.model === "string" ? body.model : "offline";
    const system = body.messages.filter((m) => m?.role === "system").map(textOf).join("\n");
    const user = textOf(body.messages.findLast((m) => m?.role === "user"));
    const role = detectRole(system, user);
    const topic = parseTopic(user);
    const text = offlineReply(role, topic, user);
    const fault = options.fault;
    const applies = fault && (!fault.roles || fault.roles.includes(role)) &&
      (fault.count === undefined || faulted < fault.count);
    if (applies) faulted++;
    const f: OfflineFault = applies ? fault : {};
    const pacing = { ...options, ...options.pacing?.[role] };
    const life = lifecycle(role, model, req);
    const promptTokens = offlineTokens(`${system} ${user}`).length;

    if (f.requireKey !== undefined) {
      const given = /^Bearer\s+(.*)$/i.exec(req.headers.get("authorization") ?? "")?.[1] ?? "";
      if (given !== f.requireKey) {
        life.end("completed");
        return errorResponse(
          401,
          `Incorrect API key provided: ${given || "(none)"}`,
          "invalid_request_error",
          "invalid_api_key",
        );
      }
    }
    if (f.rejectStreamOptions && body.stream_options !== undefined) {
      life.end("completed");
      return errorResponse(400, "Unrecognized request argument supplied: stream_options");
    }
    if (f.status !== undefined && f.status >= 400) {
      life.end("completed");
      const headers = new Headers();
      if (f.retryAfter !== undefined) headers.set("retry-after", f.retryAfter);
      if (f.retryAfterMs !== undefined) headers.set("retry-after-ms", String(f.retryAfterMs));
      if (f.shouldRetry !== undefined) headers.set("x-should-retry", String(f.shouldRetry));
      return errorResponse(
        f.status,
        f.error?.message ??
          (f.status === 404
            ? `model "${model}" not found, try pulling it first`
            : `offline model fault: HTTP ${f.status}`),
        f.error?.type ??
          (f.status === 404
            ? "not_found_error"
            : f.status >= 500
            ? "server_error"
            : "invalid_request_error"),
        f.error?.code ?? null,
        headers,
      );
    }
    const errorMessage = f.errorMessage ??
      "the request exceeds the available context size, try increasing it";
    if (f.errorShape === "json-200") {
      life.end("completed");
      return Response.json({ error: errorMessage });
    }
    const id = `chatcmpl-offline-${nextId++}`;
    const created = Math.floor(Date.now() / 1000);
    const reasoning = options.reasoning ? offlineTokens(offlineReasoning(role, topic, user)) : [];
    if (body.stream !== true || f.notEventStream) {
      life.end("completed");
      const message: Record<string, string> = { role: "assistant", content: text };
      if (options.reasoning === "think") {
        message.content = `<think>${reasoning.join("")}</think>\n\n${text}`;
      } else if (options.reasoning) message[options.reasoning] = reasoning.join("");
      return Response.json({
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{ index: 0, message, finish_reason: "stop" }],
        usage: usage(promptTokens, reasoning.length + offlineTokens(text).length, reasoning.length),
      });
    }

    // What goes out, one frame per pull: reasoning tokens, then the answer's tokens (cut at
    // max_tokens or stopAfterTokens), then the finish, the usage and [DONE].
    // The answer's tokens are cut from `text` as they go out (a live request holds the text,
    // not an array of its tokens); here only counted.
    let answerCount = f.empty ? 0 : offlineTokens(text).length;
    let finish = f.finishReason;
    const limit = Math.min(
      f.stopAfterTokens ?? Infinity,
      typeof body.max_tokens === "number" && body.max_tokens > 0
        ? Math.max(0, body.max_tokens - reasoning.length)
        : Infinity,
    );
    if (answerCount > limit) {
      answerCount = limit;
      if (finish === undefined) finish = "length";
    }
    // The frames' tokens, by position (not an object each: a live request holds these): the
    // reasoning first (as `<think>…</think>` content, or in its own field), then the answer.
    const thinking = options.reasoning === "think"
      ? ["<think>", ...reasoning, "</think>\n\n"]
      : options.reasoning
      ? reasoning
      : [];
    const thoughtField = options.reasoning === "think" ? "content" : options.reasoning ?? "";
    const tokenCount = thinking.length + answerCount;
    /** Where the next answer token starts in `text`. */
    let cut = 0;
    const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)
      ?.include_usage === true;
    // No closure per request for the frames (a live request holds every closure it made).
    const head = { id, created, model };
    let sent = 0;
    let ended = false;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        // A real fetch errors the response body when its request is aborted; in-process the body
        // does the same, so the reader learns at once. Over HTTP the server tears it down itself.
        if (inProcess) {
          life.onAbort = () => {
            try {
              controller.error(abortReason(req.signal));
            } catch { /* already closed */ }
          };
        }
      },
      async pull(controller) {
        // Once the client is gone nothing more is generated; closing releases any late reader.
        const quit = () => life.done && (close(controller), true);
        if (quit()) return;
        if (ended || sent === f.stallAfterTokens) {
          await life.sleep(Infinity);
          quit();
          return;
        }
        if (sent === f.dropAfterTokens) {
          life.end("completed");
          controller.error(new TypeError("offline model fault: connection dropped"));
          return;
        }
        if (f.errorShape && sent === (f.errorAfterTokens ?? 0)) {
          controller.enqueue(encoder.encode(errorFrame(f, errorMessage)));
          controller.close();
          life.end("completed");
          return;
        }
        if (sent < tokenCount) {
          const wait = sent === 0
            ? (pacing.firstTokenDelayMs ?? 0) + (f.stallBeforeFirstTokenMs ?? 0)
            : pacing.tokenDelayMs ?? 0;
          // No timer for no delay: a zero timeout still costs a timer turn (1 ms on Node) per
          // token, which would make the zero-latency model measure timers, not the flow.
          if (wait > 0) {
            await life.sleep(wait);
            if (quit()) return;
          }
          const thought = sent < thinking.length;
          const field = thought ? thoughtField : "content";
          let token: string;
          if (thought) token = thinking[sent];
          else {
            NEXT_TOKEN.lastIndex = cut;
            token = NEXT_TOKEN.exec(text)![0];
            cut = NEXT_TOKEN.lastIndex;
          }
          const delta: Record<string, string> = sent === 0
            ? { role: "assistant", [field]: token }
            : { [field]: token };
          sent++;
          controller.enqueue(
            encoder.encode(
              f.garbage ? `data: {"id": not json ${token}\n\n` : chunkFrame(head, delta, null),
            ),
          );
          return;
        }
        let tail = "";
        if (sent === 0) tail += chunkFrame(head, { role: "assistant", content: "" }, null);
        if (finish !== null) tail += chunkFrame(head, {}, finish ?? "stop");
        if (includeUsage) {
          tail += `data: ${
            JSON.stringify({
              id,
              object: "chat.completion.chunk",
              created,
              model,
              system_fingerprint: "offline",
              choices: [],
              usage: usage(promptTokens, sent, Math.min(sent, reasoning.length)),
            })
          }\n\n`;
        }
        tail += "data: [DONE]\n\n";
        controller.enqueue(encoder.encode(tail));
        if (f.holdOpenAfterDone) {
          ended = true;
          return;
        }
        controller.close();
        life.end("completed");
      },
      cancel() {
        life.end("aborted");
      },
    }, { highWaterMark: 0 });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  }

  function lifecycle(role: string, model: string, req: RequestLike) {
    // Hold the request itself until the end, not just its signal: Node 20's Request follows its
    // init.signal through a weak reference, so once the Request is collected an abort of the
    // caller's signal no longer reaches `req.signal` and the request would never be seen to end.
    const signal = req.signal;
    stats.started++;
    stats.active++;
    // Promises for the onRequest hook only (none to hold when nobody asked).
    let resolveAborted: (() => void) | undefined;
    let resolveEnded: (() => void) | undefined;
    const watch = options.onRequest;
    const aborted = watch && new Promise<void>((r) => (resolveAborted = r));
    const ended = watch && new Promise<void>((r) => (resolveEnded = r));
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake: (() => void) | undefined;
    const life = {
      done: false,
      request: req as RequestLike | undefined,
      /** Called once if the request is aborted (the in-process body errors then). */
      onAbort: undefined as (() => void) | undefined,
      end(kind: "completed" | "aborted") {
        if (life.done) return;
        life.done = true;
        life.request = undefined;
        clearTimeout(timer);
        wake?.();
        signal.removeEventListener("abort", onAbort);
        stats.active--;
        stats[kind]++;
        if (kind === "aborted") resolveAborted?.();
        resolveEnded?.();
      },
      /** Waits `ms` (forever for Infinity) or until the request ends, whichever is first. */
      sleep(ms: number): Promise<void> {
        return new Promise<void>((resolve) => {
          wake = resolve;
          if (ms !== Infinity) timer = setTimeout(resolve, Math.max(0, ms));
        });
      },
    };
    const onAbort = () => {
      life.onAbort?.();
      life.end("aborted");
    };
    if (signal.aborted) queueMicrotask(onAbort);
    else signal.addEventListener("abort", onAbort, { once: true });
    watch?.({ role, model, aborted: aborted!, ended: ended! });
    return life;
  }

  return {
    stats,
    handle: (req) => serve(req, false),
    fetch: async (input, init) => {
      const req = requestOf(input, init) ?? new Request(input, init);
      if (req.signal.aborted) throw abortReason(req.signal);
      return await serve(req, true);
    },
  };
}

interface ChatMessage {
  role?: string;
  content?: string | Array<{ type?: string; text?: string }> | null;
}

interface ChatRequest {
  model?: unknown;
  stream?: unknown;
  stream_options?: unknown;
  max_tokens?: unknown;
  messages: ChatMessage[];
}

function textOf(message: ChatMessage | undefined): string {
  const content = message?.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => part?.text ?? "").join("");
  return "";
}

/** One `chat.completion.chunk` frame. */
function chunkFrame(
  head: { id: string; created: number; model: string },
  delta: Record<string, string>,
  reason: string | null,
): string {
  return `data: ${
    JSON.stringify({
      id: head.id,
      object: "chat.completion.chunk",
      created: head.created,
      model: head.model,
      system_fingerprint: "offline",
      choices: [{ index: 0, delta, finish_reason: reason }],
    })
  }\n\n`;
}

/** The in-stream error frame of a fault, in the shape `f.errorShape` names. */
function errorFrame(f: OfflineFault, errorMessage: string): string {
  // llama.cpp's own shape for its most common failure (server-common.cpp,
  // format_error_response with ERROR_TYPE_EXCEED_CONTEXT_SIZE).
  const error = {
    code: f.error?.code ?? 400,
    message: errorMessage,
    type: f.error?.type ?? "exceed_context_size_error",
  };
  switch (f.errorShape) {
    case "error-line":
      return `error: ${JSON.stringify(error)}\n\ndata: [DONE]\n\n`;
    case "event-error":
      return `event: error\ndata: ${JSON.stringify({ message: errorMessage })}\n\n`;
    case "raw-json":
      return `${JSON.stringify({ error })}\n`;
    default:
      return `data: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`;
  }
}

function close(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch { /* already closed or errored */ }
}

function models(): Response {
  return Response.json({
    object: "list",
    data: OFFLINE_MODELS.map((id) => ({ id, object: "model", created: 0, owned_by: "offline" })),
  });
}

function errorResponse(
  status: number,
  message: string,
  type = "invalid_request_error",
  code: string | number | null = null,
  headers?: Headers,
): Response {
  return Response.json({ error: { message, type, param: null, code } }, { status, headers });
}

/** OpenAI's usage object, with the reasoning tokens in `completion_tokens_details`. */
function usage(prompt: number, completion: number, reasoning: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(reasoning ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}),
  };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}
