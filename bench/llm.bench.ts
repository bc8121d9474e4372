/**
 * CPU per streamed token through the LLM layer: `streamChat` (our SSE reader under the openai
 * SDK's request: reasoning, usage, finish, errors, timers) against the baseline of the SDK's own
 * stream iterator over the very same responses (the openai client, `stream: true`, reading
 * `choices[0].delta.content`: what the LLM layer did before it read the body itself). Both talk to
 * the offline model in-process with no pacing, so the figures are the client side plus the model's
 * own cost, which is the same on both sides. Rounds alternate A/B to spread the noise of a shared
 * machine evenly; the median per side is kept, and the ratio is the figure to read.
 *
 * Run: `npx tsx bench/llm.bench.ts` or `deno run -A bench/llm.bench.ts`.
 */
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { openAIClient } from "../src/llm/client_cache.ts";
import { streamChat } from "../src/llm/stream_chat.ts";
import { runtimeInfo } from "./lib.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const cpuMicros = (): number => {
  if (g.process?.cpuUsage) {
    const u = g.process.cpuUsage();
    return u.user + u.system;
  }
  return performance.now() * 1000; // Deno without process: wall time, in the same units
};

const SYSTEM = "You are a senior writer. Compose a tight, sourced answer.";
const USER = "Combine these three perspectives into a 2–3 paragraph answer.\n\n" +
  "## Facts\n- Zero began as a placeholder.\n\n## Stats\n- 4 traditions contributed.\n\n" +
  '## Quotes\n"Zero looks obvious only in hindsight." — Rafael Ortiz';

export interface LlmBenchResult {
  runtime: { name: string; version: string };
  date: string;
  method: string;
  tokensPerCall: number;
  /** CPU µs per text token, median of the rounds. */
  sdkIterator: number;
  streamChat: number;
  /** streamChat ÷ sdkIterator (below 1: cheaper). */
  ratio: number;
}

export async function runLlmBench(
  rounds = 9,
  callsPerRound = 40,
): Promise<LlmBenchResult> {
  const model = createOfflineModel();
  const baseURL = "http://offline.invalid/v1";
  const client = openAIClient({ baseURL, apiKey: "bench", fetch: model.fetch });

  /** The baseline: the SDK's iterator, as the LLM layer used it before. */
  const sdk = async () => {
    let tokens = 0;
    const stream = await client.chat.completions.create({
      model: "qwen2.5:3b",
      temperature: 0.4,
      stream: true,
      messages: [{ role: "system", content: SYSTEM }, { role: "user", content: USER }],
    }, { maxRetries: 0 });
    for await (const chunk of stream) if (chunk.choices?.[0]?.delta?.content) tokens++;
    return tokens;
  };
  const ours = async () => {
    let tokens = 0;
    for await (
      const d of streamChat({
        system: SYSTEM,
        user: USER,
        baseURL,
        apiKey: "bench",
        fetch: model.fetch,
      })
    ) if (d.type === "text") tokens++;
    return tokens;
  };
  const measure = async (call: () => Promise<number>) => {
    const start = cpuMicros();
    let tokens = 0;
    for (let i = 0; i < callsPerRound; i++) tokens += await call();
    return { perToken: (cpuMicros() - start) / tokens, tokens: tokens / callsPerRound };
  };
  for (let i = 0; i < 20; i++) { // warm-up, both sides
    await sdk();
    await ours();
  }
  const a: number[] = [];
  const b: number[] = [];
  let tokensPerCall = 0;
  for (let r = 0; r < rounds; r++) {
    a.push((await measure(sdk)).perToken);
    const m = await measure(ours);
    b.push(m.perToken);
    tokensPerCall = m.tokens;
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const sdkIterator = median(a);
  const streamChatFigure = median(b);
  return {
    runtime: runtimeInfo(),
    date: new Date().toISOString(),
    method: `${rounds} alternating rounds of ${callsPerRound} calls per side after 20 warm-ups; ` +
      "median CPU µs per text token (process.cpuUsage; wall time where it is missing)",
    tokensPerCall,
    sdkIterator: round(sdkIterator),
    streamChat: round(streamChatFigure),
    ratio: round(streamChatFigure / sdkIterator, 3),
  };
}

function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}

const isMain = import.meta.main ??
  (typeof g.process?.argv?.[1] === "string" && import.meta.url.endsWith(g.process.argv[1]));
if (isMain) {
  const result = await runLlmBench();
  console.log(
    `LLM layer, CPU per text token (${result.tokensPerCall} tokens a call): SDK iterator ` +
      `${result.sdkIterator} µs, streamChat ${result.streamChat} µs, ratio ${result.ratio}`,
  );
  console.log(`${result.runtime.name} ${result.runtime.version}, ${result.date}`);
  const { writeFile } = await import("node:fs/promises");
  const file = `bench/results/llm.${result.runtime.name}.json`;
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${file}`);
}
