/**
 * The in-memory run store: the default, and the fallback where no SQLite is available (Node 20).
 * Bounded by the number of runs it keeps: a new run evicts the oldest finished run first, and is
 * refused with {@link RunLimitError} when every stored run is still running. (Bytes per run are
 * bounded by {@link Runs}, for every store.)
 *
 * @module
 */
import {
  type LoggedEvent,
  RunLimitError,
  type RunRecord,
  type RunStatus,
  type RunStore,
} from "./store.ts";

interface Entry {
  run: RunRecord;
  events: LoggedEvent[];
}

/** Options of {@link MemoryRunStore}. */
export interface MemoryRunStoreOptions {
  /** Most runs kept at once, running or finished (default 1,000). */
  maxRuns?: number;
}

/**
 * Runs and their logs in a `Map`, in creation order.
 *
 * @example
 * ```ts
 * const runs = new Runs({ store: new MemoryRunStore({ maxRuns: 100 }) });
 * ```
 */
export class MemoryRunStore implements RunStore {
  readonly kind = "memory";
  readonly maxRuns: number;
  #runs = new Map<string, Entry>();

  constructor(options: MemoryRunStoreOptions = {}) {
    this.maxRuns = options.maxRuns ?? 1000;
    if (!(this.maxRuns >= 1)) throw new RangeError("MemoryRunStore: maxRuns must be at least 1");
  }

  create(run: RunRecord): void {
    if (this.#runs.has(run.id)) throw new Error(`run ${run.id} already exists`);
    if (this.#runs.size >= this.maxRuns) this.#evictOne();
    this.#runs.set(run.id, { run: { ...run }, events: [] });
  }

  /** Drops the finished run that finished first; throws when none has finished. */
  #evictOne(): void {
    let oldest: Entry | undefined;
    for (const entry of this.#runs.values()) {
      const at = entry.run.finishedAt;
      if (at !== undefined && (oldest === undefined || at < oldest.run.finishedAt!)) {
        oldest = entry;
      }
    }
    if (!oldest) {
      throw new RunLimitError(`too many runs in progress (at most ${this.maxRuns})`);
    }
    this.#runs.delete(oldest.run.id);
  }

  append(id: string, events: readonly LoggedEvent[]): void {
    const entry = this.#runs.get(id);
    if (!entry) throw new Error(`run ${id} is not stored`);
    for (const e of events) {
      if (e.seq !== entry.run.lastSeq + 1) {
        throw new Error(`run ${id}: event ${e.seq} after ${entry.run.lastSeq}`);
      }
      entry.events.push(e);
      entry.run.lastSeq = e.seq;
      entry.run.bytes += e.type.length + e.data.length;
    }
  }

  read(id: string, afterSeq: number, limit: number): LoggedEvent[] {
    const events = this.#runs.get(id)?.events;
    if (!events) return [];
    // seq n sits at index n - 1.
    const from = Math.max(0, Math.floor(afterSeq));
    return events.slice(from, from + limit);
  }

  get(id: string): RunRecord | undefined {
    const run = this.#runs.get(id)?.run;
    return run && { ...run };
  }

  list(limit: number): RunRecord[] {
    const all = [...this.#runs.values()].map((e) => ({ ...e.run }));
    return all.reverse().slice(0, limit);
  }

  finish(id: string, status: RunStatus, finishedAt: number, summary?: unknown): void {
    const run = this.#runs.get(id)?.run;
    if (!run) return;
    run.status = status;
    run.finishedAt = finishedAt;
    if (summary !== undefined) run.summary = summary;
  }

  expire(finishedBefore: number): string[] {
    const gone: string[] = [];
    for (const [id, { run }] of this.#runs) {
      if (run.finishedAt !== undefined && run.finishedAt < finishedBefore) {
        this.#runs.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }

  unfinished(): string[] {
    return [...this.#runs.values()].filter((e) => e.run.status === "running").map((e) => e.run.id);
  }

  close(): void {
    this.#runs.clear();
  }
}
