/**
 * The research flow as an HTTP response body: the flow's event stream (researchEvents) rendered
 * by one formatter (SSE or the seed's text) and encoded as it is read, with backpressure end to
 * end and cancellation from either side.
 *
 * @module
 */
import type { LlmConfig } from "../src/llm/config.ts";
import type { ResearchEvent } from "../src/research/events.ts";
import { formatSse, formatText, type ResearchFormat } from "../src/research/format.ts";
import { formatUi } from "../src/research/ui_message_stream.ts";
import { researchEvents, type ResearchEventsOptions } from "../src/research/research_events.ts";
import { describe } from "../src/errors.ts";
import { scrubSecret } from "../src/llm/errors.ts";
import { DEFAULT_CAPACITY } from "../src/connection.ts";
import { afterThisTurn } from "../src/turn.ts";

/**
 * `sse`: Server-Sent Events (`chunk`, `node`, `answer`, `done` / `error`). `text`: the seed's text.
 * `ui`: the AI SDK's UI message stream (what `useChat` reads).
 */
export type StreamFormat = "sse" | "text" | "ui";

export type { NodeState } from "../src/research/events.ts";

/**
 * What {@link researchStream} takes: the flow's own options (researchEvents'; the app passes the
 * client's request signal as `signal`: aborting it stops the flow and every model request), how
 * to render it, and when it has ended.
 */
export interface ResearchStreamOptions extends Omit<ResearchEventsOptions, "llm" | "onEnd"> {
  llm: LlmConfig;
  format: StreamFormat;
  /** The `ui` format's assistant message id (default: a random UUID). */
  messageId?: string;
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
  // Ours, not Hono's streamSSE: its body's cancel() returns before the flow and its model requests have ended (ours waits: disconnect.test.ts), and it pulls events ahead of a client that stopped reading (4 in a trial; ours none).
  const format: ResearchFormat = options.format === "sse"
    ? formatSse()
    : options.format === "ui"
    ? formatUi({ messageId: options.messageId ?? crypto.randomUUID() })
    : formatText();
  const { format: _format, messageId: _id, onEnd, ...flow } = options;
  const events = researchEvents(topic, {
    ...flow,
    describeError: flow.describeError ?? ((error) => errorMessage(error, flow.llm.apiKey)),
    onEnd: () => onEnd?.(),
  }).getReader();
  return coalesced(events, format, options.capacity ?? DEFAULT_CAPACITY);
}

/**
 * The body: events rendered by `format`, read at most `limit` frames ahead of the client, and
 * every frame ready when the client's connection takes more (all those of the event loop's turn)
 * sent as ONE chunk: one write to the socket, not one per token.
 */
function coalesced(
  events: ReadableStreamDefaultReader<ResearchEvent>,
  format: ResearchFormat,
  limit: number,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let ended = false;
  let cancelled = false;
  let failure: { error: unknown } | undefined;
  /** The body waits for a frame. */
  let wanted: (() => void) | undefined;
  /** The reader of events waits for room. */
  let room: (() => void) | undefined;
  const pump = async () => {
    try {
      for (;;) {
        if (pending.length >= limit) await new Promise<void>((resolve) => (room = resolve));
        const { done, value } = await events.read();
        if (done) break;
        const text = format(value);
        if (!text) continue;
        pending.push(text);
        const wake = wanted;
        wanted = undefined;
        wake?.();
      }
    } catch (error) {
      failure = { error };
    } finally {
      ended = true;
      wanted?.();
    }
  };
  pump();
  return new ReadableStream<Uint8Array>({
    async pull(body) {
      if (pending.length === 0 && !ended) {
        await new Promise<void>((resolve) => (wanted = resolve));
        // The rest of this turn's frames join the one that woke us.
        if (!ended) await afterThisTurn();
      }
      if (cancelled) return;
      if (pending.length > 0) {
        body.enqueue(encoder.encode(pending.length === 1 ? pending[0] : pending.join("")));
        pending = [];
        const free = room;
        room = undefined;
        free?.();
        return;
      }
      if (failure) body.error(failure.error);
      else body.close();
    },
    async cancel(reason) {
      cancelled = true;
      room?.();
      // Resolves only once the flow (and every model request) has ended.
      await events.cancel(
        reason ?? new DOMException("the response body was cancelled", "AbortError"),
      );
    },
  }, { highWaterMark: 0 });
}

/** One clear line for the client: the failing node and the model error, never the API key. */
export function errorMessage(error: unknown, apiKey?: string): string {
  // The LLM layer already scrubs its errors; this covers anything else that could echo the key.
  return scrubSecret(describe(error), apiKey);
}
