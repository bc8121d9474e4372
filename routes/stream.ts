/**
 * The research flow as an HTTP response body: a byte `ReadableStream` fed by the Logger as
 * tokens arrive, with backpressure end to end and cancellation from either side.
 *
 * @module
 */
import type { NetworkEvent } from "../src/events.ts";
import type { LlmConfig } from "../src/llm/config.ts";
import { type ChunkFormat, formatSse, formatText } from "../src/research/format.ts";
import { runResearch } from "../src/research/run_research.ts";
import { describe } from "../src/errors.ts";
import { scrubSecret } from "../src/llm/errors.ts";

/** `sse`: Server-Sent Events (`chunk`, `node`, `answer`, `done` / `error`). `text`: the seed's text. */
export type StreamFormat = "sse" | "text";

/** State of a graph node as the page shows it. */
export type NodeState = "running" | "done" | "failed";

export interface ResearchStreamOptions {
  llm: LlmConfig;
  format: StreamFormat;
  /** The client's request signal: aborting it stops the flow and every model request. */
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Packets each connection holds (see runResearch). */
  capacity?: number;
  /** runResearch's error policy (default `"fail-fast"`). */
  policy?: "fail-fast" | "continue";
  /** Called once when the flow has fully ended (completed, failed or aborted). */
  onEnd?: () => void;
}

/** A Server-Sent Events frame. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Starts the research flow on `topic` and returns its output as bytes. The flow is aborted when
 * `options.signal` aborts or when the returned stream is cancelled, whichever comes first: the
 * runtimes differ in which of the two they use to report a client that went away.
 */
export function researchStream(
  topic: string,
  options: ResearchStreamOptions,
): ReadableStream<Uint8Array> {
  const sse = options.format === "sse";
  // A rendezvous: each write resolves only once the response body has been read that far, so a
  // client that stops reading stops the Logger, which stops the agents reading the model.
  const pipe = new TransformStream<string, string>();
  const writer = pipe.writable.getWriter();
  const reader = pipe.readable.pipeThrough(new TextEncoderStream()).getReader();
  const controller = new AbortController();
  let tornDown: Promise<void> | undefined;
  const abort = (reason?: unknown) => {
    if (controller.signal.aborted) return;
    controller.abort(reason ?? new DOMException("the client went away", "AbortError"));
    // Error the pipe too: a Logger write parked on a body nobody reads (workerd reports a
    // disconnect through request.signal only, without cancelling the body) must fail now, or the
    // flow's shutdown would wait on it forever.
    tornDown = writer.abort(controller.signal.reason).catch(() => {});
    // writer.abort() alone waits for a write parked on backpressure, which only a read or a
    // cancel of the readable side releases (Node 20 and Deno alike): cancel it, so the parked
    // write rejects and the flow can end even though nobody will ever read the body.
    reader.cancel(controller.signal.reason).catch(() => {});
  };
  const clientSignal = options.signal;
  const onClientAbort = () => abort(clientSignal?.reason);
  if (clientSignal?.aborted) queueMicrotask(onClientAbort);
  else clientSignal?.addEventListener("abort", onClientAbort, { once: true });

  const write = (text: string) => writer.write(text);
  // The Logger gets its own writable that forwards into the shared writer, so node frames (written
  // from onEvent) and chunks share one ordered queue without fighting over the writer's lock.
  const output = new WritableStream<string>({ write });
  const format: ChunkFormat = sse ? formatSse : formatText;
  const states = new Map<string, NodeState>();
  const setState = (id: string, state: NodeState) => {
    if (states.get(id) === state) return;
    states.set(id, state);
    write(sseFrame("node", { id, state })).catch(() => {});
  };
  const onEvent = sse
    ? (event: NetworkEvent) => {
      if (event._type === "ActorStarted") setState(event.actorId, "running");
      // The logger ticks once per token: it stays lit until the flow ends.
      else if (event._type === "ActorCompleted" && event.actorId !== "logger") {
        setState(event.actorId, "done");
      } else if (event._type === "ActorFailed") setState(event.actorId, "failed");
    }
    : undefined;

  const flow = (async () => {
    try {
      const answer = await runResearch(topic, {
        llm: options.llm,
        output,
        format,
        signal: controller.signal,
        timeoutMs: options.timeoutMs,
        capacity: options.capacity,
        policy: options.policy,
        onEvent,
      });
      if (sse) {
        for (const [id, state] of states) if (state === "running") setState(id, "done");
        await write(sseFrame("answer", { text: answer }));
        await write(sseFrame("done", {}));
      } else {
        await write(`\n\n${answer}\n`);
      }
      await writer.close();
    } catch (error) {
      if (controller.signal.aborted) {
        // The client is gone (or cancelled): nobody reads; the pipe was torn down in abort().
        await tornDown;
        return;
      }
      const message = errorMessage(error, options.llm.apiKey);
      try {
        if (sse) {
          for (const [id, state] of states) if (state === "running") setState(id, "failed");
          await write(sseFrame("error", { message }));
        } else {
          await write(`\n\nerror: ${message}\n`);
        }
        await writer.close();
      } catch {
        await writer.abort(error).catch(() => {});
      }
    } finally {
      clientSignal?.removeEventListener("abort", onClientAbort);
      options.onEnd?.();
    }
  })();

  return new ReadableStream<Uint8Array>({
    async pull(body) {
      try {
        const { done, value } = await reader.read();
        if (done) body.close();
        else body.enqueue(value);
      } catch (error) {
        body.error(error);
      }
    },
    async cancel(reason) {
      abort(reason ?? new DOMException("the response body was cancelled", "AbortError"));
      await reader.cancel(reason).catch(() => {});
      // Resolve only once the flow (and every model request) has ended.
      await flow;
    },
  }, { highWaterMark: 0 });
}

/** One clear line for the client: the failing node and the model error, never the API key. */
export function errorMessage(error: unknown, apiKey?: string): string {
  // The LLM layer already scrubs its errors; this covers anything else that could echo the key.
  return scrubSecret(describe(error), apiKey);
}
