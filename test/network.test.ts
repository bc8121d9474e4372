/**
 * The core runtime: delivery, fan-out/fan-in, joins, backpressure, tick rules, idle detection,
 * errors, timeouts, retry, shutdown, wiring errors, events and the seed's research topology.
 *
 * No wall-clock assertions: tests assert order and counts. A broken runtime fails a test through a
 * `whenIdle({ timeoutMs })` rejection or a deferred that never resolves (the harness timeout).
 */
import assert from "node:assert/strict";
import { deferred, test } from "./harness.ts";
import { researchNetwork } from "../src/research/run_research.ts";
import {
  Actor,
  type ActorContext,
  ActorError,
  type ActorLike,
  type ActorTemplate,
  type Message,
  Message as M,
  Network,
  NetworkError,
  type NetworkEvent,
} from "../src/mod.ts";

const IDLE = { timeoutMs: 5_000 };

/** Lets every pending microtask (and stream propagation) run: one macrotask turn, twice. */
async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((r) => setTimeout(r, 0));
}

/** A factory for a sink that records every message on its `in` port. */
function recorder(into: Message[], port = "in"): () => ActorLike {
  return () => ({
    inports: [port],
    outports: [],
    run(ctx: ActorContext) {
      into.push(ctx.inputs[port]);
    },
  });
}

/** A factory for a source that sends `count` strings `${prefix}${i}` when triggered. */
function source(prefix: string, count: number): () => ActorLike {
  return () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      for (let i = 0; i < count; i++) await ctx.send({ out: M.string(`${prefix}${i}`) });
    },
  });
}

function data(messages: Message[]): unknown[] {
  return messages.map((m) => m.data);
}

function collectEvents(net: Network): NetworkEvent[] {
  const events: NetworkEvent[] = [];
  net.on((e) => events.push(e));
  return events;
}

// ---------------------------------------------------------------------------------------------
// Delivery

test("ctx.send: the consumer fires before the producer's run returns", async () => {
  const net = new Network();
  const consumed = deferred();
  let producerReturned = false;
  let consumerSawReturned: boolean | undefined;
  net.registerActor("producer", () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      await ctx.send({ out: M.string("early") });
      await consumed.promise; // only the consumer resolves this
      producerReturned = true;
    },
  }));
  net.registerActor("consumer", () => ({
    inports: ["in"],
    outports: [],
    run(ctx: ActorContext) {
      assert.equal(ctx.inputs.in.data, "early");
      consumerSawReturned = producerReturned;
      consumed.resolve();
    },
  }));
  net.addNode("p", "producer").addNode("c", "consumer");
  net.addConnection("p", "out", "c", "in");
  net.addInitial("p", "go", M.flow());
  await net.start();
  await net.whenIdle(IDLE);
  assert.equal(consumerSawReturned, false);
  assert.equal(producerReturned, true);
  await net.shutdown();
});

test("fan-out: every connection gets a copy, and Object copies are independent", async () => {
  const net = new Network();
  const seen: Record<string, unknown[]> = { a: [], b: [], c: [] };
  net.registerActor("src", () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      await ctx.send({ out: M.object({ tags: [], n: 1 }) });
      ctx.done({ out: M.object({ tags: [], n: 2 }) });
    },
  }));
  net.registerActor("tagger", () => ({
    inports: ["in"],
    outports: [],
    run(ctx: ActorContext) {
      const d = ctx.inputs.in.data as { tags: string[]; n: number };
      d.tags.push(ctx.nodeId); // mutate the received copy
      seen[ctx.nodeId].push(structuredClone(d));
    },
  }));
  net.addNode("src", "src");
  for (const id of ["a", "b", "c"]) {
    net.addNode(id, "tagger");
    net.addConnection("src", "out", id, "in");
  }
  net.addInitial("src", "go", M.flow());
  await net.start();
  await net.whenIdle(IDLE);
  for (const id of ["a", "b", "c"]) {
    assert.deepEqual(seen[id], [{ tags: [id], n: 1 }, { tags: [id], n: 2 }], id);
  }
  await net.shutdown();
});

test("fan-in: packets interleave in arrival order across connections", async () => {
  const net = new Network();
  const got: Message[] = [];
  // Turn k is granted when the sink has received k packets; A sends on even turns, B on odd.
  const turns = Array.from({ length: 11 }, () => deferred());
  turns[0].resolve();
  const alternating = (prefix: string, parity: number) => () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      for (let i = 0; i < 5; i++) {
        await turns[2 * i + parity].promise;
        await ctx.send({ out: M.string(`${prefix}${i}`) });
      }
    },
  });
  net.registerActor("a", alternating("a", 0));
  net.registerActor("b", alternating("b", 1));
  net.registerActor("sink", () => ({
    inports: ["in"],
    outports: [],
    run(ctx: ActorContext) {
      got.push(ctx.inputs.in);
      turns[got.length].resolve();
    },
  }));
  net.addNode("a", "a").addNode("b", "b").addNode("sink", "sink");
  net.addConnection("a", "out", "sink", "in").addConnection("b", "out", "sink", "in");
  net.addInitial("a", "go", M.flow()).addInitial("b", "go", M.flow());
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(data(got), ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]);
  await net.shutdown();
});

test("fan-in takes packets in write order: a slow consumer still sees cause before effect", async () => {
  // A producer sends 10 chunks to a slow logger, then a finding to a relay, which answers with
  // a chunk of its own to the same logger: the relay's chunk was written after all 10, so the
  // logger must see it last even though its connection delivers it while 9 are still queued.
  const net = new Network();
  const logged: string[] = [];
  const gates: ReturnType<typeof deferred<void>>[] = [];
  const relayed = deferred();
  net.registerActor("producer", () => ({
    inports: ["go"],
    outports: ["chunk", "finding"],
    async run(ctx: ActorContext) {
      for (let i = 0; i < 10; i++) await ctx.send({ chunk: M.string(`p${i}`) });
      ctx.done({ finding: M.flow() });
    },
  }));
  net.registerActor("relay", () => ({
    inports: ["in"],
    outports: ["chunk"],
    async run(ctx: ActorContext) {
      await ctx.send({ chunk: M.string("relay") });
      relayed.resolve();
    },
  }));
  net.registerActor("logger", () => ({
    inports: ["chunk"],
    outports: [],
    async run(ctx: ActorContext) {
      logged.push(ctx.inputs.chunk.data as string);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
    },
  }));
  net.addNode("producer", "producer").addNode("relay", "relay").addNode("logger", "logger");
  net.addConnection("producer", "chunk", "logger", "chunk");
  net.addConnection("producer", "finding", "relay", "in");
  net.addConnection("relay", "chunk", "logger", "chunk");
  net.addInitial("producer", "go", M.flow());
  await net.start();
  // The logger is stuck on p0 until the relay's chunk is in its connection.
  await relayed.promise;
  for (let i = 0; i < 11; i++) {
    while (gates.length <= i) await new Promise((r) => setTimeout(r, 1));
    gates[i].resolve();
  }
  await net.whenIdle(IDLE);
  assert.deepEqual(logged, [...Array.from({ length: 10 }, (_, i) => `p${i}`), "relay"]);
  await net.shutdown();
});

test("fan-in: order within each connection is kept, nothing lost (3 × 200 packets)", async () => {
  const net = new Network();
  const got: Message[] = [];
  net.registerActor("sink", recorder(got));
  net.addNode("sink", "sink");
  for (const p of ["x", "y", "z"]) {
    net.registerActor(`src_${p}`, source(p, 200));
    net.addNode(p, `src_${p}`);
    net.addConnection(p, "out", "sink", "in", { capacity: 3 });
    net.addInitial(p, "go", M.flow());
  }
  await net.start();
  await net.whenIdle(IDLE);
  assert.equal(got.length, 600);
  for (const p of ["x", "y", "z"]) {
    const mine = data(got).filter((d) => (d as string)[0] === p);
    assert.deepEqual(mine, Array.from({ length: 200 }, (_, i) => `${p}${i}`));
  }
  await net.shutdown();
});

// ---------------------------------------------------------------------------------------------
// awaitAllInports

test("awaitAllInports counts ports, not packets, and queues the extra packets", async () => {
  const net = new Network();
  const ticks: Record<string, unknown>[] = [];
  let acks = 0;
  net.registerActor("join", () => ({
    inports: ["a", "b"],
    outports: ["ack"],
    awaitAllInports: true,
    run(ctx: ActorContext) {
      const t: Record<string, unknown> = {};
      for (const [port, m] of Object.entries(ctx.inputs)) t[port] = m.data;
      ticks.push(t);
      ctx.done({ ack: M.flow() });
    },
  }));
  // Sends b1 on its initial packet and b2 on the join's first ack: b2 exists only after tick 1.
  net.registerActor("feedB", () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      if (ctx.inputs.go.type === "Flow" && acks === 0) {
        acks = -1;
        await ctx.send({ out: M.integer(1) });
      } else if (acks === -1) {
        acks = 1;
        await ctx.send({ out: M.integer(2) });
      }
    },
  }));
  net.addNode("join", "join").addNode("feedB", "feedB");
  net.addConnection("feedB", "out", "join", "b");
  net.addConnection("join", "ack", "feedB", "go");
  for (const n of [1, 2, 3]) net.addInitial("join", "a", M.integer(n));
  net.addInitial("feedB", "go", M.flow());
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(ticks, [{ a: 1, b: 1 }, { a: 2, b: 2 }]);
  // a3 is still held, not dropped: the join waits for b.
  assert.deepEqual(net.waiting(), [{ actorId: "join", ports: ["b"] }]);
  await net.shutdown();
});

test("awaitAllInports: a3 fires as soon as b3 comes (nothing was dropped)", async () => {
  const net = new Network();
  const ticks: Record<string, unknown>[] = [];
  net.registerActor("join", () => ({
    inports: ["a", "b"],
    outports: [],
    awaitAllInports: true,
    run(ctx: ActorContext) {
      ticks.push({ a: ctx.inputs.a.data, b: ctx.inputs.b.data });
    },
  }));
  net.addNode("join", "join");
  for (const n of [1, 2, 3]) net.addInitial("join", "a", M.integer(n));
  for (const n of [1, 2, 3, 4]) net.addInitial("join", "b", M.integer(n));
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(ticks, [{ a: 1, b: 1 }, { a: 2, b: 2 }, { a: 3, b: 3 }]);
  assert.deepEqual(net.waiting(), [{ actorId: "join", ports: ["a"] }]);
  await net.shutdown();
});

test("without awaitAllInports: one tick per packet with only that port in inputs", async () => {
  const net = new Network();
  const ticks: Record<string, unknown>[] = [];
  net.registerActor("any", () => ({
    inports: ["a", "b"],
    outports: [],
    run(ctx: ActorContext) {
      const t: Record<string, unknown> = {};
      for (const [port, m] of Object.entries(ctx.inputs)) t[port] = m.data;
      ticks.push(t);
    },
  }));
  net.addNode("n", "any");
  for (const n of [1, 2, 3]) net.addInitial("n", "a", M.integer(n));
  net.addInitial("n", "b", M.integer(1));
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(ticks, [{ a: 1 }, { a: 2 }, { a: 3 }, { b: 1 }]);
  await net.shutdown();
});

// ---------------------------------------------------------------------------------------------
// Backpressure

for (const capacity of [1, 3]) {
  test(
    `backpressure: capacity ${capacity} and a stalled consumer → exactly ${
      capacity + 1
    } sends resolve`,
    async () => {
      const net = new Network();
      const total = capacity + 5;
      let accepted = 0;
      const stalled = deferred();
      const release = deferred();
      const got: Message[] = [];
      net.registerActor("producer", () => ({
        inports: ["go"],
        outports: ["out"],
        async run(ctx: ActorContext) {
          for (let i = 0; i < total; i++) {
            await ctx.send({ out: M.integer(i) });
            accepted++;
          }
        },
      }));
      net.registerActor("consumer", () => ({
        inports: ["in"],
        outports: [],
        async run(ctx: ActorContext) {
          got.push(ctx.inputs.in);
          if (got.length === 1) {
            stalled.resolve();
            await release.promise;
          }
        },
      }));
      net.addNode("p", "producer").addNode("c", "consumer");
      net.addConnection("p", "out", "c", "in", { capacity });
      net.addInitial("p", "go", M.flow());
      await net.start();
      await stalled.promise;
      await settle();
      // One packet is held by the running tick, `capacity` sit in the connection.
      assert.equal(accepted, capacity + 1);
      assert.equal(got.length, 1);
      await assert.rejects(net.whenIdle({ timeoutMs: 20 }), { name: "TimeoutError" });
      assert.equal(accepted, capacity + 1, "still blocked");
      release.resolve();
      await net.whenIdle(IDLE);
      assert.equal(accepted, total);
      assert.deepEqual(data(got), Array.from({ length: total }, (_, i) => i));
      await net.shutdown();
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Tick rules

test("ctx.send to an undeclared outport fails naming node and port", async () => {
  const net = new Network();
  const caught = deferred<unknown>();
  net.registerActor("bad", () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      try {
        await ctx.send({ nope: M.flow() });
        caught.resolve(undefined);
      } catch (e) {
        caught.resolve(e);
      }
    },
  }));
  net.addNode("badnode", "bad");
  net.addInitial("badnode", "go", M.flow());
  await net.start();
  const error = await caught.promise;
  assert.ok(error instanceof NetworkError);
  assert.match(error.message, /node "badnode" has no outport "nope"/);
  await net.whenIdle(IDLE);
  await net.shutdown();
});

test("done(): twice is an error, done(outputs) delivers, returning without done ends the tick", async () => {
  const net = new Network();
  const got: Message[] = [];
  const secondDone = deferred<unknown>();
  let implicitTicks = 0;
  net.registerActor("twice", () => ({
    inports: ["go"],
    outports: ["out"],
    run(ctx: ActorContext) {
      ctx.done({ out: M.string("final") });
      try {
        ctx.done();
        secondDone.resolve(undefined);
      } catch (e) {
        secondDone.resolve(e);
      }
    },
  }));
  net.registerActor("implicit", () => ({
    inports: ["in"],
    outports: ["out"],
    run(ctx: ActorContext) {
      implicitTicks++;
      return ctx.send({ out: ctx.inputs.in });
    },
  }));
  net.registerActor("sink", recorder(got));
  net.addNode("t", "twice").addNode("i", "implicit").addNode("s", "sink");
  net.addConnection("t", "out", "i", "in").addConnection("i", "out", "s", "in");
  net.addInitial("t", "go", M.flow()).addInitial("t", "go", M.flow());
  const events = collectEvents(net);
  await net.start();
  await net.whenIdle(IDLE);
  const e = await secondDone.promise;
  assert.ok(e instanceof NetworkError);
  assert.match(e.message, /node "t": done\(\) called twice/);
  // Two ticks of the implicit node: the first ended when its run returned.
  assert.equal(implicitTicks, 2);
  assert.deepEqual(data(got), ["final", "final"]);
  const completed = events.filter((x) => x._type === "ActorCompleted" && x.actorId === "i");
  assert.equal(completed.length, 2);
  const tCompleted = events.find((x) => x._type === "ActorCompleted" && x.actorId === "t");
  assert.deepEqual(tCompleted && "outputs" in tCompleted && tCompleted.outputs, {
    out: M.string("final"),
  });
  await net.shutdown();
});

test("one tick at a time per node, even under fan-in", async () => {
  const net = new Network();
  let concurrent = 0;
  let maxConcurrent = 0;
  let ticks = 0;
  net.registerActor("slow", () => ({
    inports: ["in"],
    outports: [],
    async run() {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      ticks++;
      for (let i = 0; i < 3; i++) await Promise.resolve();
      await new Promise((r) => setTimeout(r, 0));
      concurrent--;
    },
  }));
  net.addNode("slow", "slow");
  for (const p of ["a", "b", "c"]) {
    net.registerActor(p, source(p, 10));
    net.addNode(p, p);
    net.addConnection(p, "out", "slow", "in");
    net.addInitial(p, "go", M.flow());
  }
  await net.start();
  await net.whenIdle(IDLE);
  assert.equal(ticks, 30);
  assert.equal(maxConcurrent, 1);
  await net.shutdown();
});

test("one actor instance per node: classes and factories make fresh ones", async () => {
  const net = new Network();
  const classInstances = new Set<unknown>();
  const factoryInstances = new Set<unknown>();
  class Counter extends Actor {
    override inports = ["in"];
    override outports = [];
    count = 0;
    run() {
      classInstances.add(this);
      this.count++;
    }
  }
  net.registerActor("cls", Counter);
  net.registerActor("fac", () => {
    const actor = {
      inports: ["in"],
      outports: [],
      run() {
        factoryInstances.add(actor);
      },
    };
    return actor;
  });
  net.addNode("c1", "cls").addNode("c2", "cls").addNode("f1", "fac").addNode("f2", "fac");
  for (const id of ["c1", "c2", "f1", "f2"]) net.addInitial(id, "in", M.flow());
  net.addInitial("c1", "in", M.flow());
  await net.start();
  await net.whenIdle(IDLE);
  assert.equal(classInstances.size, 2);
  assert.equal(factoryInstances.size, 2);
  const counts = [...classInstances].map((c) => (c as Counter).count).sort();
  assert.deepEqual(counts, [1, 2]); // no shared state between c1 and c2
  await net.shutdown();
});

test("one actor instance per node: an instance used by a second node is a clear error", () => {
  const net = new Network();
  const instance: ActorLike = { inports: ["in"], outports: [], run() {} };
  net.registerActor("shared", instance);
  net.addNode("first", "shared");
  assert.throws(
    () => net.addNode("second", "shared"),
    (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /addNode\("second"\).*"shared".*already used by node "first"/);
      return true;
    },
  );
});

test("initial packets are delivered at start, in the order added", async () => {
  const net = new Network();
  const got: Message[] = [];
  net.registerActor("sink", () => ({
    inports: ["x", "y"],
    outports: [],
    run(ctx: ActorContext) {
      for (const m of Object.values(ctx.inputs)) got.push(m);
    },
  }));
  net.addNode("s", "sink");
  const order = [1, 2, 3, 4, 5, 6];
  for (const n of order) net.addInitial("s", n % 2 ? "x" : "y", M.integer(n));
  assert.equal(got.length, 0, "nothing before start");
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(data(got), order);
  await net.shutdown();
});

// ---------------------------------------------------------------------------------------------
// whenIdle

test("whenIdle resolves after the last packet: the sink has everything", async () => {
  const net = new Network();
  const got: Message[] = [];
  net.registerActor("src", source("p", 50));
  net.registerActor("pass", () => ({
    inports: ["in"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      await Promise.resolve();
      ctx.done({ out: ctx.inputs.in });
    },
  }));
  net.registerActor("sink", recorder(got));
  net.addNode("src", "src").addNode("m1", "pass").addNode("m2", "pass").addNode("sink", "sink");
  net.addConnection("src", "out", "m1", "in", { capacity: 2 });
  net.addConnection("m1", "out", "m2", "in", { capacity: 1 });
  net.addConnection("m2", "out", "sink", "in");
  net.addInitial("src", "go", M.flow());
  const events = collectEvents(net);
  const idle = net.whenIdle(IDLE); // asked before start: resolves on the first idle after start
  await net.start();
  await idle;
  assert.equal(got.length, 50);
  assert.deepEqual(data(got), Array.from({ length: 50 }, (_, i) => `p${i}`));
  // Exactly one NetworkIdle: no premature idle while packets were in flight.
  assert.equal(events.filter((e) => e._type === "NetworkIdle").length, 1);
  await net.whenIdle(IDLE); // idle now: resolves at once
  await net.shutdown();
});

test("whenIdle({ timeoutMs }) rejects when the network cannot go idle", async () => {
  const net = new Network();
  const started = deferred();
  net.registerActor("forever", () => ({
    inports: ["in"],
    outports: [],
    async run(ctx: ActorContext) {
      started.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    },
  }));
  net.addNode("f", "forever");
  net.addInitial("f", "in", M.flow());
  await net.start();
  await started.promise;
  await assert.rejects(net.whenIdle({ timeoutMs: 30 }), (e: unknown) => {
    assert.ok(e instanceof DOMException);
    assert.equal(e.name, "TimeoutError");
    assert.match(e.message, /not idle after 30 ms/);
    return true;
  });
  await net.shutdown();
});

test("a join that can never fire does not hang whenIdle; waiting() names the missing ports", async () => {
  const net = new Network();
  let fired = 0;
  net.registerActor("join", () => ({
    inports: ["facts", "stats", "quotes"],
    outports: [],
    awaitAllInports: true,
    run() {
      fired++;
    },
  }));
  // Three packets on one connection: the first parks in the join, the others wait in the stream
  // behind it; none of them can move, so none counts as in flight.
  net.registerActor("src", source("f", 3));
  net.addNode("join", "join").addNode("src", "src");
  net.addConnection("src", "out", "join", "facts");
  net.addInitial("src", "go", M.flow());
  net.addInitial("join", "stats", M.string("s"));
  assert.deepEqual(net.waiting(), []);
  await net.start();
  await net.whenIdle(IDLE);
  assert.equal(fired, 0);
  assert.deepEqual(net.waiting(), [{ actorId: "join", ports: ["quotes"] }]);
  await net.shutdown();
});

test("a join whose partner never fills holds its sender back; whenIdle's timeout names it", async () => {
  const net = new Network();
  net.registerActor("join", () => ({
    inports: ["a", "b"],
    outports: [],
    awaitAllInports: true,
    run() {},
  }));
  net.registerActor("src", source("a", 5));
  net.addNode("join", "join").addNode("src", "src");
  // Capacity 1: a0 parks in the join, a1 waits in the stream, a2's send waits for room.
  net.addConnection("src", "out", "join", "a", { capacity: 1 });
  net.addInitial("src", "go", M.flow());
  await net.start();
  await assert.rejects(net.whenIdle({ timeoutMs: 200 }), (e: unknown) => {
    assert.equal((e as DOMException).name, "TimeoutError");
    assert.match((e as Error).message, /joins holding packets: "join" waits for b/);
    return true;
  });
  await net.shutdown();
});

// ---------------------------------------------------------------------------------------------
// Errors

test("a throwing run emits ActorFailed with the node id and message", async () => {
  const net = new Network();
  net.registerActor("thrower", () => ({
    inports: ["in"],
    outports: [],
    run() {
      throw new Error("kaboom");
    },
  }));
  net.addNode("t", "thrower");
  net.addInitial("t", "in", M.flow());
  const events = collectEvents(net);
  await net.start();
  await net.whenIdle(IDLE);
  const failed = events.filter((e) => e._type === "ActorFailed");
  assert.equal(failed.length, 1);
  const f = failed[0] as Extract<NetworkEvent, { _type: "ActorFailed" }>;
  assert.equal(f.actorId, "t");
  assert.equal(f.error, "kaboom");
  assert.ok(f.cause instanceof Error);
  assert.equal(typeof f.timestamp, "number");
  assert.ok(!events.some((e) => e._type === "ActorCompleted" && e.actorId === "t"));
  await net.shutdown();
});

test("an actor declaring an `error` outport gets Message.error there", async () => {
  const net = new Network({ failFast: true }); // routed errors do not fail the network
  const errors: Message[] = [];
  const outs: Message[] = [];
  net.registerActor("picky", () => ({
    inports: ["in"],
    outports: ["out", "error"],
    async run(ctx: ActorContext) {
      if (ctx.inputs.in.data === 2) throw new Error("two is bad");
      await ctx.send({ out: ctx.inputs.in });
    },
  }));
  net.registerActor("errs", recorder(errors));
  net.registerActor("outs", recorder(outs));
  net.addNode("p", "picky").addNode("e", "errs").addNode("o", "outs");
  net.addConnection("p", "error", "e", "in").addConnection("p", "out", "o", "in");
  for (const n of [1, 2, 3]) net.addInitial("p", "in", M.integer(n));
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(errors, [M.error("two is bad")]);
  assert.deepEqual(data(outs), [1, 3]);
  await net.shutdown();
});

test("failFast: true aborts sibling ticks and rejects whenIdle with an ActorError", async () => {
  const net = new Network({ failFast: true });
  const siblingStarted = deferred();
  const siblingAborted = deferred<unknown>();
  net.registerActor("sibling", () => ({
    inports: ["in"],
    outports: [],
    async run(ctx: ActorContext) {
      siblingStarted.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      siblingAborted.resolve(ctx.signal.reason);
    },
  }));
  net.registerActor("bad", () => ({
    inports: ["in"],
    outports: [],
    async run() {
      await siblingStarted.promise;
      throw new Error("fatal");
    },
  }));
  net.addNode("sib", "sibling").addNode("badnode", "bad");
  net.addInitial("sib", "in", M.flow()).addInitial("badnode", "in", M.flow());
  const events = collectEvents(net);
  const idle = net.whenIdle(IDLE);
  await net.start();
  await assert.rejects(idle, (e: unknown) => {
    assert.ok(e instanceof ActorError);
    assert.equal(e.nodeId, "badnode");
    assert.match(e.message, /node "badnode" failed: fatal/);
    return true;
  });
  const reason = await siblingAborted.promise;
  assert.ok(reason instanceof ActorError);
  // Later calls reject the same way.
  await assert.rejects(net.whenIdle(), ActorError);
  await net.shutdown();
  assert.equal(events.at(-1)?._type, "NetworkShutdown");
});

test("failFast: false keeps the rest of the graph running", async () => {
  const net = new Network();
  const got: Message[] = [];
  net.registerActor("flaky", () => ({
    inports: ["in"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      if (ctx.inputs.in.data === "p2") throw new Error("flaked");
      await ctx.send({ out: ctx.inputs.in });
    },
  }));
  net.registerActor("src", source("p", 5));
  net.registerActor("sink", recorder(got));
  net.addNode("src", "src").addNode("flaky", "flaky").addNode("sink", "sink");
  net.addConnection("src", "out", "flaky", "in").addConnection("flaky", "out", "sink", "in");
  net.addInitial("src", "go", M.flow());
  const events = collectEvents(net);
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(data(got), ["p0", "p1", "p3", "p4"]);
  assert.equal(events.filter((e) => e._type === "ActorFailed").length, 1);
  await net.shutdown();
});

test("timeoutMs metadata aborts the tick's signal and fails the tick", async () => {
  const net = new Network();
  const aborted = deferred<unknown>();
  net.registerActor("stuck", () => ({
    inports: ["in"],
    outports: [],
    async run(ctx: ActorContext) {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      aborted.resolve(ctx.signal.reason);
    },
  }));
  net.addNode("stuck", "stuck", { timeoutMs: 30 });
  net.addInitial("stuck", "in", M.flow());
  const events = collectEvents(net);
  await net.start();
  await net.whenIdle(IDLE);
  const reason = await aborted.promise;
  assert.ok(reason instanceof Error);
  assert.equal(reason.name, "TimeoutError");
  const failed = events.filter((e) => e._type === "ActorFailed");
  assert.equal(failed.length, 1);
  assert.equal(failed[0]._type === "ActorFailed" && failed[0].actorId, "stuck");
  assert.match(
    failed[0]._type === "ActorFailed" ? failed[0].error : "",
    /node "stuck": tick timed out after 30 ms/,
  );
  await net.shutdown();
});

test("retry metadata re-runs a failing tick with attempts 1..n and stops after n", async () => {
  const net = new Network();
  const attempts: Record<string, number[]> = { always: [], once: [] };
  net.registerActor("failing", () => ({
    inports: ["in"],
    outports: [],
    run(ctx: ActorContext) {
      attempts[ctx.nodeId].push(ctx.attempt);
      assert.equal(ctx.inputs.in.data, "same input");
      if (ctx.nodeId === "always" || ctx.attempt < 2) throw new Error(`attempt ${ctx.attempt}`);
    },
  }));
  net.addNode("always", "failing", { retry: 2 });
  net.addNode("once", "failing", { retry: 3 });
  net.addInitial("always", "in", M.string("same input"));
  net.addInitial("once", "in", M.string("same input"));
  const events = collectEvents(net);
  await net.start();
  await net.whenIdle(IDLE);
  assert.deepEqual(attempts.always, [1, 2, 3]);
  assert.deepEqual(attempts.once, [1, 2]);
  const failed = events.filter((e) => e._type === "ActorFailed");
  assert.equal(failed.length, 1);
  assert.equal(failed[0]._type === "ActorFailed" && failed[0].error, "attempt 3");
  assert.ok(events.some((e) => e._type === "ActorCompleted" && e.actorId === "once"));
  await net.shutdown();
});

// ---------------------------------------------------------------------------------------------
// Shutdown

test("shutdown aborts a waiting tick, rejects pending whenIdle, is idempotent", async () => {
  const net = new Network();
  const started = deferred();
  const aborted = deferred<unknown>();
  net.registerActor("waiter", () => ({
    inports: ["in"],
    outports: [],
    async run(ctx: ActorContext) {
      started.resolve();
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      aborted.resolve(ctx.signal.reason);
    },
  }));
  net.addNode("w", "waiter");
  net.addInitial("w", "in", M.flow());
  await net.start();
  await started.promise;
  const idle = net.whenIdle();
  const first = net.shutdown();
  const second = net.shutdown();
  await Promise.all([first, second]);
  await net.shutdown();
  const reason = await aborted.promise;
  assert.ok(reason instanceof DOMException);
  assert.equal(reason.name, "AbortError");
  await assert.rejects(idle, { name: "AbortError" });
  await assert.rejects(net.whenIdle(), { name: "AbortError" });
});

test("shutdown resolves even when an actor ignores its signal", async () => {
  const net = new Network();
  const started = deferred();
  net.registerActor("deaf", () => ({
    inports: ["in"],
    outports: [],
    async run() {
      started.resolve();
      await new Promise(() => {}); // never settles, never looks at ctx.signal
    },
  }));
  net.addNode("d", "deaf");
  net.addInitial("d", "in", M.flow());
  await net.start();
  await started.promise;
  await net.shutdown();
  assert.equal(net.stopped, true);
});

test("a send blocked on a full connection rejects after shutdown", async () => {
  const net = new Network();
  const blocked = deferred();
  const outcome = deferred<unknown>();
  let accepted = 0;
  net.registerActor("producer", () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      try {
        for (let i = 0; i < 10; i++) {
          if (i === 3) blocked.resolve(); // capacity 1: sends 0, 1 resolve, send 2 blocks
          await ctx.send({ out: M.integer(i) });
          accepted++;
        }
        outcome.resolve("all sent");
      } catch (e) {
        outcome.resolve(e);
      }
    },
  }));
  net.registerActor("stalled", () => ({
    inports: ["in"],
    outports: [],
    run: () => new Promise(() => {}),
  }));
  net.addNode("p", "producer").addNode("s", "stalled");
  net.addConnection("p", "out", "s", "in", { capacity: 1 });
  net.addInitial("p", "go", M.flow());
  await net.start();
  await settle();
  assert.equal(accepted, 2);
  await net.shutdown();
  const e = await outcome.promise;
  assert.notEqual(e, "all sent");
  assert.equal(accepted, 2);
  // The never-resolving deferred `blocked` was not reached: the producer was stuck on send 2.
  void blocked;
});

test("a connection first used mid-flow holds its capacity, then blocks; shutdown releases it", async () => {
  // A connection's stream is made by its first packet: one that stays idle while the flow runs
  // (a finding not sent yet) must still take exactly `capacity` packets once used, and shutdown
  // must close it like the others.
  const net = new Network();
  const outcome = deferred<unknown>();
  const late = deferred();
  let accepted = 0;
  const heard: number[] = [];
  net.registerActor("producer", () => ({
    inports: ["go"],
    outports: ["early", "late"],
    async run(ctx: ActorContext) {
      for (let i = 0; i < 3; i++) await ctx.send({ early: M.integer(i) });
      await late.promise;
      try {
        for (let i = 0; i < 10; i++) {
          await ctx.send({ late: M.integer(i) });
          accepted++;
        }
        outcome.resolve("all sent");
      } catch (e) {
        outcome.resolve(e);
      }
    },
  }));
  net.registerActor("listener", () => ({
    inports: ["in"],
    outports: [],
    run(ctx: ActorContext) {
      heard.push(ctx.inputs.in.data as number);
    },
  }));
  net.registerActor("stalled", () => ({
    inports: ["in"],
    outports: [],
    run: () => new Promise(() => {}),
  }));
  net.addNode("p", "producer").addNode("l", "listener").addNode("s", "stalled");
  net.addConnection("p", "early", "l", "in");
  net.addConnection("p", "late", "s", "in", { capacity: 3 });
  net.addInitial("p", "go", M.flow());
  await net.start();
  await settle();
  assert.deepEqual(heard, [0, 1, 2]);
  late.resolve();
  await settle();
  // "stalled" holds packet 0 in its tick; the connection holds 1, 2, 3; send 4 waits.
  assert.equal(accepted, 4);
  await net.shutdown();
  const e = await outcome.promise;
  assert.notEqual(e, "all sent");
  assert.equal(accepted, 4);
});

// ---------------------------------------------------------------------------------------------
// Wiring errors

test("wiring errors are thrown at once and name the culprit", async () => {
  const net = new Network();
  const pass = () => ({ inports: ["in"], outports: ["out"], run() {} });
  net.registerActor("pass", pass);
  const fails = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof NetworkError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  fails(() => net.addNode("x", "missing"), /addNode\("x"\): no actor registered as "missing"/);
  net.addNode("a", "pass").addNode("b", "pass");
  fails(() => net.addNode("a", "pass"), /a node "a" exists already/);
  fails(() => net.addConnection("a", "out", "ghost", "in"), /unknown node "ghost"/);
  fails(() => net.addConnection("ghost", "out", "b", "in"), /unknown node "ghost"/);
  fails(() => net.addConnection("a", "nope", "b", "in"), /node "a" has no outport "nope"/);
  fails(() => net.addConnection("a", "out", "b", "nope"), /node "b" has no inport "nope"/);
  fails(() => net.addInitial("ghost", "in", M.flow()), /unknown node "ghost"/);
  fails(() => net.addInitial("a", "nope", M.flow()), /node "a" has no inport "nope"/);
  for (const capacity of [0, -1, 1.5, NaN]) {
    fails(() => net.addConnection("a", "out", "b", "in", { capacity }), /capacity must be/);
  }
  assert.throws(() => new Network({ capacity: 0 }), /capacity must be/);
  fails(() => net.addNode("c", "pass", { timeoutMs: -1 }), /metadata\.timeoutMs/);
  fails(() => net.addNode("c", "pass", { retry: 1.5 }), /metadata\.retry/);
  assert.throws(
    () => net.addInitial("a", "in", { type: "Integer", data: "x" }),
    /addInitial\("a", "in"\)\.data/,
  );
  fails(() => net.registerActor("bad", { inports: "in" } as unknown as ActorLike), /bad/);
  net.addConnection("a", "out", "b", "in");
  await net.start();
  fails(() => net.addNode("c", "pass"), /addNode\(\): the network has already been started/);
  fails(() => net.addConnection("a", "out", "b", "in"), /already been started/);
  fails(() => net.addInitial("a", "in", M.flow()), /already been started/);
  fails(() => net.registerActor("p2", pass), /already been started/);
  fails(() => net.start(), /already been started/);
  await net.shutdown();
});

// ---------------------------------------------------------------------------------------------
// Events

test("events(): a stream of { _type, ..., timestamp } in order, closed after shutdown", async () => {
  const net = new Network();
  net.registerActor("src", source("p", 2));
  net.registerActor("sink", recorder([]));
  net.addNode("src", "src").addNode("sink", "sink");
  net.addConnection("src", "out", "sink", "in");
  net.addInitial("src", "go", M.flow());
  const stream = net.events();
  const collected = (async () => {
    const out: NetworkEvent[] = [];
    for await (const e of stream) out.push(e);
    return out;
  })();
  await net.start();
  await net.whenIdle(IDLE);
  await net.shutdown();
  const events = await collected; // the stream closes, or the harness timeout fails the test
  const types = events.map((e) => e._type);
  assert.equal(types[0], "NetworkStarted");
  assert.equal(types.at(-1), "NetworkShutdown");
  assert.equal(types.filter((t) => t === "NetworkShutdown").length, 1);
  for (const e of events) assert.equal(typeof e.timestamp, "number", e._type);
  const idx = (pred: (e: NetworkEvent) => boolean) => events.findIndex(pred);
  const srcStart = idx((e) => e._type === "ActorStarted" && e.actorId === "src");
  const srcDone = idx((e) => e._type === "ActorCompleted" && e.actorId === "src");
  const firstSent = idx((e) => e._type === "MessageSent");
  const sinkStart = idx((e) => e._type === "ActorStarted" && e.actorId === "sink");
  const idle = idx((e) => e._type === "NetworkIdle");
  assert.ok(0 < srcStart && srcStart < firstSent && firstSent < srcDone, types.join());
  assert.ok(firstSent < sinkStart, types.join());
  assert.ok(srcDone < idle && idle < events.length - 1, types.join());
  const sent = events.filter((e) => e._type === "MessageSent");
  assert.equal(sent.length, 2);
  assert.deepEqual(
    sent.map((e) => e._type === "MessageSent" && [e.fromActor, e.fromPort, e.toActor, e.toPort]),
    [["src", "out", "sink", "in"], ["src", "out", "sink", "in"]],
  );
  assert.deepEqual(sent.map((e) => e._type === "MessageSent" && e.message), [
    M.string("p0"),
    M.string("p1"),
  ]);
  assert.equal(
    events.filter((e) => e._type === "ActorCompleted" && e.actorId === "sink").length,
    2,
  );
});

// ---------------------------------------------------------------------------------------------
// The seed's research topology, with plain actors

test("research topology: logger interleaves role-tagged chunks, sink gets one answer", async () => {
  const logged: { role: string; text: string; first: boolean }[] = [];
  const answers: Message[] = [];
  const yieldTurn = () => new Promise((r) => setTimeout(r, 0));
  const specialist = (role: string) => () => ({
    inports: ["topic"],
    outports: ["chunk", "finding"],
    async run(ctx: ActorContext) {
      const topic = ctx.inputs.topic.data as string;
      const words = [`${role}:`, "about", topic, "in", "five", "words"];
      for (let i = 0; i < words.length; i++) {
        await ctx.send({ chunk: M.object({ role, text: words[i], first: i === 0 }) });
        await yieldTurn();
      }
      ctx.done({ finding: M.string(words.join(" ")) });
    },
  });
  const actors: Record<string, ActorTemplate> = {
    tpl_factual: specialist("facts"),
    tpl_statistician: specialist("stats"),
    tpl_quoter: specialist("quotes"),
    tpl_synthesizer: () => ({
      inports: ["facts", "stats", "quotes"],
      outports: ["chunk", "answer"],
      awaitAllInports: true,
      async run(ctx: ActorContext) {
        const parts = ["facts", "stats", "quotes"].map((p) => ctx.inputs[p].data as string);
        for (let i = 0; i < parts.length; i++) {
          await ctx.send({ chunk: M.object({ role: "answer", text: parts[i], first: i === 0 }) });
          await yieldTurn();
        }
        ctx.done({ answer: M.string(parts.join(" | ")) });
      },
    }),
    tpl_logger: () => ({
      inports: ["chunk"],
      outports: [],
      run(ctx: ActorContext) {
        logged.push(ctx.inputs.chunk.data as { role: string; text: string; first: boolean });
        ctx.done();
      },
    }),
    tpl_sink: recorder(answers, "answer"),
  };
  // The wiring is the research flow's own, with plain actors in place of the LLM agents.
  const net = researchNetwork("the history of zero", actors);
  await net.start();
  await net.whenIdle(IDLE);

  assert.equal(logged.length, 3 * 6 + 3);
  const firstAnswer = logged.findIndex((c) => c.role === "answer");
  const before = logged.slice(0, firstAnswer);
  assert.equal(before.length, 18, "every specialist chunk precedes the synthesizer's");
  // Interleaved: the role changes many more times than the 2 a sequential run would show.
  let switches = 0;
  for (let i = 1; i < before.length; i++) if (before[i].role !== before[i - 1].role) switches++;
  assert.ok(switches >= 6, `only ${switches} role switches: ${before.map((c) => c.role)}`);
  for (const role of ["facts", "stats", "quotes", "answer"]) {
    const mine = logged.filter((c) => c.role === role);
    assert.deepEqual(mine.map((c) => c.first), mine.map((_, i) => i === 0), role);
  }
  assert.equal(answers.length, 1);
  const answer = answers[0].data as string;
  for (const role of ["facts", "stats", "quotes"]) {
    assert.ok(answer.includes(`${role}: about the history of zero in five words`), answer);
  }
  await net.shutdown();
});
