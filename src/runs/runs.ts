/**
 * Runs: flows that outlive their connection. A run executes a flow whose events (a
 * `ReadableStream` of {@link RunEvent}s) are appended to a log with sequence numbers as they come;
 * any number of viewers read that log, each with its own cursor (never `tee()`), from any point:
 * what is stored first, then live. A viewer never slows the flow: the flow is paced by the log
 * write, except for a run started with a `lead` viewer (today's `POST /research`), which may get at
 * most `readAhead` events ahead of that one client.
 *
 * @module
 */
import { type LoggedEvent, type RunRecord, type RunStatus, type RunStore } from "./store.ts";
import { afterThisTurn } from "../turn.ts";

/** One event a flow reports: a name and JSON data. */
export interface RunEvent {
  type: string;
  data?: unknown;
}

/** A run as {@link Runs.info} describes it. */
export interface RunInfo {
  id: string;
  status: RunStatus;
  createdAt: number;
  finishedAt?: number;
  lastSeq: number;
  input: unknown;
  /** What the run's events came to so far (see {@link RunsOptions.reduce}). */
  summary?: unknown;
}

/** Options of {@link Runs}. */
export interface RunsOptions {
  store: RunStore;
  /** How long a finished run stays readable (default 3,600,000 ms: one hour). */
  ttlMs?: number;
  /** Most characters of event text one run may log; past it the run fails (default 4 MiB). */
  maxRunBytes?: number;
  /** Events buffered before they are written to the store in one transaction (default 64). */
  batchSize?: number;
  /** Longest an event waits in that buffer (default 25 ms); viewers see it at once anyway. */
  flushMs?: number;
  /** The clock (epoch ms). */
  now?: () => number;
  /** New run ids (default `crypto.randomUUID()`). */
  newId?: () => string;
  /** The message of the `error` event logged when a flow throws (default: "the run failed"). */
  errorMessage?: (error: unknown) => string;
  /** Folds each event into the run's summary (`GET /runs/{id}`); starts from `undefined`. */
  reduce?: (summary: unknown, event: RunEvent) => unknown;
}

/** What a new run executes and how. */
export interface StartOptions {
  /** Its id (default: a new one). A Durable Object passes the id it was created for. */
  id?: string;
  /** What started it, kept with the run (JSON, no secrets). */
  input?: unknown;
  /** Starts the flow; aborting `signal` (cancel) must end it and every request it made. */
  source: (signal: AbortSignal) => ReadableStream<RunEvent>;
  /**
   * With a lead viewer ({@link WatchOptions.lead}) attached, the flow may get at most this many
   * events ahead of it: a slow client then slows the flow (default: no pacing).
   */
  readAhead?: number;
  /** Cancel the run when its last viewer leaves (today's `POST /research`). */
  stopWhenUnwatched?: boolean;
  /** More fields for the first event, `run` (which always has `id`): e.g. the topic, for viewers. */
  announce?: Record<string, unknown>;
}

/** Options of {@link Runs.watch}. */
export interface WatchOptions {
  /** Aborting ends this viewer (a client that went away). */
  signal?: AbortSignal;
  /** This viewer paces the run (see {@link StartOptions.readAhead}). */
  lead?: boolean;
  /** After this long without an event, the stream yields an empty batch (default: never). */
  keepAliveMs?: number;
  /** Most events per batch (default 64; 1 for a lead viewer). */
  batch?: number;
  /**
   * Live, hand out a batch only once the event loop's current turn is over, so that every event
   * the turn logs goes in it (an SSE viewer then makes one write per turn instead of one per
   * event). Default false.
   */
  coalesce?: boolean;
}

/** Why a run was stopped from outside, and the message its `error` event carries. */
interface Stop {
  status: RunStatus;
  message: string;
}

interface Signal {
  promise: Promise<void>;
  resolve: () => void;
}

function signal(): Signal {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Live {
  id: string;
  lastSeq: number;
  flushedSeq: number;
  pending: LoggedEvent[];
  /** The batch flushed last, kept for viewers just behind the flush (no store read for them). */
  flushed: LoggedEvent[];
  bytes: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Made when a viewer waits; resolved (and dropped) by the next append or the end. */
  changed?: Signal;
  controller: AbortController;
  stop?: Stop;
  failed: boolean;
  finished: boolean;
  storeFailed?: boolean;
  viewers: number;
  stopWhenUnwatched: boolean;
  readAhead?: number;
  leader?: { cursor: number };
  leaderMoved: Signal;
  summary: unknown;
  ended: Promise<void>;
  /** Resolved when the run is finished here (by its pump, or by {@link Runs.forget}). */
  over: Signal;
}

/** How long a finished run stays readable unless told otherwise: one hour. */
export const DEFAULT_RUN_TTL_MS = 3_600_000;

const DEFAULTS = {
  ttlMs: DEFAULT_RUN_TTL_MS,
  maxRunBytes: 4 * 1024 * 1024,
  batchSize: 64,
  flushMs: 25,
};

/**
 * The runs of one process (or one Durable Object), over one {@link RunStore}.
 *
 * @example
 * ```ts
 * const runs = new Runs({ store: new MemoryRunStore() });
 * const id = runs.start({ input: { topic }, source: (signal) => researchEvents(topic, { signal }) });
 * const viewer = runs.watch(id, 0)!; // ReadableStream<LoggedEvent[]>: the log, then live
 * ```
 */
export class Runs {
  readonly store: RunStore;
  readonly ttlMs: number;
  readonly maxRunBytes: number;
  #batchSize: number;
  #flushMs: number;
  #now: () => number;
  #newId: () => string;
  #errorMessage: (error: unknown) => string;
  #reduce?: (summary: unknown, event: RunEvent) => unknown;
  #live = new Map<string, Live>();
  #lastSweep = -Infinity;

  constructor(options: RunsOptions) {
    this.store = options.store;
    this.ttlMs = options.ttlMs ?? DEFAULTS.ttlMs;
    this.maxRunBytes = options.maxRunBytes ?? DEFAULTS.maxRunBytes;
    this.#batchSize = Math.max(1, options.batchSize ?? DEFAULTS.batchSize);
    this.#flushMs = options.flushMs ?? DEFAULTS.flushMs;
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
    this.#errorMessage = options.errorMessage ?? (() => "the run failed");
    this.#reduce = options.reduce;
  }

  /** Runs in flight here. */
  get active(): number {
    return this.#live.size;
  }

  /**
   * Marks every run the store holds as `running` but nobody here executes (the process or the
   * Durable Object restarted mid-run) `interrupted`, with an `error` event saying so. Call once,
   * before starting runs. Returns their ids.
   */
  recover(
    message = "the run was interrupted: its server restarted before it finished",
  ): string[] {
    const ids = this.store.unfinished().filter((id) => !this.#live.has(id));
    for (const id of ids) {
      const run = this.store.get(id);
      if (!run) continue;
      let summary: unknown = undefined;
      if (this.#reduce) {
        for (let after = 0;;) {
          const events = this.store.read(id, after, 1000);
          if (events.length === 0) break;
          for (const e of events) summary = this.#reduce(summary, parsed(e));
          after = events[events.length - 1].seq;
        }
      }
      const error = { seq: run.lastSeq + 1, type: "error", data: JSON.stringify({ message }) };
      this.store.append(id, [error]);
      if (this.#reduce) summary = this.#reduce(summary, parsed(error));
      this.store.finish(id, "interrupted", this.#now(), summary);
    }
    return ids;
  }

  /**
   * Starts a run: stores it, logs its first event (`run`, `{ id, ...announce }`), starts the flow and logs
   * every event it reports. Returns the run's id. Throws the store's {@link RunLimitError} when
   * no more runs fit.
   */
  start(options: StartOptions): string {
    this.#maybeSweep();
    const id = options.id ?? this.#newId();
    const createdAt = this.#now();
    this.store.create({
      id,
      status: "running",
      createdAt,
      lastSeq: 0,
      bytes: 0,
      input: options.input ?? null,
    });
    const live: Live = {
      id,
      lastSeq: 0,
      flushedSeq: 0,
      pending: [],
      flushed: [],
      bytes: 0,
      controller: new AbortController(),
      failed: false,
      finished: false,
      viewers: 0,
      stopWhenUnwatched: options.stopWhenUnwatched ?? false,
      readAhead: options.readAhead,
      leaderMoved: signal(),
      summary: undefined,
      ended: Promise.resolve(),
      over: signal(),
    };
    this.#live.set(id, live);
    this.#append(live, { type: "run", data: { ...options.announce, id } });
    live.ended = this.#pump(live, options.source);
    return id;
  }

  /**
   * Resolves when the run is no longer in flight here (at once for a finished or unknown run): its
   * record is final, and (unless it was forgotten) its flow has wound down.
   */
  ended(id: string): Promise<void> {
    return this.#live.get(id)?.over.promise ?? Promise.resolve();
  }

  async #pump(live: Live, source: StartOptions["source"]): Promise<void> {
    const { signal } = live.controller;
    let reader: ReadableStreamDefaultReader<RunEvent> | undefined;
    let cancelled: Promise<void> | undefined;
    const onAbort = () => {
      // Resolves once the source has wound down (every model request ended).
      cancelled = reader?.cancel(signal.reason).catch(() => {});
      live.leaderMoved.resolve();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let status: RunStatus = "done";
    try {
      reader = source(signal).getReader();
      if (signal.aborted) onAbort();
      while (!signal.aborted && !live.finished) {
        // Only an await when the lead viewer is that far behind: not one per event.
        if (
          live.readAhead !== undefined && live.leader &&
          live.leader.cursor < live.lastSeq - live.readAhead
        ) {
          await this.#paced(live);
          if (signal.aborted || live.finished) break;
        }
        const { done, value } = await reader.read();
        if (done || signal.aborted || live.finished) break;
        this.#append(live, value);
      }
    } catch (error) {
      if (!signal.aborted) {
        this.#append(live, { type: "error", data: { message: this.#errorMessage(error) } });
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (live.finished) {
        // Forgotten (see forget), and this pump runs again: the flow's own context is alive, so
        // the flow is stopped from here. Nothing more is recorded.
        await (cancelled ??= reader?.cancel(new DOMException("the run was forgotten", "AbortError"))
          .catch(() => {}));
      } else if (live.stop) {
        await cancelled;
        status = live.stop.status;
        this.#append(live, { type: "error", data: { message: live.stop.message } }, true);
      } else if (live.failed) status = "failed";
      this.#finish(live, status);
      reader?.releaseLock();
    }
  }

  /** With a lead viewer attached, waits until it is at most `readAhead` events behind. */
  async #paced(live: Live): Promise<void> {
    if (live.readAhead === undefined) return;
    while (
      live.leader && !live.controller.signal.aborted && !live.finished &&
      live.leader.cursor < live.lastSeq - live.readAhead
    ) {
      await live.leaderMoved.promise;
    }
  }

  #append(live: Live, event: RunEvent, final = false): void {
    if (live.finished) return;
    const data = JSON.stringify(event.data ?? {});
    const size = event.type.length + data.length;
    if (!final && live.bytes + size > this.maxRunBytes) {
      this.#stop(live, {
        status: "failed",
        message: `the run's log reached its limit of ${this.maxRunBytes} characters`,
      });
      return;
    }
    const logged: LoggedEvent = { seq: ++live.lastSeq, type: event.type, data };
    live.bytes += size;
    live.pending.push(logged);
    if (event.type === "error") live.failed = true;
    if (this.#reduce) {
      live.summary = this.#reduce(live.summary, { type: event.type, data: event.data ?? {} });
    }
    if (live.pending.length >= this.#batchSize) this.#flush(live);
    else live.timer ??= setTimeout(() => this.#flush(live), this.#flushMs);
    const changed = live.changed;
    if (changed) {
      live.changed = undefined;
      changed.resolve();
    }
  }

  #flush(live: Live): void {
    if (live.timer !== undefined) clearTimeout(live.timer);
    live.timer = undefined;
    if (live.pending.length === 0 || live.storeFailed) return;
    const batch = live.pending;
    live.pending = [];
    live.flushed = batch;
    live.flushedSeq = batch[batch.length - 1].seq;
    try {
      this.store.append(live.id, batch);
    } catch {
      // The store refused (disk full, or another process took the run over): stop the flow.
      // Viewers still get what is in memory until the run ends.
      live.storeFailed = true;
      this.#stop(live, { status: "failed", message: "the run's log could not be written" });
    }
  }

  #finish(live: Live, status: RunStatus): void {
    if (live.finished) return;
    this.#flush(live);
    live.finished = true;
    if (!live.storeFailed) {
      try {
        this.store.finish(live.id, status, this.#now(), live.summary);
      } catch {
        // As in #flush: nothing more can be recorded for this run.
      }
    }
    this.#live.delete(live.id);
    live.changed?.resolve();
    live.leaderMoved.resolve();
    live.over.resolve();
  }

  #stop(live: Live, stop: Stop): void {
    if (live.stop || live.finished) return;
    live.stop = stop;
    live.controller.abort(new DOMException(stop.message, "AbortError"));
  }

  /**
   * Stops a run in flight: aborts its flow (and every model request), then logs an `error` event
   * with `message` and ends it `cancelled`. Returns false when the run is not in flight here.
   */
  cancel(id: string, message = "the run was cancelled"): boolean {
    const live = this.#live.get(id);
    if (!live) return false;
    this.#stop(live, { status: "cancelled", message });
    return true;
  }

  /**
   * Finishes the record of a run in flight here, at once, without touching its flow from the
   * caller: the run's `error` event (`message`) is logged, the run stored with `status`, and it is
   * no longer in flight here; whatever the flow still reports is not logged. Its flow, streams and
   * abort signal are not used here: if the run's own pump ever runs again (its context is alive),
   * the pump cancels the flow there. For a run whose flow can no longer run and cannot be reached:
   * on workerd, a flow belongs to the request that started it, which may be frozen for good once
   * its client left, and aborting it from another request throws ("Cannot perform I/O on behalf of
   * a different request"). Use {@link cancel} wherever the flow can still be stopped. Viewers
   * waiting for the run are woken and end after the `error` event. Returns false when the run is
   * not in flight here.
   *
   * @example
   * ```ts
   * runs.forget(id, "cancelled", "the run was stopped: its client is gone");
   * ```
   */
  forget(id: string, status: RunStatus = "cancelled", message = "the run was stopped"): boolean {
    const live = this.#live.get(id);
    if (!live) return false;
    this.#append(live, { type: "error", data: { message } }, true);
    this.#finish(live, status);
    return true;
  }

  /** Ends every run in flight as `interrupted` (server shutdown) and waits until they have. */
  async close(message = "the run was interrupted: its server shut down"): Promise<void> {
    const ended = [...this.#live.values()].map((live) => {
      this.#stop(live, { status: "interrupted", message });
      return live.ended;
    });
    await Promise.all(ended);
  }

  /** The run, or undefined if unknown or expired. */
  info(id: string): RunInfo | undefined {
    this.#maybeSweep();
    const live = this.#live.get(id);
    const run = this.store.get(id);
    if (!run) return undefined;
    if (live) return describe(run, { lastSeq: live.lastSeq, summary: live.summary });
    return describe(run);
  }

  /** The most recent runs, newest first. */
  list(limit = 50): RunInfo[] {
    this.#maybeSweep();
    return this.store.list(limit).map((run) => {
      const live = this.#live.get(run.id);
      return live ? describe(run, { lastSeq: live.lastSeq, summary: live.summary }) : describe(run);
    });
  }

  /** The last sequence number logged for `id`, or undefined for an unknown or expired run. */
  lastSeq(id: string): number | undefined {
    return this.#live.get(id)?.lastSeq ?? this.store.get(id)?.lastSeq;
  }

  /**
   * Up to `limit` events after `afterSeq`, and whether more may still come; undefined for an
   * unknown or expired run.
   */
  read(
    id: string,
    afterSeq: number,
    limit = 64,
  ): { events: LoggedEvent[]; live: boolean } | undefined {
    const live = this.#live.get(id);
    if (live) {
      if (afterSeq >= live.flushedSeq) {
        const from = afterSeq - live.flushedSeq;
        return { events: live.pending.slice(from, from + limit), live: true };
      }
      // A viewer a little behind (a lead viewer reads up to readAhead events late): from memory.
      const from = afterSeq - (live.flushedSeq - live.flushed.length);
      if (from >= 0) return { events: live.flushed.slice(from, from + limit), live: true };
      return { events: this.store.read(id, afterSeq, limit), live: true };
    }
    if (!this.store.get(id)) return undefined;
    return { events: this.store.read(id, afterSeq, limit), live: false };
  }

  /**
   * A viewer: the run's events after `afterSeq`, in batches, first from the log and then live,
   * closing after the last one. An empty batch means nothing happened for `keepAliveMs`. Pulled
   * one batch at a time: a viewer that stops reading holds nothing and slows nobody. Undefined for
   * an unknown or expired run.
   */
  watch(
    id: string,
    afterSeq: number,
    options: WatchOptions = {},
  ): ReadableStream<LoggedEvent[]> | undefined {
    this.#maybeSweep();
    if (this.read(id, afterSeq, 0) === undefined) return undefined;
    const batch = options.batch ?? (options.lead ? 1 : 64);
    let cursor = afterSeq;
    const attached = this.#live.get(id);
    const me = { cursor };
    if (attached) {
      attached.viewers++;
      if (options.lead) {
        attached.leader = me;
        attached.leaderMoved.resolve();
        attached.leaderMoved = signal();
      }
    }
    let detached = false;
    const detach = () => {
      if (detached) return;
      detached = true;
      options.signal?.removeEventListener("abort", onAbort);
      if (!attached || attached.finished) return;
      attached.viewers--;
      if (attached.leader === me) {
        attached.leader = undefined;
        attached.leaderMoved.resolve();
        attached.leaderMoved = signal();
      }
      if (attached.viewers === 0 && attached.stopWhenUnwatched) {
        this.#stop(attached, { status: "cancelled", message: "the run's client went away" });
      }
    };
    // Wakes this viewer's pending wait when it is aborted.
    let interrupt: (() => void) | undefined;
    const onAbort = () => {
      detach();
      interrupt?.();
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });

    return new ReadableStream<LoggedEvent[]>({
      pull: async (controller) => {
        for (;;) {
          if (detached) return controller.close();
          const got = this.read(id, cursor, batch);
          if (got === undefined) {
            detach();
            return controller.close();
          }
          if (got.events.length > 0) {
            cursor = got.events[got.events.length - 1].seq;
            me.cursor = cursor;
            if (attached?.leader === me) {
              attached.leaderMoved.resolve();
              attached.leaderMoved = signal();
            }
            return controller.enqueue(got.events);
          }
          const live = this.#live.get(id);
          if (!got.live || !live) {
            // Finished: what remains is in the store; read again, then close.
            if (!got.live) {
              detach();
              return controller.close();
            }
            continue;
          }
          const woke = await new Promise<"changed" | "idle">((resolve) => {
            interrupt = () => resolve("changed");
            const changed = (live.changed ??= signal()).promise;
            changed.then(() => resolve("changed"));
            if (options.keepAliveMs !== undefined) {
              const timer = setTimeout(() => resolve("idle"), options.keepAliveMs);
              changed.then(() => clearTimeout(timer));
              interrupt = () => {
                clearTimeout(timer);
                resolve("changed");
              };
            }
          });
          interrupt = undefined;
          if (woke === "idle") return controller.enqueue([]);
          // The rest of this turn's events join the one that woke us.
          if (options.coalesce) await afterThisTurn();
        }
      },
      cancel: () => detach(),
    }, { highWaterMark: 0 });
  }

  /** Deletes the runs that finished more than `ttlMs` ago. Returns their ids. */
  sweep(): string[] {
    this.#lastSweep = this.#now();
    return this.store.expire(this.#lastSweep - this.ttlMs);
  }

  #maybeSweep(): void {
    if (this.#now() - this.#lastSweep >= Math.min(1000, this.ttlMs / 10)) this.sweep();
  }
}

function parsed(e: LoggedEvent): RunEvent {
  return { type: e.type, data: JSON.parse(e.data) };
}

function describe(run: RunRecord, live?: { lastSeq: number; summary: unknown }): RunInfo {
  const info: RunInfo = {
    id: run.id,
    status: run.status,
    createdAt: run.createdAt,
    lastSeq: live?.lastSeq ?? run.lastSeq,
    input: run.input,
  };
  if (run.finishedAt !== undefined) info.finishedAt = run.finishedAt;
  const summary = live ? live.summary : run.summary;
  if (summary !== undefined) info.summary = summary;
  return info;
}
