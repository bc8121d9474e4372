/**
 * The page draws whatever graph it is given (routes/page.ts `graphSvg`): positions from node
 * metadata x/y when every node has them, a layered layout otherwise; one box per node and one
 * curve per edge, with ids and labels escaped. (The live page in a browser is page.test.ts.)
 */
import assert from "node:assert/strict";
import { parseGraph } from "../src/mod.ts";
import { researchGraph } from "../src/research/mod.ts";
import { graphSvg, layout } from "../routes/page.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import zeal from "../examples/research.zeal.json" with { type: "json" };
import { test } from "./harness.ts";

test("page graph: metadata x/y place the nodes (the research graph, a Zeal workflow)", () => {
  const research = researchGraph();
  const at = layout(research);
  for (const n of research.nodes) {
    assert.deepEqual(at.get(n.id), { x: n.metadata.x, y: n.metadata.y });
  }
  const fromZeal = layout(parseGraph(zeal));
  assert.deepEqual(fromZeal.get("synth"), { x: 400, y: 160 }); // Zeal's position
  const svg = graphSvg(research);
  assert.equal(svg.match(/<g class="node"/g)?.length, research.nodes.length);
  assert.equal(svg.match(/<path class="edge"/g)?.length, research.edges.length);
});

test("page graph: without positions, a layered layout puts every node right of what feeds it", () => {
  const graph = parseGraph({
    processes: {
      'a"<b>': { component: "x" },
      b: { component: "x", metadata: { label: "Bee" } },
      c: { component: "x" },
      d: { component: "x", metadata: { x: 5 } }, // one position is not a layout
    },
    connections: [
      { src: { process: 'a"<b>', port: "out" }, tgt: { process: "b", port: "in" } },
      { src: { process: "b", port: "out" }, tgt: { process: "c", port: "in" } },
      { src: { process: 'a"<b>', port: "out" }, tgt: { process: "c", port: "in" } },
      { src: { process: "c", port: "out" }, tgt: { process: "b", port: "in" } }, // a cycle ends
    ],
  });
  const at = layout(graph);
  for (const e of graph.edges.slice(0, 3)) {
    assert.ok(at.get(e.from.node)!.x < at.get(e.to.node)!.x, `${e.from.node} left of ${e.to.node}`);
  }
  const svg = graphSvg(graph);
  assert.ok(!svg.includes("<b>"), "ids and labels are escaped");
  assert.match(svg, /id="node-a&#34;&#60;b&#62;"/);
  assert.match(svg, />Bee<\/text>/);
});

test("GET /graph serves the graph the page draws: Reflow JSON, Mermaid or the model", async () => {
  const app = createApp({ llm: { fetch: createOfflineModel().fetch } });
  const model = await (await app.request("/graph?format=model&topic=tea")).json();
  assert.deepEqual(model, researchGraph("tea"));
  assert.deepEqual(parseGraph(await (await app.request("/graph?topic=tea")).json()), model);
  const page = await (await app.request("/")).text();
  assert.ok(page.includes(graphSvg(researchGraph())), "the page draws that graph");
  const bad = await app.request("/graph?format=yaml");
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /format must be one of: reflow, mermaid, model/);
});
