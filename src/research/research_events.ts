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
  options: ResearchEventsOptions = {},
): ReadableStream<ResearchEvent> {
  // A rendezvous: each write resolves only once the event was read, so a reader that stops
  // reading stops the Logger, which stops the agents reading the model.
  const pipe = new TransformStream<ResearchEvent, ResearchEvent>();
  const writer = pipe.writable.getWriter();
  const reader = pipe.readable.getReader();
  const controller = new AbortController();
  let tornDown: Promise<void> | undefined;
  const abort = (reason?: unknown) => {
    if (controller.signal.aborted) return;
    controller.abort(reason ?? new DOMException("the reader went away", "AbortError"));
    // Error the pipe too: a Logger write parked on a stream nobody reads must fail now, or the
    // flow's shutdown would wait on it forever.
    tornDown = writer.abort(controller.signal.reason).catch(() => {});
    // writer.abort() alone waits for a write parked on backpressure, which only a read or a
    // cancel of the readable side releases (Node 20 and Deno alike).
    reader.cancel(controller.signal.reason).catch(() => {});
  };
  const outer = options.signal;
  const onOuterAbort = () => abort(outer?.reason);
  if (outer?.aborted) queueMicrotask(onOuterAbort);
  else outer?.addEventListener("abort", onOuterAbort, { once: true });

  // The flow writes through its own writable, so its events and ours share one ordered queue.
  const events = new WritableStream<ResearchEvent>({
    write: (event) => writer.write(event),
    close: () => writer.close(),
  });
  const flow = (async () => {
    let result: ResearchResult | undefined;
    try {
      result = await runResearch(topic, { ...options, events, signal: controller.signal });
      // Through the same queue as the flow's own events, so they stay in order.
      const tail = events.getWriter();
      await tail.write({ event: "answer", text: result.answer });
      await tail.write({ event: "done" });
      await tail.close();
    } catch (error) {
      if (controller.signal.aborted) {
        // The reader is gone (or cancelled): the pipe was torn down in abort().
        await tornDown;
        return;
      }
      try {
        const tail = events.getWriter();
        await tail.write(errorEvent(error, options.renderError ?? options.describeError));
        await tail.close();
      } catch {
        await writer.abort(error).catch(() => {});
      }
    } finally {
      outer?.removeEventListener("abort", onOuterAbort);
      options.onEnd?.(result);
    }
  })();

  return new ReadableStream<ResearchEvent>({
    async pull(out) {
      try {
        const { done, value } = await reader.read();
        if (done) out.close();
        else out.enqueue(value);
      } catch (error) {
        out.error(error);
      }
    },
    async cancel(reason) {
      abort(reason ?? new DOMException("the event stream was cancelled", "AbortError"));
      await reader.cancel(reason).catch(() => {});
      // Resolve only once the flow (and every model request) has ended.
      await flow;
    },
  }, { highWaterMark: 0 });
}

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
