/**
 * The floor of `bench:cpu`: the research flow's job done by hand, with no framework. It asks the
 * model for the three specialists' replies at once and then the synthesizer's, reads the four
 * upstream SSE byte streams, parses them (events, JSON, the delta's text, the usage) and writes
 * the SSE frames a client of `POST /research` gets: `node` frames as nodes start and end, one
 * `chunk` frame per token, each agent's `finish` and `usage`, the flow's `usage`, `answer` and
 * `done`; as a run (`--serve`: `id:` on every frame, a first `run` frame, chunks naming their node)
 * or as the Worker streams it (no ids, chunks `{role,text}`). No actors, no streams between the
 * steps, no event objects. Web-standard only; the runtime's own HTTP server calls it
 * (floor_server.ts, worker_floor.ts).
 *
 * @module
 */

const SPECIALISTS = [
  ["factual", "facts", "You are a factual researcher. Give 3–5 bullets."],
  ["statistician", "stats", "You are a statistician. Give 3–5 bullets of relevant numbers."],
  ["quoter", "quotes", "You are a quote librarian. Provide 2–3 short, attributable quotes."],
] as const;
const WRITER = "You are a senior writer. Compose a tight, sourced answer.";

/** Where the floor writes: the socket (node:http) or a response body's controller. */
export interface FloorSink {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** How the frames look: as a run (`--serve`) or as the Worker's in-isolate stream. */
export interface FloorOptions {
  /** `id:` lines and a first `run` frame; chunk data names the node. */
  run: boolean;
  baseURL?: string;
}

interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

const encoder = new TextEncoder();

/** Runs the flow on `topic` against `model` (an OpenAI-compatible fetch), writing to `sink`. */
export async function floorFlow(
  model: typeof fetch,
  topic: string,
  sink: FloorSink,
  options: FloorOptions,
): Promise<void> {
  const baseURL = options.baseURL ?? "http://model.invalid/v1";
  let seq = 0;
  const frame = (event: string, data: string) =>
    sink.write(
      encoder.encode(
        options.run
          ? `id: ${++seq}\nevent: ${event}\ndata: ${data}\n\n`
          : `event: ${event}\ndata: ${data}\n\n`,
      ),
    );
  const node = (id: string, state: string) => frame("node", `{"id":"${id}","state":"${state}"}`);
  const total: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  const agent = async (id: string, role: string, system: string, user: string) => {
    const prefix = options.run
      ? `{"role":"${role}","node":"${id}","text":`
      : `{"role":"${role}","text":`;
    const { text, usage } = await ask(model, baseURL, system, user, (token) => {
      if (!loggerLit) {
        loggerLit = true;
        node("logger", "running");
      }
      frame("chunk", `${prefix}${JSON.stringify(token)}}`);
    });
    frame("finish", `{"role":"${role}","node":"${id}","finishReason":"stop"}`);
    if (usage) {
      frame("usage", JSON.stringify({ scope: "agent", role, node: id, usage }));
      total.inputTokens += usage.inputTokens;
      total.outputTokens += usage.outputTokens;
      total.totalTokens += usage.totalTokens;
    }
    return text;
  };

  if (options.run) frame("run", JSON.stringify({ topic, id: crypto.randomUUID() }));
  for (const [id] of SPECIALISTS) node(id, "running");
  let loggerLit = false;
  const user = `Topic: ${topic}`;
  const findings = await Promise.all(SPECIALISTS.map(async ([id, role, system]) => {
    const text = await agent(id, role, system, user);
    node(id, "done");
    return text;
  }));
  node("synth", "running");
  const prompt = `Combine these three perspectives into a 2–3 paragraph answer.\n\n` +
    `## Facts\n${findings[0]}\n\n## Stats\n${findings[1]}\n\n## Quotes\n${findings[2]}\n`;
  const answer = await agent("synth", "answer", WRITER, prompt);
  node("synth", "done");
  node("sink", "running");
  node("sink", "done");
  node("logger", "done");
  frame("usage", JSON.stringify({ scope: "flow", usage: total }));
  frame("answer", JSON.stringify({ text: answer }));
  frame("done", "{}");
  sink.close();
}

/** One streamed chat completion: each token to `onToken`; resolves with the text and usage. */
async function ask(
  model: typeof fetch,
  baseURL: string,
  system: string,
  user: string,
  onToken: (token: string) => void,
): Promise<{ text: string; usage?: Usage }> {
  const response = await model(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer floor" },
    body: JSON.stringify({
      model: "qwen2.5:3b",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "system", content: system }, { role: "user", content: user }],
    }),
  });
  if (!response.ok || !response.body) throw new Error(`model answered ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let text = "";
  let usage: Usage | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ")) continue;
      const data = event.slice(6);
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      const token = chunk.choices?.[0]?.delta?.content;
      if (typeof token === "string" && token !== "") {
        text += token;
        onToken(token);
      }
      const u = chunk.usage;
      if (u) {
        usage = {
          inputTokens: u.prompt_tokens,
          outputTokens: u.completion_tokens,
          totalTokens: u.total_tokens,
        };
      }
    }
  }
  return { text, usage };
}
