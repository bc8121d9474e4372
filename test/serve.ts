/**
 * A real HTTP server on loopback for tests, on whichever runtime runs them. Under workerd, which
 * cannot listen, the handler is reached in-process through the returned `fetch` instead.
 */
import { runtime } from "./harness.ts";

export interface Served {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Set under workerd only: pass it as `fetch` to the client, since `url` is not listening. */
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  close(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Serves `handler` on 127.0.0.1 with a free port. */
export async function serve(handler: (req: Request) => Promise<Response>): Promise<Served> {
  if (runtime === "deno") {
    const server = g.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
    return {
      url: `http://127.0.0.1:${server.addr.port}`,
      // A stalled stream would keep a graceful shutdown waiting; tests end their own streams.
      close: () => withLimit(server.shutdown(), 2_000),
    };
  }
  if (runtime === "workerd") {
    return {
      url: "http://offline.invalid",
      fetch: (input, init) => handler(new Request(input, init)),
      close: () => Promise.resolve(),
    };
  }
  const { serve: nodeServe } = await import("@hono/node-server");
  let server!: ReturnType<typeof nodeServe>;
  const ready = new Promise<{ port: number }>((resolve, reject) => {
    server = nodeServe({ fetch: handler, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info));
    server.once("error", reject);
  });
  const { port } = await ready;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      withLimit(
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Keep-alive sockets of the client would otherwise hold close() open.
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
        2_000,
      ),
  };
}

function withLimit(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then(() => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}
