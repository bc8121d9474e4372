/**
 * The run log's storage port: what a store of runs and their events must do. Three stores
 * implement it (in memory, `node:sqlite`, a Durable Object's SQLite); the entry point picks one and
 * hands it to {@link Runs}. Every method is synchronous because all three are embedded: appending
 * an event never waits on I/O, so the log cannot slow a flow down.
 *
 * @module
 */

/** Where a run is in its life. Only `running` changes; the other four are final. */
export type RunStatus = "running" | "done" | "failed" | "cancelled" | "interrupted";

/** The statuses a run ends in. */
export const FINAL_STATUSES: readonly RunStatus[] = ["done", "failed", "cancelled", "interrupted"];

/** One event of a run's log. `data` is the event's JSON text, stored and served as is. */
export interface LoggedEvent {
  /** 1, 2, 3… per run, without gaps. */
  seq: number;
  /** The event's name (`run`, `node`, `chunk`, `answer`, `done`, `error`, …). */
  type: string;
  /** JSON text. */
  data: string;
}

/** A run as stored. */
export interface RunRecord {
  id: string;
  status: RunStatus;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; set when the run reached a final status. */
  finishedAt?: number;
  /** Sequence number of the last stored event (0 before the first). */
  lastSeq: number;
  /** Size of the event text stored (characters of type + data). */
  bytes: number;
  /** What started the run (JSON; never a secret). */
  input: unknown;
  /** What the run came to (JSON), written when it ends. */
  summary?: unknown;
}

/** The storage port. Ids are opaque strings; a store never serves one run's events for another. */
export interface RunStore {
  /** A label for logs and `/healthz`: `memory`, `sqlite`, `durable-object`. */
  readonly kind: string;
  /** Stores a new run. Throws {@link RunLimitError} if the store is full of running runs. */
  create(run: RunRecord): void;
  /** Appends events (consecutive seqs after the run's `lastSeq`) and updates its counters. */
  append(id: string, events: readonly LoggedEvent[]): void;
  /** Up to `limit` events with `seq > afterSeq`, in order. Empty for an unknown run. */
  read(id: string, afterSeq: number, limit: number): LoggedEvent[];
  get(id: string): RunRecord | undefined;
  /** The most recent runs first. */
  list(limit: number): RunRecord[];
  /** Sets a final status. */
  finish(id: string, status: RunStatus, finishedAt: number, summary?: unknown): void;
  /** Deletes runs that finished before `finishedBefore` (epoch ms) with their events. */
  expire(finishedBefore: number): string[];
  /** Ids of runs stored as `running` (after a restart: runs nobody is executing any more). */
  unfinished(): string[];
  /** Releases the store (closes a database). */
  close(): void;
}

/** The store holds as many runs as it may and none of them has finished. */
export class RunLimitError extends Error {
  override name = "RunLimitError";
}

/** The size a logged event counts for: characters of its type and data (what memory holds). */
export function eventBytes(event: Pick<LoggedEvent, "type" | "data">): number {
  return event.type.length + event.data.length;
}
