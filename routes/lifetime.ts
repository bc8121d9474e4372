/**
 * A streamed response body that cannot outlive its client: keep-alive comments while the flow is
 * quiet (each one is a write, which is how workerd finds out that a client left before the body
 * started flowing: it reports nothing until a write fails), and a stall limit that ends the flow
 * and errors the body when the client stops reading (nothing waits on a reader that never reads).
 *
 * @module
 */

/** The client stopped reading: what {@link guardBody} cancels the source with. */
export class ClientStalledError extends Error {
  override name = "ClientStalledError";
  /**
   * `deadlineMs`: set when the flow's time limit had passed, and the client left its last frames
   * untaken for a tick (see {@link GuardOptions.deadlineMs}).
   */
  constructor(readonly stallMs: number, readonly deadlineMs?: number) {
    super(
      deadlineMs === undefined
        ? `the client read nothing for ${stallMs} ms; the flow was stopped`
        : `the flow's time limit (${deadlineMs} ms) passed and the client took none of its ` +
          `last frames; the stream was cancelled`,
    );
  }
}

/** Options of {@link guardBody}. */
export interface GuardOptions {
  /**
   * Written when the client waits for data and the source has had none for `keepAliveMs` (an SSE
   * comment such as `": keep-alive\n\n"`). Leave it out for bodies that cannot carry one (text).
   */
  keepAlive?: Uint8Array;
  /** Default 15,000 ms. */
  keepAliveMs?: number;
  /**
   * When the source has data the client has not taken for this long, the source is cancelled with
   * a {@link ClientStalledError} and the body errored (the connection is then closed). Default
   * 30,000 ms.
   */
  stallMs?: number;
  /**
   * The flow's time limit, counted from now (the app's `timeoutMs`). Once it has passed, the flow
   * is over (or about to be) and only its last frames are left, ending with its `error` frame:
   * they go out only to a client that takes them. A chunk left untaken for a whole tick (at most
   * a second) then ends the body as the stall limit would, so nothing waits on a client that
   * stopped reading past the time limit by more than a tick or two. Default: none.
   */
  deadlineMs?: number;
  /** Called once when the stall limit (or the time limit, see `deadlineMs`) ends the body. */
  onStall?: (error: ClientStalledError) => void;
  /**
   * Called on every tick of the guard's timer (at most a second apart) while the body lives: a
   * sign of life. workerd stops every timer and promise of a request whose client left, without
   * always saying so; a flow whose ticks stop is gone (see AppConfig.silentFlowMs).
   */
  onTick?: () => void;
}

/** The defaults, as the README documents them. */
export const GUARD_LIMITS = Object.freeze({ keepAliveMs: 15_000, stallMs: 30_000 });

/**
 * Wraps `source` (a response body) so that it keeps the connection alive while quiet and ends when
 * its client stops reading. It reads one chunk ahead of the client: that chunk waiting is how a
 * stalled client is told from a quiet source. Cancelling the result cancels `source`.
 *
 * @example
 * ```ts
 * const body = guardBody(researchStream(topic, options), {
 *   keepAlive: new TextEncoder().encode(": keep-alive\n\n"),
 * });
 * return new Response(body, { headers });
 * ```
 */
export function guardBody(
  source: ReadableStream<Uint8Array>,
  options: GuardOptions = {},
): ReadableStream<Uint8Array> {
  const keepAliveMs = options.keepAliveMs ?? GUARD_LIMITS.keepAliveMs;
  const stallMs = options.stallMs ?? GUARD_LIMITS.stallMs;
  const reader = source.getReader();
  // Counters, not clocks: nothing per chunk but an increment; a coarse timer compares them.
  let pulls = 0;
  let arrivals = 0;
  let waiting: Uint8Array | undefined; // the chunk read ahead, not yet taken by the client
  let wanted = false; // the client asked for data that has not come yet
  let ended = false; // the source is done (or failed); nothing more will be read
  let closed = false; // the body is closed or errored
  let reading = false;
  let body!: ReadableStreamDefaultController<Uint8Array>;
  let timer: ReturnType<typeof setInterval> | undefined;

  const stop = () => {
    clearInterval(timer);
    timer = undefined;
  };
  const deliver = () => {
    if (!wanted || closed) return;
    if (waiting !== undefined) {
      wanted = false;
      const chunk = waiting;
      waiting = undefined;
      body.enqueue(chunk);
      readAhead();
    } else if (ended && !closed) {
      wanted = false;
      closed = true;
      stop();
      body.close();
    }
  };
  const fail = (error: unknown) => {
    ended = true;
    closed = true;
    waiting = undefined;
    stop();
    try {
      body.error(error);
    } catch {
      // already closed or errored
    }
  };
  const readAhead = () => {
    if (reading || ended || waiting !== undefined) return;
    reading = true;
    reader.read().then(({ done, value }) => {
      reading = false;
      if (closed) return; // cancelled or ended meanwhile: nobody takes it
      arrivals++;
      if (done) ended = true;
      else waiting = value;
      deliver();
    }, (error) => {
      reading = false;
      if (!closed) fail(error);
    });
  };

  // One timer per body, ticking a few times per limit; the limits are kept to within a tick.
  const tickMs = Math.max(10, Math.min(1_000, Math.min(keepAliveMs, stallMs) / 5));
  const stallTicks = Math.ceil(stallMs / tickMs);
  const keepAliveTicks = Math.ceil(keepAliveMs / tickMs);
  let lastPulls = -1;
  let lastArrivals = -1;
  let stalledFor = 0;
  let quietFor = 0;
  const deadline = options.deadlineMs === undefined ? undefined : Date.now() + options.deadlineMs;
  const tick = () => {
    options.onTick?.();
    // Stalled: a chunk (or the end) waits for the client, and it has not asked since the last
    // tick. After the last chunk the runtime asks again once it has written it to the socket, so
    // a client that stopped reading is caught here too, with the rest still in the socket.
    const pending = waiting !== undefined || (ended && !closed);
    stalledFor = pending && !wanted && pulls === lastPulls ? stalledFor + 1 : 0;
    // Quiet: the client waits for data, and none has come since the last tick.
    quietFor = wanted && arrivals === lastArrivals ? quietFor + 1 : 0;
    lastPulls = pulls;
    lastArrivals = arrivals;
    // Past the flow's time limit a chunk untaken for a whole tick (two ticks in a row) is enough.
    const expired = deadline !== undefined && Date.now() >= deadline && stallTicks > 2;
    if (stalledFor >= (expired ? 2 : stallTicks)) {
      const error = new ClientStalledError(stallMs, expired ? options.deadlineMs : undefined);
      fail(error);
      options.onStall?.(error);
      reader.cancel(error).catch(() => {});
    } else if (quietFor >= keepAliveTicks && options.keepAlive && !closed) {
      quietFor = 0;
      wanted = false;
      body.enqueue(options.keepAlive);
    }
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      body = controller;
      timer = setInterval(tick, tickMs);
      // Not holding a Node or Deno process open just for this.
      (timer as { unref?: () => void }).unref?.();
      readAhead();
    },
    pull() {
      pulls++;
      wanted = true;
      deliver();
    },
    async cancel(reason) {
      ended = true;
      closed = true;
      waiting = undefined;
      stop();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * `body`, unchanged, calling `onEnd` once when it is over: read to its end, failed, or cancelled by
 * its reader. For a body that is passed on from elsewhere (the Worker forwarding a run's Durable
 * Object's stream), whose end is the end of the flow it carries.
 *
 * @example
 * ```ts
 * return new Response(onSettled(res.body, () => admission.release()), res);
 * ```
 */
export function onSettled(
  body: ReadableStream<Uint8Array>,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let over = false;
  const end = () => {
    if (over) return;
    over = true;
    onEnd();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
