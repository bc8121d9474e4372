import type { Message } from "./message.ts";

/** Default number of packets a connection holds before `send` waits. */
export const DEFAULT_CAPACITY = 64;

/**
 * One edge of the graph: a `TransformStream` whose readable side holds up to `capacity` packets.
 * A write resolves once the packet is in that queue (or taken by the reader), so a full queue makes
 * the sender wait — the backpressure every `ctx.send` feels.
 *
 * @example
 * ```ts
 * const edge = openConnection(2);
 * await edge.writer.write(Message.string("a"));
 * (await edge.reader.read()).value; // { type: "String", data: "a" }
 * ```
 */
export interface OpenConnection {
  readonly writer: WritableStreamDefaultWriter<Message>;
  readonly reader: ReadableStreamDefaultReader<Message>;
}

export function openConnection(capacity: number): OpenConnection {
  // Writable HWM 1 and an identity transform: the readable queue is the only buffer, so its
  // capacity is exactly what the connection accepts while the consumer is busy.
  const stream = new TransformStream<Message, Message>(
    undefined,
    { highWaterMark: 1 },
    { highWaterMark: capacity },
  );
  return { writer: stream.writable.getWriter(), reader: stream.readable.getReader() };
}

/**
 * Tears a connection down: cancels the reader (which errors the writable side and releases any
 * write blocked on backpressure) and aborts the writer, awaiting both so that no stream is left
 * half-closed (workerd has crashed on connections torn down without awaiting).
 */
export async function closeConnection(edge: OpenConnection, reason: unknown): Promise<void> {
  await Promise.allSettled([edge.reader.cancel(reason), edge.writer.abort(reason)]);
}
