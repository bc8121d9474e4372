/**
 * Graph formats other tools write, on every runtime: Reflow's own exporter output (offbit-ai/reflow
 * `crates/reflow_graph/src/lib.rs` `export`, `add_connection`, `add_initial`; `types.rs`), Zeal
 * workflows (`crates/reflow_server/src/zeal_converter.rs`) and `.fbp` text (flowbased/fbp's
 * parser, npm `fbp`). The fixtures are ours, written in each format's documented shape; the
 * corpus test runs the 64 files other people wrote.
 */
import assert from "node:assert/strict";
import {
  type ActorContext,
  GraphError,
  loadGraph,
  Message,
  parseGraph,
  toGraphJson,
} from "../src/mod.ts";
import { parseFbp } from "../src/graph/fbp.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { researchGraph, runResearch } from "../src/research/mod.ts";
import zeal from "../examples/research.zeal.json" with { type: "json" };
import { test } from "./harness.ts";

const TOPIC = "the history of zero";

function pipeline(seen: unknown[]) {
  return {
    upper: () => ({
      inports: ["in"],
      outports: ["out"],
      run(ctx: ActorContext) {
        ctx.done({ out: Message.string(String(ctx.inputs.in.data).toUpperCase()) });
      },
    }),
    collect: () => ({
      inports: ["in"],
      outports: [],
      run(ctx: ActorContext) {
        seen.push(ctx.inputs.in.data);
      },
    }),
  };
}

test("Reflow's exporter output loads and runs: portId ends, nulls, IIPs with an empty from", async () => {
  // What Graph::export() writes for add_node / add_connection / add_initial: edges made through
  // the API have portName "" and the port in portId; unset Options are null; an IIP's `from` is
  // GraphEdge::default(); add_initial puts the initializer's position in `to.index`.
  const edge = (node: string, port: string) => ({
    portName: "",
    portId: port,
    nodeId: node,
    index: null,
    expose: false,
    data: null,
    metadata: null,
    portType: { type: "any" },
  });
  const exported = {
    caseSensitive: false,
    properties: { name: "pipeline" },
    inports: {},
    outports: {},
    groups: [],
    processes: {
      up: { id: "up", component: "upper", metadata: null },
      out: { id: "out", component: "collect", metadata: null },
    },
    connections: [
      { from: edge("up", "out"), to: edge("out", "in"), metadata: null, data: null },
      {
        from: edge("", ""),
        to: { ...edge("up", "in"), index: 0 },
        metadata: { source: "config" },
        data: "zero",
      },
      { from: edge("", ""), to: { ...edge("up", "in"), index: 1 }, metadata: null, data: 1 },
    ],
  };
  const seen: unknown[] = [];
  const net = loadGraph(exported, pipeline(seen));
  await net.start();
  await net.whenIdle({ timeoutMs: 5_000 });
  await net.shutdown();
  assert.deepEqual(seen, ["ZERO", "1"]);
  const graph = net.describe();
  assert.deepEqual(graph.edges[0].from, { node: "up", port: "out" });
  assert.deepEqual(graph.initials.map((i) => [i.to.index, i.data, i.metadata]), [
    [0, "zero", { source: "config" }],
    [1, 1, {}],
  ]);
  // Three of Reflow's docs examples write ends as { nodeId, portId } only.
  const docs = parseGraph({
    caseSensitive: false,
    properties: { name: "docs" },
    processes: { up: { component: "upper" }, out: { component: "collect" } },
    connections: [{ from: { nodeId: "up", portId: "out" }, to: { nodeId: "out", portId: "in" } }],
  });
  assert.deepEqual(docs.edges[0].to, { node: "out", port: "in" });
});

test("toGraphJson writes what Reflow's Graph::load requires, field for field", () => {
  const json = toGraphJson(researchGraph(TOPIC));
  // GraphExport: caseSensitive and properties.name required (load() unwraps name).
  assert.equal(json.caseSensitive, false);
  assert.equal(json.properties.name, "research");
  for (const [id, node] of Object.entries(json.processes)) {
    assert.equal(node.id, id); // GraphNode.id is required
    assert.equal(typeof node.component, "string");
  }
  for (const c of json.connections) {
    for (const end of [c.from, c.to]) {
      // GraphEdge: portName, portId, nodeId, expose, portType are required by serde.
      assert.deepEqual(
        Object.keys(end).filter((k) =>
          ["portName", "portId", "nodeId", "expose", "portType"].includes(k)
        )
          .sort(),
        ["expose", "nodeId", "portId", "portName", "portType"],
      );
      assert.deepEqual(end.portType, { type: "any" });
    }
    // load() reads the port from portId for connections and IIPs.
    if (c.data !== undefined) {
      assert.equal(c.from.nodeId, "");
      assert.equal(c.data, TOPIC);
      assert.equal(c.to.portId, "topic");
    } else assert.notEqual(c.from.portId, "");
  }
});

test("a Zeal workflow loads with zeal_converter.rs's rules", () => {
  const workflow = {
    id: "wf-1",
    name: "Fetch",
    description: "one request",
    metadata: { version: "1.0.0", author: "someone" },
    graphs: [
      {
        id: "side",
        name: "Side",
        namespace: "x",
        is_main: false,
        nodes: [],
        connections: [],
        groups: [],
      },
      {
        id: "main",
        name: "Main Graph",
        namespace: "test",
        is_main: true,
        nodes: [
          {
            id: "node1",
            template_id: "tpl_http_request",
            node_type: "http",
            title: "HTTP Request",
            icon: "http",
            variant: "default",
            shape: "rectangle",
            ports: [
              {
                id: "Trigger",
                label: "Trigger",
                port_type: "input",
                required: false,
                multiple: false,
              },
              {
                id: "Response",
                label: "Response",
                port_type: "output",
                required: false,
                multiple: false,
              },
            ],
            properties: {},
            property_values: { url: "https://api.example.com", method: "GET" },
            position: { x: 100, y: 120 },
          },
          {
            id: "node2",
            template_id: null,
            node_type: "log",
            title: "Log",
            icon: "log",
            variant: "default",
            shape: "rectangle",
            ports: [{ id: "In", label: "In", port_type: "input", required: true, multiple: false }],
            properties: {},
            property_values: { level: "info" },
            position: { x: 400, y: 120 },
          },
        ],
        connections: [
          {
            id: "c1",
            from: { node_id: "node1", port_id: "Response" },
            to: { node_id: "node2", port_id: "In" },
          },
        ],
        groups: [{ id: "g", name: "All", nodes: ["node1", "node2"], metadata: null }],
      },
    ],
  };
  const graph = parseGraph(workflow);
  assert.equal(graph.name, "Main Graph"); // the main graph, not the first
  assert.deepEqual(graph.properties, {
    workflow_id: "wf-1",
    workflow_name: "Fetch",
    description: "one request",
    author: "someone",
  });
  assert.deepEqual(graph.nodes.map((n) => n.component), ["tpl_http_request", "log"]);
  const meta = graph.nodes[0].metadata;
  assert.equal(meta.x, 100);
  assert.equal(meta.title, "HTTP Request");
  assert.deepEqual(meta.propertyValues, { url: "https://api.example.com", method: "GET" });
  // Ports lower-cased; property values as an IIP only where nothing comes in.
  assert.deepEqual(graph.edges[0].from, { node: "node1", port: "response" });
  assert.deepEqual(graph.initials, [{
    to: { node: "node1", port: "trigger" },
    data: { url: "https://api.example.com", method: "GET" },
    metadata: {},
  }]);
  assert.deepEqual(graph.groups, [{ name: "g", nodes: ["node1", "node2"], metadata: {} }]);
  // Faults name the Zeal document's own paths.
  const broken = structuredClone(workflow);
  broken.graphs[1].connections[0].to.node_id = "ghost";
  assert.throws(() =>
    loadGraph(broken, {
      tpl_http_request: () => ({ inports: ["trigger"], outports: ["response"], run() {} }),
      log: () => ({ inports: ["in"], outports: [], run() {} }),
    }), (e: unknown) => {
    assert.ok(e instanceof GraphError);
    assert.deepEqual(e.issues.map((i) => i.path), ["$.graphs[1].connections[0].to.node_id"]);
    assert.match(e.issues[0].message, /unknown node "ghost"/);
    return true;
  });
  assert.throws(() => parseGraph({ graphs: [] }), /\$\.graphs: must hold at least 1/);
});

test("examples/research.zeal.json runs the research flow", async () => {
  const llm = { fetch: createOfflineModel().fetch };
  const fromZeal = await runResearch(TOPIC, { llm, graph: zeal });
  assert.equal(fromZeal.answer, (await runResearch(TOPIC, { llm })).answer);
  assert.ok(fromZeal.answer.length > 100);
});

const RESEARCH_FBP = `# @name research
'x' -> TOPIC factual(tpl_factual:x=20,y=14)
'x' -> TOPIC statistician(tpl_statistician:x=20,y=74)
'x' -> TOPIC quoter(tpl_quoter:x=20,y=134)
factual FINDING -> FACTS synth(tpl_synthesizer:x=240,y=74)
statistician FINDING -> STATS synth
quoter FINDING -> QUOTES synth
factual CHUNK -> CHUNK logger(tpl_logger:x=460,y=14,lit=flow)
statistician CHUNK -> CHUNK logger
quoter CHUNK -> CHUNK logger
synth CHUNK -> CHUNK logger
synth ANSWER -> ANSWER sink(tpl_sink:x=460,y=134)
`;

test(".fbp text is read by flowbased's parser into the same graph, and runs", async () => {
  const graph = parseFbp(RESEARCH_FBP);
  const standard = researchGraph("x");
  assert.equal(graph.name, "research");
  assert.deepEqual(graph.nodes, standard.nodes);
  assert.deepEqual(graph.edges, standard.edges);
  assert.deepEqual(graph.initials, standard.initials);
  const llm = { fetch: createOfflineModel().fetch };
  const fromFbp = await runResearch(TOPIC, { llm, graph });
  assert.equal(fromFbp.answer, (await runResearch(TOPIC, { llm })).answer);
  assert.ok(fromFbp.answer.length > 100);
});

test(".fbp: array-port indexes, metadata and errors with their line", async () => {
  const seen: string[] = [];
  const graph = parseFbp(`'a' -> IN[0] m(mux) OUT[1] -> IN d(console)\n'b' -> IN[1] m`);
  assert.deepEqual(graph.edges[0].from, { node: "m", port: "out", index: 1 });
  const net = loadGraph(graph, {
    mux: () => ({
      inports: ["in"],
      outports: ["out"],
      addressable: ["in", "out"],
      run(ctx: ActorContext) {
        // What came in on IN[i] goes out on OUT[i + 1]: only IN[0]'s packet has a connection.
        ctx.done({ out: ctx.inputs.in }, { index: ctx.indexes.in + 1 });
      },
    }),
    console: () => ({
      inports: ["in"],
      outports: [],
      run(ctx: ActorContext) {
        seen.push(String(ctx.inputs.in.data));
      },
    }),
  });
  await net.start();
  await net.whenIdle({ timeoutMs: 5_000 });
  await net.shutdown();
  assert.deepEqual(seen, ["a"]);
  assert.throws(() => parseFbp("a(A) OUT ->\n IN"), (e: unknown) => {
    assert.ok(e instanceof GraphError);
    assert.match(e.issues[0].message, /^line 2, column 2: Expected/);
    return true;
  });
  assert.throws(() => parseFbp("a OUT -> IN b(B)"), /undefined source node "a"/);
});

test("examples/research.fbp is research.graph.json in the DSL", async () => {
  const fs = await import("node:fs/promises");
  const text = await fs.readFile(new URL("../examples/research.fbp", import.meta.url), "utf8");
  const graph = parseFbp(text);
  const standard = researchGraph();
  assert.deepEqual([graph.nodes, graph.edges, graph.initials], [
    standard.nodes,
    standard.edges,
    standard.initials,
  ]);
}, {
  only: ["node", "deno"],
  why: "reads a file of the repository, which the Worker bundle cannot",
});
