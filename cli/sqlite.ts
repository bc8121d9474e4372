/**
 * The SQLite run store on Deno and on Node ≥ 22.5 (`node:sqlite`), for `--serve`. On a runtime
 * without `node:sqlite` (Node 20) {@link openRunStore} says why and the server keeps runs in
 * memory instead.
 */
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { type SqlDriver, SqlRunStore, type SqlValue } from "../src/runs/sql_store.ts";
import type { RunStore } from "../src/runs/store.ts";

/** The part of `node:sqlite`'s `DatabaseSync` the driver uses. */
export interface DatabaseSyncLike {
  exec(sql: string): void;
  prepare(sql: string): { all(...params: SqlValue[]): unknown[] };
  close(): void;
}

/**
 * A {@link SqlDriver} over a `node:sqlite` database: prepared statements cached per SQL text,
 * transactions with BEGIN / COMMIT / ROLLBACK.
 *
 * @example
 * ```ts
 * const { DatabaseSync } = await import("node:sqlite");
 * const store = new SqlRunStore(nodeSqliteDriver(new DatabaseSync("runs.db")));
 * ```
 */
export function nodeSqliteDriver(db: DatabaseSyncLike): SqlDriver {
  const statements = new Map<string, ReturnType<DatabaseSyncLike["prepare"]>>();
  return {
    exec(sql, ...params) {
      let statement = statements.get(sql);
      if (!statement) statements.set(sql, statement = db.prepare(sql));
      return statement.all(...params) as Record<string, SqlValue>[];
    },
    transaction(fn) {
      db.exec("BEGIN");
      try {
        const result = fn();
        db.exec("COMMIT");
        return result;
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
    close: () => db.close(),
  };
}

/**
 * Opens (creating if needed) the SQLite database at `path` (`:memory:` for a private one) with
 * write-ahead logging. Resolves with its driver, or with why this runtime has no `node:sqlite`.
 */
export async function openSqlite(
  path: string,
): Promise<{ driver: SqlDriver } | { unavailable: string }> {
  let sqlite: { DatabaseSync: new (path: string) => DatabaseSyncLike };
  try {
    // A variable specifier: bundlers and Node 20's loader leave it alone until it runs.
    const name = "node:sqlite";
    sqlite = await import(name);
  } catch (error) {
    return {
      unavailable: `node:sqlite is not available in this runtime (${
        (error as Error).message.split("\n")[0]
      }); it needs Node ≥ 22.5 or Deno ≥ 2.2`,
    };
  }
  const db = new sqlite.DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA busy_timeout = 5000");
  return { driver: nodeSqliteDriver(db) };
}

/** The run store `--serve` uses, and the line it prints about it at start. */
export interface ChosenRunStore {
  store: RunStore;
  notice: string;
}

/** The SQLite file `REFLOW_RUNS_DB` names (default `reflow-runs.db`); undefined for memory. */
export function runStorePath(setting: string | undefined): string | undefined {
  const path = setting ?? "reflow-runs.db";
  return /^(memory|off|none)$/i.test(path) ? undefined : path;
}

/** The files SQLite uses for it in WAL mode (what Deno must let the server read and write). */
export function runStoreFiles(setting: string | undefined): string[] {
  const path = runStorePath(setting);
  return path === undefined || path === ":memory:" ? [] : [path, `${path}-wal`, `${path}-shm`];
}

/**
 * `REFLOW_RUNS_DB` (default `reflow-runs.db` in the working directory; `memory` for no file):
 * SQLite where the runtime has `node:sqlite`, so finished runs survive a restart and unfinished
 * ones read `interrupted`; otherwise (Node 20, or the file cannot be opened) memory, saying why.
 */
export async function chooseRunStore(setting: string | undefined): Promise<ChosenRunStore> {
  const path = runStorePath(setting);
  const memory = (why: string) => ({
    store: new MemoryRunStore(),
    notice: `reflow-edge: runs are kept in memory (${why}); they are lost when the server stops`,
  });
  if (path === undefined) return memory("REFLOW_RUNS_DB=memory");
  const opened = await openSqlite(path).catch((error: Error) => ({
    unavailable: `cannot open ${path}: ${error.message.split("\n")[0]}`,
  }));
  if ("unavailable" in opened) return memory(opened.unavailable);
  return {
    store: new SqlRunStore(opened.driver),
    notice: `reflow-edge: runs are kept in SQLite at ${path} (REFLOW_RUNS_DB)`,
  };
}
