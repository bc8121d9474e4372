/**
 * Serves a fetch handler over HTTP/1.1 with time limits on the way in, under Node and under Deno
 * alike: both run `node:http` (through @hono/node-server), because Deno.serve has no header, request
 * or keep-alive timeout at all, so a client that trickles its headers, or opens a connection and
 * sends nothing, would hold a socket forever.
 *
 * - headers must be complete within `headersTimeoutMs` of the connection or of the previous
 *   response (else `408` and the connection closes);
 * - the whole request within `requestTimeoutMs` (a backstop behind the app's own body time limit,
 *   which answers a stalled body with its own `408` first);
 * - an idle keep-alive connection closes after `keepAliveTimeoutMs`.
 *
 * @module
 */

/** Time limits on the way in. */
export interface ListenLimits {
  /** Headers complete within this many ms (default 15,000). */
  headersTimeoutMs: number;
  /** The whole request, body included, within this many ms (default 35,000). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this many ms (default 5,000). */
  keepAliveTimeoutMs: number;
}

/** The defaults, as the README documents them. */
export const LISTEN_LIMITS: Readonly<ListenLimits> = Object.freeze({
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 35_000,
  keepAliveTimeoutMs: 5_000,
});

/** A running server: its URL and how to stop it. */
export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What {@link listen} serves. */
export type FetchHandler = (request: Request, env: unknown) => Response | Promise<Response>;

/**
 * Listens on `hostname:port` (port 0: any free one) and serves `handler`; `env` is what
 * {@link clientAddress} reads.
 *
 * @example
 * ```ts
 * const server = await listen(app.fetch, { port: 8787, hostname: "127.0.0.1" });
 * console.log(server.url);
 * await server.close();
 * ```
 */
export async function listen(
  handler: FetchHandler,
  options: { port: number; hostname: string; limits?: Partial<ListenLimits> },
): Promise<Listening> {
  const limits = { ...LISTEN_LIMITS, ...options.limits };
  const requestTimeout = Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs);
  const { serve } = await import("@hono/node-server");
  let server!: ReturnType<typeof serve>;
  const info = await new Promise<{ port: number }>((resolve, reject) => {
    server = serve({
      fetch: handler,
      port: options.port,
      hostname: options.hostname,
      serverOptions: {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // How often node:http checks the two limits above (its default, 30 s, would let them
        // overrun by that much).
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, limits.headersTimeoutMs / 2)),
      },
    }, resolve);
    server.once("error", reject);
  });
  server.on("clientError", answerClientError);
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  return {
    url: `http://${host}:${info.port}`,
    port: info.port,
    close: () => {
      const http = server as unknown as {
        closeIdleConnections?: () => void;
        closeAllConnections?: () => void;
      };
      // Connections become idle as their flows end (the caller aborts them): close those as
      // they do, rather than wait for their keep-alive to run out.
      const sweep = setInterval(() => http.closeIdleConnections?.(), 50);
      return withLimit(
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          http.closeIdleConnections?.();
        }),
        3_000,
      ).then(() => {
        clearInterval(sweep);
        // Whatever is still open after the grace period (a client that never reads) is cut.
        http.closeAllConnections?.();
      });
    },
  };
}

const CLIENT_ERRORS: Record<string, [number, string, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    "Request Timeout",
    "request_timeout",
    "the request did not arrive in time",
  ],
  HPE_HEADER_OVERFLOW: [
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    "the request headers are too large",
  ],
};

/**
 * What node:http answers a request it cannot parse or that ran out of time, as JSON like every
 * other error of the app (`{ error, code }`), when nothing of a response was sent yet.
 */
// deno-lint-ignore no-explicit-any
function answerClientError(error: { code?: string }, socket: any): void {
  if (socket.writable && !socket._httpMessage?.headersSent && error.code !== "ECONNRESET") {
    const [status, reason, code, message] = CLIENT_ERRORS[error.code ?? ""] ??
      [400, "Bad Request", "malformed_request", "the request is not valid HTTP/1.1"];
    const body = JSON.stringify({ error: message, code });
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The client's address as node:http saw the connection (`env` from {@link listen}). */
export function clientAddress(_request: Request, env: unknown): string | undefined {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)
    ?.incoming;
  return incoming?.socket?.remoteAddress;
}

function withLimit(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then(() => {}, () => {}),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}
