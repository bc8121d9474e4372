import * as z from "zod/mini";
import { describe } from "./errors.ts";
import { issueMessage } from "./issues.ts";

/** Plain JSON, the payload of every message variant but `Bytes` and `Encoded`. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Reflow's message variants. */
export type MessageType =
  | "Flow"
  | "Event"
  | "Boolean"
  | "Integer"
  | "Float"
  | "String"
  | "Object"
  | "Array"
  | "Bytes"
  | "Encoded"
  | "Optional"
  | "Any"
  | "Error";

/**
 * A message, `{ type, data }`. `data` is plain JSON, but for `Bytes` and `Encoded`, which carry a
 * `Uint8Array` in memory and base64 on the wire.
 */
export type Message =
  | { type: "Flow"; data?: undefined }
  | { type: "Event"; data: Json }
  | { type: "Boolean"; data: boolean }
  | { type: "Integer"; data: number }
  | { type: "Float"; data: number }
  | { type: "String"; data: string }
  // deno-lint-ignore no-explicit-any
  | { type: "Object"; data: Record<string, any> }
  // deno-lint-ignore no-explicit-any
  | { type: "Array"; data: any[] }
  | { type: "Bytes"; data: Uint8Array }
  | { type: "Encoded"; data: Uint8Array }
  | { type: "Optional"; data: Json }
  | { type: "Any"; data: Json }
  | { type: "Error"; data: string };

/** A packet: one message per port, `{ port: Message }`. */
export type Packet = Record<string, Message>;

/** Every variant name, in Reflow's order. */
export const MESSAGE_TYPES: readonly MessageType[] = [
  "Flow",
  "Event",
  "Boolean",
  "Integer",
  "Float",
  "String",
  "Object",
  "Array",
  "Bytes",
  "Encoded",
  "Optional",
  "Any",
  "Error",
];

const TYPE_SET: ReadonlySet<string> = new Set(MESSAGE_TYPES);

/**
 * Message constructors, named as in the seed tutorial.
 *
 * @example
 * ```ts
 * ctx.send({ chunk: Message.object({ role: "facts", text: "zero", first: true }) });
 * ctx.done({ finding: Message.string(full) });
 * ```
 */
export const Message = {
  flow: (): Message => ({ type: "Flow" }),
  event: (data: Json): Message => ({ type: "Event", data }),
  boolean: (data: boolean): Message => ({ type: "Boolean", data }),
  integer: (data: number): Message => {
    if (!Number.isSafeInteger(data)) {
      throw new TypeError(`Message.integer: ${data} is not a safe integer`);
    }
    return { type: "Integer", data };
  },
  float: (data: number): Message => ({ type: "Float", data }),
  string: (data: string): Message => ({ type: "String", data }),
  // deno-lint-ignore no-explicit-any
  object: (data: Record<string, any>): Message => ({ type: "Object", data }),
  // deno-lint-ignore no-explicit-any
  array: (data: any[]): Message => ({ type: "Array", data }),
  bytes: (data: Uint8Array): Message => ({ type: "Bytes", data }),
  encoded: (data: Uint8Array): Message => ({ type: "Encoded", data }),
  optional: (data: Json | undefined): Message => ({ type: "Optional", data: data ?? null }),
  any: (data: Json): Message => ({ type: "Any", data }),
  /** An error message; an `Error` becomes its message (never its stack). */
  error: (error: unknown): Message => ({ type: "Error", data: describe(error) }),
} as const;

/** Whether `value` looks like a message: an object whose `type` is a known variant. */
export function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null &&
    TYPE_SET.has((value as { type?: unknown }).type as string);
}

const json: z.ZodMiniType<Json> = z.lazy(() =>
  z.union([
    z.string(),
    z.number().check(z.refine(Number.isFinite, "must be a finite number")),
    z.boolean(),
    z.null(),
    z.array(json),
    z.record(z.string(), json),
  ])
);

const base64 = z.string().check(z.regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64"));

/**
 * The wire shape of a message (JSON: graph IIPs, HTTP bodies). `Bytes` and `Encoded` carry base64
 * strings here; {@link messageFromWire} turns them into `Uint8Array`s.
 */
export const WireMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("Flow"), data: z.optional(z.null()) }),
  z.object({ type: z.literal("Event"), data: json }),
  z.object({ type: z.literal("Boolean"), data: z.boolean() }),
  z.object({ type: z.literal("Integer"), data: z.int().check(z.refine(Number.isSafeInteger)) }),
  z.object({ type: z.literal("Float"), data: z.number() }),
  z.object({ type: z.literal("String"), data: z.string() }),
  z.object({ type: z.literal("Object"), data: z.record(z.string(), json) }),
  z.object({ type: z.literal("Array"), data: z.array(json) }),
  z.object({ type: z.literal("Bytes"), data: base64 }),
  z.object({ type: z.literal("Encoded"), data: base64 }),
  z.object({ type: z.literal("Optional"), data: z.optional(json) }),
  z.object({ type: z.literal("Any"), data: json }),
  z.object({ type: z.literal("Error"), data: z.string() }),
]);

/** A message as it travels in JSON. */
export type WireMessage = z.infer<typeof WireMessageSchema>;

/**
 * Parses a wire message into an in-memory one, or throws a `TypeError` naming what is wrong.
 *
 * @example
 * ```ts
 * messageFromWire({ type: "String", data: "the history of zero" });
 * ```
 */
export function messageFromWire(value: unknown, where = "message"): Message {
  const message = fromWire(value, where);
  checked.add(message);
  return message;
}

/** Messages that came out of {@link messageFromWire}: checking them again would change nothing. */
const checked = new WeakSet<Message>();

/** Whether `message` is one {@link messageFromWire} returned (so it needs no second check). */
export function isCheckedMessage(message: unknown): boolean {
  return typeof message === "object" && message !== null && checked.has(message as Message);
}

function fromWire(value: unknown, where: string): Message {
  // The schema recurses once per level, so where the stack runs out depends on the runtime and
  // on how deep the caller already is; a fixed limit keeps the answer the same everywhere.
  if (nestedDeeperThan(value, MAX_WIRE_DEPTH)) {
    throw new TypeError(`${where}.data: nested deeper than ${MAX_WIRE_DEPTH} levels`);
  }
  let parsed: ReturnType<typeof WireMessageSchema.safeParse>;
  try {
    // Our wording (src/issues.ts): a graph's IIP or a request's message fault reads the same.
    parsed = WireMessageSchema.safeParse(value, { error: issueMessage, reportInput: true });
  } catch (error) {
    // Not expected below the depth limit; still, nothing but the documented TypeError escapes.
    throw new TypeError(`${where}.data: cannot be checked (${(error as Error)?.message})`);
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.length ? `${where}.${issue.path.join(".")}` : where;
    throw new TypeError(`${path}: ${issue.message} (got ${preview(value)})`);
  }
  const m = parsed.data;
  switch (m.type) {
    case "Flow":
      return { type: "Flow" };
    case "Bytes":
    case "Encoded":
      try {
        return { type: m.type, data: fromBase64(m.data) };
      } catch {
        // The pattern admits a few strings atob refuses ("A", "AB=C"): same TypeError as above.
        throw new TypeError(`${where}.data: must be base64 (got ${preview(value)})`);
      }
    case "Optional":
      return { type: "Optional", data: m.data ?? null };
    default:
      return m as Message;
  }
}

/** How deeply the data of a message from outside may nest (objects and arrays). */
export const MAX_WIRE_DEPTH = 256;

/** Whether objects and arrays nest deeper than `max` in `value`; iterative, so never overflows. */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null || ArrayBuffer.isView(v)) continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Turns a message into its JSON wire shape (bytes become base64). */
export function messageToWire(message: Message): WireMessage {
  switch (message.type) {
    case "Flow":
      return { type: "Flow" };
    case "Bytes":
    case "Encoded":
      return { type: message.type, data: toBase64(message.data) };
    default:
      return message as WireMessage;
  }
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}
