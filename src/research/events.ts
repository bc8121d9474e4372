/**
 * The research event vocabulary: everything a research flow tells its viewers, as typed objects.
 * The flow produces one stream of these ({@link ResearchEvent}); every view is a formatter of
 * that one stream (src/research/format.ts): the seed's role-tagged text, `--json` lines, the SSE
 * frames of `POST /research`, the page, a run log, the AI SDK UI stream, a terminal view.
 *
 * Each event is a plain JSON object whose `event` field names its kind, so one `--json` line is
 * exactly `JSON.stringify(event)`, and an SSE frame is `event: <event>` with the other fields as
 * its `data` (except that per-token SSE frames leave out `node`: `chunk` and `reasoning` carry
 * `{role, text}`, as they always did).
 *
 * | `event` | fields | when |
 * | --- | --- | --- |
 * | `node` | `id`, `state` (`running`, `done`, `failed`) | a node's tick starts or ends |
 * | `chunk` | `role`, `node`, `text` | a token of an agent's answer |
 * | `reasoning` | `role`, `node`, `text` | a token of an agent's reasoning (never part of its answer) |
 * | `finish` | `role`, `node`, `finishReason` | an agent's model call ended (`stop`, `length`, `content_filter`, `unknown`) |
 * | `usage` | `scope: "agent"`, `role`, `node`, `usage` | the tokens an agent's model call used |
 * | `usage` | `scope: "flow"`, `usage` | the flow's total, once, before `answer` |
 * | `answer` | `text` | the synthesizer's whole answer |
 * | `done` | | the flow ended well (last event) |
 * | `error` | `message`, `code?`, `node?` | the flow failed (last event) |
 *
 * Order: a role's `finish` and `usage` come after its last `chunk`/`reasoning`; the flow's
 * `usage` and the final node states come before `answer`; `done` or `error` is last.
 *
 * @module
 */
import type { FinishReason, TokenUsage } from "../llm/deltas.ts";

/** State of a graph node, as views show it. */
export type NodeState = "running" | "done" | "failed";

/** A node's tick started or ended. */
export interface NodeEvent {
  event: "node";
  id: string;
  state: NodeState;
}

/** A token of an agent's answer, tagged with the agent's role (`facts`, `stats`, …) and node. */
export interface ChunkEvent {
  event: "chunk";
  role: string;
  node: string;
  text: string;
}

/** A token of an agent's reasoning, shown apart from its answer. */
export interface ReasoningEvent {
  event: "reasoning";
  role: string;
  node: string;
  text: string;
}

/** Why an agent's model call ended: `length` and `content_filter` mean it was cut short. */
export interface FinishEvent {
  event: "finish";
  role: string;
  /** The node the agent runs on. */
  node: string;
  finishReason: FinishReason;
}

/** Tokens one agent used (`scope: "agent"`) or the whole flow used (`scope: "flow"`). */
export type UsageEvent =
  | { event: "usage"; scope: "agent"; role: string; node: string; usage: TokenUsage }
  | { event: "usage"; scope: "flow"; usage: TokenUsage };

/** The synthesizer's whole answer. */
export interface AnswerEvent {
  event: "answer";
  text: string;
}

/** The flow ended well. */
export interface DoneEvent {
  event: "done";
}

/** The flow failed: one line for the user, the `LlmError` code and failing node when known. */
export interface ErrorEvent {
  event: "error";
  message: string;
  code?: string;
  node?: string;
}

/** Everything a research flow tells its viewers, discriminated by `event`. */
export type ResearchEvent =
  | NodeEvent
  | ChunkEvent
  | ReasoningEvent
  | FinishEvent
  | UsageEvent
  | AnswerEvent
  | DoneEvent
  | ErrorEvent;

/** The kinds of {@link ResearchEvent}, in no particular order. */
export const RESEARCH_EVENTS: readonly ResearchEvent["event"][] = Object.freeze([
  "node",
  "chunk",
  "reasoning",
  "finish",
  "usage",
  "answer",
  "done",
  "error",
]);

/**
 * What an agent sends on its `chunk` outport. Text chunks keep the seed's shape
 * (`{ role, text, first }`, plus the sending `node`), so a seed-style logger still prints them;
 * reasoning chunks add `kind: "reasoning"`; when its model call ends an agent sends one
 * `kind: "finish"` packet with the finish reason and usage (and empty `text`, so a logger that only
 * prints `text` shows nothing for it). `node` is optional on text and reasoning chunks, for
 * agents written before it existed.
 */
export type AgentChunk =
  | { role: string; text: string; first: boolean; kind?: "text"; node?: string }
  | { role: string; text: string; first: boolean; kind: "reasoning"; node?: string }
  | {
    role: string;
    text: "";
    first: false;
    kind: "finish";
    node: string;
    finishReason: FinishReason;
    usage?: TokenUsage;
  };

/** A finish reason that means the answer was cut short (worth telling the user). */
export function isStopEarly(reason: FinishReason): boolean {
  return reason === "length" || reason === "content_filter";
}
