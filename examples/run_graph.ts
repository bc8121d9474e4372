/**
 * Runs the research flow from a graph file in any format reflow-edge reads: Reflow JSON
 * (`src/research/research.graph.json`), fbp-graph / NoFlo JSON, a Zeal workflow
 * (`examples/research.zeal.json`) or `.fbp` text (`examples/research.fbp`). The topic goes into
 * the initial packets sent to `topic` ports. Offline model unless OPENAI_BASE_URL is set.
 *
 * Run: `npx tsx examples/run_graph.ts examples/research.zeal.json "the history of zero"`
 * (or `deno run -A examples/run_graph.ts …`).
 *
 * @module
 */
import { type Graph, parseGraph } from "reflow-edge";
import { parseFbp } from "reflow-edge/fbp";
import { createOfflineModel, type LlmConfig } from "reflow-edge/llm";
import { runResearch } from "reflow-edge/research";

/** A graph file's text as a graph: `.fbp` through the DSL parser, anything else as JSON. */
export function graphFromFile(name: string, text: string): Graph {
  return name.endsWith(".fbp") ? parseFbp(text) : parseGraph(text);
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const isMain = import.meta.main ??
  (typeof g.process?.argv?.[1] === "string" && import.meta.url.endsWith(g.process.argv[1]));
if (isMain) {
  const [file, ...words] = g.Deno ? g.Deno.args : g.process.argv.slice(2);
  if (!file) throw new Error("usage: run_graph.ts <graph file> [topic]");
  const text: string = g.Deno
    ? await g.Deno.readTextFile(file)
    : await (await import("node:fs/promises")).readFile(file, "utf8");
  const env = (k: string): string | undefined => g.Deno ? g.Deno.env.get(k) : g.process.env[k];
  const llm: LlmConfig = env("OPENAI_BASE_URL")
    ? { baseURL: env("OPENAI_BASE_URL"), apiKey: env("OPENAI_API_KEY"), model: env("REFLOW_MODEL") }
    : { fetch: createOfflineModel({ tokenDelayMs: 10 }).fetch };
  const encoder = new TextEncoder();
  const output = new WritableStream<string>({
    write: (t) =>
      g.Deno
        ? g.Deno.stdout.write(encoder.encode(t)).then(() => {})
        : void g.process.stdout.write(t),
  });
  const { answer } = await runResearch(words.join(" ") || "the history of zero", {
    llm,
    output,
    graph: graphFromFile(file, text),
  });
  console.log(`\n\n${answer}`);
}
