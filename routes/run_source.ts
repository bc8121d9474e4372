/**
 * The research flow as a stream of run events: the research event vocabulary
 * (src/research/events.ts) as `{ type, data }`, where `type` is the event's `event` and `data`
 * its other fields, for the run log.
 *
 * @module
 */
import type { LlmConfig } from "../src/llm/config.ts";
import type { RunEvent } from "../src/runs/runs.ts";
import type { ResearchEvent } from "../src/research/events.ts";
import {
  researchEvents as researchEventStream,
  type ResearchEventsOptions as FlowEventsOptions,
} from "../src/research/research_events.ts";
import { errorMessage } from "./stream.ts";
import { GraphError, type GraphIssue } from "../src/graph/model.ts";
import { parseGraph } from "../src/graph/read.ts";
import { loadGraph } from "../src/graph/load.ts";
import { researchActors, withTopic } from "../src/research/run_research.ts";

/** How to run the research flow as a run: researchEvents' options (the signal is given apart). */
export interface ResearchEventsOptions extends Omit<FlowEventsOptions, "llm" | "signal" | "onEnd"> {
  llm: LlmConfig;
}

/**
 * Starts the research flow on `topic`; its events come out of the returned stream as they happen.
 * Each event is handed over only when the stream is read that far (a rendezvous), so whoever reads
 * it paces the agents. Cancelling the stream, or aborting `signal`, ends the flow and every model
 * request; `cancel()` resolves once they have ended.
 */
export function researchEvents(
  topic: string,
  options: ResearchEventsOptions,
  signal: AbortSignal,
): ReadableStream<RunEvent> {
  return researchEventStream(topic, {
    ...options,
    signal,
    describeError: options.describeError ?? ((error) => errorMessage(error, options.llm.apiKey)),
    as: toRunEvent,
  });
}

/** A research event as the run log keeps it: its kind, and its other fields as data. */
function toRunEvent(value: ResearchEvent): RunEvent {
  const { event, ...data } = value;
  return { type: event, data };
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
  else if (event.type === "usage" && data.scope === "flow") s.usage = data.usage;
  else if (event.type === "error" && typeof data.message === "string") s.error = data.message;
  return s;
}

/**
 * What is wrong with a graph given to `POST /runs` for the research flow, before anything runs:
 * the faults `loadGraph` finds against the research templates (each with its JSON path), and a
 * graph with no initial packet for the topic. Empty when it would run.
 */
export function researchGraphIssues(graph: unknown): GraphIssue[] {
  try {
    // Against the document as sent, so each fault's path is where it is in that document; then
    // the topic must have somewhere to go.
    loadGraph(graph, researchActors({}, () => {}));
    withTopic(parseGraph(graph), "topic");
    return [];
  } catch (error) {
    if (error instanceof GraphError) return error.issues;
    throw error;
  }
}
