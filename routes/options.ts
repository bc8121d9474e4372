/**
 * The options a request may give a flow, defined once for every route that reads them
 * (`POST`/`GET /research`, `POST /chat`, `POST /runs`, `GET /runs/{id}/events`):
 *
 * - `model`: a model name (which ones a client may ask for is the app's choice);
 * - `policy`: runResearch's error policy, `fail-fast` or `continue`;
 * - `reasoning`: `false` leaves the agents' reasoning (thinking models) out of the response —
 *   SSE `reasoning` frames, the UI message stream's reasoning parts, the text format's
 *   `[role reasoning]` lines. A JSON boolean in a body, or `true`/`false` (`1`/`0`, `yes`/`no`) in
 *   a query. A run's log keeps the reasoning whatever its viewers ask, so each viewer of the run
 *   chooses for itself.
 *
 * @module
 */
import * as z from "zod/mini";
import { check } from "../src/schema.ts";
import type { LoggedEvent } from "../src/runs/store.ts";

/** runResearch's error policies, as a request names them. */
export const POLICIES = ["fail-fast", "continue"] as const;

/** The `model` option's schema (optional): a name of at most 200 characters. */
export const modelOption = z.optional(
  z.string({ error: "model must be a string" }).check(
    z.trim(),
    z.minLength(1, "model must not be empty"),
    z.maxLength(200, "model must be at most 200 characters"),
  ),
);

/** The `policy` option's schema (optional). */
export const policyOption = z.optional(
  z.enum(POLICIES, { error: `policy must be one of: ${POLICIES.join(", ")}` }),
);

const MESSAGE = "reasoning must be true or false";

/** The `reasoning` option's schema (optional): a boolean, or its query-string form. */
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
