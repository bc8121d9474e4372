/**
 * The research flow in the AI SDK's UI message stream protocol (what `useChat` reads): one more
 * view of the research event stream (src/research/events.ts). Read from the `ai` package's own
 * source, v7.0.173: `ui-message-stream/ui-message-chunks.ts` (the parts),
 * `json-to-sse-transform-stream.ts` (the framing), `ui-message-stream-headers.ts` and
 * `ui/process-ui-message-stream.ts` (how the client builds the message).
 *
 * One assistant message: one text part per agent (the role is the part id; role and node travel
 * in `providerMetadata.reflow`), reasoning as reasoning parts, node states and token usage as
 * `data-*` parts that the client updates in place (same type and id), then `finish`; a failure is
 * an `error` part. No step parts: `start-step`/`finish-step` would cut the agents' parallel text
 * parts into steps.
 *
 * @module
 */
import type { ResearchEvent } from "./events.ts";
import type { FormatOptions, ResearchFormat } from "./format.ts";

/** `providerMetadata.reflow` of an agent's text and reasoning parts. */
export interface ReflowPartMetadata {
  role: string;
  node: string;
  /** On `text-end`: why the agent's model stopped (`stop`, `length`…). */
  finishReason?: string;
  [key: string]: string | undefined;
}

/** The `finish` part's reasons, as the `ai` package enumerates them. */
export type UIFinishReason =
  | "stop"
  | "length"
  | "content-filter"
  | "tool-calls"
  | "error"
  | "interrupted"
  | "other";

/** The parts this view writes: a subset of the `ai` package's `UIMessageChunk`. */
export type UIMessageChunk =
  | { type: "start"; messageId?: string; messageMetadata?: unknown }
  | {
    type: "text-start" | "text-end" | "reasoning-start" | "reasoning-end";
    id: string;
    providerMetadata: { reflow: ReflowPartMetadata };
  }
  | { type: "text-delta" | "reasoning-delta"; id: string; delta: string }
  | { type: `data-${string}`; id?: string; data: unknown; transient?: boolean }
  | { type: "finish"; finishReason?: UIFinishReason; messageMetadata?: unknown }
  | { type: "error"; errorText: string };

/** How the message starts. */
export interface UIMessageOptions extends FormatOptions {
  /** The assistant message's id (`start.messageId`), e.g. a run id. */
  messageId?: string;
  /** Parts written right after `start`, e.g. `{ type: "data-graph", id: "graph", data }`. */
  preamble?: UIMessageChunk[];
}

/** The id of the `data-usage` part that holds the whole flow's tokens (agents use their role). */
export const FLOW_USAGE_ID = "flow";

/**
 * The response headers of a UI message stream: the `ai` package's `UI_MESSAGE_STREAM_HEADERS`
 * without the hop-by-hop `connection` (HTTP/2 and Workers refuse it), plus `content-encoding:
 * identity` so that no runtime or proxy compresses (and so buffers) the stream.
 */
export const UI_MESSAGE_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-vercel-ai-ui-message-stream": "v1",
  "x-accel-buffering": "no",
  "content-encoding": "identity",
});

/**
 * Maps research events to UI message parts, one event at a time (make one per stream: it keeps
 * which parts are open). The first call also returns `start` and the preamble. Text parts open on
 * an agent's first chunk and close on its `finish` (or when the flow ends), so every delta has an
 * open part: the client throws on a delta for a part it does not know.
 *
 * @example
 * ```ts
 * const parts = uiMessageParts({ messageId: "run-1" });
 * parts({ event: "chunk", role: "facts", node: "factual", text: "Zero" });
 * // [{ type: "start", messageId: "run-1" },
 * //  { type: "text-start", id: "facts", providerMetadata: { reflow: { role: "facts", node: "factual" } } },
 * //  { type: "text-delta", id: "facts", delta: "Zero" }]
 * ```
 */
export function uiMessageParts(
  options: UIMessageOptions = {},
): (event: ResearchEvent) => UIMessageChunk[] {
  const showReasoning = options.reasoning ?? true;
  const text = new Map<string, ReflowPartMetadata>();
  const reasoning = new Map<string, ReflowPartMetadata>();
  let started = false;
  let ended = false;
  let answerReason: string | undefined;

  const closeReasoning = (role: string, out: UIMessageChunk[]) => {
    const reflow = reasoning.get(role);
    if (!reflow) return;
    reasoning.delete(role);
    out.push({ type: "reasoning-end", id: role, providerMetadata: { reflow } });
  };
  const closeText = (role: string, out: UIMessageChunk[], finishReason?: string) => {
    const open = text.get(role);
    if (!open) return;
    text.delete(role);
    const reflow = finishReason === undefined ? open : { ...open, finishReason };
    out.push({ type: "text-end", id: role, providerMetadata: { reflow } });
  };
  const closeAll = (out: UIMessageChunk[]) => {
    for (const role of [...reasoning.keys()]) closeReasoning(role, out);
    for (const role of [...text.keys()]) closeText(role, out);
  };

  return (event) => {
    const out: UIMessageChunk[] = [];
    if (!started) {
      started = true;
      out.push(
        options.messageId === undefined
          ? { type: "start" }
          : { type: "start", messageId: options.messageId },
        ...(options.preamble ?? []),
      );
    }
    if (ended) return out;
    switch (event.event) {
      case "node":
        out.push({ type: "data-node", id: event.id, data: { state: event.state } });
        break;
      case "reasoning": {
        if (!showReasoning) break;
        if (!reasoning.has(event.role)) {
          const reflow = { role: event.role, node: event.node };
          reasoning.set(event.role, reflow);
          out.push({ type: "reasoning-start", id: event.role, providerMetadata: { reflow } });
        }
        out.push({ type: "reasoning-delta", id: event.role, delta: event.text });
        break;
      }
      case "chunk": {
        if (!text.has(event.role)) {
          // The answer follows the thinking: show the reasoning as finished.
          closeReasoning(event.role, out);
          const reflow = { role: event.role, node: event.node };
          text.set(event.role, reflow);
          out.push({ type: "text-start", id: event.role, providerMetadata: { reflow } });
        }
        out.push({ type: "text-delta", id: event.role, delta: event.text });
        break;
      }
      case "usage":
        out.push(
          event.scope === "flow"
            ? { type: "data-usage", id: FLOW_USAGE_ID, data: { ...event.usage } }
            : {
              type: "data-usage",
              id: event.role,
              data: { role: event.role, node: event.node, ...event.usage },
            },
        );
        break;
      case "finish":
        if (event.role === "answer") answerReason = event.finishReason;
        closeReasoning(event.role, out);
        closeText(event.role, out, event.finishReason);
        break;
      case "answer":
        break; // already streamed, as the `answer` role's text part
      case "done":
        ended = true;
        closeAll(out);
        out.push({ type: "finish", finishReason: finishReason(answerReason) });
        break;
      case "error":
        ended = true;
        closeAll(out);
        out.push({ type: "error", errorText: event.message });
        out.push({ type: "finish", finishReason: "error" });
        break;
    }
    return out;
  };
}

/** The LLM layer's finish reasons (OpenAI's words) as the `finish` part names them. */
function finishReason(reason: string | undefined): UIFinishReason {
  switch (reason) {
    case undefined:
    case "stop":
      return "stop";
    case "length":
      return "length";
    case "content_filter":
      return "content-filter";
    case "tool_calls":
      return "tool-calls";
    default:
      return "other";
  }
}

/** One part framed as the AI SDK frames it: `data: {json}` and a blank line. */
export function uiFrame(part: UIMessageChunk): string {
  return `data: ${JSON.stringify(part)}\n\n`;
}

/** What ends every UI message stream, after the last part. */
export const UI_STREAM_END = "data: [DONE]\n\n";

/**
 * The UI message stream as text, one event at a time (a {@link ResearchFormat}, like
 * `formatSse`): the event's parts framed, and `data: [DONE]` after `done` or `error`.
 *
 * @example
 * ```ts
 * const body = researchEvents(topic, { llm })
 *   .pipeThrough(formatStream(formatUi()))
 *   .pipeThrough(new TextEncoderStream());
 * return new Response(body, { headers: UI_MESSAGE_STREAM_HEADERS }); // what useChat reads
 * ```
 */
export function formatUi(options: UIMessageOptions = {}): ResearchFormat {
  const parts = uiMessageParts(options);
  let ended = false;
  return (event) => {
    const text = parts(event).map(uiFrame).join("");
    if (ended || (event.event !== "done" && event.event !== "error")) return text;
    ended = true;
    return text + UI_STREAM_END;
  };
}
