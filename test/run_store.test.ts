/**
 * The run stores against one contract (test/run_store_contract.ts): the in-memory store on every
 * runtime, `node:sqlite` wherever the runtime has it (Deno; Node ≥ 22.5). The Durable Object's
 * SQLite runs the same checks in test/run_object.test.ts.
 */
import assert from "node:assert/strict";
import { type Runtime, runtime, test } from "./harness.ts";
import { checkStore, STORE_CONTRACT } from "./run_store_contract.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { SqlRunStore } from "../src/runs/sql_store.ts";
import { RunLimitError } from "../src/runs/store.ts";
import { openSqlite } from "../cli/sqlite.ts";

const probe = runtime === "workerd" ? undefined : await openSqlite(":memory:");
if (probe && "driver" in probe) probe.driver.close?.();
const hasSqlite = probe !== undefined && "driver" in probe;
const everywhere: Runtime[] = ["node", "deno", "workerd"];
/** Where node:sqlite runs: this runtime if it has it, and Deno always. */
const SQLITE = hasSqlite ? {} : {
  only: everywhere.filter((r) => r !== runtime && r !== "workerd"),
  why: runtime === "workerd"
    ? "workerd has no node:sqlite (its SQLite is a Durable Object's: test/run_object.test.ts)"
    : `this runtime has no node:sqlite (${
      probe && "unavailable" in probe ? probe.unavailable : ""
    })`,
};

test("run store, memory: the store contract", async () => {
  const passed = await checkStore(() => new MemoryRunStore());
  assert.equal(passed.length, STORE_CONTRACT.length);
});

test("run store, node:sqlite: the store contract", async () => {
  const passed = await checkStore(async () => {
    const opened = await openSqlite(":memory:");
    assert.ok("driver" in opened);
    return new SqlRunStore(opened.driver);
  });
  assert.equal(passed.length, STORE_CONTRACT.length);
}, SQLITE);

test("run store, memory: bounded by run count, evicting the run that finished first", () => {
  const store = new MemoryRunStore({ maxRuns: 3 });
  const make = (id: string) =>
    store.create({ id, status: "running", createdAt: 1, lastSeq: 0, bytes: 0, input: null });
  make("a");
  make("b");
  make("c");
  // All three running: a fourth is refused, nothing is lost.
  assert.throws(() => make("d"), RunLimitError);
  assert.deepEqual(store.list(10).map((r) => r.id), ["c", "b", "a"]);
  store.finish("c", "done", 20);
  store.finish("a", "done", 30);
  make("d"); // evicts c, which finished first, not a
  assert.deepEqual(store.list(10).map((r) => r.id).sort(), ["a", "b", "d"]);
  make("e"); // then a
  assert.deepEqual(store.list(10).map((r) => r.id).sort(), ["b", "d", "e"]);
  assert.throws(() => make("f"), /too many runs in progress \(at most 3\)/);
});
