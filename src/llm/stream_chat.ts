/**
 * Streaming chat completions against any OpenAI-compatible endpoint. The `openai` SDK builds and
 * sends the request and reports HTTP errors; the event stream itself is read here (src/llm/sse.ts),
 * because model servers send more than the SDK's iterator understands: reasoning fields, usage in
 * several places, errors as `error:` lines, raw JSON or `event: error`, `[DONE]` without a finish.
 *
 * @module
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type OpenAI from "openai";
import type { ModelCallEvent, ModelCallInfo } from "./call_events.ts";
import { errorOf, reasoningOf, type ServerError, ThinkSplitter, usageOf } from "./chunks.ts";
import { errorBodyOf, openAIClient } from "./client_cache.ts";
import { type LlmConfig, type ResolvedLlmConfig, resolveLlmConfig } from "./config.ts";
import type { ChatDelta, FinishReason, TokenUsage } from "./deltas.ts";
import { LlmError, type LlmErrorCode, scrubSecret } from "./errors.ts";
import {
  contextHint,
  isHosted,
  modelNotFoundHint,
  quotaHint,
  rateLimitHint,
  SERVER_NAMES,
  serverFromResponse,
  serverFromUrl,
  type ServerInfo,
  type ServerKind,
  unauthorizedHint,
} from "./servers.ts";
import { SseParser } from "./sse.ts";

/** One chat call: a system prompt, a user prompt, and optional per-call configuration. */
export interface StreamChatOptions extends LlmConfig {
  system: string;
  user: string;
  /** Aborting it cancels the HTTP request; the call then rejects with code `"aborted"`. */
  signal?: AbortSignal;
  /**
   * Told about each model call (each HTTP request): its start, its end with finish reason, usage
   * and time to first chunk, or its failure with the `LlmError` code. Leave it unset and nothing
   * is built.
   */
  onCall?: (event: ModelCallEvent) => void;
}

// Exponential backoff with jitter when the server does not say how long to wait.
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 5_000;
// A model that is loading: poll at this pace until `loadingBudgetMs` is spent.
const LOADING_POLL_MS = 1_000;

/** Base URLs whose server rejected `stream_options`: asked without it from then on. */
const noStreamOptions = new Set<string>();

let nextCallId = 0;

/**
 * Streams the model's reply as typed deltas: `text` and `reasoning` as they arrive, then `usage`
 * (when the server reports it) and `finish`.
 *
 * Rules the caller can rely on:
 * - reasoning is never part of the text: `delta.reasoning`, `delta.reasoning_content` and a
 *   leading `<think>…</think>` block all come as `reasoning` deltas;
 * - any delta, text or reasoning, counts as life for `firstTokenTimeoutMs` and `idleTimeoutMs`;
 * - aborting `signal` or stopping iteration early (`break`, `return()`) ends the HTTP request;
 * - every failure is an {@link LlmError} with the server's own words; the caller's own abort has
 *   code `"aborted"` (and name `"AbortError"`);
 * - retries happen only before the first delta (a retry after text was delivered would repeat
 *   it), honour `Retry-After`, `retry-after-ms` and `x-should-retry`, and never exceed
 *   `maxRetryWaitMs` per wait;
 * - a reply without any text is an `empty_answer` error unless `allowEmpty`.
 *
 * @example
 * ```ts
 * let answer = "";
 * for await (const delta of streamChat({ system, user, signal: ctx.signal })) {
 *   if (delta.type === "text") answer += delta.text;
 *   else if (delta.type === "reasoning") showThinking(delta.text);
 *   else if (delta.type === "usage") console.log(delta.usage.totalTokens, "tokens");
 *   else if (delta.finishReason === "length") console.log("(cut at the token limit)");
 * }
 * ```
 */
export async function* streamChat(options: StreamChatOptions): AsyncGenerator<ChatDelta, void> {
  const config = resolveLlmConfig(options);
  const { signal } = options;
  const client = config.client ?? openAIClient(config);
  const found = serverFromUrl(config.baseURL);
  const where = config.server && found.kind === "unknown"
    ? { ...found, kind: config.server }
    : found;
  let retries = 0;
  let loadingSince: number | undefined;
  let withoutStreamOptions = false;
  for (let attempt = 1;; attempt++) {
    if (signal?.aborted) throw abortError(config, signal);
    const call = new Call(client, config, options, where, attempt, withoutStreamOptions);
    try {
      yield* call.run();
      return;
    } catch (err) {
      let error = toLlmError(err, config, call);
      let wait: number | undefined;
      if (!call.delivered && error.code !== "aborted") {
        if (
          !withoutStreamOptions && call.usedStreamOptions && error.code === "bad_request" &&
          /stream_options|include_usage/i.test(error.serverMessage ?? "")
        ) {
          // The server does not know the option: ask again without it, once, and remember.
          noStreamOptions.add(config.baseURL);
          withoutStreamOptions = true;
          wait = 0;
        } else if (isLoading(error)) {
          loadingSince ??= Date.now();
          const left = config.loadingBudgetMs - (Date.now() - loadingSince);
          if (left > 0) wait = Math.min(error.retryAfterMs ?? LOADING_POLL_MS, left);
        } else if (retries < config.maxRetries && isRetryable(error, call.shouldRetry)) {
          const asked = error.retryAfterMs ?? backoff(retries);
          if (asked > config.maxRetryWaitMs) {
            error = tooLong(error, config);
          } else {
            wait = asked;
            retries++;
          }
        }
      }
      call.report(error, wait);
      if (wait === undefined) throw error;
      if (wait > 0) await sleep(wait, config, signal);
    }
  }
}

/**
 * The text of the reply only, for simple users: reasoning, usage and the finish are left out
 * (an empty answer still fails).
 *
 * @example
 * ```ts
 * let full = "";
 * for await (const text of streamChatText({ system, user, signal: ctx.signal })) full += text;
 * ```
 */
export async function* streamChatText(options: StreamChatOptions): AsyncGenerator<string, void> {
  for await (const delta of streamChat(options)) {
    if (delta.type === "text") yield delta.text;
  }
}

/** One HTTP request of a `streamChat` and the reading of its body. */
class Call {
  readonly info: ModelCallInfo | undefined;
  /** A text or reasoning delta reached the caller: no retry from here on. */
  delivered = false;
  usedStreamOptions = false;
  /** `x-should-retry` of the failed response, when it said. */
  shouldRetry: boolean | undefined;
  /** What the response revealed about the server (headers, bodies). */
  server: ServerKind;
  readonly #started = Date.now();
  #firstChunkAt: number | undefined;
  #interruption: LlmError | undefined;
  #rejectPending: ((err: LlmError) => void) | undefined;
  /**
   * Aborts the request until its body is being read. From then on cancelling the reader ends it
   * (cancelling a fetch's body aborts the fetch), and a live call drops the controller: it would
   * keep its signal and the SDK's listener on it (and the SDK's own controller) for nothing.
   */
  #controller: AbortController | undefined = new AbortController();
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the server last showed life; the timer checks it instead of being re-armed per token. */
  #lastLife = 0;
  #limit = 0;
  #suspended = false;
  /** The answer so far, gathered only for `onCall`. */
  #text = "";

  constructor(
    readonly client: OpenAI,
    readonly config: ResolvedLlmConfig,
    readonly options: StreamChatOptions,
    readonly where: ServerInfo,
    readonly attempt: number,
    withoutStreamOptions: boolean,
  ) {
    this.server = where.kind;
    this.usedStreamOptions = config.includeUsage && !withoutStreamOptions &&
      !noStreamOptions.has(config.baseURL);
    if (options.onCall) {
      const info: ModelCallInfo = {
        callId: `call-${++nextCallId}`,
        attempt,
        model: config.model,
        baseURL: config.baseURL,
        serverAddress: where.host,
        server: where.kind,
      };
      if (where.port !== undefined) info.serverPort = where.port;
      this.info = info;
    }
  }

  async *run(): AsyncGenerator<ChatDelta, void> {
    const { config, options } = this;
    const { signal } = options;
    const onAbort = () => this.#interrupt(abortError(config, signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    if (this.info) {
      options.onCall!({
        ...this.info,
        type: "start",
        system: options.system,
        user: options.user,
        temperature: config.temperature,
        ...(config.maxTokens ? { maxTokens: config.maxTokens } : {}),
      });
    }
    let finished = false;
    try {
      this.#arm(config.firstTokenTimeoutMs);
      yield* this.#read(await this.#open());
      finished = true;
    } finally {
      clearTimeout(this.#timer);
      signal?.removeEventListener("abort", onAbort);
      if (!finished) {
        this.#controller?.abort();
        // Not awaited: a body stuck on a read that ignores the abort must not block us.
        this.#reader?.cancel().catch(() => {});
      }
    }
  }

  /**
   * Sends the request and checks that the answer is an event stream; returns its body only (a
   * live call holds no Response, no headers).
   */
  async #open(): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#guard(this.#request());
    this.server = serverFromResponse(response.headers) ?? this.server;
    const type = response.headers.get("content-type") ?? "";
    if (type.includes("json") || !response.body) {
      throw await this.#notAStream(response, type);
    }
    return response.body;
  }

  #request(): Promise<Response> {
    const { config, options } = this;
    const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming = {
      model: config.model,
      temperature: config.temperature,
      stream: true,
      messages: [
        { role: "system", content: options.system },
        { role: "user", content: options.user },
      ],
    };
    if (this.usedStreamOptions) body.stream_options = { include_usage: true };
    if (config.maxTokens) body.max_tokens = config.maxTokens;
    return this.client.chat.completions.create(body, {
      signal: this.#controller!.signal,
      maxRetries: 0,
    }).asResponse();
  }

  async *#read(body: ReadableStream<Uint8Array>): AsyncGenerator<ChatDelta, void> {
    const { config } = this;
    const signal = this.options.signal;
    const reader = body.getReader();
    this.#reader = reader;
    this.#controller = undefined;
    const parser = new SseParser();
    const think = config.splitThink ? new ThinkSplitter() : undefined;
    let chunks = 0;
    let sawText = false;
    let sawDone = false;
    let finishReason: FinishReason | undefined;
    let usage: TokenUsage | undefined;
    let responseId: string | undefined;
    let responseModel: string | undefined;
    let raw: string | undefined;
    let ended = false;
    while (!ended) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (err) {
        throw this.#interruption ?? err;
      }
      if (this.#interruption) throw this.#interruption;
      if (step.done) {
        parser.end();
        ended = true;
      } else {
        parser.push(step.value);
        // Any event is life once the first delta came; comments (keep-alives) are not.
        if (this.#firstChunkAt !== undefined && parser.types.length) this.#lastLife = Date.now();
      }
      const { types, datas } = parser;
      for (let i = 0; i < types.length; i++) {
        const type = types[i];
        const data = datas[i];
        if (type === "raw") {
          raw = raw === undefined ? data : `${raw}\n${data}`;
          const error = errorOf(parseJson(data));
          if (error) throw this.#inStream(error);
          continue;
        }
        if (type === "error") {
          const parsed = parseJson(data);
          throw this.#inStream(errorOf(parsed) ?? { message: data || "(no message)" });
        }
        if (type !== "" && type !== "message") continue;
        if (data === "[DONE]" || data.startsWith("[DONE]")) {
          sawDone = true;
          ended = true;
          break; // a server that holds the connection open after [DONE] is not waited for
        }
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw badStream(
            config,
            `event data is not JSON: ${upstream(data.slice(0, 120), config)}`,
          );
        }
        if (!chunk || typeof chunk !== "object") {
          throw badStream(
            config,
            `event data is not a chunk: ${upstream(data.slice(0, 120), config)}`,
          );
        }
        const error = errorOf(chunk);
        if (error) {
          this.server = serverFromResponse(undefined, chunk) ?? this.server;
          throw this.#inStream(error);
        }
        chunks++;
        if (chunks === 1) {
          this.server = serverFromResponse(undefined, chunk) ?? this.server;
          if (typeof chunk.id === "string" && chunk.id) responseId = chunk.id;
          if (typeof chunk.model === "string" && chunk.model) responseModel = chunk.model;
        }
        const u = usageOf(chunk);
        if (u) usage = u;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        // Old Ollama sent "" on every chunk; "error" is OpenRouter's mid-stream failure.
        const reason = choice.finish_reason;
        if (typeof reason === "string" && reason !== "") {
          if (reason === "error") {
            throw this.#inStream({
              message: "the server ended the stream with finish_reason error",
            });
          }
          finishReason = reason;
        }
        const delta = choice.delta;
        if (!delta) continue;
        const reasoning = reasoningOf(delta);
        if (reasoning !== undefined) {
          this.#life();
          this.#suspended = true;
          yield { type: "reasoning", text: reasoning };
          this.#resume(signal);
        }
        const content = delta.content;
        if (typeof content !== "string" || content === "") continue;
        let text = content;
        if (think) {
          think.push(content);
          if (think.reasoning) {
            this.#life();
            this.#suspended = true;
            yield { type: "reasoning", text: think.reasoning };
            this.#resume(signal);
          }
          text = think.text;
          if (!text) continue;
        }
        this.#life();
        sawText = true;
        if (this.info) this.#text += text;
        this.#suspended = true;
        yield { type: "text", text };
        this.#resume(signal);
      }
    }
    if (!sawDone) {
      // The body ended by itself; the SDK would end quietly on an abort, so say why it ended.
      if (signal?.aborted) throw abortError(config, signal);
    } else {
      reader.cancel().catch(() => {});
    }
    if (think) {
      think.flush();
      if (think.reasoning) yield { type: "reasoning", text: think.reasoning };
      if (think.text) {
        sawText = true;
        if (this.info) this.#text += think.text;
        yield { type: "text", text: think.text };
      }
    }
    if (chunks === 0) {
      if (raw !== undefined) {
        throw badStream(
          config,
          `the body is not an event stream: ${upstream(raw.slice(0, 200), config)}`,
        );
      }
      throw badStream(config, "the event stream carried no completion chunks");
    }
    if (finishReason === undefined && !sawDone) {
      throw badStream(config, "the stream ended before the model finished");
    }
    if (!sawText && !config.allowEmpty) throw emptyAnswer(config, this.server, finishReason, usage);
    if (usage) yield { type: "usage", usage };
    const reason = finishReason ?? "unknown";
    yield { type: "finish", finishReason: reason };
    if (this.info) {
      const end: ModelCallEvent = {
        ...this.info,
        type: "end",
        finishReason: reason,
        durationMs: Date.now() - this.#started,
        text: this.#text,
      };
      if (usage) end.usage = usage;
      if (responseId) end.responseId = responseId;
      if (responseModel) end.responseModel = responseModel;
      if (this.#firstChunkAt !== undefined) {
        end.timeToFirstChunkMs = this.#firstChunkAt - this.#started;
      }
      this.options.onCall!(end);
    }
  }

  /** A 200 whose body is JSON (or absent): an error in the server's words, or not a stream. */
  async #notAStream(response: Response, type: string): Promise<LlmError> {
    const text = await this.#guard(response.text()).catch(() => "");
    const parsed = parseJson(text);
    const error = errorOf(parsed);
    if (error) {
      this.server = serverFromResponse(response.headers, parsed) ?? this.server;
      return this.#inStream(error);
    }
    const what = type ? type.split(";")[0].trim() : "no content type";
    return badStream(this.config, `answered with ${what} instead of an event stream`);
  }

  /** An error the server reported in a 200 response: its words, classified like HTTP errors. */
  #inStream(error: ServerError): LlmError {
    return classified(this.config, this.server, {
      status: error.status,
      words: error.message,
      kind: error.kind,
      inStream: true,
    });
  }

  #life(): void {
    if (this.#firstChunkAt === undefined) {
      this.#firstChunkAt = Date.now();
      // From now on the idle limit applies: one timer, checked and re-armed when it fires.
      this.#arm(this.config.idleTimeoutMs);
    }
    this.#lastLife = Date.now();
    this.delivered = true;
  }

  #resume(signal: AbortSignal | undefined): void {
    // The consumer's pace is not the server's: the time spent suspended does not count.
    this.#suspended = false;
    this.#lastLife = Date.now();
    if (this.#interruption) throw this.#interruption;
    if (signal?.aborted) throw abortError(this.config, signal);
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#limit = ms;
    this.#lastLife = Date.now();
    this.#timer = setTimeout(this.#check, ms);
  }

  #check = (): void => {
    const quiet = Date.now() - this.#lastLife;
    if (this.#suspended || quiet < this.#limit) {
      this.#timer = setTimeout(this.#check, this.#suspended ? this.#limit : this.#limit - quiet);
      return;
    }
    this.#interrupt(timeoutError(this.config, this.#firstChunkAt === undefined ? "first" : "idle"));
  };

  #interrupt(err: LlmError): void {
    if (this.#interruption) return;
    this.#interruption = err;
    clearTimeout(this.#timer);
    this.#rejectPending?.(err);
    this.#controller?.abort(err);
    // Releases a pending read even if the body ignores the abort.
    this.#reader?.cancel(err).catch(() => {});
  }

  /** Awaits `step`, or the interruption (abort, timeout), whichever comes first. */
  #guard<T>(step: Promise<T>): Promise<T> {
    if (this.#interruption) return Promise.reject(this.#interruption);
    return new Promise<T>((resolve, reject) => {
      this.#rejectPending = reject;
      step.then(resolve, reject).finally(() => {
        if (this.#rejectPending === reject) this.#rejectPending = undefined;
      });
    });
  }

  /** Tells `onCall` about a failure of this call (`retryInMs` when it will be retried). */
  report(error: LlmError, retryInMs: number | undefined): void {
    if (!this.info) return;
    const event: ModelCallEvent = {
      ...this.info,
      type: "error",
      code: error.code,
      message: error.message,
      durationMs: Date.now() - this.#started,
    };
    if (error.status !== undefined) event.status = error.status;
    if (retryInMs !== undefined) event.retryInMs = retryInMs;
    if (this.#firstChunkAt !== undefined) {
      event.timeToFirstChunkMs = this.#firstChunkAt - this.#started;
    }
    this.options.onCall!(event);
  }
}

function parseJson(text: string): unknown {
  const t = text.trim();
  if (t[0] !== "{" && t[0] !== "[") return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

function isLoading(error: LlmError): boolean {
  return error.status === 503 && /loading/i.test(error.serverMessage ?? "");
}

function isRetryable(error: LlmError, shouldRetry: boolean | undefined): boolean {
  if (shouldRetry !== undefined) return shouldRetry && error.code !== "quota_exceeded";
  if (error.code === "unreachable") return true;
  // An error reported inside a 200 stream is what the model did, not a transient failure.
  if ((error as { inStream?: boolean }).inStream) return false;
  return error.code === "rate_limited" ||
    (error.code === "server_error" && error.status !== undefined) ||
    error.status === 408 || error.status === 409;
}

function backoff(retry: number): number {
  const ms = Math.min(RETRY_BASE_MS * 2 ** retry, RETRY_MAX_MS);
  return Math.round(ms * (1 - Math.random() * 0.25));
}

async function sleep(
  ms: number,
  config: ResolvedLlmConfig,
  signal: AbortSignal | undefined,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(config, signal));
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

/**
 * How long the server asked to wait, in ms: `retry-after-ms`, then `Retry-After` in seconds or as
 * an HTTP date, then "try again in 5.2s" in its message (OpenAI, Groq). Undefined if it did not say.
 */
export function retryAfterMs(headers: Headers | undefined, words = ""): number | undefined {
  const ms = headers?.get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const after = headers?.get("retry-after");
  if (after) {
    const seconds = Number(after);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(after);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  const said = /(?:try again|retry after) (?:in )?(\d+(?:\.\d+)?)\s*(ms|s|seconds?)\b/i.exec(words);
  if (said) return Math.ceil(Number(said[1]) * (said[2].toLowerCase() === "ms" ? 1 : 1000));
  return undefined;
}

function where(config: ResolvedLlmConfig): string {
  return `model ${config.model} at ${config.baseURL}`;
}

function make(
  config: ResolvedLlmConfig,
  code: LlmErrorCode,
  message: string,
  extra: Partial<Omit<ConstructorParameters<typeof LlmError>[1], "code" | "baseURL" | "model">> =
    {},
): LlmError {
  const init: ConstructorParameters<typeof LlmError>[1] = {
    code,
    baseURL: config.baseURL,
    model: config.model,
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) (init as unknown as Record<string, unknown>)[key] = value;
  }
  return new LlmError(message, init);
}

function abortError(config: ResolvedLlmConfig, signal: AbortSignal): LlmError {
  return make(config, "aborted", `the request to ${where(config)} was cancelled by the caller`, {
    cause: signal.reason,
  });
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

function emptyAnswer(
  config: ResolvedLlmConfig,
  server: ServerKind,
  finishReason: FinishReason | undefined,
  usage: TokenUsage | undefined,
): LlmError {
  const why = finishReason === "length"
    ? "it stopped at the token limit before answering (raise maxTokens, or the model thinks too long)"
    : finishReason === "content_filter"
    ? "the server's content filter stopped it"
    : usage && usage.outputTokens === 0
    ? `the prompt may not fit the model's context; ${contextHint(server)}`
    : "the model said nothing; retry, or check the server's log";
  return make(
    config,
    "empty_answer",
    `${where(config)} sent no text (finish_reason ${finishReason ?? "none"}): ${why}`,
    { server },
  );
}

function tooLong(error: LlmError, config: ResolvedLlmConfig): LlmError {
  const seconds = Math.ceil((error.retryAfterMs ?? 0) / 1000);
  return make(
    config,
    error.code,
    `${
      error.message.replace(/; [^;]*$/, "")
    }; the server asked to wait ${seconds} s, longer than ` +
      `maxRetryWaitMs (${config.maxRetryWaitMs} ms): retry later or raise maxRetryWaitMs`,
    {
      status: error.status,
      serverMessage: error.serverMessage,
      serverCode: error.serverCode,
      server: error.server,
      hint: error.hint,
      retryAfterMs: error.retryAfterMs,
    },
  );
}

/**
 * Keys as servers echo them masked ("Incorrect API key provided: sk-SENTI*****1234"): the visible
 * ends are pieces of the key, so they go too.
 */
const MASKED_KEY = /[\w-]*\*{4,}[\w-]*/g;

/** The server's words without the key, whole or masked, nor the basic credentials sent. */
function unkeyed(text: string, config: ResolvedLlmConfig): string {
  const basic = config.basicAuth?.slice("Basic ".length);
  return scrubSecret(scrubSecret(text, config.apiKey), basic).replace(MASKED_KEY, "[redacted]");
}

/** The upstream's own words, without the key, shortened to something a log line can carry. */
function upstream(text: string, config: ResolvedLlmConfig): string {
  const clean = unkeyed(text, config).replace(/\s+/g, " ").trim();
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

interface Refusal {
  status: number | undefined;
  /** The server's own message. */
  words: string;
  /** Its error type or code. */
  kind?: string;
  headers?: Headers;
  /** Reported inside a 200 response (an error event), not as an HTTP status. */
  inStream?: boolean;
}

const CONTEXT =
  /context (length|size|window)|maximum context|exceed_context_size|context_length_exceeded|too many tokens|prompt is too long/i;
// Not "billing" alone: Groq's rate-limit message ends with a link to its billing page.
const QUOTA =
  /insufficient_quota|insufficient (quota|balance|credits)|exceeded your current quota|payment required|credit balance is too low/i;
const RATE = /rate.?limit|too many requests/i;

/** An error a server stated (HTTP status or in-stream), as an LlmError with its words and a hint. */
function classified(config: ResolvedLlmConfig, server: ServerKind, r: Refusal): LlmError {
  const said = upstream(r.words || "(no message)", config);
  const status = r.status;
  const both = `${r.kind ?? ""} ${r.words}`;
  const at = `the server at ${config.baseURL}`;
  const name = server === "unknown" ? "" : ` (${SERVER_NAMES[server]})`;
  const extra = {
    status,
    serverMessage: unkeyed(r.words, config),
    serverCode: r.kind,
    server,
    retryAfterMs: retryAfterMs(r.headers, r.words),
  };
  let code: LlmErrorCode;
  let message: string;
  let hint: string;
  if (/Unexpected endpoint or method|no route for/i.test(r.words)) {
    // LM Studio answers an unknown path with 200 {"error":"Unexpected endpoint or method. …"}.
    code = "bad_request";
    hint = "check that the base URL points at the server's OpenAI-compatible /v1 endpoint";
    message =
      `${at}${name} does not know this endpoint for model ${config.model} (${said}); ${hint}`;
  } else if (QUOTA.test(both) || status === 402) {
    code = "quota_exceeded";
    hint = quotaHint(server);
    message = `${at}${name} refused model ${config.model} for billing or quota (${said}); ${hint}`;
  } else if (CONTEXT.test(both)) {
    code = "context_too_long";
    hint = contextHint(server);
    message = `the prompt is too long for model ${config.model} at ${config.baseURL}${name} ` +
      `(${said}); ${hint}`;
  } else if (status === 401 || status === 403) {
    code = "unauthorized";
    // The base URL's user and password were sent instead of a key (src/llm/config.ts).
    const what = config.basicAuth ? "the user and password of the base URL" : "the API key";
    hint = config.basicAuth
      ? "check the user and password in the base URL (sent as basic auth)"
      : unauthorizedHint(server);
    message = `${at}${name} refused ${what} for model ${config.model} (${said}); ${hint}`;
  } else if (
    status === 404 ||
    (status !== undefined && status < 500 && /no models? loaded|DeploymentNotFound/i.test(both)) ||
    (r.inStream && /model.*not (found|exist)|no such model/i.test(r.words))
  ) {
    code = "model_not_found";
    hint = modelNotFoundHint(server, config.model, config.baseURL);
    message = `model ${config.model} not found at ${config.baseURL}${name} (${said}); ${hint}`;
  } else if (status === 429 || (r.inStream && RATE.test(both))) {
    code = "rate_limited";
    hint = rateLimitHint(server);
    message = `${at}${name} is rate limiting model ${config.model} (${said}); ${hint}`;
  } else if (status === undefined || status >= 500 || status === 408 || r.inStream) {
    code = "server_error";
    if (status === 503 && /loading/i.test(r.words)) {
      hint = "the model is still loading: wait, or raise loadingBudgetMs";
      message = `${at}${name} is still loading model ${config.model} (${said}); ${hint}`;
    } else {
      hint = r.inStream ? "retry, or check the server's log" : "retry or check its logs";
      message = r.inStream
        ? `${at}${name} reported an error mid-stream for model ${config.model} (${said}); ${hint}`
        : `${at}${name} failed for model ${config.model} (${status} ${said}); ${hint}`;
    }
  } else {
    code = "bad_request";
    hint = isHosted(server)
      ? "check the model name and parameters"
      : "check the model name and parameters, and that the server speaks the OpenAI API";
    message = `${at}${name} rejected the request for model ${config.model} (${said}); ${hint}`;
  }
  const error = make(config, code, message, { ...extra, hint });
  if (r.inStream) Object.defineProperty(error, "inStream", { value: true });
  return error;
}

function toLlmError(err: unknown, config: ResolvedLlmConfig, call: Call): LlmError {
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
    const headers = err.headers as Headers | undefined;
    const raw = errorBodyOf(headers);
    const body = raw === undefined ? undefined : parseJson(raw);
    const stated = errorOf(body);
    const words = stated?.message ??
      (raw !== undefined && raw.trim() !== "" ? raw : err.message.replace(/^\d{3} /, ""));
    const kind = stated?.kind ?? (typeof err.code === "string" ? err.code : undefined) ??
      (typeof err.type === "string" ? err.type : undefined);
    const should = headers?.get("x-should-retry");
    if (should === "true") call.shouldRetry = true;
    else if (should === "false") call.shouldRetry = false;
    const server = serverFromResponse(headers, body) ?? call.server;
    return classified(config, server, { status, words, kind, headers });
  }
  // Anything else was thrown while reading the body: a dropped connection, a decoder error. The
  // request did reach a server, so it is the stream that is bad.
  return badStream(config, upstream(causeChain(err) || String(err), config));
}
