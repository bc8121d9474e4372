/**
 * Property tests of graph loading: random valid graphs, in Reflow's export and in the
 * fbp-graph / NoFlo form, load and run to idle with the packet counts their shape implies; random
 * junk and mutated graphs are rejected with a GraphError whose every issue has a `$…` path and a
 * message, and nothing else ever escapes parseGraph / loadGraph.
 * (Delivery on random DAGs is test/network_property.test.ts; this is about the graph format.)
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./harness.ts";
import {
  type ActorContext,
  GraphError,
  loadGraph,
  Message,
  parseGraph,
  toGraphJson,
} from "../src/mod.ts";

type Kind = "pass" | "join" | "sink";
const PORTS: Record<Kind, { inports: string[]; outports: string[] }> = {
  pass: { inports: ["in"], outports: ["out"] },
  join: { inports: ["a", "b"], outports: ["out"] },
  sink: { inports: ["in"], outports: [] },
};

/** The registry, counting ticks per node id. */
function registry(ticks: Map<string, number>) {
  const count = (ctx: ActorContext) => ticks.set(ctx.nodeId, (ticks.get(ctx.nodeId) ?? 0) + 1);
  return {
    tpl_pass: () => ({
      ...PORTS.pass,
      run(ctx: ActorContext) {
        count(ctx);
        ctx.done({ out: ctx.inputs.in });
      },
    }),
    tpl_join: () => ({
      ...PORTS.join,
      awaitAllInports: true,
      run(ctx: ActorContext) {
        count(ctx);
        ctx.done({ out: Message.array([ctx.inputs.a.type, ctx.inputs.b.type]) });
      },
    }),
    tpl_sink: () => ({
      ...PORTS.sink,
      run(ctx: ActorContext) {
        count(ctx);
      },
    }),
  };
}

interface Spec {
  ids: string[];
  kinds: Kind[];
  /** i → j (i < j, so the graph is a DAG), with the target port and an optional capacity. */
  edges: { from: number; to: number; port: string; capacity?: number }[];
  iips: { to: number; port: string; data: unknown }[];
  fbp: boolean;
  asText: boolean;
  /** Write port names in another case (the graph is case-insensitive by default). */
  shout: boolean;
}

/** Node ids unique even case-insensitively: unicode, spaces and dots included. */
const ids = (n: number) =>
  fc.uniqueArray(fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }), {
    minLength: n,
    maxLength: n,
    selector: (s) => s.toLowerCase(),
  }).filter((a) => a.every((s) => s !== "__proto__"));

/** IIP data: a wire message, or a bare JSON value (wrapped by initialMessage). */
const iipData = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).filter((v) =>
    !(typeof v === "object" && v !== null && !Array.isArray(v) && "type" in v)
  ),
  fc.constantFrom(
    { type: "String", data: "zero" },
    { type: "Integer", data: 7 },
    { type: "Flow" },
    { type: "Bytes", data: "AAEC" },
    { type: "Object", data: { a: [1, "b", null] } },
  ),
);

const spec: fc.Arbitrary<Spec> = fc.integer({ min: 1, max: 6 }).chain((n) =>
  fc.record({
    ids: ids(n),
    kinds: fc.array(fc.constantFrom<Kind>("pass", "join", "sink"), { minLength: n, maxLength: n }),
    rawEdges: fc.array(
      fc.record({
        from: fc.nat(n - 1),
        to: fc.nat(n - 1),
        pick: fc.nat(1),
        capacity: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      }),
      { maxLength: 10 },
    ),
    rawIips: fc.array(fc.record({ to: fc.nat(n - 1), pick: fc.nat(1), data: iipData }), {
      maxLength: 6,
    }),
    fbp: fc.boolean(),
    asText: fc.boolean(),
    shout: fc.boolean(),
  }).map(({ ids, kinds, rawEdges, rawIips, fbp, asText, shout }) => ({
    ids,
    kinds,
    edges: rawEdges
      .filter((e) => e.from < e.to && kinds[e.from] !== "sink")
      .map((e) => {
        const ports = PORTS[kinds[e.to]].inports;
        return { from: e.from, to: e.to, port: ports[e.pick % ports.length], capacity: e.capacity };
      }),
    iips: rawIips.map((i) => {
      const ports = PORTS[kinds[i.to]].inports;
      return { to: i.to, port: ports[i.pick % ports.length], data: i.data };
    }),
    fbp,
    asText,
    shout,
  }))
);

function toJson(s: Spec): Record<string, unknown> {
  const port = (p: string) => (s.shout ? p.toUpperCase() : p);
  const processes: Record<string, unknown> = {};
  s.ids.forEach((id, i) => (processes[id] = { component: `tpl_${s.kinds[i]}`, metadata: {} }));
  const end = (node: number, p: string) =>
    s.fbp ? { process: s.ids[node], port: port(p) } : { nodeId: s.ids[node], portName: port(p) };
  const connections: unknown[] = s.edges.map((e) => {
    // A join applies backpressure: packets beyond a connection's capacity on a port whose partner
    // never fills wait upstream for good (whenIdle then times out naming the join; see the
    // README). The shapes here may do that, so edges into joins get room for every packet.
    const capacity = s.kinds[e.to] === "join" ? 10_000 : e.capacity;
    return {
      [s.fbp ? "src" : "from"]: end(e.from, "out"),
      [s.fbp ? "tgt" : "to"]: end(e.to, e.port),
      metadata: capacity === undefined ? {} : { capacity },
    };
  });
  for (const i of s.iips) {
    connections.push({ data: i.data, [s.fbp ? "tgt" : "to"]: end(i.to, i.port) });
  }
  return { properties: { name: "fuzz" }, processes, connections };
}

/** Ticks each node must run: the packets its shape implies, in topological (index) order. */
function expectedTicks(s: Spec): number[] {
  const got = s.ids.map(() => ({ in: 0, a: 0, b: 0 } as Record<string, number>));
  for (const i of s.iips) got[i.to][i.port]++;
  const ticks: number[] = [];
  for (let k = 0; k < s.ids.length; k++) {
    ticks[k] = s.kinds[k] === "join" ? Math.min(got[k].a, got[k].b) : got[k].in;
    for (const e of s.edges) if (e.from === k) got[e.to][e.port] += ticks[k];
  }
  return ticks;
}

/** Calls fn; if it throws, the error must be a well-formed GraphError. */
function validOrGraphError(fn: () => unknown): "valid" | "invalid" {
  try {
    fn();
    return "valid";
  } catch (error) {
    assert.ok(error instanceof GraphError, `expected a GraphError, got ${error}`);
    assert.ok(error.issues.length > 0, "a GraphError lists at least one issue");
    for (const issue of error.issues) {
      assert.equal(typeof issue.path, "string");
      assert.ok(issue.path.startsWith("$"), `issue path ${issue.path} does not start with $`);
      assert.ok(typeof issue.message === "string" && issue.message.length > 0, "empty message");
    }
    return "invalid";
  }
}

function mustBeGraphError(fn: () => unknown): void {
  assert.equal(validOrGraphError(fn), "invalid", "expected the graph to be rejected");
}

test("property: random valid graphs run to idle with the ticks their shape implies", async () => {
  await fc.assert(
    fc.asyncProperty(spec, async (s) => {
      const ticks = new Map<string, number>();
      const net = loadGraph(toJson(s), registry(ticks));
      try {
        await net.start();
        await net.whenIdle({ timeoutMs: 2_000 });
      } finally {
        await net.shutdown();
      }
      assert.deepEqual(s.ids.map((id) => ticks.get(id) ?? 0), expectedTicks(s));
    }),
    { numRuns: 300 },
  );
}, { timeout: 60_000 });

test("property: random valid graphs (both formats) parse and load", () => {
  fc.assert(
    fc.property(spec, (s) => {
      const json = toJson(s);
      const input = s.asText ? JSON.stringify(json) : json;
      const parsed = parseGraph(input);
      assert.equal(parsed.nodes.length, s.ids.length);
      assert.equal(parsed.edges.length, s.edges.length);
      assert.equal(parsed.initials.length, s.iips.length);
      const net = loadGraph(input, registry(new Map()));
      // Round trips lose nothing: the model through Reflow's JSON, and the network's description.
      // (Compared as JSON: JSON itself has no -0.)
      const viaJson = (v: unknown) => JSON.parse(JSON.stringify(v));
      assert.deepEqual(parseGraph(viaJson(toGraphJson(parsed))), viaJson(parsed));
      const described = net.describe();
      assert.deepEqual(loadGraph(described, registry(new Map())).describe(), described);
      assert.deepEqual(
        described.initials.map((i) => i.data),
        parsed.initials.map((i) => i.data),
      );
    }),
    { numRuns: 2000 },
  );
}, { timeout: 60_000 });

/** Values of the wrong kind for any field. */
const junk = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, "", "x", [], {}, [1, 2], { a: 1 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.integer(),
);

/** One change that always makes a valid graph invalid. */
type Breaker = (g: Record<string, unknown>, s: Spec, junkValue: unknown, text: string) => unknown;
const BREAKERS: Record<string, Breaker> = {
  "processes missing": (g) => (delete g.processes, g),
  "processes not an object": (g, _s, j) => ({ ...g, processes: Array.isArray(j) ? j : [j] }),
  "connections not an array": (g) => ({ ...g, connections: { 0: 1 } }),
  "component unknown": (g, s, _j, text) => {
    (g.processes as Record<string, { component: unknown }>)[s.ids[0]].component = `x${text}`;
    return g;
  },
  "component not a string": (g, s, j) => {
    (g.processes as Record<string, { component: unknown }>)[s.ids[0]].component =
      typeof j === "string" && j ? 7 : j;
    return g;
  },
  "metadata not an object": (g, s) => {
    (g.processes as Record<string, { metadata: unknown }>)[s.ids[0]].metadata = "meta";
    return g;
  },
  "bad timeoutMs": (g, s) => {
    (g.processes as Record<string, { metadata: unknown }>)[s.ids[0]].metadata = { timeoutMs: -5 };
    return g;
  },
  "edge to an unknown node": (g, s, _j, text) => {
    const node = `${s.ids.join("")}#${text}`;
    (g.connections as unknown[]).push(
      s.fbp
        ? { src: { process: s.ids[0], port: "out" }, tgt: { process: node, port: "in" } }
        : { from: { nodeId: s.ids[0], portName: "out" }, to: { nodeId: node, portName: "in" } },
    );
    return g;
  },
  "IIP to an unknown port": (g, s, _j, text) => {
    (g.connections as unknown[]).push(
      s.fbp
        ? { data: 1, tgt: { process: s.ids[0], port: `zz${text}` } }
        : { data: 1, to: { nodeId: s.ids[0], portName: `zz${text}` } },
    );
    return g;
  },
  "edge with neither source nor data": (g, s) => {
    (g.connections as unknown[]).push(
      s.fbp
        ? { tgt: { process: s.ids[0], port: "in" } }
        : { to: { nodeId: s.ids[0], portName: "in" } },
    );
    return g;
  },
  "edge with both source and data": (g, s) => {
    (g.connections as unknown[]).push(
      s.fbp
        ? {
          src: { process: s.ids[0], port: "out" },
          data: 1,
          tgt: { process: s.ids[0], port: "in" },
        }
        : {
          from: { nodeId: s.ids[0], portName: "out" },
          data: 1,
          to: { nodeId: s.ids[0], portName: "in" },
        },
    );
    return g;
  },
  "empty port name": (g, s) => {
    (g.connections as unknown[]).push(
      s.fbp
        ? { data: 1, tgt: { process: s.ids[0], port: "" } }
        : { data: 1, to: { nodeId: s.ids[0], portName: "" } },
    );
    return g;
  },
  "bad IIP message": (g, s, j) => {
    const data = {
      type: "Integer",
      data: typeof j === "number" && Number.isSafeInteger(j) ? "1" : j,
    };
    (g.connections as unknown[]).push(
      s.fbp
        ? { data, tgt: { process: s.ids[0], port: "x" } }
        : { data, to: { nodeId: s.ids[0], portName: "x" } },
    );
    return g;
  },
  "unknown message type": (g, s, _j, text) => {
    const data = { type: `Nope${text}` };
    (g.connections as unknown[]).push(
      s.fbp
        ? { data, tgt: { process: s.ids[0], port: "x" } }
        : { data, to: { nodeId: s.ids[0], portName: "x" } },
    );
    return g;
  },
  "deeply nested IIP": (g, s) => {
    let data: unknown = 1;
    for (let i = 0; i < 20_000; i++) data = [data];
    (g.connections as unknown[]).push(
      s.fbp
        ? { data: { type: "Any", data }, tgt: { process: s.ids[0], port: "x" } }
        : { data: { type: "Any", data }, to: { nodeId: s.ids[0], portName: "x" } },
    );
    return g;
  },
  "caseSensitive not a boolean": (g, _s, j) => ({
    ...g,
    caseSensitive: typeof j === "boolean" ? "yes" : j,
  }),
  "index on a port that is not addressable": (g, s) => {
    // The generic actors have no array ports: an index would make two edges carry every packet.
    (g.connections as unknown[]).push(
      s.fbp
        ? {
          src: { process: s.ids[0], port: "out", index: 1 },
          tgt: { process: s.ids[0], port: "in" },
        }
        : {
          from: { nodeId: s.ids[0], portName: "out", index: 1 },
          to: { nodeId: s.ids[0], portName: "in" },
        },
    );
    (g.processes as Record<string, { component: string }>)[s.ids[0]].component = "tpl_pass";
    return g;
  },
  "duplicate key in JSON text": (g, s) =>
    JSON.stringify(g).replace(
      `"processes":{`,
      `"processes":{${JSON.stringify(s.ids[0])}:{"component":"tpl_sink"},`,
    ),
  "huge unknown component": (g, s) => {
    (g.processes as Record<string, { component: unknown }>)[s.ids[0]].component = "é".repeat(
      200_000,
    );
    return g;
  },
};

test("property: mutated valid graphs are rejected with a GraphError with $-paths", () => {
  fc.assert(
    fc.property(
      spec,
      fc.constantFrom(...Object.keys(BREAKERS)),
      junk,
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.boolean(),
      (s, breaker, j, text, asText) => {
        const broken = BREAKERS[breaker](toJson(s), s, j, text);
        let input = broken;
        if (asText && typeof broken !== "string") {
          try {
            input = JSON.stringify(broken);
          } catch {
            // Too deep for JSON.stringify itself: give the object.
          }
        }
        mustBeGraphError(() => loadGraph(input, registry(new Map())));
      },
    ),
    { numRuns: 2000 },
  );
}, { timeout: 60_000 });

/** Sets `value` at a random place in a JSON tree (or deletes the key when value is undefined). */
function mutate(tree: unknown, choices: number[], value: unknown): unknown {
  if (typeof tree !== "object" || tree === null || choices.length === 0) return value;
  const keys = Object.keys(tree);
  if (keys.length === 0) return value;
  const key = keys[choices[0] % keys.length];
  const copy = (Array.isArray(tree) ? [...tree] : { ...tree }) as Record<string, unknown>;
  const next = mutate(copy[key], choices.slice(1), value);
  if (next === undefined && !Array.isArray(copy)) delete copy[key];
  else copy[key] = next;
  return copy;
}

test(
  "property: randomly mutated graphs either load or fail with a GraphError, nothing else",
  () => {
    fc.assert(
      fc.property(
        spec,
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        fc.oneof(junk, fc.constant(undefined), fc.anything({ maxDepth: 2 })),
        fc.boolean(),
        (s, choices, value, asText) => {
          const broken = mutate(toJson(s), choices, value);
          let input: unknown = broken;
          if (asText) {
            try {
              input = JSON.stringify(broken) ?? broken;
            } catch {
              input = broken; // BigInt and the like: give the object itself
            }
          }
          validOrGraphError(() => loadGraph(input, registry(new Map())));
        },
      ),
      { numRuns: 3000 },
    );
  },
  { timeout: 60_000 },
);

test(
  "property: junk (any value, any text, deep nesting) is never anything but a GraphError",
  () => {
    const deep = fc.integer({ min: 1_000, max: 30_000 }).chain((depth) =>
      fc.constantFrom(
        "[".repeat(depth) + "]".repeat(depth),
        '{"a":'.repeat(depth) + "1" + "}".repeat(depth),
        `{"processes":{},"groups":${"[".repeat(depth)}${"]".repeat(depth)}}`,
        "[".repeat(depth),
      )
    );
    const input = fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      deep,
      // A long unterminated JSON string (built by repetition: generating 100,000 random graphemes
      // per run cost most of this test's time).
      fc.tuple(
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 }),
        fc.integer({ min: 50_000, max: 100_000 }),
      ).map(([s, n]) => `"${s.repeat(Math.ceil(n / s.length))}`),
      fc.record({
        processes: fc.anything({ maxDepth: 2 }),
        connections: fc.anything({ maxDepth: 3 }),
      }, { requiredKeys: [] }),
    );
    fc.assert(
      fc.property(input, (value) => {
        validOrGraphError(() => parseGraph(value));
        validOrGraphError(() => loadGraph(value, registry(new Map())));
      }),
      { numRuns: 1000 },
    );
  },
  { timeout: 180_000 },
);
