/**
 * Addressable (array) ports with NoFlo's semantics (noflo/noflo `src/lib/OutPort.js`
 * `getSockets`, `src/lib/BasePort.js` `attach`, `src/lib/ProcessOutput.js` `sendIP`): an edge's
 * index is kept, a send names the index it goes to, a tick learns the index it came from, and
 * two edges that differ only in index are two connections, never a duplicate delivery.
 */
import assert from "node:assert/strict";
import {
  type ActorContext,
  GraphError,
  loadGraph,
  Message,
  Network,
  NetworkError,
  parseGraph,
  toGraphJson,
  toMermaid,
} from "../src/mod.ts";
import { test } from "./harness.ts";

const IDLE = { timeoutMs: 5_000 };

/** A mux: what arrives on IN[i] leaves on OUT[i]. A display records what it gets. */
function actors(seen: string[]) {
  return {
    mux: () => ({
      inports: ["in"],
      outports: ["out"],
      addressable: ["in", "out"],
      run(ctx: ActorContext) {
        ctx.done({ out: ctx.inputs.in }, { index: ctx.indexes.in });
      },
    }),
    console: () => ({
      inports: ["in"],
      outports: [],
      run(ctx: ActorContext) {
        seen.push(String(ctx.inputs.in.data));
      },
    }),
  };
}

// The shape of flowbased/fbp's spec "with multiple arrayport connections on same line" (the
// corpus test runs that file itself): IIPs to Mux IN[0] and IN[1], Mux OUT[0] and OUT[1] both to
// Display IN.
const arrayports = {
  processes: { Mux: { component: "mux" }, Display: { component: "console" } },
  connections: [
    { data: "first", tgt: { process: "Mux", port: "IN", index: 0 } },
    { src: { process: "Mux", port: "OUT", index: 0 }, tgt: { process: "Display", port: "IN" } },
    { data: "second", tgt: { process: "Mux", port: "IN", index: 1 } },
    { src: { process: "Mux", port: "OUT", index: 1 }, tgt: { process: "Display", port: "IN" } },
  ],
};

test("two edges differing only in index are two connections: each packet arrives once", async () => {
  const seen: string[] = [];
  const net = loadGraph(arrayports, actors(seen));
  await net.start();
  await net.whenIdle(IDLE);
  await net.shutdown();
  assert.deepEqual(seen.sort(), ["first", "second"]);
  // The indexes survive the description, Reflow's JSON and Mermaid.
  const graph = net.describe();
  assert.deepEqual(graph.edges.map((e) => e.from.index), [0, 1]);
  assert.deepEqual(graph.initials.map((i) => i.to.index), [0, 1]);
  assert.deepEqual(parseGraph(toGraphJson(graph)), graph);
  assert.match(
    toMermaid(graph),
    /Mux -->\|"out\[0\]"\| Display[\s\S]*Mux -->\|"out\[1\]"\| Display/,
  );
});

test("a tick learns its index; a send to an index reaches only that slot; attached() lists them", async () => {
  const got: string[] = [];
  const net = new Network();
  net.registerActor("dispatch", () => ({
    inports: ["in"],
    outports: ["handle"],
    addressable: ["handle"],
    async run(ctx: ActorContext) {
      // Like noflo-ui's Dispatch: one action to each attached handler in turn.
      for (const i of ctx.attached("handle")) {
        await ctx.send({ handle: Message.string(`${ctx.inputs.in.data}→${i}`) }, { index: i });
      }
    },
  }));
  net.registerActor("reducer", () => ({
    inports: ["in"],
    outports: [],
    run(ctx: ActorContext) {
      got.push(`${ctx.nodeId}:${ctx.inputs.in.data}`);
    },
  }));
  net.registerActor("join", () => ({
    inports: ["in"],
    outports: [],
    addressable: ["in"],
    run(ctx: ActorContext) {
      got.push(`join[${ctx.indexes.in}]:${ctx.inputs.in.data}`);
    },
  }));
  net.addNode("d", "dispatch").addNode("r0", "reducer").addNode("r2", "reducer");
  net.addNode("j", "join");
  net.addConnection("d", "handle", "r0", "in", { fromIndex: 0 });
  net.addConnection("d", "handle", "r2", "in", { fromIndex: 2 });
  net.addConnection("d", "handle", "j", "in", { fromIndex: 3, toIndex: 5 });
  // Without an index, an edge on an addressable port takes the next slot (NoFlo's attach).
  net.addConnection("d", "handle", "j", "in");
  net.addInitial("d", "in", Message.string("a"));
  await net.start();
  await net.whenIdle(IDLE);
  await net.shutdown();
  assert.deepEqual(got.sort(), ["join[5]:a→3", "join[6]:a→4", "r0:a→0", "r2:a→2"]);
});

test("index-less sends to an addressable outport fail the tick; indexes on plain ports are refused", async () => {
  const net = new Network();
  const outcome: unknown[] = [];
  net.registerActor("a", () => ({
    inports: ["in"],
    outports: ["out", "plain"],
    addressable: ["out"],
    async run(ctx: ActorContext) {
      for (
        const send of [
          () => ctx.send({ out: ctx.inputs.in }),
          () => ctx.send({ plain: ctx.inputs.in }, { index: 0 }),
        ]
      ) {
        await send().then(() => outcome.push("sent"), (e) => outcome.push(e));
      }
    },
  }));
  net.registerActor("b", () => ({ inports: ["in"], outports: [], run() {} }));
  net.addNode("a", "a").addNode("b", "b");
  net.addConnection("a", "out", "b", "in", { fromIndex: 0 });
  net.addConnection("a", "out", "b", "in", { fromIndex: 1 });
  net.addConnection("a", "plain", "b", "in");
  assert.throws(
    () => net.addConnection("a", "plain", "b", "in", { fromIndex: 1 }),
    (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.equal(e.field, "fromIndex");
      assert.match(e.message, /outport "plain" of node "a" is not addressable/);
      return true;
    },
  );
  assert.throws(
    () => net.addConnection("a", "out", "b", "in", { fromIndex: -1 }),
    /whole number ≥ 0/,
  );
  net.addInitial("a", "in", Message.string("x"));
  await net.start();
  await net.whenIdle(IDLE);
  await net.shutdown();
  assert.ok(outcome[0] instanceof NetworkError);
  assert.match(
    String(outcome[0]),
    /outport "out" is addressable: send to one index.*attached: 0, 1/,
  );
  assert.ok(outcome[1] instanceof NetworkError);
  assert.match(String(outcome[1]), /outport "plain" is not addressable/);
});

test("a graph's index on a port that is not addressable is a GraphError at its JSON path", () => {
  const graph = structuredClone(arrayports);
  const seen: string[] = [];
  const plain = { ...actors(seen), mux: () => ({ ...actors(seen).mux(), addressable: [] }) };
  assert.throws(() => loadGraph(graph, plain), (e: unknown) => {
    assert.ok(e instanceof GraphError);
    assert.deepEqual(e.issues.map((i) => i.path), [
      "$.connections[1].src.index",
      "$.connections[3].src.index",
    ]);
    assert.match(e.issues[0].message, /outport "out" of node "Mux" is not addressable/);
    return true;
  });
});
