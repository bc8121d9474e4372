/**
 * A run's log as the AI SDK's UI message stream (`?format=ui`): each logged research event
 * (`{ seq, type, data }`) becomes its UI message parts; the message id is the run id. A UI stream
 * is always the whole log from the start: the AI SDK rebuilds a message from its `start` part (its
 * chat transport replays on resume), and deltas without the part that opened them would fail.
 *
 * @module
 */
import type { ResearchEvent } from "../src/research/events.ts";
import { formatUi, UI_MESSAGE_STREAM_HEADERS } from "../src/research/ui_message_stream.ts";
import { KEEP_ALIVE } from "../src/runs/sse.ts";
import type { LoggedEvent } from "../src/runs/store.ts";

/** The headers of a UI message stream answer, plus `extra`. */
export function uiHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { ...UI_MESSAGE_STREAM_HEADERS, ...extra };
}

/**
 * Encodes a viewer's batches ({@link Runs.watch}, from seq 0) as the UI message stream of run
 * `id`; an empty batch becomes a keep-alive comment (the SDK's parser skips comments). The run's
 * own first event (`run`) has no part. Cancelling the result cancels the viewer.
 */
export function runEventsToUi(
  batches: ReadableStream<LoggedEvent[]>,
  id: string,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const reader = batches.getReader();
  const format = formatUi({ messageId: id });
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          if (value.length === 0) return controller.enqueue(encoder.encode(KEEP_ALIVE));
          let text = "";
          for (const logged of value) {
            if (logged.type === "run") continue;
            const event = { ...JSON.parse(logged.data), event: logged.type } as ResearchEvent;
            text += format(event);
          }
          if (text) return controller.enqueue(encoder.encode(text));
        }
      } catch (error) {
        controller.error(error);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
