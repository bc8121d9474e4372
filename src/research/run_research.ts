import type { ActorTemplate } from "../actor.ts";
import type { NetworkEvent } from "../events.ts";
import { loadGraph, type ReflowGraphJson } from "../graph.ts";
import type { LlmConfig } from "../llm/config.ts";
import { Message } from "../message.ts";
import { Network } from "../network.ts";
import { FactualResearcher, Logger, Quoter, Sink, Statistician, Synthesizer } from "./agents.ts";
import type { ChunkFormat } from "./format.ts";
import graph from "./research.graph.json" with { type: "json" };

/** How to run the research flow. */
export interface ResearchOptions {
  /** Where the model is and which one (see {@link LlmConfig}); pass the offline model's `fetch` here. */
  llm?: LlmConfig;
  /** The Logger writes role-tagged tokens here as they arrive; left open and unlocked at the end. */
  output?: WritableStream<string>;
  /** How the Logger renders a chunk (default: the seed's `[role] text`). */
  format?: ChunkFormat;
  /** Aborting stops every agent and every model request; `runResearch` then rejects with it. */
  signal?: AbortSignal;
  /** Give up after this long (default 300,000 ms, as the seed's `out.get(timeout=300)`). */
  timeoutMs?: number;
  /** Network events (e.g. to light up nodes while they run). MessageSent is not sent here. */
  onEvent?: (event: NetworkEvent) => void;
  /** Packets each connection holds (default 64). */
  capacity?: number;
  /** Run the graph from this JSON (Reflow or fbp-graph form) instead of wiring it in code. */
  graph?: unknown;
  /**
   * `"fail-fast"` (default): the first failing agent aborts its siblings and the flow rejects.
   * `"continue"`: a failing specialist hands the synthesizer what it had, with an error note
   * (node metadata `onError: "note"`), and the flow goes on; a failing synthesizer still fails it.
   */
  policy?: "fail-fast" | "continue";
  /**
   * Called with the network once it is wired, before it starts: to observe it, e.g.
   * `instrument: (net) => traceNetwork(net, { workflowName: "research" })` (reflow-edge/otel).
   */
  instrument?: (net: Network) => void;
}

const SPECIALISTS = ["factual", "statistician", "quoter"];

/** The research graph in Reflow's JSON form, with `topic` as its initial packet. */
export function researchGraph(topic = "the history of zero"): ReflowGraphJson {
  const copy = structuredClone(graph) as ReflowGraphJson;
  for (const c of copy.connections) if ("data" in c) c.data = { type: "String", data: topic };
  return copy;
}

/**
 * The templates the research graph names, bound to one flow's model, output and answer callback.
 */
export function researchActors(
  options: Pick<ResearchOptions, "llm" | "output" | "format">,
  onAnswer: (answer: string) => void,
  onLogger: (logger: Logger) => void = () => {},
): Record<string, ActorTemplate> {
  const llm = options.llm ?? {};
  return {
    tpl_factual: () => new FactualResearcher(llm),
    tpl_statistician: () => new Statistician(llm),
    tpl_quoter: () => new Quoter(llm),
    tpl_synthesizer: () => new Synthesizer(llm),
    tpl_logger: () => {
      const logger = new Logger(options.output, options.format);
      onLogger(logger);
      return logger;
    },
    tpl_sink: () => new Sink(onAnswer),
  };
}

/**
 * Wires the seed's network in code: three specialists in parallel, a synthesizer that waits for
 * all three findings, a logger every agent streams to, and a sink for the answer.
 */
export function researchNetwork(
  topic: string,
  actors: Record<string, ActorTemplate>,
  options: Pick<ResearchOptions, "capacity" | "policy"> = {},
): Network {
  const net = new Network({ failFast: true, capacity: options.capacity });
  const metadata = options.policy === "continue" ? { onError: "note" } : {};
  for (const [name, template] of Object.entries(actors)) net.registerActor(name, template);
  for (
    const [name, template] of [
      ["factual", "tpl_factual"],
      ["statistician", "tpl_statistician"],
      ["quoter", "tpl_quoter"],
      ["synth", "tpl_synthesizer"],
      ["logger", "tpl_logger"],
      ["sink", "tpl_sink"],
    ]
  ) net.addNode(name, template, SPECIALISTS.includes(name) ? { ...metadata } : {});
  net.addConnection("factual", "finding", "synth", "facts");
  net.addConnection("statistician", "finding", "synth", "stats");
  net.addConnection("quoter", "finding", "synth", "quotes");
  for (const src of ["factual", "statistician", "quoter", "synth"]) {
    net.addConnection(src, "chunk", "logger", "chunk");
  }
  net.addConnection("synth", "answer", "sink", "answer");
  const topicMessage = Message.string(topic);
  for (const node of ["factual", "statistician", "quoter"]) {
    net.addInitial(node, "topic", topicMessage);
  }
  return net;
}

/**
 * Runs the research flow on `topic` and resolves with the synthesizer's answer once every token
 * has been written to `output`. Rejects with the failing agent's error (an `ActorError` naming
 * the node, whose cause is the model error), with `signal`'s reason when aborted, or with a
 * `TimeoutError`.
 *
 * @example
 * ```ts
 * const answer = await runResearch("the history of zero", {
 *   llm: { fetch: createOfflineModel().fetch },
 *   output: stdoutWritable,
 * });
 * ```
 */
export async function runResearch(topic: string, options: ResearchOptions = {}): Promise<string> {
  if (typeof topic !== "string" || topic.trim() === "") {
    throw new TypeError("runResearch: topic must be a non-empty string");
  }
  let answer: string | undefined;
  let logger: Logger | undefined;
  const actors = researchActors(options, (a) => (answer = a), (l) => (logger = l));
  const net = options.graph === undefined
    ? researchNetwork(topic, actors, options)
    : loadGraph(withTopic(options.graph, topic, options.policy), actors, {
      failFast: true,
      capacity: options.capacity,
    });
  if (options.onEvent) {
    net.on(options.onEvent, [
      "NetworkStarted",
      "ActorStarted",
      "ActorCompleted",
      "ActorFailed",
      "NetworkIdle",
      "NetworkShutdown",
    ]);
  }
  options.instrument?.(net);
  const { signal } = options;
  signal?.throwIfAborted();
  const timeoutMs = options.timeoutMs ?? 300_000;
  let timedOut = false;
  const stop = () => void net.shutdown();
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  signal?.addEventListener("abort", stop, { once: true });
  try {
    await net.start();
    await net.whenIdle();
    if (answer === undefined) {
      const waiting = net.waiting().map((w) => `${w.actorId} waits for ${w.ports.join(", ")}`);
      throw new Error(
        `the research flow ended without an answer${
          waiting.length ? ` (${waiting.join("; ")})` : ""
        }`,
      );
    }
    return answer;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timedOut) {
      throw new DOMException(`the research flow timed out after ${timeoutMs} ms`, "TimeoutError");
    }
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
    await net.shutdown();
    (logger as Logger | undefined)?.release();
  }
}

/**
 * Puts `topic` into every initial packet of a research graph given as JSON, and under the
 * "continue" policy marks the nodes fed by those packets (the specialists) `onError: "note"`.
 */
function withTopic(input: unknown, topic: string, policy: ResearchOptions["policy"]): unknown {
  let json: unknown;
  try {
    json = typeof input === "string" ? JSON.parse(input) : structuredClone(input);
  } catch {
    return input; // loadGraph reports what is wrong with it
  }
  // deno-lint-ignore no-explicit-any
  const connections = (json as any)?.connections;
  if (!Array.isArray(connections)) return json;
  // deno-lint-ignore no-explicit-any
  const processes = (json as any).processes ?? {};
  for (const c of connections) {
    if (!c || typeof c !== "object" || !("data" in c)) continue;
    c.data = { type: "String", data: topic };
    const node = processes[c.to?.nodeId ?? c.tgt?.process];
    if (policy === "continue" && node && typeof node === "object") {
      node.metadata = { ...node.metadata, onError: "note" };
    }
  }
  return json;
}
