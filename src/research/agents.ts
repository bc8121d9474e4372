import { Actor, type ActorContext } from "../actor.ts";
import { Message } from "../message.ts";
import type { ModelCallEvent } from "../llm/call_events.ts";
import type { LlmConfig } from "../llm/config.ts";
import type { FinishReason, TokenUsage } from "../llm/deltas.ts";
import { streamChat } from "../llm/stream_chat.ts";
import type { AgentChunk, ResearchEvent } from "./events.ts";

/** How the research agents behave besides their model. */
export interface AgentOptions {
  /** Send the model's reasoning on `chunk` (marked `kind: "reasoning"`). Default true. */
  reasoning?: boolean;
  /**
   * How a failing specialist's error reads in its note under `onError: "note"` (default: its
   * message, which names the model server: right for the CLI, whose user runs it; the HTTP app
   * passes what a client may see).
   */
  describeError?: (error: unknown) => string;
}

const CALL_EVENTS = {
  start: "ModelCallStarted",
  end: "ModelCallFinished",
  error: "ModelCallFailed",
} as const;

/**
 * Forwards what `streamChat` reports about each model call to the network, as
 * `ModelCallStarted` / `ModelCallFinished` / `ModelCallFailed` events with this node's id; nothing
 * when nobody listens to them.
 */
export function modelCallReporter(ctx: ActorContext): ((e: ModelCallEvent) => void) | undefined {
  if (
    !ctx.listens("ModelCallStarted") && !ctx.listens("ModelCallFinished") &&
    !ctx.listens("ModelCallFailed")
  ) return undefined;
  return (e) => {
    const { type, ...fields } = e;
    ctx.report({ ...fields, _type: CALL_EVENTS[type] } as Parameters<ActorContext["report"]>[0]);
  };
}

/**
 * Streams one chat completion for an agent: every text delta goes out on `chunk` at once (so the
 * logger shows it live, and a full connection slows the model read), reasoning too (marked
 * `kind: "reasoning"`) unless turned off, and when the call ends one `kind: "finish"` packet with
 * its finish reason and usage. The text is returned for the tick's final packet; the reasoning
 * never is part of it.
 */
async function streamToChunks(
  ctx: ActorContext,
  llm: LlmConfig,
  options: AgentOptions,
  roleLabel: string,
  system: string,
  user: string,
  partial: { text: string } = { text: "" },
): Promise<string> {
  let first = true;
  let firstThought = true;
  let finishReason: FinishReason = "unknown";
  let usage: TokenUsage | undefined;
  const reasoning = options.reasoning ?? true;
  const model = ctx.config.model;
  const temperature = ctx.config.temperature;
  for await (
    const delta of streamChat({
      ...llm,
      // Node metadata may choose a model per agent, e.g. in the graph JSON.
      ...(typeof model === "string" ? { model } : {}),
      ...(typeof temperature === "number" ? { temperature } : {}),
      system,
      user,
      signal: ctx.signal,
      onCall: modelCallReporter(ctx),
    })
  ) {
    if (delta.type === "text") {
      partial.text += delta.text;
      await ctx.send({
        chunk: Message.object({ role: roleLabel, text: delta.text, first, node: ctx.nodeId }),
      });
      first = false;
    } else if (delta.type === "reasoning") {
      if (!reasoning) continue;
      const chunk = {
        role: roleLabel,
        text: delta.text,
        first: firstThought,
        kind: "reasoning",
        node: ctx.nodeId,
      };
      await ctx.send({ chunk: Message.object(chunk) });
      firstThought = false;
    } else if (delta.type === "usage") {
      usage = delta.usage;
    } else {
      finishReason = delta.finishReason;
    }
  }
  const finish: AgentChunk = {
    role: roleLabel,
    text: "",
    first: false,
    kind: "finish",
    node: ctx.nodeId,
    finishReason,
    ...(usage ? { usage } : {}),
  };
  await ctx.send({ chunk: Message.object(finish as unknown as Record<string, unknown>) });
  return partial.text;
}

/**
 * A research agent: one inport (`topic`), two outports (`chunk` for live tokens, `finding` for
 * the full text). Subclasses set `role` (the system prompt) and `roleLabel`.
 *
 * @example
 * ```ts
 * class Historian extends Specialist {
 *   component = "historian";
 *   roleLabel = "history";
 *   role = "You are a historian. Give 3–5 dated events.";
 * }
 * ```
 */
export abstract class Specialist extends Actor {
  override inports = ["topic"];
  override outports = ["chunk", "finding"];
  abstract role: string;
  abstract roleLabel: string;

  constructor(
    protected readonly llm: LlmConfig = {},
    protected readonly options: AgentOptions = {},
  ) {
    super();
  }

  /**
   * With node metadata `onError: "note"`, a model failure does not fail the tick: the finding is
   * what arrived, plus a note saying what went wrong (the error's message, or what
   * `options.describeError` makes of it), so the synthesizer still runs.
   */
  async run(ctx: ActorContext): Promise<void> {
    const topic = String(ctx.inputs.topic.data);
    const partial = { text: "" };
    try {
      const user = `Topic: ${topic}`;
      const finding = await streamToChunks(
        ctx,
        this.llm,
        this.options,
        this.roleLabel,
        this.role,
        user,
        partial,
      );
      ctx.done({ finding: Message.string(finding) });
    } catch (error) {
      if (ctx.config.onError !== "note" || ctx.signal.aborted) throw error;
      const said = this.options.describeError?.(error) ?? (error as Error).message;
      const note = `(note: the ${this.roleLabel} agent failed: ${said})`;
      const text = partial.text ? `\n\n${note}` : note;
      await ctx.send({
        chunk: Message.object({
          role: this.roleLabel,
          text,
          first: partial.text === "",
          node: ctx.nodeId,
        }),
      });
      ctx.done({ finding: Message.string(partial.text + text) });
    }
  }
}

export class FactualResearcher extends Specialist {
  override component = "factual_researcher";
  roleLabel = "facts";
  role = "You are a factual researcher. Give 3–5 bullets.";
}

export class Statistician extends Specialist {
  override component = "statistician";
  roleLabel = "stats";
  role = "You are a statistician. Give 3–5 bullets of relevant numbers.";
}

export class Quoter extends Specialist {
  override component = "quoter";
  roleLabel = "quotes";
  role = "You are a quote librarian. Provide 2–3 short, attributable quotes.";
}

/**
 * A specialist configured by its node's metadata, so that a new one is data in the graph:
 * `{ "component": "tpl_specialist", "metadata": { "roleLabel": "history", "role": "You are a
 * historian. Give 3–5 dated events." } }`.
 */
export class ConfiguredSpecialist extends Specialist {
  override component = "specialist";
  role: string;
  roleLabel: string;

  constructor(
    llm: LlmConfig = {},
    options: AgentOptions = {},
    config: Readonly<Record<string, unknown>> = {},
  ) {
    super(llm, options);
    if (typeof config.role !== "string" || typeof config.roleLabel !== "string") {
      throw new TypeError(
        "a tpl_specialist node needs metadata role (its system prompt) and roleLabel (its tag)",
      );
    }
    this.role = config.role;
    this.roleLabel = config.roleLabel;
  }
}

const NUMBER_WORDS: Record<number, string> = { 2: "two", 3: "three", 4: "four", 5: "five" };

/**
 * Waits for all three findings (`awaitAllInports`), then streams a combined answer on `chunk`
 * and sends the whole of it on `answer`.
 */
export class Synthesizer extends Actor {
  override component = "synthesizer";
  override inports = ["facts", "stats", "quotes"];
  override outports = ["chunk", "answer"];
  override awaitAllInports = true;
  roleLabel = "answer";

  /** `inports` may come from the node's metadata (`"inports": ["facts", …, "history"]`). */
  constructor(
    protected readonly llm: LlmConfig = {},
    protected readonly options: AgentOptions = {},
    inports?: readonly string[],
  ) {
    super();
    if (inports !== undefined) this.inports = [...inports];
  }

  /**
   * The prompt has one section per declared inport, in order, so a subclass that declares a
   * fourth inport gets a fourth section; with the seed's three it is the seed's prompt.
   */
  async run(ctx: ActorContext): Promise<void> {
    const count = NUMBER_WORDS[this.inports.length] ?? String(this.inports.length);
    const prompt = `Combine these ${count} perspectives into a 2–3 paragraph answer.\n\n` +
      this.inports
        .map((port) => `## ${port[0].toUpperCase()}${port.slice(1)}\n${ctx.inputs[port].data}\n`)
        .join("\n");
    const answer = await streamToChunks(
      ctx,
      this.llm,
      this.options,
      this.roleLabel,
      "You are a senior writer. Compose a tight, sourced answer.",
      prompt,
    );
    ctx.done({ answer: Message.string(answer) });
  }
}

/**
 * Where the Logger puts the research events it makes: `write` may return a promise, which the
 * Logger awaits (that is where a slow reader slows the agents down); `release` is called when the
 * flow is over.
 */
export interface ResearchSink {
  write(event: ResearchEvent): void | Promise<void>;
  release?(): void;
}

/**
 * A fan-in node: every agent's `chunk` packets arrive here, in write order, and leave as research
 * events (src/research/events.ts) for the views: a text chunk as `chunk`, a reasoning chunk as
 * `reasoning`, a finish packet as `finish` plus `usage`. Each write is awaited, so a slow reader
 * slows the agents instead of filling memory. Call {@link Logger.release} when the flow is over.
 */
export class Logger extends Actor {
  override component = "logger";
  override inports = ["chunk"];
  override outports = [];
  private currentRole: string | null = null;

  constructor(private readonly sink?: ResearchSink) {
    super();
  }

  async run(ctx: ActorContext): Promise<void> {
    const chunk = ctx.inputs.chunk.data as AgentChunk;
    this.currentRole = chunk.role;
    const sink = this.sink;
    if (!sink) return;
    if (chunk.kind === undefined || chunk.kind === "text") {
      const node = chunk.node ?? chunk.role;
      await sink.write({ event: "chunk", role: chunk.role, node, text: chunk.text });
    } else if (chunk.kind === "reasoning") {
      const node = chunk.node ?? chunk.role;
      await sink.write({ event: "reasoning", role: chunk.role, node, text: chunk.text });
    } else if (chunk.kind === "finish") {
      const { role, node, finishReason, usage } = chunk;
      await sink.write({ event: "finish", role, node, finishReason });
      if (usage) await sink.write({ event: "usage", scope: "agent", role, node, usage });
    }
  }

  /** The role of the last chunk received, or null before the first. */
  get role(): string | null {
    return this.currentRole;
  }

  /** Lets go of the output (without closing it), so its owner can write more or close. */
  release(): void {
    this.sink?.release?.();
  }
}

/** Hands the final answer back to the code that started the flow. */
export class Sink extends Actor {
  override component = "sink";
  override inports = ["answer"];
  override outports = [];

  constructor(private readonly put: (answer: string) => void) {
    super();
  }

  run(ctx: ActorContext): void {
    this.put(String(ctx.inputs.answer.data));
  }
}
