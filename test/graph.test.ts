import assert from "node:assert/strict";
import {
  type ActorContext,
  defineActor,
  GraphError,
  loadGraph,
  Message,
  parseGraph,
  toGraphJson,
  toMermaid,
} from "../src/mod.ts";
import { test } from "./harness.ts";

/** Actors for a small pipeline: an upper-caser feeding a collector. */
function actors(seen: unknown[]) {
  return {
    upper: () =>
      defineActor({
        inports: ["in"],
        outports: ["out", "error"],
        run(ctx: ActorContext) {
          ctx.done({ out: Message.string(String(ctx.inputs.in.data).toUpperCase()) });
        },
      }),
    collect: () =>
      defineActor({
        inports: ["in"],
        outports: [],
        run(ctx: ActorContext) {
          seen.push(ctx.inputs.in.data);
        },
      }),
  };
}

const reflowGraph = {
  caseSensitive: false,
  properties: { name: "pipeline" },
  processes: {
    up: { component: "upper", metadata: { timeoutMs: 1000 } },
    out: { component: "collect", metadata: {} },
  },
  connections: [
    {
      from: { nodeId: "up", portName: "out" },
      to: { nodeId: "out", portName: "in" },
      metadata: { capacity: 4 },
    },
    { to: { nodeId: "up", portName: "in" }, data: { type: "String", data: "zero" }, metadata: {} },
    { to: { nodeId: "up", portName: "in" }, data: "one", metadata: {} },
  ],
  inports: {},
  outports: {},
  groups: [],
};

const fbpGraph = {
  properties: { name: "pipeline" },
  processes: { up: { component: "upper" }, out: { component: "collect" } },
  connections: [
    { src: { process: "up", port: "OUT" }, tgt: { process: "out", port: "in" } },
    { data: "zero", tgt: { process: "up", port: "in" } },
    { data: "one", tgt: { process: "up", port: "in" } },
  ],
};

test("loads Reflow's graph export, initial packets included, and runs it", async () => {
  const seen: unknown[] = [];
  const net = loadGraph(reflowGraph, actors(seen));
  await net.start();
  await net.whenIdle({ timeoutMs: 5000 });
  await net.shutdown();
  assert.deepEqual(seen, ["ZERO", "ONE"]);
});

test("loads the fbp-graph / NoFlo form from JSON text, with defaults and case-insensitive ports", async () => {
  const seen: unknown[] = [];
  const net = loadGraph(JSON.stringify(fbpGraph), actors(seen));
  await net.start();
  await net.whenIdle({ timeoutMs: 5000 });
  await net.shutdown();
  assert.deepEqual(seen, ["ZERO", "ONE"]);
});

test("exports Reflow's loader form (what Graph::load requires), which loads back to the same graph", () => {
  const net = loadGraph(fbpGraph, actors([]));
  const graph = net.describe();
  assert.equal(graph.name, "pipeline");
  // Port names as the actors declare them (the graph is case-insensitive: "OUT" is "out").
  assert.deepEqual(graph.edges, [{
    from: { node: "up", port: "out" },
    to: { node: "out", port: "in" },
    metadata: {},
  }]);
  assert.deepEqual(graph.initials.map((i) => i.data), ["zero", "one"]);
  const json = toGraphJson(graph);
  assert.equal(json.properties.name, "pipeline");
  // Every field of Reflow's GraphEdge / GraphNode that its serde requires (types.rs).
  assert.deepEqual(json.processes.up, { id: "up", component: "upper", metadata: {} });
  assert.deepEqual(json.connections[0], {
    from: {
      portName: "out",
      portId: "out",
      nodeId: "up",
      expose: false,
      portType: { type: "any" },
    },
    to: { portName: "in", portId: "in", nodeId: "out", expose: false, portType: { type: "any" } },
    metadata: {},
  });
  // An IIP as Reflow's exporter writes it: an all-empty `from`, the value itself as `data`.
  assert.deepEqual(json.connections[1], {
    from: { portName: "", portId: "", nodeId: "", expose: false, portType: { type: "any" } },
    to: { portName: "in", portId: "in", nodeId: "up", expose: false, portType: { type: "any" } },
    data: "zero",
    metadata: {},
  });
  const again = loadGraph(JSON.parse(JSON.stringify(json)), actors([])).describe();
  assert.deepEqual(again, graph);
  assert.deepEqual(parseGraph(json), graph);
  // The model itself loads too, already parsed.
  assert.deepEqual(loadGraph(graph, actors([])).describe(), graph);
});

/** Loads `graph` and returns the faults it reports. */
function faults(graph: unknown): { path: string; message: string }[] {
  try {
    loadGraph(graph, actors([]));
  } catch (error) {
    assert.ok(error instanceof GraphError, `expected a GraphError, got ${error}`);
    assert.match(error.message, /invalid graph/);
    return error.issues;
  }
  assert.fail("the graph was accepted");
}

test("validation: an unknown component is named with its path and the registered ones", () => {
  const issues = faults({ processes: { up: { component: "uper" } } });
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path, "$.processes.up.component");
  assert.match(issues[0].message, /unknown component "uper" \(registered: upper, collect\)/);
});

test("validation: unknown nodes and undeclared ports, every fault at once", () => {
  const issues = faults({
    processes: { up: { component: "upper" }, out: { component: "collect" } },
    connections: [
      { from: { nodeId: "nope", portName: "out" }, to: { nodeId: "out", portName: "in" } },
      { from: { nodeId: "up", portName: "result" }, to: { nodeId: "out", portName: "in" } },
      { from: { nodeId: "up", portName: "out" }, to: { nodeId: "out", portName: "input" } },
      { to: { nodeId: "ghost", portName: "in" }, data: "x" },
    ],
  });
  assert.deepEqual(issues.map((i) => i.path), [
    "$.connections[0].from.nodeId",
    "$.connections[1].from.portName",
    "$.connections[2].to.portName",
    "$.connections[3].to.nodeId",
  ]);
  assert.match(issues[0].message, /unknown node "nope" \(nodes: up, out\)/);
  assert.match(issues[1].message, /node "up" has no outport "result" \(outports: out, error\)/);
  assert.match(issues[2].message, /node "out" has no inport "input" \(inports: in\)/);
  assert.match(issues[3].message, /unknown node "ghost"/);
});

test("validation: duplicate node ids in JSON text; ids differing only in case are two nodes", () => {
  const text = `{"processes": {"up": {"component": "upper"}, "up": {"component": "collect"}}}`;
  assert.throws(() => parseGraph(text), (e: unknown) => {
    assert.ok(e instanceof GraphError);
    assert.deepEqual(e.issues, [{ path: "$.processes.up", message: `duplicate key "up"` }]);
    return true;
  });
  // As in NoFlo and Reflow, node ids are exact; caseSensitive is about port names only.
  const net = loadGraph({
    processes: { up: { component: "upper" }, UP: { component: "upper" } },
    connections: [{ src: { process: "up", port: "out" }, tgt: { process: "UP", port: "in" } }],
  }, actors([]));
  assert.deepEqual(net.describe().nodes.map((n) => n.id), ["up", "UP"]);
  assert.deepEqual(net.describe().edges.map((e) => [e.from.node, e.to.node]), [["up", "UP"]]);
});

test("validation: bad message shapes in initial packets, bad capacity, bad metadata", () => {
  const issues = faults({
    processes: {
      up: { component: "upper", metadata: { timeoutMs: "soon" } },
      out: { component: "collect" },
    },
    connections: [
      { to: { nodeId: "out", portName: "in" }, data: { type: "Integer", data: "seven" } },
      {
        from: { nodeId: "out", portName: "x" },
        to: { nodeId: "out", portName: "in" },
      },
    ],
  });
  assert.equal(issues[0].path, "$.processes.up.metadata");
  assert.match(issues[0].message, /metadata.timeoutMs must be a number/);
  assert.equal(issues[1].path, "$.connections[1].from.portName");
  assert.equal(issues[2].path, "$.connections[0].data");
  assert.match(issues[2].message, /expected a number, got the string "seven"/);
  const cap = faults({
    processes: { up: { component: "upper" }, out: { component: "collect" } },
    connections: [{
      from: { nodeId: "up", portName: "out" },
      to: { nodeId: "out", portName: "in" },
      metadata: { capacity: 0 },
    }],
  });
  assert.equal(cap[0].path, "$.connections[0].metadata.capacity");
  assert.match(cap[0].message, /capacity must be a whole number ≥ 1, got 0/);
});

test("validation: shape errors carry JSON paths; not JSON and not an object are faults", () => {
  const issues = faults({ processes: { up: { component: 7 } }, connections: {} });
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ["$.connections", "$.processes.up.component"]);
  assert.equal(faults("{nope")[0].path, "$");
  assert.match(faults("{nope")[0].message, /not valid JSON/);
  assert.match(faults([1, 2])[0].message, /must be a JSON object/);
  assert.equal(faults({ processes: { a: { component: "" } } })[0].path, "$.processes.a.component");
});

test("toMermaid draws the network like the seed's diagram", () => {
  const net = loadGraph(reflowGraph, actors([]));
  assert.equal(
    toMermaid(net.describe()),
    [
      "flowchart LR",
      "  iip_in([in])",
      "  iip_in --> up[up]",
      "  up -->|out| out[out]",
      "",
    ].join("\n"),
  );
  // The same drawing straight from the JSON, and ids Mermaid would misread get quoted labels.
  assert.equal(toMermaid(parseGraph(reflowGraph)), toMermaid(net.describe()));
  const odd = toMermaid(parseGraph({
    processes: { "my node": { component: "x" }, end: { component: "y" } },
    connections: [{
      src: { process: "my node", port: "out" },
      tgt: { process: "end", port: "in" },
    }],
  }));
  assert.match(odd, /my_node\[my node\] -->\|out\| end_2\[end\]/);
});
