/**
 * The research flow in the AI SDK's UI message stream protocol (what `useChat` reads), read from
 * the `ai` package's own source (v7.0.173: `ui-message-stream/ui-message-chunks.ts`,
 * `json-to-sse-transform-stream.ts`, `ui-message-stream-headers.ts`,
 * `ui/process-ui-message-stream.ts`). One assistant message: one text part per agent (the role is
 * the part id; role and node travel in `providerMetadata.reflow`), reasoning as reasoning parts,
 * node states and token usage as `data-*` parts that the client updates in place (same type and
 * id), then `finish`; a failure is an `error` part. No step parts: `start-step` would split the
 * agents' parallel text parts across steps.
 *
 * @module
 */

/** `providerMetadata.reflow` of an agent's text and reasoning parts. */
export interface ReflowPartMetadata {
  role: string;
  /** The node that streams it, when known. */
  node?: string;
  /** On `text-end`: why the model stopped (`stop`, `length`…). */
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

/** The parts this formatter writes: a subset of the `ai` package's `UIMessageChunk`. */
export type UIMessageChunk =
  | { type: "start"; messageId?: string; messageMetadata?: unknown }
  | {
    type: "text-start" | "text-end" | "reasoning-start" | "reasoning-end";
    id: string;
    providerMetadata?: { reflow: ReflowPartMetadata };
  }
  | { type: "text-delta" | "reasoning-delta"; id: string; delta: string }
  | { type: `data-${string}`; id?: string; data: unknown; transient?: boolean }
  | { type: "finish"; finishReason?: UIFinishReason; messageMetadata?: unknown }
  | { type: "error"; errorText: string };

/** Token counts, with the AI SDK's and OpenTelemetry's names. */
export interface UIUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  reasoningTokens?: number;
  [key: string]: number | undefined;
}

/**
 * What the formatter reads: one research flow, in the order its viewers must see it. (The
 * research event vocabulary every view formats; see src/research.)
 */
export type UISourceEvent =
  /** A node's state changed (`running`, `done`, `failed`). */
  | { type: "node"; id: string; state: string }
  /** Text from an agent. */
  | { type: "chunk"; role: string; node?: string; text: string }
  /** Reasoning ("thinking") from an agent. */
  | { type: "reasoning"; role: string; node?: string; text: string }
  /** Tokens one agent used (`role`), or the whole flow so far (no role). */
  | { type: "usage"; role?: string; node?: string; usage: UIUsage }
  /** An agent's model stopped; nothing more comes for its role. */
  | { type: "finish"; role: string; node?: string; finishReason: string }
  /** The synthesizer's whole answer (already streamed as the `answer` role's text). */
  | { type: "answer"; text: string }
  /** The flow ended well. */
  | { type: "done" }
  /** The flow failed; `message` is what the client may see. */
  | { type: "error"; message: string };

/** How {@link uiMessageChunks} starts the message. */
export interface UIMessageOptions {
  /** The assistant message's id (`start.messageId`), e.g. the run id. */
  messageId?: string;
  /** Parts written right after `start`, e.g. `{ type: "data-graph", id: "graph", data }`. */
  preamble?: UIMessageChunk[];
}

/** The client updates a `data-usage` part in place by this id; per-agent parts use the role. */
export const FLOW_USAGE_ID = "flow";

/**
 * Formats a research flow's events as UI message stream parts.
 *
 * Text parts open on an agent's first chunk and close on its `finish` (or when the flow ends),
 * so every delta has an open part: the client throws on a delta for a part it does not know.
 *
 * @example
 * ```ts
 * const sse = events
 *   .pipeThrough(uiMessageChunks({ messageId: runId }))
 *   .pipeThrough(uiMessageSse());
 * return new Response(sse.pipeThrough(new TextEncoderStream()), { headers: UI_MESSAGE_STREAM_HEADERS });
 * ```
 */
export function uiMessageChunks(
  options: UIMessageOptions = {},
): TransformStream<UISourceEvent, UIMessageChunk> {
  const text = new Map<string, ReflowPartMetadata>();
  const reasoning = new Map<string, ReflowPartMetadata>();
  let answerReason: string | undefined;
  let ended = false;

  const meta = (role: string, node: string | undefined): ReflowPartMetadata =>
    node === undefined ? { role } : { role, node };
  const closeReasoning = (role: string, out: TransformStreamDefaultController<UIMessageChunk>) => {
    const open = reasoning.get(role);
    if (!open) return;
    reasoning.delete(role);
    out.enqueue({ type: "reasoning-end", id: role, providerMetadata: { reflow: open } });
  };
  const closeText = (
    role: string,
    out: TransformStreamDefaultController<UIMessageChunk>,
    finishReason?: string,
  ) => {
    const open = text.get(role);
    if (!open) return;
    text.delete(role);
    const reflow = finishReason === undefined ? open : { ...open, finishReason };
    out.enqueue({ type: "text-end", id: role, providerMetadata: { reflow } });
  };
  const closeAll = (out: TransformStreamDefaultController<UIMessageChunk>) => {
    for (const role of [...reasoning.keys()]) closeReasoning(role, out);
    for (const role of [...text.keys()]) closeText(role, out);
  };

  return new TransformStream<UISourceEvent, UIMessageChunk>({
    start(out) {
      out.enqueue(
        options.messageId === undefined
          ? { type: "start" }
          : { type: "start", messageId: options.messageId },
      );
      for (const part of options.preamble ?? []) out.enqueue(part);
    },
    transform(event, out) {
      if (ended) return;
      switch (event.type) {
        case "node":
          out.enqueue({ type: "data-node", id: event.id, data: { state: event.state } });
          return;
        case "reasoning": {
          if (!reasoning.has(event.role)) {
            const open = meta(event.role, event.node);
            reasoning.set(event.role, open);
            out.enqueue({
              type: "reasoning-start",
              id: event.role,
              providerMetadata: { reflow: open },
            });
          }
          out.enqueue({ type: "reasoning-delta", id: event.role, delta: event.text });
          return;
        }
        case "chunk": {
          if (!text.has(event.role)) {
            // The answer follows the thinking: show the reasoning as finished.
            closeReasoning(event.role, out);
            const open = meta(event.role, event.node);
            text.set(event.role, open);
            out.enqueue({ type: "text-start", id: event.role, providerMetadata: { reflow: open } });
          }
          out.enqueue({ type: "text-delta", id: event.role, delta: event.text });
          return;
        }
        case "usage":
          out.enqueue({
            type: "data-usage",
            id: event.role ?? FLOW_USAGE_ID,
            data: event.role === undefined
              ? { ...event.usage }
              : { role: event.role, ...(event.node ? { node: event.node } : {}), ...event.usage },
          });
          return;
        case "finish":
          if (event.role === "answer") answerReason = event.finishReason;
          closeReasoning(event.role, out);
          closeText(event.role, out, event.finishReason);
          return;
        case "answer":
          return; // already streamed as the `answer` role's text part
        case "done":
          ended = true;
          closeAll(out);
          out.enqueue({ type: "finish", finishReason: finishReason(answerReason) });
          return;
        case "error":
          ended = true;
          closeAll(out);
          out.enqueue({ type: "error", errorText: event.message });
          out.enqueue({ type: "finish", finishReason: "error" });
          return;
      }
    },
  });
}

/** The OpenAI-style finish reasons the LLM layer reports, as the `finish` part names them. */
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

/**
 * Frames parts as the AI SDK does: `data: {json}` and a blank line each, then `data: [DONE]` when
 * the stream ends. `id(part)` may give an SSE `id:` for each frame (a run's sequence numbers, for
 * resuming); the client ignores it.
 */
export function uiMessageSse(
  id?: (part: UIMessageChunk) => string | number | undefined,
): TransformStream<UIMessageChunk, string> {
  return new TransformStream<UIMessageChunk, string>({
    transform(part, out) {
      const n = id?.(part);
      out.enqueue(`${n === undefined ? "" : `id: ${n}\n`}data: ${JSON.stringify(part)}\n\n`);
    },
    flush(out) {
      out.enqueue("data: [DONE]\n\n");
    },
  });
}

/**
 * The response headers of a UI message stream (`ai`'s `UI_MESSAGE_STREAM_HEADERS`, without the
 * hop-by-hop `connection`, which HTTP/2 and Workers refuse): `x-vercel-ai-ui-message-stream: v1`
 * tells the AI SDK what it reads.
 */
export const UI_MESSAGE_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-vercel-ai-ui-message-stream": "v1",
  "x-accel-buffering": "no",
});
