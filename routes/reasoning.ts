/**
 * The `reasoning` request option: `false` leaves the agents' reasoning (thinking models) out of a
 * response — SSE `reasoning` frames, the UI message stream's reasoning parts, the text format's
 * `[role reasoning]` lines. The one definition every route reads it with: a JSON boolean in a
 * body, or `true`/`false` (`1`/`0`, `yes`/`no`) in a query. A run's log keeps the reasoning
 * whatever its viewers ask, so each viewer of the run chooses for itself.
 *
 * @module
 */
import * as z from "zod/mini";
import { check } from "../src/schema.ts";
import type { LoggedEvent } from "../src/runs/store.ts";

const MESSAGE = "reasoning must be true or false";

/** The option's schema (optional): a boolean, or its query-string form. */
export const reasoningOption = z.optional(
  z.union([z.boolean(), z.stringbool({ error: MESSAGE })], { error: MESSAGE }),
);

/**
 * Reads the option from a query value: `true`/`false` (`undefined` when absent), or the message
 * of a 400.
 *
 * @example
 * ```ts
 * reasoningQuery("false"); // false
 * reasoningQuery("maybe"); // { error: "reasoning must be true or false" }
 * ```
 */
export function reasoningQuery(value: string | undefined): boolean | undefined | { error: string } {
  const parsed = check(reasoningOption, value);
  return parsed.success ? parsed.data : { error: MESSAGE };
}

/**
 * A run viewer's batches without the `reasoning` events. A batch that held only reasoning is not
 * passed on (an empty batch means "send a keep-alive" to the encoders); the viewer's pace is
 * unchanged, since every batch is still read from it.
 */
export function withoutReasoning(
  batches: ReadableStream<LoggedEvent[]>,
): ReadableStream<LoggedEvent[]> {
  const reader = batches.getReader();
  return new ReadableStream<LoggedEvent[]>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        if (value.length === 0) return controller.enqueue(value);
        const kept = value.filter((event) => event.type !== "reasoning");
        if (kept.length > 0) return controller.enqueue(kept);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
