/**
 * A run's log as Server-Sent Events: every frame carries `id: <seq>`, so a client that reconnects
 * with `Last-Event-ID` (or `?after=`) continues exactly where it stopped. The frames are a pure
 * function of the logged event, so a replay is byte for byte what was sent live.
 *
 * @module
 */
import type { LoggedEvent } from "./store.ts";

/** The comment sent when nothing happened for a while, so proxies keep the stream open. */
export const KEEP_ALIVE = ": keep-alive\n\n";

/**
 * One SSE frame for a logged event. Its data is JSON text, which never holds a raw newline, so it
 * is always one `data:` line.
 *
 * @example
 * ```ts
 * runEventFrame({ seq: 3, type: "chunk", data: '{"role":"facts","text":"Zero"}' });
 * // 'id: 3\nevent: chunk\ndata: {"role":"facts","text":"Zero"}\n\n'
 * ```
 */
export function runEventFrame(event: LoggedEvent): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${event.data}\n\n`;
}

/**
 * Encodes a viewer's batches ({@link Runs.watch}) as SSE bytes; an empty batch becomes a
 * keep-alive comment. Cancelling the result cancels the viewer.
 */
export function runEventsToSse(batches: ReadableStream<LoggedEvent[]>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const reader = batches.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        const text = value.length === 0 ? KEEP_ALIVE : value.map(runEventFrame).join("");
        controller.enqueue(encoder.encode(text));
      } catch (error) {
        controller.error(error);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
