import { Actor, type ActorContext } from "../actor.ts";
import { Message } from "../message.ts";
import type { LlmConfig } from "../llm/config.ts";
import { streamChat } from "../llm/stream_chat.ts";
import { type ChunkFormat, formatText, type ResearchChunk } from "./format.ts";

/**
 * Streams one chat completion for an agent: every delta goes out on `chunk` at once (so the
 * logger shows it live, and a full connection slows the model read), and the whole text is
 * returned for the tick's final packet.
 */
async function streamToChunks(
  ctx: ActorContext,
  llm: LlmConfig,
  roleLabel: string,
  system: string,
  user: string,
  partial: { text: string } = { text: "" },
): Promise<string> {
  let first = true;
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
    })
  ) {
    partial.text += delta;
    await ctx.send({ chunk: Message.object({ role: roleLabel, text: delta, first }) });
    first = false;
  }
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

  constructor(protected readonly llm: LlmConfig = {}) {
    super();
  }

  /**
   * With node metadata `onError: "note"`, a model failure does not fail the tick: the finding is
   * what arrived, plus a note saying what went wrong, so the synthesizer still runs.
   */
  async run(ctx: ActorContext): Promise<void> {
    const topic = String(ctx.inputs.topic.data);
    const partial = { text: "" };
    try {
      const user = `Topic: ${topic}`;
      const finding = await streamToChunks(ctx, this.llm, this.roleLabel, this.role, user, partial);
      ctx.done({ finding: Message.string(finding) });
    } catch (error) {
      if (ctx.config.onError !== "note" || ctx.signal.aborted) throw error;
      const note = `(note: the ${this.roleLabel} agent failed: ${(error as Error).message})`;
      const text = partial.text ? `\n\n${note}` : note;
      await ctx.send({
        chunk: Message.object({ role: this.roleLabel, text, first: partial.text === "" }),
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

  constructor(protected readonly llm: LlmConfig = {}) {
    super();
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
      this.roleLabel,
      "You are a senior writer. Compose a tight, sourced answer.",
      prompt,
    );
    ctx.done({ answer: Message.string(answer) });
  }
}

/**
 * A fan-in node that writes role-tagged tokens to a `WritableStream<string>` as they arrive:
 * stdout in the CLI, a response body over HTTP. Each write is awaited, so a slow reader slows the
 * agents instead of filling memory. Call {@link Logger.release} when the flow is over.
 */
export class Logger extends Actor {
  override component = "logger";
  override inports = ["chunk"];
  override outports = [];
  private currentRole: string | null = null;
  private writer: WritableStreamDefaultWriter<string> | undefined;

  constructor(
    private readonly output?: WritableStream<string>,
    private readonly format: ChunkFormat = formatText,
  ) {
    super();
  }

  async run(ctx: ActorContext): Promise<void> {
    const chunk = ctx.inputs.chunk.data as ResearchChunk;
    const text = this.format(chunk, this.currentRole);
    this.currentRole = chunk.role;
    if (!this.output) return;
    this.writer ??= this.output.getWriter();
    await this.writer.write(text);
  }

  /** The role of the last chunk written, or null before the first. */
  get role(): string | null {
    return this.currentRole;
  }

  /** Lets go of the output stream (without closing it), so its owner can write more or close. */
  release(): void {
    this.writer?.releaseLock();
    this.writer = undefined;
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
