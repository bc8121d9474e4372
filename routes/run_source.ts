/**
 * The research flow as a stream of run events (`node`, `chunk`, `answer`, `done` / `error`), for
 * the run log. Bridges `runResearch` until the one research event vocabulary (contract 2) lands:
 * the frames are the ones `POST /research` sends today, so the page reads both alike.
 *
 * @module
 */
import type { NetworkEvent } from "../src/events.ts";
import type { LlmConfig } from "../src/llm/config.ts";
import type { RunEvent } from "../src/runs/runs.ts";
import { runResearch } from "../src/research/run_research.ts";
import type { ResearchChunk } from "../src/research/format.ts";
import { errorMessage, type NodeState } from "./stream.ts";

/** How to run the research flow as a run. */
export interface ResearchEventsOptions {
  llm: LlmConfig;
  timeoutMs?: number;
  capacity?: number;
  policy?: "fail-fast" | "continue";
}

/**
 * Starts the research flow on `topic`; its events come out of the returned stream as they happen.
 * Each chunk is handed over only when the stream is read that far (a rendezvous), so whoever reads
 * it paces the agents. Cancelling the stream, or aborting `signal`, ends the flow and every model
 * request; `cancel()` resolves once they have ended.
 */
export function researchEvents(
  topic: string,
  options: ResearchEventsOptions,
  signal: AbortSignal,
): ReadableStream<RunEvent> {
  const pipe = new TransformStream<RunEvent, RunEvent>();
  const writer = pipe.writable.getWriter();
  const reader = pipe.readable.getReader();
  const controller = new AbortController();
  const abort = (reason?: unknown) => {
    if (controller.signal.aborted) return;
    controller.abort(reason ?? new DOMException("the run was stopped", "AbortError"));
    writer.abort(controller.signal.reason).catch(() => {});
    reader.cancel(controller.signal.reason).catch(() => {});
  };
  const onAbort = () => abort(signal.reason);
  if (signal.aborted) queueMicrotask(onAbort);
  else signal.addEventListener("abort", onAbort, { once: true });

  const send = (event: RunEvent) => writer.write(event);
  const states = new Map<string, NodeState>();
  const setState = (id: string, state: NodeState) => {
    if (states.get(id) === state) return;
    states.set(id, state);
    send({ type: "node", data: { id, state } }).catch(() => {});
  };
  const onEvent = (event: NetworkEvent) => {
    if (event._type === "ActorStarted") setState(event.actorId, "running");
    else if (event._type === "ActorCompleted" && event.actorId !== "logger") {
      setState(event.actorId, "done");
    } else if (event._type === "ActorFailed") setState(event.actorId, "failed");
  };
  // The Logger writes one JSON text per chunk; this turns it back into an event.
  const output = new WritableStream<string>({
    write: (text) => {
      const chunk = JSON.parse(text) as ResearchChunk;
      return send({ type: "chunk", data: { role: chunk.role, text: chunk.text } });
    },
  });

  const flow = (async () => {
    try {
      const answer = await runResearch(topic, {
        llm: options.llm,
        output,
        format: (chunk) => JSON.stringify(chunk),
        signal: controller.signal,
        timeoutMs: options.timeoutMs,
        capacity: options.capacity,
        policy: options.policy,
        onEvent,
      });
      for (const [id, state] of states) if (state === "running") setState(id, "done");
      await send({ type: "answer", data: { text: answer } });
      await send({ type: "done", data: {} });
      await writer.close();
    } catch (error) {
      if (controller.signal.aborted) return;
      try {
        for (const [id, state] of states) if (state === "running") setState(id, "failed");
        await send({ type: "error", data: { message: errorMessage(error, options.llm.apiKey) } });
        await writer.close();
      } catch {
        await writer.abort(error).catch(() => {});
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  })();

  return new ReadableStream<RunEvent>({
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value);
      } catch (error) {
        if (controller.signal.aborted) c.close();
        else c.error(error);
      }
    },
    async cancel(reason) {
      abort(reason);
      // Resolve only once the flow (and every model request) has ended.
      await flow;
    },
  }, { highWaterMark: 0 });
}

/** What `GET /runs/{id}` shows of a research run: node states, the answer, usage, the error. */
export interface ResearchSummary {
  nodes: Record<string, string>;
  answer?: string;
  usage?: unknown;
  error?: string;
}

/** Folds one research event into a run's {@link ResearchSummary} (for `Runs`' `reduce`). */
export function researchSummary(summary: unknown, event: RunEvent): ResearchSummary {
  const s = (summary ?? { nodes: {} }) as ResearchSummary;
  const data = (event.data ?? {}) as Record<string, unknown>;
  if (event.type === "node" && typeof data.id === "string") s.nodes[data.id] = String(data.state);
  else if (event.type === "answer" && typeof data.text === "string") s.answer = data.text;
  else if (event.type === "usage") s.usage = data;
  else if (event.type === "error" && typeof data.message === "string") s.error = data.message;
  return s;
}
