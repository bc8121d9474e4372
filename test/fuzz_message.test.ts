/**
 * Property tests of the wire schema: every message variant survives messageToWire →
 * JSON.stringify → JSON.parse → messageFromWire unchanged (Bytes and Encoded via base64), and
 * junk is rejected with a TypeError that names where it is, never with anything else.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./harness.ts";
import { isMessage, Message, MESSAGE_TYPES, messageFromWire, messageToWire } from "../src/mod.ts";

/**
 * JSON values as they survive JSON: no -0 (JSON writes it as 0), and no "__proto__" key, which
 * the schema's records drop (reported: an own "__proto__" key from JSON.parse is lost).
 */
const json: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 }).filter((v) =>
  !hasProtoOrNegZero(v)
);

function hasProtoOrNegZero(v: unknown): boolean {
  if (Object.is(v, -0)) return true;
  if (Array.isArray(v)) return v.some(hasProtoOrNegZero);
  if (typeof v === "object" && v !== null) {
    return Object.hasOwn(v, "__proto__") || Object.values(v).some(hasProtoOrNegZero);
  }
  return false;
}

const text = fc.string({ unit: "binary", maxLength: 64 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0));
const bytes = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 96 }) },
  // Over 0x8000 bytes: base64 encoding works in chunks of that size.
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0x8000 - 3, maxLength: 0x8000 * 2 + 5 }) },
);
const object = fc.dictionary(text.filter((k) => k !== "__proto__"), json, {
  maxKeys: 6,
  noNullPrototype: true,
});

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constant(Message.flow()),
  json.map((d) => Message.event(d as never)),
  fc.boolean().map(Message.boolean),
  fc.maxSafeInteger().map(Message.integer),
  finite.map(Message.float),
  text.map(Message.string),
  object.map(Message.object),
  fc.array(json, { maxLength: 6 }).map(Message.array),
  bytes.map(Message.bytes),
  bytes.map(Message.encoded),
  fc.option(json, { nil: undefined }).map((d) => Message.optional(d as never)),
  json.map((d) => Message.any(d as never)),
  text.map((t) => Message.error(t)),
);

test("property: every message variant round-trips through the wire schema and JSON", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(message, (m) => {
      seen.add(m.type);
      const wire = JSON.parse(JSON.stringify(messageToWire(m)));
      if (m.type === "Bytes" || m.type === "Encoded") {
        assert.equal(typeof wire.data, "string", "bytes travel as base64 text");
      }
      assert.deepEqual(messageFromWire(wire), m);
    }),
    { numRuns: 5000 },
  );
  assert.deepEqual([...seen].sort(), [...MESSAGE_TYPES].sort());
}, { timeout: 60_000 });

/** Asserts `fn` returns a message or throws a TypeError whose message starts with `where`. */
function acceptsOrNames(value: unknown, where: string): "accepted" | "rejected" {
  let result: unknown;
  try {
    result = messageFromWire(value, where);
  } catch (error) {
    assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
    assert.ok(
      error.message.startsWith(`${where}`) && error.message.length > where.length + 2,
      `the error names no path: ${error.message}`,
    );
    return "rejected";
  }
  assert.ok(isMessage(result), "an accepted value becomes a message");
  return "accepted";
}

test(
  "property: random junk is accepted as a message or rejected with a TypeError naming it",
  () => {
    const junk = fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.record({ type: fc.oneof(fc.constantFrom(...MESSAGE_TYPES), text), data: fc.anything() }),
      fc.record({ type: fc.constantFrom(...MESSAGE_TYPES) }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(junk, fc.constantFrom("message", "body.packet", "$.x[3]"), (value, where) => {
        acceptsOrNames(value, where);
      }),
      { numRuns: 5000 },
    );
  },
  { timeout: 60_000 },
);

/** For each variant, data of the wrong kind. */
const WRONG: Record<string, fc.Arbitrary<unknown>> = {
  Flow: fc.oneof(fc.integer(), text, fc.boolean(), fc.constant({})),
  Event: fc.constantFrom(undefined, NaN, Infinity, () => 1, Symbol.iterator, 10n),
  Boolean: fc.oneof(fc.integer(), text, fc.constant(null)),
  Integer: fc.oneof(
    fc.double().filter((x) => !Number.isSafeInteger(x)),
    fc.constantFrom(2 ** 53, -(2 ** 53), 1e300),
    text,
  ),
  Float: fc.oneof(text, fc.boolean(), fc.constant(null), fc.constant([1])),
  String: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant(["s"])),
  Object: fc.oneof(fc.integer(), text, fc.constant(null), fc.array(fc.integer(), { maxLength: 3 })),
  Array: fc.oneof(fc.integer(), text, fc.constant(null), fc.constant({ 0: 1 })),
  Bytes: fc.oneof(fc.integer(), fc.constant("not base64!"), fc.constant("a=b"), fc.constant([1])),
  Encoded: fc.oneof(fc.integer(), fc.constant("***"), fc.constant(null)),
  Optional: fc.constantFrom(NaN, Infinity, () => 1, 10n),
  Any: fc.constantFrom(undefined, NaN, -Infinity, () => 1, new Date(0)),
  Error: fc.oneof(fc.integer(), fc.constant(null), fc.constant({ message: "x" })),
};

test("property: a known type with data of the wrong kind is a TypeError naming .data", () => {
  const bad = fc.constantFrom(...MESSAGE_TYPES).chain((type) =>
    WRONG[type].map((data) => ({ type, data }))
  );
  fc.assert(
    fc.property(bad, (value) => {
      assert.throws(
        () => messageFromWire(value, "packet"),
        (e: unknown) => e instanceof TypeError && e.message.startsWith("packet.data"),
      );
    }),
    { numRuns: 2000 },
  );
});

test("property: unknown types, non-objects and deep nesting are TypeErrors, never others", () => {
  const bad = fc.oneof(
    text.filter((t) => !(MESSAGE_TYPES as readonly string[]).includes(t)).map((type) => ({
      type,
      data: 1,
    })),
    fc.oneof(fc.integer(), text, fc.constant(null), fc.constant(undefined), fc.array(fc.integer())),
    fc.integer({ min: 258, max: 20_000 }).map((depth) => {
      let data: unknown = 1;
      for (let i = 0; i < depth; i++) data = i % 2 ? [data] : { k: data };
      return { type: "Any", data };
    }),
  );
  fc.assert(
    fc.property(bad, (value) => {
      assert.throws(
        () => messageFromWire(value, "m"),
        (e: unknown) => e instanceof TypeError && e.message.startsWith("m"),
      );
    }),
    { numRuns: 1000 },
  );
}, { timeout: 60_000 });
