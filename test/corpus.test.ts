/**
 * The graph corpus: 64 real graph files other people wrote (Reflow's workspace examples and docs,
 * fbp-graph and fbp spec fixtures, NoFlo projects' graphs), read in place from
 * `../shared/graphs/`, each checked against what `SOURCES.md` there expects of it:
 * - `load`: loads with generic pass-through actors declaring the ports the graph uses (array
 *   ports where it uses indexes), and round-trips with nothing lost — the model through
 *   `toGraphJson` (Reflow's loader shape) and back, and the network's `describe()` through it
 *   again — nodes, edges with their indexes, IIPs with metadata, exported ports, groups,
 *   properties, `caseSensitive` and unknown keys; and draws as Mermaid.
 * - `reject`: refused with a GraphError naming each fault at its JSON path.
 * - `either`: one or the other.
 */
import assert from "node:assert/strict";
import {
  type ActorContext,
  type ActorLike,
  type Graph,
  GraphError,
  loadGraph,
  parseGraph,
  toGraphJson,
  toMermaid,
} from "../src/mod.ts";
import { test } from "./harness.ts";
import { sharedFiles } from "./shared_files.ts";

const corpus = await sharedFiles("graphs");
const notRun = corpus.missing ? { only: [], why: corpus.missing } : {};
const files = corpus.files ?? {};

/** `SOURCES.md`'s table: file → expect (load / reject / either). */
function expectations(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of (files["graphs/SOURCES.md"] ?? "").split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const file = /^`([^`]+\.json)`$/.exec(cells[1] ?? "")?.[1];
    if (file) rows.set(file, cells[cells.length - 2]);
  }
  return rows;
}

/**
 * Pass-through actors for a graph: per component, the inports and outports its nodes use (first
 * spelling of each, as the graph is matched without case unless caseSensitive), addressable
 * where an edge or IIP gives an index. A tick forwards what came in to every outport.
 */
function actorsFor(graph: Graph): Record<string, () => ActorLike> {
  const norm = (p: string) => (graph.caseSensitive ? p : p.toLowerCase());
  const ports = new Map<
    string,
    { in: Map<string, string>; out: Map<string, string>; arr: Set<string> }
  >();
  const componentOf = new Map(graph.nodes.map((n) => [n.id, n.component]));
  for (const n of graph.nodes) {
    if (!ports.has(n.component)) {
      ports.set(n.component, { in: new Map(), out: new Map(), arr: new Set() });
    }
  }
  const use = (node: string, port: string, side: "in" | "out", index?: number) => {
    const p = ports.get(componentOf.get(node) ?? "");
    if (!p) return;
    if (!p[side].has(norm(port))) p[side].set(norm(port), port);
    if (index !== undefined) p.arr.add(p[side].get(norm(port))!);
  };
  for (const e of graph.edges) {
    use(e.from.node, e.from.port, "out", e.from.index);
    use(e.to.node, e.to.port, "in", e.to.index);
  }
  for (const i of graph.initials) use(i.to.node, i.to.port, "in", i.to.index);
  for (const p of Object.values(graph.inports)) use(p.node, p.port, "in");
  for (const p of Object.values(graph.outports)) use(p.node, p.port, "out");
  return Object.fromEntries(
    [...ports].map(([component, p]) => [component, () => ({
      inports: [...p.in.values()],
      outports: [...p.out.values()],
      addressable: [...p.arr],
      async run(ctx: ActorContext) {
        const [port] = Object.keys(ctx.inputs);
        for (const out of p.out.values()) {
          const index = p.arr.has(out) ? ctx.attached(out)[0] : undefined;
          if (p.arr.has(out) && index === undefined) continue;
          await ctx.send({ [out]: ctx.inputs[port] }, { index });
        }
      },
    })]),
  );
}

/** A graph with port names in one case (when the graph is not case-sensitive), for comparing. */
function folded(graph: Graph): Graph {
  if (graph.caseSensitive) return graph;
  const g = structuredClone(graph);
  for (const e of g.edges) {
    e.from.port = e.from.port.toLowerCase();
    e.to.port = e.to.port.toLowerCase();
  }
  for (const i of g.initials) i.to.port = i.to.port.toLowerCase();
  return g;
}

function loadsAndRoundTrips(name: string, text: string): void {
  const graph = parseGraph(text);
  const actors = actorsFor(graph);
  const net = loadGraph(text, actors);
  // The model through Reflow's loader shape and back: equal, field for field.
  const json = JSON.stringify(toGraphJson(graph));
  assert.deepEqual(parseGraph(json), graph, `${name}: model → toGraphJson → model`);
  // What the network describes is the graph (ports as its actors declare them).
  const described = net.describe();
  assert.deepEqual(folded(described), folded(graph), `${name}: describe() is the graph`);
  const again = loadGraph(JSON.stringify(toGraphJson(described)), actors).describe();
  assert.deepEqual(again, described, `${name}: describe → toGraphJson → load → describe`);
  // Nothing dropped: every edge's index, every IIP's metadata, the document's extra keys.
  const source = JSON.parse(text);
  const extraKeys = Object.keys(source).filter((k) =>
    !["caseSensitive", "properties", "processes", "connections", "inports", "outports", "groups"]
      .includes(k)
  );
  assert.deepEqual(Object.keys(JSON.parse(json)).filter((k) => extraKeys.includes(k)), extraKeys);
  assert.equal(
    described.edges.filter((e) => e.from.index !== undefined || e.to.index !== undefined).length,
    (source.connections ?? []).filter((c: Record<string, { index?: unknown }>) =>
      (c.src ?? c.from)?.index != null || ((c.src ?? c.from) && (c.tgt ?? c.to)?.index != null)
    ).length,
    `${name}: edges with an index`,
  );
  // Mermaid draws every node and every edge.
  const mermaid = toMermaid(described);
  assert.match(mermaid, /^flowchart LR\n/);
  assert.equal(mermaid.split("\n").filter((l) => l.includes(" -->|")).length, graph.edges.length);
}

const expected = expectations();

test("corpus: SOURCES.md names every graph file, and every file it names is there", () => {
  const onDisk = Object.keys(files).filter((f) => f.endsWith(".json")).map((f) => f.slice(7));
  assert.deepEqual([...expected.keys()].sort(), onDisk.sort());
  assert.equal(onDisk.length, 64);
  for (const [file, expect] of expected) {
    assert.ok(["load", "reject", "either"].includes(expect), `${file}: expect "${expect}"`);
  }
}, notRun);

for (const [file, expect] of corpus.files ? expected : []) {
  test(`corpus: ${file} (${expect})`, () => {
    const text = files[`graphs/${file}`];
    let error: unknown;
    try {
      loadsAndRoundTrips(file, text);
    } catch (e) {
      error = e;
    }
    if (expect === "load" || (expect === "either" && !(error instanceof GraphError))) {
      if (error) throw error;
      return;
    }
    assert.ok(error instanceof GraphError, `${file}: expected a GraphError, got ${error}`);
    for (const issue of error.issues) {
      assert.match(issue.path, /^\$[.[]/, `${file}: a fault at a JSON path`);
      assert.ok(issue.message.length > 0);
      assert.doesNotMatch(issue.message, /Invalid input|received undefined/, "our own words");
    }
  });
}
