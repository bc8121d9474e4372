/**
 * Helpers for the HTTP tests: an SSE reader, a token counter around the offline model, and small
 * request builders. No mocks: the app, the flow and the offline model are the real ones.
 */
import {
  createOfflineModel,
  type OfflineFault,
  type OfflineModelOptions,
} from "../src/llm/offline_model.ts";
import type { LlmConfig } from "../src/llm/config.ts";
import { createApp } from "../routes/app.ts";
import { serve } from "./serve.ts";

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
          // A block of comments only (the server's `: keep-alive`) is no event.
          if (raw.split("\n").every((line) => line.startsWith(":"))) continue;
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

// --- Model-server faults (test/faults.test.ts, test/security.test.ts) ---

/** How the app reaches the model: the offline model's in-process fetch, or a loopback port. */
export type Transport = "in-process" | "loopback";

export const MODEL = "fault-model:1b";
export const IN_PROCESS_URL = "http://model.internal.test/v1";
export const NODE_OF: Record<string, string> = {
  facts: "factual",
  stats: "statistician",
  quotes: "quoter",
  answer: "synth",
};
export const SPECIALIST_ROLES = ["facts", "stats", "quotes"];

/** One fault: what the offline model does wrong, and what the client must be told. */
export interface FaultCase {
  name: string;
  /** The misbehaving role (absent: every role, as for a server that is down). */
  role?: string;
  fault?: OfflineFault;
  /** No model server at all: the base URL points at a port nobody listens on. */
  refused?: boolean;
  /** What the error message must say about the failure (the server log; verbose errors). */
  says: RegExp;
  /** The stable code a client is shown (routes/errors.ts). */
  code: RegExp;
}

/**
 * First-token and idle limits of the stall faults, the only cases that set them (the others keep
 * the defaults: nothing there is about time). Short, so a stall fails fast; but they bind the
 * healthy siblings too, whose first token must come within it however loaded the machine is:
 * 300 ms, then 1 s, were each seen exceeded on the shared 2-core machine at load 12–17.
 */
export const FAULT_TIMEOUT_MS = 2_000;

/** Whether `c`'s fault is a stall: the case the first-token and idle limits are about. */
export function stalls(c: FaultCase): boolean {
  return c.fault?.stallBeforeFirstTokenMs !== undefined || c.fault?.stallAfterTokens !== undefined;
}

/** Each fault is limited to one specialist (stats), so its siblings are mid-stream when it hits. */
export const FAULTS: FaultCase[] = [
  {
    name: "connection refused",
    refused: true,
    says: /no model server answers.*connection refused/,
    code: /^unreachable$/,
  },
  {
    name: "401 (wrong API key)",
    role: "stats",
    fault: { requireKey: "the-right-key" },
    says: /refused the API key/,
    code: /^unauthorized$/,
  },
  {
    name: "404 (unknown model)",
    role: "stats",
    fault: { status: 404 },
    says: /not found/,
    code: /^model_not_found$/,
  },
  {
    name: "500",
    role: "stats",
    fault: { status: 500 },
    says: /failed for model.*500/,
    code: /^server_error$/,
  },
  {
    name: "stall before the first token",
    role: "stats",
    fault: { stallBeforeFirstTokenMs: 60_000 },
    says: new RegExp(`no first token .* within ${FAULT_TIMEOUT_MS} ms`),
    code: /^timeout$/,
  },
  {
    name: "stall mid-stream",
    role: "stats",
    fault: { stallAfterTokens: 3 },
    says: new RegExp(`went silent for more than ${FAULT_TIMEOUT_MS} ms mid-stream`),
    code: /^timeout$/,
  },
  {
    name: "garbage SSE",
    role: "stats",
    fault: { garbage: true },
    says: /malformed stream/,
    code: /^bad_stream$/,
  },
  {
    name: "connection dropped mid-stream",
    role: "stats",
    fault: { dropAfterTokens: 3 },
    says: /malformed stream|reported an error mid-stream|connection/,
    code: /^(bad_stream|server_error|unreachable)$/,
  },
];

/** A port that was just freed: connecting to it is refused. */
export async function freedPortUrl(): Promise<string> {
  const served = await serve(() => Promise.resolve(new Response("gone")));
  await served.close();
  return `${served.url}/v1`;
}

/** Per-request records from the offline model's `onRequest`. */
export interface Seen {
  role: string;
  aborted: boolean;
  ended: Promise<void>;
}

/**
 * An app over the offline model with `c`'s fault, reached in-process or over loopback. Roles other
 * than the faulty one stream slowly (`siblingDelayMs` per token) so they are mid-stream at the fault.
 */
export async function faultyApp(
  c: FaultCase,
  { transport = "in-process", siblingDelayMs = 100, policy, verboseErrors }: {
    transport?: Transport;
    siblingDelayMs?: number;
    policy?: "fail-fast" | "continue";
    /** Show clients the full (scrubbed) error, as an operator may choose. */
    verboseErrors?: boolean;
  } = {},
) {
  const seen: Seen[] = [];
  const options: OfflineModelOptions = {
    tokenDelayMs: siblingDelayMs,
    pacing: c.role ? { [c.role]: { tokenDelayMs: 1 } } : {},
    fault: c.fault ? { ...c.fault, roles: c.role ? [c.role] : undefined } : undefined,
    onRequest: (info) => {
      const s: Seen = { role: info.role, aborted: false, ended: info.ended };
      info.aborted.then(() => (s.aborted = true));
      seen.push(s);
    },
  };
  const m = countedModel(options);
  const served = transport === "loopback" && !c.refused ? await serve(m.handle) : undefined;
  const baseURL = c.refused ? await freedPortUrl() : served ? `${served.url}/v1` : IN_PROCESS_URL;
  const llm: LlmConfig = {
    baseURL,
    model: MODEL,
    apiKey: SENTINEL_KEY,
    maxRetries: 0,
    ...(stalls(c)
      ? { firstTokenTimeoutMs: FAULT_TIMEOUT_MS, idleTimeoutMs: FAULT_TIMEOUT_MS }
      : {}),
    // Under workerd serve() is in-process: use its fetch. In-process: the model's own fetch.
    fetch: c.refused ? undefined : served ? served.fetch : m.fetch,
  };
  /** What the app wrote to the server log. */
  const logged: string[] = [];
  const app = createApp({ llm, policy, verboseErrors, log: (line) => logged.push(line) });
  return {
    app,
    model: m.model,
    seen,
    baseURL,
    logged,
    async close() {
      await served?.close();
    },
  };
}

// --- Event streams with ids (runs) ---------------------------------------------------------------

/** An SSE frame as sent: its text (with the blank line) and its parsed fields, `id:` included. */
export interface RawFrame {
  text: string;
  id?: number;
  event?: string;
  // deno-lint-ignore no-explicit-any
  data?: any;
}

/** The frames' text, joined: what a client received, byte for byte (comments aside). */
export function framesText(frames: RawFrame[]): string {
  return frames.map((f) => f.text).join("");
}

/**
 * The frames of an event stream as they arrive: `until(stop)` reads on until `stop` holds (and
 * resolves with that frame) or the stream ends (undefined); `all` holds every frame so far.
 * Comments (keep-alives) are dropped; a partial frame at the end is discarded, as `EventSource`
 * does.
 */
export function frameStream(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(
    new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>,
  ).getReader();
  let buffer = "";
  const all: RawFrame[] = [];
  return {
    all,
    async until(stop: (f: RawFrame) => boolean): Promise<RawFrame | undefined> {
      for (;;) {
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const text = buffer.slice(0, end + 2);
          buffer = buffer.slice(end + 2);
          if (text.startsWith(":")) continue;
          const frame: RawFrame = { text };
          for (const line of text.split("\n")) {
            if (line.startsWith("id: ")) frame.id = Number(line.slice(4));
            else if (line.startsWith("event: ")) frame.event = line.slice(7);
            else if (line.startsWith("data: ")) frame.data = JSON.parse(line.slice(6));
          }
          all.push(frame);
          if (stop(frame)) return frame;
        }
        const { done, value } = await reader.read();
        if (done) return undefined;
        buffer += value;
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/**
 * Reads complete frames from a response (or its body) until `stop(frame)` holds (then
 * disconnects: `ended` false) or the stream ends (`ended` true).
 */
export async function readUntil(
  from: Response | ReadableStream<Uint8Array>,
  stop: (f: RawFrame) => boolean = () => false,
): Promise<{ frames: RawFrame[]; ended: boolean }> {
  const frames = frameStream(from instanceof Response ? from.body! : from);
  if (await frames.until(stop)) {
    await frames.cancel();
    return { frames: frames.all, ended: false };
  }
  return { frames: frames.all, ended: true };
}
