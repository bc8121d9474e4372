/**
 * The research flow as one stream of typed events: what `runResearch` tells its `events` sink,
 * then `answer` and `done`, or `error`. Every view (text, JSON lines, SSE, a run log, the AI SDK
 * UI stream, a terminal view) is a formatter of this stream.
 *
 * @module
 */
import { describe } from "../errors.ts";
import { LlmError } from "../llm/errors.ts";
import type { ResearchEvent } from "./events.ts";
import { type ResearchOptions, type ResearchResult, runResearch } from "./run_research.ts";

/** Options of {@link researchEvents}: runResearch's, minus the sinks it builds itself. */
export interface ResearchEventsOptions
  extends Omit<ResearchOptions, "events" | "output" | "format"> {
  /**
   * Turns a failure into the `error` event's message (default: the error's message). The HTTP
   * app renders what its clients may see here; the LLM layer's errors never contain the key.
   */
  describeError?: (error: unknown) => string;
  /**
   * Renders the `error` event's message and code (the code defaults to the LlmError's); when given,
   * it is used instead of `describeError` for the flow's own failure (which still words the notes
   * of specialists failing under `"continue"`).
   */
  renderError?: (error: unknown) => { message: string; code?: string };
  /** Called once the flow has fully ended (completed, failed or aborted), with its result. */
  onEnd?: (result: ResearchResult | undefined) => void;
}

/**
 * Starts the research flow on `topic` and returns its events as a stream. Reading slowly slows
 * the agents down (each event is handed over only when read). The flow is aborted when
 * `options.signal` aborts or the stream is cancelled, whichever comes first; cancelling resolves
 * once the flow and every model request have ended. After an abort nothing more is written: the
 * stream just ends.
 *
 * @example
 * ```ts
 * for await (const event of researchEvents("the history of zero", { llm })) {
 *   if (event.event === "chunk") write(`${event.role}: ${event.text}`);
 *   else if (event.event === "usage" && event.scope === "flow") log(event.usage.totalTokens);
 * }
 * ```
 */
export function researchEvents(
  topic: string,
  options?: ResearchEventsOptions,
): ReadableStream<ResearchEvent>;
/**
 * The same, each event turned into something else by `as` as it is handed over (e.g. the run log's
 * `{ type, data }`), with no stream in between.
 */
export function researchEvents<T>(
  topic: string,
  options: ResearchEventsOptions & { as: (event: ResearchEvent) => T },
): ReadableStream<T>;
export function researchEvents(
  topic: string,
  options: ResearchEventsOptions & { as?: (event: ResearchEvent) => unknown } = {},
): ReadableStream<unknown> {
  const as = options.as;
  // One stream, fed by hand: a write resolves once a read took its event (a rendezvous), so a
  // reader that stops reading stops the Logger, which stops the agents reading the model. The flow
  // writes straight into it (a ResearchSink): no WritableStream, TransformStream or wrapper stream
  // in between, each of which was one more hop per token.
  let out!: ReadableStreamDefaultController<unknown>;
  /** A pull waiting for the next event. */
  let wanted: (() => void) | undefined;
  /** Writes waiting for a pull, oldest first (node states are written without waiting). */
  const queue: { event: ResearchEvent; resolve(): void; reject(e: unknown): void }[] = [];
  /** Set when nothing more is accepted (the flow ended, or the reader went away). */
  let over: { reason: unknown } | undefined;
  /** The reader cancelled: the stream is closed already. */
  let cancelled = false;
  const push = (event: ResearchEvent): Promise<void> => {
    if (over) return Promise.reject(over.reason);
    if (wanted && queue.length === 0) {
      const pull = wanted;
      wanted = undefined;
      out.enqueue(as ? as(event) : event);
      pull();
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => queue.push({ event, resolve, reject }));
  };
  /** Nothing more is accepted: the reader gets what is queued, then the end. */
  const end = (reason: unknown) => {
    if (over) return;
    over = { reason };
    if (wanted && queue.length === 0) {
      const pull = wanted;
      wanted = undefined;
      if (!cancelled) out.close();
      pull();
    }
  };
  const controller = new AbortController();
  const abort = (reason?: unknown) => {
    if (controller.signal.aborted) return;
    controller.abort(reason ?? new DOMException("the reader went away", "AbortError"));
    // Writes waiting for a reader that is gone fail now (or the flow's shutdown would wait on
    // them forever); after an abort the stream just ends.
    const waiting = queue.splice(0);
    end(controller.signal.reason);
    for (const w of waiting) w.reject(controller.signal.reason);
  };
  const outer = options.signal;
  const onOuterAbort = () => abort(outer?.reason);
  if (outer?.aborted) queueMicrotask(onOuterAbort);
  else outer?.addEventListener("abort", onOuterAbort, { once: true });

  const flow = (async () => {
    let result: ResearchResult | undefined;
    try {
      result = await runResearch(topic, {
        ...options,
        events: { write: push },
        signal: controller.signal,
      });
      // After every event of the flow (queued in order before these).
      await push({ event: "answer", text: result.answer });
      await push({ event: "done" });
      end(new TypeError("researchEvents: the flow has ended"));
    } catch (error) {
      if (controller.signal.aborted) return; // the reader is gone (or cancelled)
      try {
        await push(errorEvent(error, options.renderError ?? options.describeError));
        end(error);
      } catch (e) {
        if (!cancelled) out.error(e);
      }
    } finally {
      outer?.removeEventListener("abort", onOuterAbort);
      options.onEnd?.(result);
    }
  })();

  return new ReadableStream<unknown>({
    start(c) {
      out = c;
    },
    pull() {
      const next = queue.shift();
      if (next) {
        out.enqueue(as ? as(next.event) : next.event);
        next.resolve();
        return;
      }
      if (over) return out.close();
      return new Promise<void>((resolve) => (wanted = resolve));
    },
    async cancel(reason) {
      cancelled = true;
      abort(reason ?? new DOMException("the event stream was cancelled", "AbortError"));
      // Resolve only once the flow (and every model request) has ended.
      await flow;
    },
  }, { highWaterMark: 0 });
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The `error` event for a failed flow: its message, the LlmError code and the failing node.
 * `describeError` gives the message, or the message and a code of its own.
 */
export function errorEvent(
  error: unknown,
  describeError: (error: unknown) => string | { message: string; code?: string } = describe,
): ResearchEvent {
  const described = describeError(error);
  const message = typeof described === "string" ? described : described.message;
  const event: ResearchEvent = { event: "error", message };
  const node = (error as { nodeId?: unknown })?.nodeId;
  if (typeof node === "string") event.node = node;
  const cause = (error as { cause?: unknown })?.cause;
  const llm = error instanceof LlmError ? error : cause instanceof LlmError ? cause : undefined;
  if (llm) event.code = llm.code;
  if (typeof described !== "string" && described.code !== undefined) event.code = described.code;
  return event;
}
