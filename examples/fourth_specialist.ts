/**
 * Adding an agent to the research flow is data: one node and three edges (its finding to the
 * synthesizer, its tokens to the logger, the topic to it), plus the synthesizer's list of inports
 * to join on. The same lines added to `src/research/research.graph.json` make it part of the
 * flow everywhere (CLI, HTTP, page).
 *
 * Run: `deno run -A examples/fourth_specialist.ts "the history of zero"` (offline model), or
 * `npx tsx examples/fourth_specialist.ts …`.
 *
 * @module
 */
import type { Graph } from "reflow-edge";
import { createOfflineModel, type LlmConfig } from "reflow-edge/llm";
import { researchActors, researchGraph, researchNetwork } from "reflow-edge/research";

/** The research graph plus a historian: a `tpl_specialist` node configured by its metadata. */
export function graphWithHistorian(): Graph {
  const graph = researchGraph();
  graph.nodes.push({
    id: "historian",
    component: "tpl_specialist",
    metadata: { roleLabel: "history", role: "You are a historian. Give 3–5 dated events." },
  });
  graph.edges.push(
    {
      from: { node: "historian", port: "finding" },
      to: { node: "synth", port: "history" },
      metadata: {},
    },
    {
      from: { node: "historian", port: "chunk" },
      to: { node: "logger", port: "chunk" },
      metadata: {},
    },
  );
  graph.initials.push({ to: { node: "historian", port: "topic" }, data: "", metadata: {} });
  const synth = graph.nodes.find((n) => n.id === "synth")!;
  synth.metadata.inports = ["facts", "stats", "quotes", "history"];
  return graph;
}

/**
 * The seed's flow plus the historian; resolves with the answer once every token is written to
 * `output`.
 */
export async function researchWithHistorian(
  topic: string,
  llm: LlmConfig,
  output?: WritableStream<string>,
): Promise<string> {
  let answer = "";
  const actors = researchActors({ llm, output }, (a) => (answer = a));
  const net = researchNetwork(topic, actors, { graph: graphWithHistorian() });
  try {
    await net.start();
    await net.whenIdle({ timeoutMs: 120_000 });
    return answer;
  } finally {
    await net.shutdown();
  }
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
// Deno sets import.meta.main; Node 20 does not, so compare with the script it was started with.
const isMain = import.meta.main ??
  (typeof g.process?.argv?.[1] === "string" && import.meta.url.endsWith(g.process.argv[1]));
if (isMain) {
  const args: string[] = g.Deno ? g.Deno.args : g.process.argv.slice(2);
  const encoder = new TextEncoder();
  const stdout = new WritableStream<string>({
    write: (text) =>
      g.Deno
        ? g.Deno.stdout.write(encoder.encode(text)).then(() => {})
        : void g.process.stdout.write(text),
  });
  const answer = await researchWithHistorian(
    args.join(" ") || "the history of zero",
    { fetch: createOfflineModel({ tokenDelayMs: 10 }).fetch },
    stdout,
  );
  console.log(`\n\n${answer}`);
}
