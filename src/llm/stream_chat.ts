/**
 * Streaming chat completions against any OpenAI-compatible endpoint.
 *
 * @module
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type OpenAI from "openai";
import { openAIClient } from "./client_cache.ts";
import { type LlmConfig, type ResolvedLlmConfig, resolveLlmConfig } from "./config.ts";
import { LlmError, type LlmErrorCode, scrubSecret } from "./errors.ts";

/** One chat call: a system prompt, a user prompt, and optional per-call configuration. */
export interface StreamChatOptions extends LlmConfig {
  system: string;
  user: string;
  /** Aborting it cancels the HTTP request; the call then rejects with code `"aborted"`. */
  signal?: AbortSignal;
}

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

// Short and capped: retries only cover a server that is starting up or briefly overloaded.
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 2_000;

/**
 * Streams the model's reply as text deltas.
 *
 * Rules the caller can rely on:
 * - aborting `signal` or stopping iteration early (`break`, `return()`) ends the HTTP request;
 * - every failure is an {@link LlmError}; the caller's own abort has code `"aborted"` (and name
 *   `"AbortError"`);
 * - connection failures, 5xx and 429 are retried up to `maxRetries` times, but only before the
 *   first token: a retry after text was delivered would repeat it.
 *
 * @example
 * ```ts
 * let text = "";
 * for await (const delta of streamChat({
 *   system: "You are a factual researcher. Give 3–5 bullets.",
 *   user: "Topic: the history of zero",
 *   signal: ctx.signal,
 * })) text += delta;
 * ```
 */
export async function* streamChat(options: StreamChatOptions): AsyncGenerator<string, void> {
  const config = resolveLlmConfig(options);
  const { signal } = options;
  const client = config.client ?? openAIClient(config);
  for (let attempt = 0;; attempt++) {
    if (signal?.aborted) throw abortError(config, signal);
    const state = { yielded: false };
    try {
      yield* attemptStream(client, config, options, state);
      return;
    } catch (err) {
      const error = toLlmError(err, config);
      if (state.yielded || attempt >= config.maxRetries || !isRetryable(error)) throw error;
    }
    await backoff(attempt, config, signal);
  }
}

async function* attemptStream(
  client: OpenAI,
  config: ResolvedLlmConfig,
  options: StreamChatOptions,
  state: { yielded: boolean },
): AsyncGenerator<string, void> {
  const { signal } = options;
  // One controller per attempt: it cancels the request on caller abort, on timeout and when the
  // consumer stops early. Every await also goes through `guard`, so a fetch that ignores its
  // signal cannot keep us waiting. (Not `Promise.race` against one long-lived promise: that
  // would pile up a reaction per token for as long as the stream lasts.)
  const controller = new AbortController();
  let interruption: LlmError | undefined;
  let rejectPending: ((err: LlmError) => void) | undefined;
  const guard = <T>(step: Promise<T>): Promise<T> => {
    if (interruption) return Promise.reject(interruption);
    return new Promise<T>((resolve, reject) => {
      rejectPending = reject;
      step.then(resolve, reject).finally(() => {
        // The next step may already have installed its own rejecter.
        if (rejectPending === reject) rejectPending = undefined;
      });
    });
  };
  const interrupt = (err: LlmError) => {
    if (interruption) return;
    interruption = err;
    rejectPending?.(err);
    controller.abort(err);
  };
  const onAbort = () => interrupt(abortError(config, signal!));
  signal?.addEventListener("abort", onAbort, { once: true });

  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number, err: () => LlmError) => {
    clearTimeout(timer);
    timer = setTimeout(() => interrupt(err()), ms);
  };
  const disarm = () => clearTimeout(timer);

  let iterator: AsyncIterator<Chunk> | undefined;
  let finished = false;
  try {
    arm(config.firstTokenTimeoutMs, () => timeoutError(config, "first"));
    const { data: stream, response } = await guard(
      client.chat.completions.create(
        {
          model: config.model,
          temperature: config.temperature,
          stream: true,
          messages: [
            { role: "system", content: options.system },
            { role: "user", content: options.user },
          ],
        },
        { signal: controller.signal, maxRetries: 0 },
      ).withResponse(),
    );
    const type = response.headers.get("content-type");
    if (type && !type.includes("event-stream")) {
      throw badStream(config, `answered with ${type.split(";")[0]} instead of an event stream`);
    }
    iterator = stream[Symbol.asyncIterator]();
    let chunks = 0;
    let stopped = false;
    while (true) {
      const step = await guard(iterator.next());
      if (step.done) break;
      chunks++;
      const choice = step.value.choices?.[0];
      if (choice?.finish_reason) stopped = true;
      const delta = choice?.delta?.content;
      if (!delta) continue;
      disarm();
      state.yielded = true;
      // The consumer's pace is not the server's: no timer runs while we are suspended here.
      yield delta;
      arm(config.idleTimeoutMs, () => timeoutError(config, "idle"));
    }
    finished = true;
    // The SDK ends the iteration quietly when its request is aborted; say why it ended.
    if (signal?.aborted) throw abortError(config, signal);
    if (chunks === 0) throw badStream(config, "the event stream carried no completion chunks");
    if (!stopped) throw badStream(config, "the stream ended before the model finished");
  } finally {
    disarm();
    signal?.removeEventListener("abort", onAbort);
    if (!finished) {
      controller.abort();
      // Not awaited: an iterator stuck on a read that ignores the abort must not block us.
      iterator?.return?.().catch(() => {});
    }
  }
}

function isRetryable(error: LlmError): boolean {
  // A server_error without a status is an error event inside a 200 stream: not a transient
  // failure of the kind a retry fixes.
  return error.code === "unreachable" ||
    (error.code === "server_error" && error.status !== undefined);
}

async function backoff(
  attempt: number,
  config: ResolvedLlmConfig,
  signal: AbortSignal | undefined,
): Promise<void> {
  const ms = Math.min(RETRY_BASE_MS * 2 ** attempt, RETRY_MAX_MS);
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(config, signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function where(config: ResolvedLlmConfig): string {
  return `model ${config.model} at ${config.baseURL}`;
}

function make(
  config: ResolvedLlmConfig,
  code: LlmErrorCode,
  message: string,
  status?: number,
  cause?: unknown,
): LlmError {
  return new LlmError(message, {
    code,
    baseURL: config.baseURL,
    model: config.model,
    ...(status === undefined ? {} : { status }),
    ...(cause === undefined ? {} : { cause }),
  });
}

function abortError(config: ResolvedLlmConfig, signal: AbortSignal): LlmError {
  return make(
    config,
    "aborted",
    `the request to ${where(config)} was cancelled by the caller`,
    undefined,
    signal.reason,
  );
}

function timeoutError(config: ResolvedLlmConfig, phase: "first" | "idle"): LlmError {
  return phase === "first"
    ? make(
      config,
      "timeout",
      `no first token from ${where(config)} within ${config.firstTokenTimeoutMs} ms; ` +
        "the model may still be loading: retry, raise firstTokenTimeoutMs or use a smaller model",
    )
    : make(
      config,
      "timeout",
      `${where(config)} went silent for more than ${config.idleTimeoutMs} ms mid-stream; ` +
        "the server may be overloaded: retry or raise idleTimeoutMs",
    );
}

function badStream(config: ResolvedLlmConfig, detail: string): LlmError {
  return make(
    config,
    "bad_stream",
    `the server at ${config.baseURL} sent a malformed stream for model ${config.model} ` +
      `(${detail}); check that the base URL points at an OpenAI-compatible /v1 endpoint`,
  );
}

/** The upstream's own words, without the key, shortened to something a log line can carry. */
function upstream(text: string, config: ResolvedLlmConfig): string {
  const clean = scrubSecret(text, config.apiKey).replace(/\s+/g, " ").trim();
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

/** Every message of `err` and its causes, which is where runtimes put "ECONNREFUSED". */
function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const { message, code } = e as { message?: unknown; code?: unknown };
    if (typeof message === "string") parts.push(message);
    if (typeof code === "string") parts.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(": ");
}

function connectionDetail(err: unknown, config: ResolvedLlmConfig): string {
  const chain = causeChain(err);
  if (/ECONNREFUSED|connection refused|refused/i.test(chain)) return "connection refused";
  if (/ENOTFOUND|EAI_AGAIN|dns|name resolution|lookup/i.test(chain)) return "host not found";
  if (/ECONNRESET|reset/i.test(chain)) return "connection reset";
  // Fetch itself refuses ports such as 1 or 6000 (the "bad ports" list) without trying them.
  if (/bad port/i.test(chain)) return "fetch refuses to connect to this port";
  return upstream(chain || "connection failed", config);
}

function toLlmError(err: unknown, config: ResolvedLlmConfig): LlmError {
  if (err instanceof LlmError) return err;
  if (err instanceof APIConnectionTimeoutError) {
    return make(
      config,
      "timeout",
      `${where(config)} did not answer in time; check that the server is running and reachable`,
    );
  }
  if (err instanceof APIConnectionError) {
    return make(
      config,
      "unreachable",
      `no model server answers at ${config.baseURL} (${connectionDetail(err, config)}) ` +
        `for model ${config.model}; start Ollama or pass --offline`,
    );
  }
  if (err instanceof APIError) {
    const status = err.status as number | undefined;
    const said = upstream(err.message, config);
    if (status === undefined) {
      return make(
        config,
        "server_error",
        `the server at ${config.baseURL} reported an error mid-stream for model ${config.model} ` +
          `(${said}); retry or check the server logs`,
      );
    }
    if (status === 401 || status === 403) {
      return make(
        config,
        "unauthorized",
        `the server at ${config.baseURL} refused the API key for model ${config.model} ` +
          `(${said}); check the key, e.g. OPENAI_API_KEY`,
        status,
      );
    }
    if (status === 404) {
      return make(
        config,
        "model_not_found",
        `model ${config.model} not found at ${config.baseURL} (${said}); ` +
          `\`ollama pull ${config.model}\` or choose another model`,
        status,
      );
    }
    if (status === 429 || status >= 500) {
      return make(
        config,
        "server_error",
        `the server at ${config.baseURL} failed for model ${config.model} (${said}); ` +
          (status === 429 ? "it is rate limiting: wait and retry" : "retry or check its logs"),
        status,
      );
    }
    return make(
      config,
      "bad_request",
      `the server at ${config.baseURL} rejected the request for model ${config.model} ` +
        `(${said}); check the model name and parameters`,
      status,
    );
  }
  // Anything else was thrown while reading the body: JSON.parse on garbage, a dropped
  // connection, a decoder error. The request did reach a server, so it is the stream that is bad.
  return badStream(config, upstream(causeChain(err) || String(err), config));
}
