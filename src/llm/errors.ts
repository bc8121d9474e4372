/**
 * The one error type the LLM layer throws.
 *
 * @module
 */

/** Why a model call failed. Each code maps to one thing the user can do about it. */
export type LlmErrorCode =
  | "unreachable"
  | "unauthorized"
  | "model_not_found"
  | "server_error"
  | "timeout"
  | "bad_stream"
  | "aborted"
  | "bad_request";

/** Fields of an {@link LlmError} besides its message. */
export interface LlmErrorInit {
  code: LlmErrorCode;
  baseURL: string;
  model: string;
  status?: number;
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

  constructor(message: string, init: LlmErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = init.code === "aborted" ? "AbortError" : "LlmError";
    this.code = init.code;
    this.baseURL = init.baseURL;
    this.model = init.model;
    if (init.status !== undefined) this.status = init.status;
  }

  /** What `JSON.stringify` shows: enough to log, nothing secret. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      baseURL: this.baseURL,
      model: this.model,
      ...(this.status === undefined ? {} : { status: this.status }),
    };
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
