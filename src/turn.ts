/**
 * The end of the event loop's current turn, for work that should wait until everything the turn
 * produces is there: e.g. writing every SSE frame made while handling one batch of network reads
 * as ONE write to the socket rather than one each. `setImmediate` where the runtime has it (Node,
 * Deno: it runs after the I/O callbacks of the turn); else `setTimeout(0)` (workerd, where it is
 * not clamped). Not a plain `setTimeout(0)` everywhere: Node and Deno clamp that to ≥ 1 ms.
 *
 * @module
 */

type Schedule = (fn: () => void) => void;

// deno-lint-ignore no-explicit-any
const immediate = (globalThis as any).setImmediate as ((fn: () => void) => unknown) | undefined;

const schedule: Schedule = typeof immediate === "function"
  ? (fn) => void immediate(fn)
  : (fn) => void setTimeout(fn, 0);

/**
 * Resolves once the current turn of the event loop is over.
 *
 * @example
 * ```ts
 * pending.push(frame);
 * if (pending.length === 1) await afterThisTurn(); // more frames of this turn join it
 * write(pending.splice(0).join(""));
 * ```
 */
export function afterThisTurn(): Promise<void> {
  return new Promise<void>((resolve) => schedule(resolve));
}
