/** A tick failed: thrown by `whenIdle()` under fail-fast, with the node and the original error. */
export class ActorError extends Error {
  override name = "ActorError";
  constructor(readonly nodeId: string, override readonly cause: unknown) {
    super(`node "${nodeId}" failed: ${describe(cause)}`, { cause });
  }
}

/** A tick ran past its node's `timeoutMs`. */
export class TickTimeoutError extends Error {
  override name = "TimeoutError";
  constructor(readonly nodeId: string, readonly timeoutMs: number) {
    super(`node "${nodeId}": tick timed out after ${timeoutMs} ms`);
  }
}

/** The wiring is wrong: unknown template, node or port, duplicate id, use after start. */
export class NetworkError extends Error {
  override name = "NetworkError";
}

/** The network was shut down while something waited on it. */
export function abortError(message: string): DOMException {
  return new DOMException(message, "AbortError");
}

/** An error's message, or a readable rendering of anything else that was thrown. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
