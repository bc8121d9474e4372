/**
 * Messages: constructors, the wire round trip of every variant, and rejection of bad shapes with
 * the JSON path of the fault.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import {
  isMessage,
  MAX_WIRE_DEPTH,
  Message,
  MESSAGE_TYPES,
  messageFromWire,
  messageToWire,
  WireMessageSchema,
} from "../src/mod.ts";

test("message: every constructor makes { type, data } of its variant", () => {
  const bytes = new Uint8Array([0, 1, 2, 255]);
  const cases: [Message, Message][] = [
    [Message.flow(), { type: "Flow" }],
    [Message.event({ kind: "tick" }), { type: "Event", data: { kind: "tick" } }],
    [Message.boolean(true), { type: "Boolean", data: true }],
    [Message.integer(42), { type: "Integer", data: 42 }],
    [Message.float(1.5), { type: "Float", data: 1.5 }],
    [Message.string("zero"), { type: "String", data: "zero" }],
    [Message.object({ role: "facts" }), { type: "Object", data: { role: "facts" } }],
    [Message.array([1, "a"]), { type: "Array", data: [1, "a"] }],
    [Message.bytes(bytes), { type: "Bytes", data: bytes }],
    [Message.encoded(bytes), { type: "Encoded", data: bytes }],
    [Message.optional("x"), { type: "Optional", data: "x" }],
    [Message.optional(undefined), { type: "Optional", data: null }],
    [Message.any([1, { a: null }]), { type: "Any", data: [1, { a: null }] }],
    [Message.error(new Error("boom")), { type: "Error", data: "boom" }],
    [Message.error("plain"), { type: "Error", data: "plain" }],
    [Message.error({ code: 7 }), { type: "Error", data: '{"code":7}' }],
  ];
  for (const [made, expected] of cases) {
    assert.deepEqual(made, expected);
    assert.ok(isMessage(made), `${made.type} is a message`);
  }
  // Every variant has a constructor case above.
  assert.deepEqual(new Set(cases.map(([m]) => m.type)), new Set(MESSAGE_TYPES));
  assert.throws(() => Message.integer(1.5), /1\.5 is not a safe integer/);
  assert.equal(isMessage({ type: "Nope" }), false);
  assert.equal(isMessage(null), false);
  // An Error message never carries the stack.
  const err = Message.error(new Error("short"));
  assert.equal(err.data, "short");
});

test("message: messageToWire / messageFromWire round-trips every variant through JSON", () => {
  const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
  const all: Message[] = [
    Message.flow(),
    Message.event({ kind: "tick", n: [1, 2] }),
    Message.boolean(false),
    Message.integer(-9007199254740991),
    Message.float(-0.25),
    Message.string("ünïcødé ✓"),
    Message.object({ nested: { deep: [true, null, "x"] } }),
    Message.array([{ a: 1 }, [2], "3"]),
    Message.bytes(bytes),
    Message.encoded(new Uint8Array([104, 105])),
    Message.optional(null),
    Message.optional({ some: 1 }),
    Message.any("anything"),
    Message.error(new Error("bad")),
  ];
  for (const m of all) {
    const wire = messageToWire(m);
    const text = JSON.stringify(wire);
    const back = messageFromWire(JSON.parse(text));
    assert.deepEqual(back, m, `${m.type} round trip`);
    assert.ok(WireMessageSchema.safeParse(JSON.parse(text)).success, `${m.type} wire validates`);
  }
  // Bytes travel as base64 on the wire.
  assert.deepEqual(messageToWire(Message.encoded(new Uint8Array([104, 105]))), {
    type: "Encoded",
    data: "aGk=",
  });
  const fromWire = messageFromWire({ type: "Bytes", data: "AAEC/w==" });
  assert.ok(fromWire.data instanceof Uint8Array);
  assert.deepEqual([...(fromWire.data as Uint8Array)], [0, 1, 2, 255]);
  // Defaults: Flow with null data and Optional without data.
  assert.deepEqual(messageFromWire({ type: "Flow", data: null }), { type: "Flow" });
  assert.deepEqual(messageFromWire({ type: "Optional" }), { type: "Optional", data: null });
});

test("message: bad shapes are rejected with a TypeError naming the path", () => {
  const bad: [unknown, RegExp][] = [
    [{ type: "Nope" }, /^graph\.iip\.type: .*Flow/],
    [{ type: "Integer", data: 1.5 }, /^graph\.iip\.data: /],
    [{ type: "String" }, /^graph\.iip\.data: /],
    [{ type: "Boolean", data: "yes" }, /^graph\.iip\.data: /],
    [{ type: "Object", data: [1] }, /^graph\.iip\.data: /],
    [{ type: "Object", data: { a: { b: [1, NaN] } } }, /^graph\.iip\.data\.a\b/],
    [{ type: "Bytes", data: "@@not base64" }, /^graph\.iip\.data: must be base64/],
    [{ type: "Error", data: 5 }, /^graph\.iip\.data: /],
    [5, /^graph\.iip: /],
    [null, /^graph\.iip: /],
  ];
  for (const [value, pattern] of bad) {
    assert.throws(() => messageFromWire(value, "graph.iip"), (e: unknown) => {
      assert.ok(e instanceof TypeError, `TypeError for ${JSON.stringify(value)}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  // Default path when none is given.
  assert.throws(() => messageFromWire({ type: "Float", data: "1" }), /TypeError: message\.data: /);
});

test("messageFromWire accepts data nested up to MAX_WIRE_DEPTH levels and rejects deeper", () => {
  const nest = (depth: number) => {
    let data: unknown = "leaf";
    for (let i = 0; i < depth; i++) data = i % 2 ? [data] : { k: data };
    return { type: "Any", data };
  };
  assert.equal(messageFromWire(nest(MAX_WIRE_DEPTH - 1)).type, "Any");
  assert.throws(
    () => messageFromWire(nest(MAX_WIRE_DEPTH + 1), "iip"),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === `iip.data: nested deeper than ${MAX_WIRE_DEPTH} levels`,
  );
});
