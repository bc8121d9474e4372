/**
 * Helpers for the HTTP tests: an SSE reader, a token counter around the offline model, and small
 * request builders. No mocks: the app, the flow and the offline model are the real ones.
 */
import { createOfflineModel, type OfflineModelOptions } from "../src/llm/offline_model.ts";

export const SENTINEL_KEY = "sk-SENTINEL-never-show-me-7f3a9c";

/** One Server-Sent Events frame. */
export interface Frame {
  event: string;
  // deno-lint-ignore no-explicit-any
  data: any;
}

/** Reads SSE frames from a response body, one at a time, as they arrive. */
export function sseReader(body: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>;
  const reader = body.pipeThrough(decoder).getReader();
  let buffer = "";
  return {
    /** The next frame, or undefined at the end of the stream. */
    async next(): Promise<Frame | undefined> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of raw.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          }
          return { event, data: data.length ? JSON.parse(data.join("\n")) : undefined };
        }
        const { done, value } = await reader.read();
        if (done) {
          if (buffer.trim() !== "") throw new Error(`stream ended inside a frame: ${buffer}`);
          return undefined;
        }
        buffer += value;
      }
    },
    cancel: (reason?: unknown) => reader.cancel(reason),
  };
}

/** Every frame of a response, until the end. */
export async function allFrames(body: ReadableStream<Uint8Array>): Promise<Frame[]> {
  const reader = sseReader(body);
  const frames: Frame[] = [];
  for (let f = await reader.next(); f; f = await reader.next()) frames.push(f);
  return frames;
}

/**
 * The offline model, plus a count of the tokens its responses have actually handed to the client
 * (each `data:` event with content that was read out of a response body) and their bytes.
 */
export function countedModel(options: OfflineModelOptions = {}) {
  const model = createOfflineModel(options);
  const counter = { tokens: 0, bytes: 0 };
  const count = (res: Response): Response => {
    if (!res.body || !res.headers.get("content-type")?.includes("text/event-stream")) return res;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        counter.bytes += value.byteLength;
        counter.tokens += (decoder.decode(value, { stream: true }).match(/"content":/g) ?? [])
          .length;
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  return {
    model,
    counter,
    /** In-process fetch with counting. */
    fetch: async (input: RequestInfo | URL, init?: RequestInit) =>
      count(await model.fetch(input, init)),
    /** The HTTP handler with counting (for a model served on a port). */
    handle: async (req: Request) => count(await model.handle(req)),
  };
}

/** A JSON POST to /research. */
export function researchRequest(
  body: unknown,
  { query = "", headers = {} }: { query?: string; headers?: Record<string, string> } = {},
): [string, RequestInit] {
  return [`/research${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  }];
}

/** Waits until `read()` stops changing (same value `turns` polls in a row) and returns it. */
export async function settled(read: () => number, turns = 5, everyMs = 20): Promise<number> {
  let last = read();
  let same = 0;
  while (same < turns) {
    await new Promise((r) => setTimeout(r, everyMs));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Waits until `ok()` holds, polling; throws after `limitMs` (a bound, not an assertion on time). */
export async function eventually(
  ok: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 5_000,
): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
