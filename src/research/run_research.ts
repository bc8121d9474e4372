import type { ActorTemplate } from "../actor.ts";
import type { NetworkEvent } from "../events.ts";
import { type Graph, GraphError } from "../graph/model.ts";
import { parseGraph } from "../graph/read.ts";
import { loadGraph } from "../graph/load.ts";
import type { LlmConfig } from "../llm/config.ts";
import { addUsage, type FinishReason, type TokenUsage } from "../llm/deltas.ts";
import type { Network } from "../network.ts";
import {
  type AgentOptions,
  ConfiguredSpecialist,
  FactualResearcher,
  Logger,
  Quoter,
  type ResearchSink,
  Sink,
  Statistician,
  Synthesizer,
} from "./agents.ts";
import type { NodeState, ResearchEvent } from "./events.ts";
import { formatText, type ResearchFormat } from "./format.ts";
import json from "./research.graph.json" with { type: "json" };

/** How to run the research flow. */
/** How long a research flow may run unless told otherwise (as the seed's `out.get(timeout=300)`). */
export const RESEARCH_TIMEOUT_MS = 300_000;

export interface ResearchOptions {
  /** Where the model is and which one (see {@link LlmConfig}); pass the offline model's `fetch` here. */
  llm?: LlmConfig;
  /** The Logger writes role-tagged tokens here as they arrive; left open and unlocked at the end. */
  output?: WritableStream<string>;
  /** How events are rendered for `output` (default: the seed's `[role] text`, `formatText()`). */
  format?: ResearchFormat;
  /**
   * Every research event of the flow (src/research/events.ts) as it happens: node states, chunks,
   * reasoning, finish, usage per agent and for the flow. Writes are awaited (backpressure); left
   * open and unlocked at the end. `answer`, `done` and `error` are not written here: they are the
   * outcome of `runResearch` (see `researchEvents` for the whole stream). A {@link ResearchSink}
   * (an object with `write(event)`) takes them without a stream in between: its writes are called
   * in order, node states without waiting for the one before.
   */
  events?: WritableStream<ResearchEvent> | ResearchSink;
  /** Send the agents' reasoning to the views (default true); false leaves it out everywhere. */
  reasoning?: boolean;
  /** Aborting stops every agent and every model request; `runResearch` then rejects with it. */
  signal?: AbortSignal;
  /** Give up after this long (default 300,000 ms, as the seed's `out.get(timeout=300)`). */
  timeoutMs?: number;
  /** Network events (e.g. to light up nodes while they run). MessageSent is not sent here. */
  onEvent?: (event: NetworkEvent) => void;
  /** Packets each connection holds (default 64). */
  capacity?: number;
  /**
   * Run this graph instead of `research.graph.json`: a {@link Graph} or any document `loadGraph`
   * reads (Reflow, fbp-graph / NoFlo, Zeal; object or JSON text). The topic goes into every
   * initial packet sent to a port named `topic`.
   */
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
  /**
   * How a failing specialist's error reads in its note under `"continue"` (default: its message,
   * which names the model server: right for the CLI, whose user runs it; the HTTP app passes what
   * a client may see).
   */
  describeError?: (error: unknown) => string;
  /**
   * Caps on what the models may send: `max_tokens` per agent (by role label, `"*"` for the rest),
   * the UTF-8 bytes of one agent's reply and of the synthesizer's prompt (see AgentOptions; a cut
   * leaves a note in the text). Defaults: no `max_tokens`, 64 KiB per reply, 256 KiB of prompt.
   */
  limits?: Pick<AgentOptions, "maxTokens" | "maxReplyBytes" | "maxPromptBytes">;
}

/** research.graph.json, parsed and checked once (each flow gets its own copy from withTopic). */
let parsedSeed: Graph | undefined;
function seedGraph(): Graph {
  return parsedSeed ??= parseGraph(json);
}

/** The port whose initial packets carry the topic. */
const TOPIC_PORT = "topic";

/**
 * The research flow as a {@link Graph}: `src/research/research.graph.json`, with `topic` in every
 * initial packet sent to a `topic` port. The one definition of the flow: `runResearch`,
 * `GET /graph` and the page all use it.
 */
export function researchGraph(topic = "the history of zero"): Graph {
  return withTopic(seedGraph(), topic);
}

/**
 * Nodes shown running from their first tick until the flow ends rather than per tick: node
 * metadata `lit: "flow"` (the logger, which ticks once per token). Views read it from the graph,
 * never from node ids.
 */
export function litWhileFlowRuns(graph: Graph = researchGraph()): Set<string> {
  return new Set(graph.nodes.filter((n) => n.metadata.lit === "flow").map((n) => n.id));
}

/**
 * Puts `topic` into every initial packet of `graph` sent to a port named `topic` (in any case
 * unless the graph is case-sensitive) and, under the "continue" policy, marks the nodes they
 * feed `onError: "note"`. Returns a new graph; throws a `GraphError` when no packet goes to a
 * `topic` port (the flow would have nowhere to start).
 */
export function withTopic(graph: Graph, topic: string, policy?: ResearchOptions["policy"]): Graph {
  const out = structuredClone(graph);
  const isTopic = (port: string) =>
    graph.caseSensitive ? port === TOPIC_PORT : port.toLowerCase() === TOPIC_PORT;
  const fed = new Set<string>();
  for (const initial of out.initials) {
    if (!isTopic(initial.to.port)) continue;
    initial.data = topic;
    fed.add(initial.to.node);
  }
  if (fed.size === 0) {
    throw new GraphError([{
      path: "$",
      message: `no initial packet goes to a port named "${TOPIC_PORT}": the research flow ` +
        `has nowhere to put the topic`,
    }]);
  }
  if (policy === "continue") {
    for (const node of out.nodes) {
      if (fed.has(node.id)) node.metadata = { ...node.metadata, onError: "note" };
    }
  }
  return out;
}

/** What `runResearch` resolves with. */
export interface ResearchResult {
  /** The synthesizer's answer. */
  answer: string;
  /** Tokens the whole flow used, when the server reported any (the sum over `usageByRole`). */
  usage?: TokenUsage;
  /** Tokens each agent used, by role, as reported. */
  usageByRole: Record<string, TokenUsage>;
  /** Why each agent's model call ended, by role (`stop`, `length`, `content_filter`, `unknown`). */
  finishReasons: Record<string, FinishReason>;
}

/**
 * A sink for the Logger that writes each event to `events` and, rendered by `format`, to `output`.
 * Both writes are queued at once, in order; the returned promise is the slower one's.
 */
export function researchSink(
  options: Pick<ResearchOptions, "output" | "format" | "events">,
  observe?: (event: ResearchEvent) => void,
): ResearchSink & { write(event: ResearchEvent): Promise<void> | void } {
  let events: WritableStreamDefaultWriter<ResearchEvent> | undefined;
  let output: WritableStreamDefaultWriter<string> | undefined;
  const direct = options.events instanceof WritableStream ? undefined : options.events;
  const format = options.output ? (options.format ?? formatText()) : undefined;
  return {
    write(event) {
      observe?.(event);
      let wrote: Promise<void> | undefined;
      if (direct) {
        wrote = direct.write(event) ?? undefined;
      } else if (options.events) {
        events ??= (options.events as WritableStream<ResearchEvent>).getWriter();
        wrote = events.write(event);
      }
      if (format) {
        const text = format(event);
        if (text) {
          output ??= options.output!.getWriter();
          const out = output.write(text);
          wrote = wrote ? Promise.all([wrote, out]).then(() => {}) : out;
        }
      }
      return wrote;
    },
    release() {
      events?.releaseLock();
      output?.releaseLock();
      events = undefined;
      output = undefined;
    },
  };
}

/**
 * The templates the research graph names, bound to one flow's model, output and answer callback.
 * `tpl_specialist` is a specialist configured by its node's metadata (`role`, `roleLabel`), and
 * the synthesizer joins on the inports its node's metadata lists (`inports`), so a new agent can
 * be added in the graph alone.
 */
export function researchActors(
  options: Pick<
    ResearchOptions,
    "llm" | "output" | "format" | "events" | "reasoning" | "describeError" | "limits"
  >,
  onAnswer: (answer: string) => void,
  onLogger: (logger: Logger) => void = () => {},
  sink: ResearchSink | undefined = options.output || options.events
    ? researchSink(options)
    : undefined,
): Record<string, ActorTemplate> {
  const llm = options.llm ?? {};
  const agent: AgentOptions = {
    ...options.limits,
    reasoning: options.reasoning ?? true,
    describeError: options.describeError,
  };
  return {
    tpl_factual: () => new FactualResearcher(llm, agent),
    tpl_statistician: () => new Statistician(llm, agent),
    tpl_quoter: () => new Quoter(llm, agent),
    tpl_specialist: (config) => new ConfiguredSpecialist(llm, agent, config),
    tpl_synthesizer: (config) =>
      new Synthesizer(
        llm,
        agent,
        Array.isArray(config.inports) ? config.inports.map(String) : undefined,
      ),
    tpl_logger: () => {
      const logger = new Logger(sink);
      onLogger(logger);
      return logger;
    },
    tpl_sink: () => new Sink(onAnswer),
  };
}

/**
 * The research network for `topic`: `research.graph.json` (or `options.graph`) loaded with
 * `actors`, fail-fast. Three specialists in parallel, a synthesizer that waits for all three
 * findings, a logger every agent streams to, and a sink for the answer.
 */
export function researchNetwork(
  topic: string,
  actors: Record<string, ActorTemplate>,
  options: Pick<ResearchOptions, "capacity" | "policy" | "graph"> = {},
): Network {
  const graph = options.graph === undefined ? seedGraph() : parseGraph(options.graph);
  return loadGraph(withTopic(graph, topic, options.policy), actors, {
    failFast: true,
    capacity: options.capacity,
  });
}

/**
 * Runs the research flow on `topic` and resolves once every token has been written to `output`
 * and `events`, with the synthesizer's answer, the tokens used (per agent and in all) and why each
 * agent's model call ended. Rejects with the failing agent's error (an `ActorError` naming the
 * node, whose cause is the model error), with `signal`'s reason when aborted, or with a
 * `TimeoutError`.
 *
 * @example
 * ```ts
 * const { answer, usage } = await runResearch("the history of zero", {
 *   llm: { fetch: createOfflineModel().fetch },
 *   output: stdoutWritable,
 * });
 * ```
 */
export async function runResearch(
  topic: string,
  options: ResearchOptions = {},
): Promise<ResearchResult> {
  if (typeof topic !== "string" || topic.trim() === "") {
    throw new TypeError("runResearch: topic must be a non-empty string");
  }
  let answer: string | undefined;
  let logger: Logger | undefined;
  let usage: TokenUsage | undefined;
  const usageByRole: Record<string, TokenUsage> = {};
  const finishReasons: Record<string, FinishReason> = {};
  const watched = options.output !== undefined || options.events !== undefined;
  const sink = watched
    ? researchSink(options, (event) => {
      if (event.event === "usage" && event.scope === "agent") {
        usageByRole[event.role] = addUsage(usageByRole[event.role], event.usage);
        usage = addUsage(usage, event.usage);
      } else if (event.event === "finish") finishReasons[event.role] = event.finishReason;
    })
    : undefined;
  const actors = researchActors(options, (a) => (answer = a), (l) => (logger = l), sink);
  const net = researchNetwork(topic, actors, options);
  // The node metadata is the graph's: no need for describe()'s copy of the default one.
  const litWhileRunning = litWhileFlowRuns(
    options.graph === undefined ? seedGraph() : net.describe(),
  );
  // Node states for the views, once per change; a node with metadata lit: "flow" (the logger,
  // which ticks once per token) stays lit until the flow ends.
  const states = new Map<string, NodeState>();
  // Closed once the outcome is known: ticks that end during shutdown are not news.
  let reporting = true;
  const setState = (id: string, state: NodeState) => {
    if (!sink || !reporting || states.get(id) === state) return;
    states.set(id, state);
    // Not awaited: queued in order with the chunks; a view that went away makes it fail.
    Promise.resolve(sink.write({ event: "node", id, state })).catch(() => {});
  };
  const settle = (state: NodeState) => {
    for (const [id, s] of states) if (s === "running") setState(id, state);
    reporting = false;
  };
  if (options.onEvent || options.events) {
    const onEvent = options.onEvent;
    net.on((event) => {
      if (options.events) {
        if (event._type === "ActorStarted") setState(event.actorId, "running");
        else if (event._type === "ActorCompleted" && !litWhileRunning.has(event.actorId)) {
          setState(event.actorId, "done");
        } else if (event._type === "ActorFailed") setState(event.actorId, "failed");
      }
      onEvent?.(event);
    }, [
      "NetworkStarted",
      "ActorStarted",
      "ActorCompleted",
      "ActorFailed",
      "NetworkIdle",
      "NetworkShutdown",
      ...(onEvent ? ["ModelCallStarted", "ModelCallFinished", "ModelCallFailed"] as const : []),
    ]);
  }
  options.instrument?.(net);
  const { signal } = options;
  signal?.throwIfAborted();
  const timeoutMs = options.timeoutMs ?? RESEARCH_TIMEOUT_MS;
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
    if (options.events) settle("done");
    if (usage && sink) await sink.write({ event: "usage", scope: "flow", usage });
    const result: ResearchResult = { answer, usageByRole, finishReasons };
    if (usage) result.usage = usage;
    return result;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (options.events) settle("failed");
    if (timedOut) {
      throw new DOMException(`the research flow timed out after ${timeoutMs} ms`, "TimeoutError");
    }
    throw error;
  } finally {
    reporting = false;
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
    await net.shutdown();
    (logger as Logger | undefined)?.release();
    if (!logger) sink?.release?.();
  }
}
