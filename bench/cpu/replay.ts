/**
 * The model side of `bench:cpu`: the four upstream SSE byte streams of one research flow, recorded
 * once from the offline model (zero delay) and replayed byte for byte, so that the server spends
 * nothing on generating them. Web-standard only: the same module runs under Node, Deno and workerd.
 *
 * @module
 */

/** The research roles, and the phrase of each one's system prompt that names it. */
export const ROLES = {
  facts: "factual researcher",
  stats: "statistician",
  quotes: "quote librarian",
  answer: "senior writer",
} as const;

export type Role = keyof typeof ROLES;

/** One flow's upstream: each role's response body, as the chunks the model server wrote. */
export type Recording = Record<Role, string[]>;

/** The role a chat-completions request body is for (by its system prompt), or undefined. */
export function roleOf(body: string): Role | undefined {
  for (const role in ROLES) if (body.includes(ROLES[role as Role])) return role as Role;
  return undefined;
}

/** A recording's chunks as bytes, encoded once. */
export type Replay = Record<Role, Uint8Array[]>;

export function encodeRecording(recording: Recording): Replay {
  const encoder = new TextEncoder();
  const out = {} as Replay;
  for (const role in ROLES) {
    out[role as Role] = recording[role as Role].map((c) => encoder.encode(c));
  }
  return out;
}

const HEADERS = { "content-type": "text/event-stream; charset=utf-8" };

/**
 * One role's recorded body as a streamed response: each chunk handed out when the reader asks
 * (the model is never the slow side), erroring when `signal` aborts, as a network body does.
 */
export function replayResponse(chunks: Uint8Array[], signal?: AbortSignal | null): Response {
  let next = 0;
  let onAbort: (() => void) | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (!signal) return;
      onAbort = () => {
        try {
          controller.error(signal.reason);
        } catch { /* already closed */ }
      };
      signal.addEventListener("abort", onAbort, { once: true });
    },
    pull(controller) {
      controller.enqueue(chunks[next++]);
      if (next === chunks.length) {
        controller.close();
        if (onAbort) signal!.removeEventListener("abort", onAbort);
      }
    },
    cancel() {
      if (onAbort) signal!.removeEventListener("abort", onAbort);
    },
  }, { highWaterMark: 0 });
  return new Response(body, { headers: HEADERS });
}

/**
 * An in-process `fetch` that answers chat-completions requests from the replay, by role. Any
 * request it cannot place is a 400 naming what it got, so a changed prompt fails loudly.
 */
export function replayFetch(replay: Replay): typeof fetch {
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    const body = typeof init?.body === "string" ? init.body : "";
    const role = roleOf(body);
    if (role === undefined) {
      return Promise.resolve(
        Response.json({
          error: { message: `bench replay: no role in request to ${String(input)}: ${body}` },
        }, { status: 400 }),
      );
    }
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    return Promise.resolve(replayResponse(replay[role], signal));
  }) as typeof fetch;
}
