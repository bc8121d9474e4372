/**
 * Reading a request body the way a server facing the open internet must: its size checked from
 * `Content-Length` before a byte is read (413), counted while reading when there is none (413),
 * a time limit on the whole body (408), and a body the runtime cannot decode (malformed or cut-off
 * chunked encoding, a connection dropped mid-body) reported as the client's fault (400), on every
 * runtime alike.
 *
 * @module
 */

/** What went wrong reading a body, as the response will say it. */
export interface BodyProblem {
  status: 400 | 408 | 413;
  /** Stable: `body_too_large`, `body_timeout`, `body_unreadable`. */
  code: string;
  error: string;
  /** The connection should close after the answer: the body was not read to its end. */
  close: boolean;
}

/** Limits for {@link readBody}. */
export interface BodyLimits {
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** The whole body must arrive within this many ms of the call. */
  timeoutMs: number;
}

/**
 * Reads `request`'s body as UTF-8 text within `limits`, or says why not.
 *
 * @example
 * ```ts
 * const body = await readBody(c.req.raw, { maxBytes: 16_384, timeoutMs: 15_000 });
 * if (typeof body !== "string") return c.json({ error: body.error, code: body.code }, body.status);
 * ```
 */
export async function readBody(
  request: Request,
  limits: BodyLimits,
): Promise<string | BodyProblem> {
  const tooLarge: BodyProblem = {
    status: 413,
    code: "body_too_large",
    error: `the request body is larger than ${limits.maxBytes} bytes`,
    close: true,
  };
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limits.maxBytes) {
    return tooLarge;
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limits.timeoutMs);
  });
  try {
    for (;;) {
      const step = await Promise.race([reader.read(), timedOut]);
      if (step === "timeout") {
        // Not cancelled: on Node, cancelling the body destroys the socket before the 408 is out.
        release(reader);
        return {
          status: 408,
          code: "body_timeout",
          error: `the request body did not arrive within ${limits.timeoutMs} ms`,
          close: true,
        };
      }
      if (step.done) break;
      size += step.value.byteLength;
      if (size > limits.maxBytes) {
        release(reader);
        return tooLarge;
      }
      chunks.push(step.value);
    }
  } catch {
    return {
      status: 400,
      code: "body_unreadable",
      error: "the request body could not be read: malformed or cut-off (check Transfer-Encoding " +
        "and Content-Length)",
      close: true,
    };
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Lets go of the body (a read may still be pending: it is rejected, and that is handled). */
function release(reader: ReadableStreamDefaultReader<Uint8Array>): void {
  try {
    reader.releaseLock();
  } catch {
    // Runtimes before the spec change throw while a read is pending; the lock then stays.
  }
}
