/**
 * What every run store must do, as a list of checks run against a fresh store each. The same
 * checks run on the in-memory store, on `node:sqlite` (test/run_store.test.ts) and inside a
 * Durable Object on its own SQLite (test/run_object.test.ts): same SQL, same tests.
 */
import assert from "node:assert/strict";
import type { LoggedEvent, RunRecord, RunStore } from "../src/runs/store.ts";

const run = (id: string, createdAt: number, extra: Partial<RunRecord> = {}): RunRecord => ({
  id,
  status: "running",
  createdAt,
  lastSeq: 0,
  bytes: 0,
  input: { topic: `topic of ${id}` },
  ...extra,
});

const events = (from: number, n: number, tag = ""): LoggedEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    seq: from + i,
    type: (from + i) % 2 ? "node" : "chunk",
    data: JSON.stringify({ n: from + i, tag }),
  }));

/** The checks, by name. Each gets a fresh, empty store. */
export const STORE_CONTRACT: [string, (store: RunStore) => void][] = [
  ["a new run reads back as stored, and lists newest first", (store) => {
    store.create(run("a", 1000));
    store.create(run("b", 2000));
    store.create(run("c", 2000));
    assert.deepEqual(store.get("a"), run("a", 1000));
    assert.equal(store.get("nope"), undefined);
    assert.deepEqual(store.list(10).map((r) => r.id), ["c", "b", "a"]);
    assert.deepEqual(store.list(2).map((r) => r.id), ["c", "b"]);
  }],
  ["events append in order and read back after any seq, in pages", (store) => {
    store.create(run("a", 1));
    store.append("a", events(1, 5));
    store.append("a", events(6, 3));
    const all = events(1, 8);
    assert.deepEqual(store.read("a", 0, 100), all);
    assert.deepEqual(store.read("a", 3, 2), all.slice(3, 5));
    assert.deepEqual(store.read("a", 8, 10), []);
    assert.deepEqual(store.read("a", 99, 10), []);
    const stored = store.get("a")!;
    assert.equal(stored.lastSeq, 8);
    assert.equal(stored.bytes, all.reduce((n, e) => n + e.type.length + e.data.length, 0));
  }],
  ["an append that does not follow the last seq is refused and changes nothing", (store) => {
    store.create(run("a", 1));
    store.append("a", events(1, 2));
    assert.throws(() => store.append("a", events(4, 1)));
    assert.throws(() => store.append("a", events(2, 1)));
    assert.deepEqual(store.read("a", 0, 10), events(1, 2));
    assert.equal(store.get("a")!.lastSeq, 2);
  }],
  ["one run's events are never served for another id", (store) => {
    store.create(run("a", 1));
    store.create(run("b", 2));
    store.append("a", events(1, 3, "a"));
    store.append("b", events(1, 2, "b"));
    store.append("a", events(4, 1, "a"));
    assert.ok(store.read("a", 0, 10).every((e) => JSON.parse(e.data).tag === "a"));
    assert.ok(store.read("b", 0, 10).every((e) => JSON.parse(e.data).tag === "b"));
    assert.deepEqual(store.read("c", 0, 10), []);
    assert.equal(store.read("a", 0, 10).length, 4);
  }],
  ["text survives as is: quotes, newlines (escaped), non-ASCII", (store) => {
    store.create(run("a", 1));
    const data = JSON.stringify({ text: 'zero "0"\nşıfır — 零 🙂', nested: { ok: true } });
    store.append("a", [{ seq: 1, type: "chunk", data }]);
    assert.equal(store.read("a", 0, 1)[0].data, data);
  }],
  ["finish records the status, the time and the summary", (store) => {
    store.create(run("a", 1));
    store.create(run("b", 1));
    store.finish("a", "done", 50, { answer: "zero", nodes: { synth: "done" } });
    store.finish("b", "cancelled", 60);
    assert.deepEqual(store.get("a"), {
      ...run("a", 1),
      status: "done",
      finishedAt: 50,
      summary: { answer: "zero", nodes: { synth: "done" } },
    });
    assert.deepEqual(store.get("b"), { ...run("b", 1), status: "cancelled", finishedAt: 60 });
    assert.deepEqual(store.unfinished(), []);
  }],
  ["expire deletes finished runs older than the cut, with their events", (store) => {
    for (const id of ["old", "new", "live"]) {
      store.create(run(id, 1));
      store.append(id, events(1, 3));
    }
    store.finish("old", "done", 100);
    store.finish("new", "failed", 200);
    assert.deepEqual(store.expire(150), ["old"]);
    assert.equal(store.get("old"), undefined);
    assert.deepEqual(store.read("old", 0, 10), []);
    assert.equal(store.get("new")?.status, "failed");
    assert.deepEqual(store.expire(10_000).sort(), ["new"]);
    assert.deepEqual(store.list(10).map((r) => r.id), ["live"]);
    assert.deepEqual(store.read("live", 0, 10), events(1, 3));
  }],
  ["unfinished names the runs still marked running", (store) => {
    store.create(run("a", 1));
    store.create(run("b", 2));
    store.create(run("c", 3));
    store.finish("b", "done", 10);
    assert.deepEqual(store.unfinished().sort(), ["a", "c"]);
  }],
];

/** Runs every check on a fresh store from `make`; returns the names of the checks that passed. */
export async function checkStore(
  make: () => RunStore | Promise<RunStore>,
): Promise<string[]> {
  const passed: string[] = [];
  for (const [name, check] of STORE_CONTRACT) {
    const store = await make();
    try {
      check(store);
    } catch (error) {
      (error as Error).message = `${name}: ${(error as Error).message}`;
      throw error;
    } finally {
      store.close();
    }
    passed.push(name);
  }
  return passed;
}
