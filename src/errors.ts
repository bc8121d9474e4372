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

/** Which argument of a wiring call a {@link NetworkError} is about. */
export type WiringField =
  | "id"
  | "template"
  | "metadata"
  | "from"
  | "outport"
  | "fromIndex"
  | "to"
  | "inport"
  | "toIndex"
  | "capacity"
  | "node"
  | "port"
  | "index"
  | "message";

/**
 * The wiring is wrong: unknown template, node or port, duplicate id, bad index or capacity, use
 * after start. `field` names the argument at fault and `detail` says what is wrong with it
 * without the call, so that a graph loader can put its own JSON path in front.
 */
export class NetworkError extends Error {
  override name = "NetworkError";
  constructor(message: string, readonly field?: WiringField, readonly detail?: string) {
    super(message);
  }
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
