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
  /**
   * `max_tokens` sent with each agent's model call, by role label (`facts`, `answer`, …), `"*"`
   * for the others. Node metadata `maxTokens` wins over it, and it over `LlmConfig.maxTokens`.
   */
  maxTokens?: Record<string, number>;
  /**
   * The most one agent's reply may hold, in UTF-8 bytes (a specialist's finding, the
   * synthesizer's answer): past it the model call is cut and the reply ends with a note saying so.
   * Default 65,536.
   */
  maxReplyBytes?: number;
  /**
   * The most the synthesizer's prompt may hold, in UTF-8 bytes: longer findings are cut to equal
   * shares, each with a note, and a note goes out with the answer. Default 262,144.
   */
  maxPromptBytes?: number;
}

/** The defaults of {@link AgentOptions}' caps. */
export const AGENT_LIMITS = Object.freeze({ maxReplyBytes: 64 * 1024, maxPromptBytes: 256 * 1024 });

/** UTF-8 length of `text`, without encoding it. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The longest start of `text` that fits in `bytes` UTF-8 bytes (never half a character). */
export function utf8Prefix(text: string, bytes: number): string {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length;
    const size = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (n + size > bytes) return text.slice(0, i);
    n += size;
    if (pair) i++;
  }
  return text;
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
  let first = partial.text === "";
  let firstThought = true;
  let finishReason: FinishReason = "unknown";
  let usage: TokenUsage | undefined;
  const reasoning = options.reasoning ?? true;
  const model = ctx.config.model;
  const temperature = ctx.config.temperature;
  const maxTokens = typeof ctx.config.maxTokens === "number"
    ? ctx.config.maxTokens
    : options.maxTokens?.[roleLabel] ?? options.maxTokens?.["*"];
  const maxBytes = options.maxReplyBytes ?? AGENT_LIMITS.maxReplyBytes;
  let bytes = utf8Length(partial.text);
  let cut = false;
  for await (
    const delta of streamChat({
      ...llm,
      // Node metadata may choose a model per agent, e.g. in the graph JSON.
      ...(typeof model === "string" ? { model } : {}),
      ...(typeof temperature === "number" ? { temperature } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      system,
      user,
      signal: ctx.signal,
      onCall: modelCallReporter(ctx),
    })
  ) {
    if (delta.type === "text") {
      let text = delta.text;
      bytes += utf8Length(text);
      if (bytes > maxBytes) {
        // Past the cap: keep what fits, say so, and stop reading (which ends the model call).
        const kept = utf8Prefix(text, maxBytes - (bytes - utf8Length(text)));
        text = kept + (partial.text + kept ? "\n\n" : "") +
          `(note: the ${roleLabel} agent's reply was cut at ${maxBytes} bytes)`;
        cut = true;
      }
      partial.text += text;
      await ctx.send({
        chunk: Message.object({ role: roleLabel, text, first, node: ctx.nodeId }),
      });
      first = false;
      if (cut) {
        finishReason = "length";
        break;
      }
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
    const head = `Combine these ${count} perspectives into a 2–3 paragraph answer.\n\n`;
    const title = (port: string) => `## ${port[0].toUpperCase()}${port.slice(1)}\n`;
    let findings = this.inports.map((port) => String(ctx.inputs[port].data));
    const build = () =>
      head + this.inports.map((port, i) => `${title(port)}${findings[i]}\n`).join("\n");
    let prompt = build();
    const maxPrompt = this.options.maxPromptBytes ?? AGENT_LIMITS.maxPromptBytes;
    const partial = { text: "" };
    if (utf8Length(prompt) > maxPrompt) {
      // Each finding gets an equal share of what the cap leaves, and says it was cut.
      const marker = "\n(cut to fit the prompt)";
      const empty = head + this.inports.map((port) => `${title(port)}\n`).join("\n");
      const fixed = utf8Length(empty) + this.inports.length * utf8Length(marker);
      const share = Math.max(0, Math.floor((maxPrompt - fixed) / this.inports.length));
      findings = this.inports.map((port) => {
        const text = String(ctx.inputs[port].data);
        return utf8Length(text) > share ? utf8Prefix(text, share) + marker : text;
      });
      prompt = build();
      partial.text = `(note: the findings were cut to fit the synthesizer's prompt limit of ` +
        `${maxPrompt} bytes)\n\n`;
      await ctx.send({
        chunk: Message.object({
          role: this.roleLabel,
          text: partial.text,
          first: true,
          node: ctx.nodeId,
        }),
      });
    }
    const answer = await streamToChunks(
      ctx,
      this.llm,
      this.options,
      this.roleLabel,
      "You are a senior writer. Compose a tight, sourced answer.",
      prompt,
      partial,
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
