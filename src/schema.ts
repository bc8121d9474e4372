/**
 * Every schema in reflow-edge is written with `zod/mini` (tree-shaken, it adds about 9 KB gzip to
 * the Worker, where classic `zod` added about 70 KB). {@link check} parses with zod's English
 * messages, the ones classic zod gives by default (zod/mini ships none and says only "Invalid
 * input"); they are set per parse, not through `z.config()`, which belongs to the application.
 *
 * @example
 * ```ts
 * import * as z from "zod/mini"; // not re-exported from here: a namespace that escapes is not tree-shaken
 * import { check } from "./schema.ts";
 * const result = check(z.object({ topic: z.string() }), { topic: 1 });
 * result.success || result.error.issues[0].message; // "Invalid input: expected string, received number"
 * ```
 *
 * @module
 */
import type * as z from "zod/mini";
import { en } from "zod/locales";

const english = en().localeError;

/** `schema.safeParse(value)` with zod's English messages where the schema sets none. */
export function check<T extends z.ZodMiniType>(
  schema: T,
  value: unknown,
): z.core.util.SafeParseResult<z.output<T>> {
  return schema.safeParse(value, { error: english });
}
