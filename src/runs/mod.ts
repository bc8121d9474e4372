/**
 * Runs that outlive their connection: a log of every event a flow reports, read by any number of
 * viewers from any point, kept in memory, in SQLite or in a Durable Object.
 *
 * @example
 * ```ts
 * import { MemoryRunStore, Runs, runEventsToSse } from "reflow-edge/runs";
 * const runs = new Runs({ store: new MemoryRunStore() });
 * ```
 * @module
 */
export { MemoryRunStore, type MemoryRunStoreOptions } from "./memory_store.ts";
export {
  DEFAULT_RUN_TTL_MS,
  type RunEvent,
  type RunInfo,
  Runs,
  type RunsOptions,
  type StartOptions,
  type WatchOptions,
} from "./runs.ts";
export { KEEP_ALIVE, runEventFrame, runEventsToSse } from "./sse.ts";
export { RUN_SCHEMA, type SqlDriver, SqlRunStore, type SqlValue } from "./sql_store.ts";
export {
  eventBytes,
  FINAL_STATUSES,
  type LoggedEvent,
  RunLimitError,
  type RunRecord,
  type RunStatus,
  type RunStore,
} from "./store.ts";
