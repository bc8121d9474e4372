/**
 * Runs over real streams: a flow's events are logged with sequence numbers; viewers replay, then
 * go live, each on its own cursor; a stalled viewer slows neither the flow nor the others; cancel,
 * the last client leaving, a full log, a throwing flow, expiry and a restart each end a run with a
 * clear `error` event and the right status. On the in-memory store everywhere and on node:sqlite
 * where the runtime has it. Assertions are on event order and counts, never on time.
 */
import assert from "node:assert/strict";
import { deferred, type Runtime, runtime, test } from "./harness.ts";
import { MemoryRunStore } from "../src/runs/memory_store.ts";
import { type RunEvent, Runs, type RunsOptions } from "../src/runs/runs.ts";
import { runEventFrame, runEventsToSse } from "../src/runs/sse.ts";
import { SqlRunStore } from "../src/runs/sql_store.ts";
import type { LoggedEvent, RunStore } from "../src/runs/store.ts";
import { openSqlite } from "../cli/sqlite.ts";

const probe = runtime === "workerd" ? undefined : await openSqlite(":memory:");
if (probe && "driver" in probe) probe.driver.close?.();
const hasSqlite = probe !== undefined && "driver" in probe;

/** The stores these tests run on, here. */
const STORES: [string, () => Promise<RunStore>][] = [
  ["memory", () => Promise.resolve(new MemoryRunStore())],
];
if (hasSqlite) {
  STORES.push(["sqlite", async () => {
    const opened = await openSqlite(":memory:");
    if (!("driver" in opened)) throw new Error(opened.unavailable);
    return new SqlRunStore(opened.driver);
  }]);
}

/** A flow whose events the test pushes by hand; counts pulls and sees cancellation. */
function manual() {
  let controller!: ReadableStreamDefaultController<RunEvent>;
  const cancelled = deferred<unknown>();
  let pulls = 0;
  /** Resolve to let a cancel finish (the flow's model requests ending). */
  const wound = deferred();
  const stream = new ReadableStream<RunEvent>({
    start: (c) => void (controller = c),
    pull: () => void pulls++,
    cancel: async (reason) => {
      cancelled.resolve(reason);
      await wound.promise;
    },
  }, { highWaterMark: 0 });
  return {
    source: () => stream,
    push: (type: string, data: unknown = {}) => controller.enqueue({ type, data }),
    end: () => controller.close(),
    fail: (e: unknown) => controller.error(e),
    cancelled: cancelled.promise,
    wound,
    get pulls() {
      return pulls;
    },
  };
}

/** A flow of `n` chunk events and a done, produced as fast as they are read. */
function burst(n: number) {
  let i = 0;
  return () =>
    new ReadableStream<RunEvent>({
      pull(c) {
        if (i < n) c.enqueue({ type: "chunk", data: { i: i++ } });
        else {
          c.enqueue({ type: "done", data: {} });
          c.close();
        }
      },
    }, { highWaterMark: 0 });
}

/** Reads a viewer until it ends; returns its events. */
async function drain(stream: ReadableStream<LoggedEvent[]>): Promise<LoggedEvent[]> {
  const all: LoggedEvent[] = [];
  for await (const batch of stream) all.push(...batch);
  return all;
}

/** Waits (a bounded number of turns) until the run has logged `seq`. */
async function logged(runs: Runs, id: string, seq: number): Promise<void> {
  for (let i = 0; i < 1000 && (runs.lastSeq(id) ?? 0) < seq; i++) {
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.ok((runs.lastSeq(id) ?? 0) >= seq, `run logged ${runs.lastSeq(id)} of ${seq} events`);
}

async function text(body: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(body).text();
}

function forEachStore(
  name: string,
  fn: (runs: (o?: Partial<RunsOptions>) => Promise<Runs>) => Promise<void>,
) {
  for (const [kind, make] of STORES) {
    test(`runs (${kind}): ${name}`, () =>
      fn(async (o = {}) => new Runs({ store: await make(), ...o })));
  }
  if (!hasSqlite) {
    const others: Runtime[] = runtime === "workerd" ? ["node", "deno"] : ["deno"];
    test(`runs (sqlite): ${name}`, () => {}, {
      only: others,
      why: runtime === "workerd"
        ? "workerd has no node:sqlite (the Durable Object tests cover its SQLite)"
        : "this runtime has no node:sqlite (Node 20; it needs Node ≥ 22.5)",
    });
  }
}

forEachStore("a viewer replays the log, then follows live, then ends", async (make) => {
  const runs = await make();
  const flow = manual();
  const id = runs.start({ input: { topic: "zero" }, source: flow.source });
  flow.push("node", { id: "factual", state: "running" });
  flow.push("chunk", { role: "facts", text: "Zero" });
  await logged(runs, id, 3);
  const viewer = runs.watch(id, 0)!.getReader();
  const first = (await viewer.read()).value!;
  assert.deepEqual(first.map((e) => [e.seq, e.type]), [[1, "run"], [2, "node"], [3, "chunk"]]);
  assert.deepEqual(JSON.parse(first[0].data), { id });
  const next = viewer.read();
  flow.push("chunk", { role: "facts", text: " is" });
  assert.deepEqual((await next).value!.map((e) => e.seq), [4]);
  flow.push("done");
  flow.end();
  const rest: LoggedEvent[] = [];
  for (let r = await viewer.read(); !r.done; r = await viewer.read()) rest.push(...r.value);
  assert.deepEqual(rest.map((e) => e.type), ["done"]);
  await runs.ended(id);
  const info = runs.info(id)!;
  assert.equal(info.status, "done");
  assert.equal(info.lastSeq, 5);
  assert.deepEqual(info.input, { topic: "zero" });
  // A late viewer gets the same log; one after seq 3 gets the rest only.
  assert.deepEqual((await drain(runs.watch(id, 0)!)).map((e) => e.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual((await drain(runs.watch(id, 3)!)).map((e) => e.seq), [4, 5]);
  assert.equal(runs.watch("no-such-run", 0), undefined);
});

forEachStore(
  "a viewer cut off after any event resumes with no gap and no duplicate, byte for byte",
  async (make) => {
    const runs = await make({ batchSize: 7 });
    const flow = manual();
    const id = runs.start({ source: flow.source });
    const N = 40;
    // The uninterrupted stream, read live by one viewer from the start.
    const whole = text(runEventsToSse(runs.watch(id, 0)!));
    // A viewer that disconnects after k frames and comes back with Last-Event-ID = k, for every k.
    const pieces: Promise<string>[] = [];
    for (let i = 0; i < N; i++) {
      flow.push(i % 5 ? "chunk" : "node", { i, text: `token ${i} "é"` });
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    flow.push("done");
    flow.end();
    await runs.ended(id);
    const last = runs.info(id)!.lastSeq;
    let resumed = "";
    for (let k = 0; k < last;) {
      const viewer = runs.watch(id, k, { batch: 1 })!.getReader();
      const { value } = await viewer.read();
      await viewer.cancel();
      resumed += value!.map(runEventFrame).join("");
      k = value![value!.length - 1].seq;
    }
    pieces.push(whole);
    assert.equal(resumed, await whole);
    assert.equal((await whole).match(/^id: /gm)!.length, N + 2);
  },
);

forEachStore(
  "three viewers, one stalled: the flow and the others are not slowed, and the stalled one catches up",
  async (make) => {
    const runs = await make();
    const id = runs.start({ source: burst(500) });
    const stalled = runs.watch(id, 0, { batch: 1 })!.getReader();
    const first = await stalled.read();
    assert.deepEqual(first.value!.map((e) => e.seq), [1]);
    const [a, b] = await Promise.all([drain(runs.watch(id, 0)!), drain(runs.watch(id, 0)!)]);
    await runs.ended(id);
    // The flow finished and both readers got everything while the third held one event.
    assert.equal(runs.info(id)!.status, "done");
    assert.equal(a.length, 502);
    assert.deepEqual(a, b);
    const rest: LoggedEvent[] = [];
    for (let r = await stalled.read(); !r.done; r = await stalled.read()) rest.push(...r.value);
    assert.deepEqual([...first.value!, ...rest], a);
    assert.deepEqual(a.map((e) => e.seq), Array.from({ length: 502 }, (_, i) => i + 1));
  },
);

forEachStore(
  "a lead viewer paces the flow: it may not get more than readAhead events ahead",
  async (make) => {
    const runs = await make();
    let produced = 0;
    const source = () =>
      new ReadableStream<RunEvent>({
        pull(c) {
          c.enqueue({ type: "chunk", data: { i: produced++ } });
        },
      }, { highWaterMark: 0 });
    const id = runs.start({ source, readAhead: 2, stopWhenUnwatched: true });
    const lead = runs.watch(id, 0, { lead: true })!.getReader();
    for (let i = 0; i < 10; i++) await lead.read();
    // Let the flow run as far as it can while the lead viewer reads nothing more.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    assert.ok(runs.lastSeq(id)! <= 10 + 2 + 1, `logged ${runs.lastSeq(id)} after 10 read`);
    // Another viewer does not pace it, and reads what there is.
    const other = runs.watch(id, 0)!.getReader();
    assert.equal((await other.read()).value!.length, runs.lastSeq(id));
    await other.cancel();
    await lead.cancel();
    await runs.ended(id);
    const info = runs.info(id)!;
    assert.equal(info.status, "cancelled");
    const log = await drain(runs.watch(id, 0)!);
    assert.deepEqual(log.at(-1)!.type, "error");
    assert.deepEqual(JSON.parse(log.at(-1)!.data), { message: "the run's client went away" });
  },
);

forEachStore(
  "cancel stops the flow, waits for it to wind down, then logs the error and ends cancelled",
  async (make) => {
    const runs = await make();
    const flow = manual();
    const id = runs.start({ source: flow.source });
    flow.push("chunk", { text: "a" });
    await logged(runs, id, 2);
    const viewer = drain(runs.watch(id, 0)!);
    assert.equal(runs.cancel(id), true);
    const reason = await flow.cancelled;
    assert.match(String((reason as Error).message), /cancelled/);
    // Still running until the flow has wound down.
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(runs.info(id)!.status, "running");
    flow.wound.resolve();
    await runs.ended(id);
    assert.equal(runs.info(id)!.status, "cancelled");
    const seen = await viewer;
    assert.deepEqual(seen.map((e) => e.type), ["run", "chunk", "error"]);
    assert.deepEqual(JSON.parse(seen[2].data), { message: "the run was cancelled" });
    assert.equal(runs.cancel(id), false, "a finished run cannot be cancelled");
  },
);

forEachStore(
  "forget finishes a run's record at once without touching its flow; its own pump stops it later",
  async (make) => {
    const runs = await make();
    const flow = manual();
    const id = runs.start({ source: flow.source, readAhead: 0, stopWhenUnwatched: true });
    const lead = runs.watch(id, 0, { lead: true })!.getReader();
    flow.push("chunk", { text: "a" });
    await logged(runs, id, 2);
    const other = drain(runs.watch(id, 0)!);
    let touched = false;
    flow.cancelled.then(() => (touched = true));
    const waiting = runs.ended(id);
    assert.equal(runs.active, 1);
    assert.equal(runs.forget(id, "cancelled", "the run was stopped: its client is gone"), true);
    // Synchronous: the record is final before anything else runs, the run is no longer in flight,
    // and the caller did not touch the flow (on workerd it may belong to a frozen request).
    assert.equal(runs.info(id)!.status, "cancelled");
    assert.equal(runs.active, 0);
    assert.equal(touched, false);
    // Here the run's own pump can still run: it stops the flow itself, with its own reason.
    const reason = await flow.cancelled;
    assert.equal((reason as Error).message, "the run was forgotten");
    // Whoever waited for the run's end is told, though its flow has not wound down yet (on workerd
    // it may never): a Durable Object's alarm waits on this.
    await waiting;
    flow.wound.resolve();
    // Every viewer, the waiting one and the lead, ends with the error event; nothing else came.
    const seen = await other;
    assert.deepEqual(seen.map((e) => e.type), ["run", "chunk", "error"]);
    assert.deepEqual(JSON.parse(seen[2].data), {
      message: "the run was stopped: its client is gone",
    });
    const led: string[] = [];
    for (;;) {
      const { done, value } = await lead.read();
      if (done) break;
      led.push(...value.map((e) => e.type));
    }
    assert.deepEqual(led, ["run", "chunk", "error"]);
    assert.equal(runs.lastSeq(id), 3);
    assert.equal(runs.info(id)!.status, "cancelled");
    assert.equal(runs.forget(id), false, "a finished run is not in flight");
    assert.equal(runs.cancel(id), false);
  },
);

forEachStore(
  "a flow that throws ends failed with one error event; a full log fails the run",
  async (make) => {
    const runs = await make({
      errorMessage: (e) => `flow broke: ${(e as Error).message}`,
      maxRunBytes: 300,
    });
    const flow = manual();
    const id = runs.start({ source: flow.source });
    flow.push("chunk", { text: "a" });
    await logged(runs, id, 2);
    flow.fail(new Error("boom"));
    await runs.ended(id);
    assert.equal(runs.info(id)!.status, "failed");
    const log = await drain(runs.watch(id, 0)!);
    assert.deepEqual(log.map((e) => e.type), ["run", "chunk", "error"]);
    assert.deepEqual(JSON.parse(log[2].data), { message: "flow broke: boom" });

    const big = manual();
    big.wound.resolve();
    const id2 = runs.start({ source: big.source });
    for (let i = 0; i < 20; i++) big.push("chunk", { text: "x".repeat(40) });
    await big.cancelled;
    await runs.ended(id2);
    const info = runs.info(id2)!;
    assert.equal(info.status, "failed");
    const log2 = await drain(runs.watch(id2, 0)!);
    assert.equal(log2.at(-1)!.type, "error");
    assert.match(JSON.parse(log2.at(-1)!.data).message, /limit of 300 characters/);
    assert.ok(log2.length < 10, `stopped at the limit: ${log2.length} events`);
  },
);

forEachStore("finished runs expire after the TTL; running ones never do", async (make) => {
  let now = 1_000_000;
  const runs = await make({ ttlMs: 60_000, now: () => now });
  const done = runs.start({ source: burst(3) });
  await runs.ended(done);
  const flow = manual();
  const running = runs.start({ source: flow.source });
  now += 59_000;
  assert.equal(runs.info(done)!.status, "done");
  now += 2_000;
  assert.deepEqual(runs.sweep(), [done]);
  assert.equal(runs.info(done), undefined);
  assert.equal(runs.watch(done, 0), undefined);
  assert.equal(runs.read(done, 0), undefined);
  now += 10_000_000;
  runs.sweep();
  assert.equal(runs.info(running)!.status, "running");
  assert.deepEqual(runs.list().map((r) => r.id), [running]);
  flow.end();
  await runs.ended(running);
});

forEachStore(
  "keep-alive: an idle viewer gets an empty batch, encoded as a comment",
  async (make) => {
    const runs = await make();
    const flow = manual();
    const id = runs.start({ source: flow.source });
    const reader = runEventsToSse(runs.watch(id, 1, { keepAliveMs: 5 })!)
      .pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>)
      .getReader();
    assert.equal((await reader.read()).value, ": keep-alive\n\n");
    flow.push("chunk", { text: "a" });
    let got = "";
    while (!got.includes("event: chunk")) got += (await reader.read()).value;
    assert.match(got, /id: 2\nevent: chunk\ndata: \{"text":"a"\}\n\n/);
    await reader.cancel();
    flow.end();
    await runs.ended(id);
  },
);

forEachStore(
  "a summary folds the events; recover() marks runs left running as interrupted",
  async (make) => {
    const reduce = (s: unknown, e: RunEvent) => {
      const sum = (s ?? { chunks: 0 }) as { chunks: number; answer?: string };
      if (e.type === "chunk") sum.chunks++;
      if (e.type === "answer") sum.answer = (e.data as { text: string }).text;
      return sum;
    };
    const first = await make({ reduce });
    const finished = first.start({ source: burst(4) });
    await first.ended(finished);
    assert.deepEqual(first.info(finished)!.summary, { chunks: 4 });
    const flow = manual();
    const unfinished = first.start({ source: flow.source });
    flow.push("chunk", { text: "a" });
    flow.push("answer", { text: "zero" });
    await logged(first, unfinished, 3);
    assert.deepEqual(first.info(unfinished)!.summary, { chunks: 1, answer: "zero" });
    // A second Runs over the same store: what a restarted server sees.
    const second = new Runs({ store: first.store, reduce });
    // Events still buffered for the batch write are lost with the process; flush them as a crash
    // after the timer would have.
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(second.recover(), [unfinished]);
    const info = second.info(unfinished)!;
    assert.equal(info.status, "interrupted");
    assert.deepEqual(info.summary, { chunks: 1, answer: "zero" });
    const log = await drain(second.watch(unfinished, 0)!);
    assert.deepEqual(log.map((e) => e.type), ["run", "chunk", "answer", "error"]);
    assert.match(JSON.parse(log[3].data).message, /interrupted/);
    assert.equal(second.info(finished)!.status, "done");
    flow.wound.resolve();
    await first.close();
  },
);
