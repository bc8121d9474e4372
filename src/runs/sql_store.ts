/**
 * The SQLite run store, written once for every SQLite this project runs on: `node:sqlite` under
 * Deno and Node ≥ 22 (cli/sqlite.ts), and a Durable Object's own `ctx.storage.sql` on Workers
 * (routes/run_object.ts). Each hands it a {@link SqlDriver}; the SQL is the same.
 *
 * @module
 */
import type { LoggedEvent, RunRecord, RunStatus, RunStore } from "./store.ts";

/** A value SQLite binds or returns. */
export type SqlValue = string | number | bigint | null | Uint8Array | ArrayBuffer;

/** The one thing the store needs from a SQLite: statements with `?` parameters, transactions. */
export interface SqlDriver {
  /** Runs one statement and returns its rows (empty for statements without rows). */
  exec(sql: string, ...params: SqlValue[]): Record<string, SqlValue>[];
  /** Runs `fn` in one transaction, rolled back if it throws. */
  transaction<T>(fn: () => T): T;
  /** Closes the database (a Durable Object's storage is not closed). */
  close?(): void;
}

/** The schema; `reflow_` keeps clear of other tables in a shared database. */
export const RUN_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS reflow_runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    input TEXT NOT NULL,
    summary TEXT
  )`,
  `CREATE INDEX IF NOT EXISTS reflow_runs_by_finish ON reflow_runs (finished_at)`,
  `CREATE TABLE IF NOT EXISTS reflow_run_events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
  ) WITHOUT ROWID`,
];

const num = (v: SqlValue | undefined): number => Number(v ?? 0);
const parse = (v: SqlValue | undefined): unknown =>
  typeof v === "string" ? JSON.parse(v) : undefined;

function record(row: Record<string, SqlValue>): RunRecord {
  const run: RunRecord = {
    id: String(row.id),
    status: String(row.status) as RunStatus,
    createdAt: num(row.created_at),
    lastSeq: num(row.last_seq),
    bytes: num(row.bytes),
    input: parse(row.input),
  };
  if (row.finished_at !== null && row.finished_at !== undefined) {
    run.finishedAt = num(row.finished_at);
  }
  const summary = parse(row.summary);
  if (summary !== undefined) run.summary = summary;
  return run;
}

/**
 * Runs and their logs in two SQLite tables. Creates them if missing.
 *
 * @example
 * ```ts
 * const store = new SqlRunStore(nodeSqliteDriver(new DatabaseSync("runs.db")));
 * ```
 */
export class SqlRunStore implements RunStore {
  readonly kind: string;
  #sql: SqlDriver;

  constructor(driver: SqlDriver, kind = "sqlite") {
    this.#sql = driver;
    this.kind = kind;
    for (const statement of RUN_SCHEMA) driver.exec(statement);
  }

  create(run: RunRecord): void {
    this.#sql.exec(
      `INSERT INTO reflow_runs (id, status, created_at, finished_at, last_seq, bytes, input, summary)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      run.id,
      run.status,
      run.createdAt,
      run.finishedAt ?? null,
      run.lastSeq,
      run.bytes,
      JSON.stringify(run.input ?? null),
      run.summary === undefined ? null : JSON.stringify(run.summary),
    );
  }

  append(id: string, events: readonly LoggedEvent[]): void {
    if (events.length === 0) return;
    this.#sql.transaction(() => {
      let bytes = 0;
      for (const e of events) {
        this.#sql.exec(
          "INSERT INTO reflow_run_events (run_id, seq, type, data) VALUES (?, ?, ?, ?)",
          id,
          e.seq,
          e.type,
          e.data,
        );
        bytes += e.type.length + e.data.length;
      }
      const last = events[events.length - 1].seq;
      const first = events[0].seq;
      const updated = this.#sql.exec(
        `UPDATE reflow_runs SET last_seq = ?, bytes = bytes + ? WHERE id = ? AND last_seq = ?
         RETURNING id`,
        last,
        bytes,
        id,
        first - 1,
      );
      if (updated.length !== 1) throw new Error(`run ${id}: events from ${first} do not follow`);
    });
  }

  read(id: string, afterSeq: number, limit: number): LoggedEvent[] {
    return this.#sql.exec(
      "SELECT seq, type, data FROM reflow_run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
      id,
      Math.floor(afterSeq),
      limit,
    ).map((row) => ({ seq: num(row.seq), type: String(row.type), data: String(row.data) }));
  }

  get(id: string): RunRecord | undefined {
    const row = this.#sql.exec("SELECT * FROM reflow_runs WHERE id = ?", id)[0];
    return row && record(row);
  }

  list(limit: number): RunRecord[] {
    return this.#sql.exec(
      "SELECT * FROM reflow_runs ORDER BY created_at DESC, rowid DESC LIMIT ?",
      limit,
    ).map(record);
  }

  finish(id: string, status: RunStatus, finishedAt: number, summary?: unknown): void {
    this.#sql.exec(
      "UPDATE reflow_runs SET status = ?, finished_at = ?, summary = COALESCE(?, summary) WHERE id = ?",
      status,
      finishedAt,
      summary === undefined ? null : JSON.stringify(summary),
      id,
    );
  }

  expire(finishedBefore: number): string[] {
    return this.#sql.transaction(() => {
      const ids = this.#sql.exec(
        "SELECT id FROM reflow_runs WHERE finished_at IS NOT NULL AND finished_at < ?",
        finishedBefore,
      ).map((row) => String(row.id));
      for (const id of ids) {
        this.#sql.exec("DELETE FROM reflow_run_events WHERE run_id = ?", id);
        this.#sql.exec("DELETE FROM reflow_runs WHERE id = ?", id);
      }
      return ids;
    });
  }

  unfinished(): string[] {
    return this.#sql.exec("SELECT id FROM reflow_runs WHERE status = 'running'").map((row) =>
      String(row.id)
    );
  }

  close(): void {
    this.#sql.close?.();
  }
}
