/**
 * Adding an agent to the research flow: a class, a `registerActor`, an `addNode` and two
 * `addConnection`s (plus its topic). The synthesizer joins on whatever inports it declares, so a
 * fourth one gives its prompt a fourth section.
 *
 * Run: `deno run -A examples/fourth_specialist.ts "the history of zero"` (offline model), or
 * `npx tsx examples/fourth_specialist.ts …`.
 *
 * @module
 */
import { Message } from "reflow-edge";
import { createOfflineModel, type LlmConfig } from "reflow-edge/llm";
import { researchActors, researchNetwork, Specialist, Synthesizer } from "reflow-edge/research";

/** The new agent. */
export class Historian extends Specialist {
  override component = "historian";
  roleLabel = "history";
  role = "You are a historian. Give 3–5 dated events.";
}

/** The synthesizer, joining on a fourth finding. */
export class Synthesizer4 extends Synthesizer {
  override inports = ["facts", "stats", "quotes", "history"];
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
  actors.tpl_synthesizer = () => new Synthesizer4(llm);
  const net = researchNetwork(topic, actors);
  // The four lines that add an agent:
  net.registerActor("tpl_historian", () => new Historian(llm));
  net.addNode("historian", "tpl_historian");
  net.addConnection("historian", "finding", "synth", "history");
  net.addConnection("historian", "chunk", "logger", "chunk");
  net.addInitial("historian", "topic", Message.string(topic));
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
