/**
 * The one error type the LLM layer throws.
 *
 * @module
 */

import type { ServerKind } from "./servers.ts";

/**
 * Why a model call failed. Each code maps to one thing the user can do about it:
 *
 * | code | what it means |
 * | --- | --- |
 * | `unreachable` | nothing answers at the base URL |
 * | `unauthorized` | 401/403: the key was refused |
 * | `model_not_found` | 404: the server has no such model |
 * | `rate_limited` | 429: too many requests; retried while the wait it asks for fits `maxRetryWaitMs` |
 * | `quota_exceeded` | billing: `insufficient_quota`, 402, "Insufficient Balance"; never retried |
 * | `context_too_long` | the prompt does not fit the model's context |
 * | `bad_request` | any other 4xx |
 * | `server_error` | 5xx, or an error the server reported inside the stream |
 * | `timeout` | no first token, or silence mid-stream, past the configured limits |
 * | `bad_stream` | a body that is not a chat-completions event stream |
 * | `empty_answer` | the call succeeded without any text (unless `allowEmpty`) |
 * | `aborted` | the caller's own signal |
 */
export type LlmErrorCode =
  | "unreachable"
  | "unauthorized"
  | "model_not_found"
  | "rate_limited"
  | "quota_exceeded"
  | "context_too_long"
  | "server_error"
  | "timeout"
  | "bad_stream"
  | "empty_answer"
  | "aborted"
  | "bad_request";

/** Fields of an {@link LlmError} besides its message. */
export interface LlmErrorInit {
  code: LlmErrorCode;
  baseURL: string;
  model: string;
  /** The HTTP status, or the status a server named inside an in-stream error event. */
  status?: number;
  /** The server's own words (its error message), without the key. */
  serverMessage?: string;
  /** The server's own error type or code, e.g. `insufficient_quota`, `exceed_context_size_error`. */
  serverCode?: string;
  /** Which server it was, as recognised from the base URL or the response. */
  server?: ServerKind;
  /** What the user can do about it (already part of the message). */
  hint?: string;
  /** How long the server asked us to wait before retrying (Retry-After, retry-after-ms), in ms. */
  retryAfterMs?: number;
  /** Only set for `aborted`: the caller's `signal.reason`. */
  cause?: unknown;
}

/**
 * A failed model call. Messages name the base URL and the model, say what is wrong and what to
 * do, and never contain the API key.
 *
 * A call cancelled through the caller's own `signal` rejects with an `LlmError` whose `code` is
 * `"aborted"` and whose `name` is `"AbortError"`, so both `err.code === "aborted"` and the usual
 * `err.name === "AbortError"` checks recognise it. Its `cause` is the signal's reason.
 *
 * @example
 * ```ts
 * try {
 *   for await (const delta of streamChat({ system, user, signal })) write(delta);
 * } catch (err) {
 *   if (err instanceof LlmError && err.code === "unreachable") useOfflineModel();
 *   else if (!isAbortError(err)) throw err;
 * }
 * ```
 */
export class LlmError extends Error {
  readonly code: LlmErrorCode;
  readonly baseURL: string;
  readonly model: string;
  readonly status?: number;
  readonly serverMessage?: string;
  readonly serverCode?: string;
  readonly server?: ServerKind;
  readonly hint?: string;
  readonly retryAfterMs?: number;

  constructor(message: string, init: LlmErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = init.code === "aborted" ? "AbortError" : "LlmError";
    this.code = init.code;
    this.baseURL = init.baseURL;
    this.model = init.model;
    if (init.status !== undefined) this.status = init.status;
    if (init.serverMessage !== undefined) this.serverMessage = init.serverMessage;
    if (init.serverCode !== undefined) this.serverCode = init.serverCode;
    if (init.server !== undefined) this.server = init.server;
    if (init.hint !== undefined) this.hint = init.hint;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  /** What `JSON.stringify` shows: enough to log, nothing secret. */
  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = {
      name: this.name,
      code: this.code,
      message: this.message,
      baseURL: this.baseURL,
      model: this.model,
    };
    for (
      const key of [
        "status",
        "serverMessage",
        "serverCode",
        "server",
        "hint",
        "retryAfterMs",
      ] as const
    ) {
      if (this[key] !== undefined) json[key] = this[key];
    }
    return json;
  }
}

/**
 * True for the caller's own cancellation: an `LlmError` with code `"aborted"` or any error named
 * `"AbortError"`.
 *
 * @example
 * ```ts
 * streamChat({ system, user, signal }).next().catch((err) => {
 *   if (isAbortError(err)) return; // we cancelled it ourselves
 * });
 * ```
 */
export function isAbortError(err: unknown): boolean {
  if (err instanceof LlmError) return err.code === "aborted";
  return typeof err === "object" && err !== null &&
    (err as { name?: unknown }).name === "AbortError";
}

/**
 * Removes every occurrence of `secret` from `text`. Upstream servers echo keys back ("Incorrect
 * API key provided: sk-…"), so anything that came over the wire passes through here.
 */
export function scrubSecret(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join("[redacted]");
}
