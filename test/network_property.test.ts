/**
 * Property: on any DAG of pass-through actors, with random fan-out/fan-in, packet counts and
 * connection capacities, every packet arrives exactly once on every edge copy, in order per
 * connection, and whenIdle() resolves.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./harness.ts";
import { type ActorContext, Message, Network } from "../src/mod.ts";

interface Tagged {
  origin: string;
  seq: number;
  /** The nodes this copy went through, ending with the node that received it. */
  path: string[];
}

const dag = fc.integer({ min: 2, max: 7 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    // Candidate edges i → j (i < j) with a capacity each; duplicates are dropped.
    edges: fc.uniqueArray(
      fc.tuple(fc.integer({ min: 0, max: n - 2 }), fc.integer({ min: 1, max: n - 1 }))
        .filter(([i, j]) => i < j),
      { selector: ([i, j]) => `${i}>${j}`, maxLength: (n * (n - 1)) / 2 },
    ),
    capacities: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 21, maxLength: 21 }),
    counts: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: n, maxLength: n }),
    // Per node: forward with ctx.send (true) or ctx.done (false), and whether to yield first.
    useSend: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    yields: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
  })
);

test("property: random DAGs deliver every packet once per edge copy, in order", async () => {
  await fc.assert(
    fc.asyncProperty(dag, async ({ n, edges, capacities, counts, useSend, yields }) => {
      const ids = Array.from({ length: n }, (_, i) => `n${i}`);
      const received = new Map<string, Tagged[]>(ids.map((id) => [id, []]));
      const net = new Network();
      ids.forEach((id, i) => {
        net.registerActor(id, () => ({
          inports: ["in"],
          outports: ["out"],
          async run(ctx: ActorContext) {
            const msg = ctx.inputs.in;
            const d = msg.data as { origin: string; seq: number; path?: string[] };
            const tagged: Tagged = { origin: d.origin, seq: d.seq, path: [...(d.path ?? []), id] };
            received.get(id)!.push(tagged);
            for (let k = 0; k < yields[i]; k++) await Promise.resolve();
            const out = { out: Message.object(tagged) };
            if (useSend[i]) await ctx.send(out);
            else ctx.done(out);
          },
        }));
        net.addNode(id, id);
      });
      const incoming = new Map<number, number[]>();
      edges.forEach(([i, j], k) => {
        net.addConnection(ids[i], "out", ids[j], "in", { capacity: capacities[k] });
        incoming.set(j, [...(incoming.get(j) ?? []), i]);
      });
      // Sources (no incoming edge) get their packets as initial packets.
      const sources = ids.map((_, i) => i).filter((i) => !incoming.has(i));
      for (const i of sources) {
        for (let seq = 0; seq < counts[i]; seq++) {
          net.addInitial(ids[i], "in", { type: "Object", data: { origin: ids[i], seq } });
        }
      }
      await net.start();
      await net.whenIdle({ timeoutMs: 10_000 });
      await net.shutdown();

      // Expected arrivals at each node, computed in topological (index) order.
      const key = (t: Tagged) => `${t.origin}#${t.seq}@${t.path.join(">")}`;
      for (let j = 0; j < n; j++) {
        const got = received.get(ids[j])!;
        const expected: string[] = [];
        if (!incoming.has(j)) {
          for (let seq = 0; seq < counts[j]; seq++) expected.push(`${ids[j]}#${seq}@${ids[j]}`);
          assert.deepEqual(got.map(key), expected, `${ids[j]} got its initials in order`);
          continue;
        }
        // Exactly once per edge copy: the multiset of arrivals is the union over upstream edges.
        for (const i of incoming.get(j)!) {
          const fromI = received.get(ids[i])!.map((t) => ({ ...t, path: [...t.path, ids[j]] }));
          expected.push(...fromI.map(key));
          // In order per connection: what came over i → j is what i received, in i's order.
          const overEdge = got.filter((t) => t.path.at(-2) === ids[i]).map(key);
          assert.deepEqual(overEdge, fromI.map(key), `edge ${ids[i]} → ${ids[j]} in order`);
        }
        assert.deepEqual([...got.map(key)].sort(), expected.sort(), `${ids[j]} exactly once`);
      }
    }),
    { numRuns: 150 },
  );
}, { timeout: 60_000 });
