/**
 * The core benchmark: the Network against raw `TransformStream`s of the same shape (JS pumps),
 * the physical limit of "every connection is a stream". Web-standard APIs only (performance.now,
 * streams), so the same module runs under Node, Deno and inside workerd.
 *
 * Method as in notes/streams-limits.md: calibrate n until one run takes ≥ 62 ms, scale it to
 * ~250 ms, 3 untimed warm-ups (re-scaling n each time), then 5 timed runs and keep the median.
 */
import { type ActorContext, type Message, Network } from "../src/mod.ts";

/** One figure pair for one side (network or raw). */
export interface Figures {
  /** Source packets per second, back to back (`await send` / `await write` per packet). */
  pps: number;
  /** Mean idle latency head → tail of one packet, µs. */
  latencyUs: number;
  /** `latencyUs` divided by the number of hops on the path. */
  perHopUs: number;
}

export interface ShapeResult {
  shape: string;
  /** Connections on the path from source to sink. */
  hops: number;
  network: Figures;
  raw: Figures;
  /** network ÷ raw: throughput (target ≥ 0.6) and per-hop latency (target ≤ 1.5). */
  ratio: { throughput: number; latency: number };
}

export interface Result {
  runtime: { name: string; version: string };
  date: string;
  method: string;
  targets: { throughputRatioMin: number; latencyRatioMax: number };
  shapes: ShapeResult[];
}

/** A shape under test: something that moves `n` packets, or pings one packet `n` times. */
interface Rig {
  /** Sends n packets back to back; resolves when the tail has all (× fan-out) of them. */
  burst(n: number): Promise<void>;
  /** n sequential pings: one packet in, wait until it (all its copies) came out. */
  ping(n: number): Promise<void>;
  close(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export function runtimeInfo(): { name: string; version: string } {
  if (g.Deno?.version) return { name: "deno", version: g.Deno.version.deno };
  if (g.navigator?.userAgent === "Cloudflare-Workers") return { name: "workerd", version: "" };
  if (g.process?.versions?.node) return { name: "node", version: g.process.versions.node };
  return { name: "unknown", version: "" };
}

/** A counter the tail bumps; `until(k)` resolves once it reached k. */
class Counter {
  count = 0;
  private target = Infinity;
  private resolve: (() => void) | undefined;
  add(): void {
    if (++this.count >= this.target) {
      const r = this.resolve!;
      this.target = Infinity;
      this.resolve = undefined;
      r();
    }
  }
  until(k: number): Promise<void> {
    if (this.count >= k) return Promise.resolve();
    return new Promise((resolve) => {
      this.target = k;
      this.resolve = resolve;
    });
  }
}

/** Jobs for a source that lives in a never-ending tick: how many packets to send next. */
class Jobs {
  private queue: number[] = [];
  private waiter: ((n: number) => void) | undefined;
  push(n: number): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(n);
    } else this.queue.push(n);
  }
  next(): Promise<number> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

function packet(i: number): Message {
  return { type: "Integer", data: i };
}

async function drive(jobs: Jobs, counter: Counter, copies: number, n: number, ping: boolean) {
  if (!ping) {
    const target = counter.count + n * copies;
    jobs.push(n);
    return counter.until(target);
  }
  for (let i = 0; i < n; i++) {
    const target = counter.count + copies;
    jobs.push(1);
    await counter.until(target);
  }
}

/**
 * The Network: a source whose one tick sends what `jobs` asks for, `middle` layers of
 * pass-through actors (`width` wide; fan-out from the source and fan-in to the sink when > 1),
 * and a counting sink.
 */
async function networkRig(
  layers: number,
  width: number,
  mode: "done" | "send",
): Promise<Rig> {
  const net = new Network();
  const jobs = new Jobs();
  const counter = new Counter();
  net.registerActor("source", () => ({
    inports: ["go"],
    outports: ["out"],
    async run(ctx: ActorContext) {
      for (let i = 0;;) {
        const n = await jobs.next();
        for (const end = i + n; i < end; i++) await ctx.send({ out: packet(i) });
      }
    },
  }));
  net.registerActor("pass", () => ({
    inports: ["in"],
    outports: ["out"],
    run: mode === "done"
      ? (ctx: ActorContext) => ctx.done({ out: ctx.inputs.in })
      : (ctx: ActorContext) => ctx.send({ out: ctx.inputs.in }),
  }));
  net.registerActor("sink", () => ({
    inports: ["in"],
    outports: [],
    run() {
      counter.add();
    },
  }));
  net.addNode("source", "source").addNode("sink", "sink");
  for (let w = 0; w < width; w++) {
    let prev = "source";
    for (let l = 0; l < layers; l++) {
      const id = `p${w}_${l}`;
      net.addNode(id, "pass");
      net.addConnection(prev, "out", id, "in");
      prev = id;
    }
    net.addConnection(prev, "out", "sink", "in");
  }
  net.addInitial("source", "go", { type: "Flow" });
  await net.start();
  return {
    burst: (n) => drive(jobs, counter, width, n, false),
    ping: (n) => drive(jobs, counter, width, n, true),
    close: () => net.shutdown(),
  };
}

/** Same capacity strategy as a Network connection: writable HWM 1, readable HWM 64. */
function stream(): TransformStream<Message, Message> {
  return new TransformStream<Message, Message>(undefined, { highWaterMark: 1 }, {
    highWaterMark: 64,
  });
}

async function pump(
  from: ReadableStreamDefaultReader<Message>,
  to: WritableStreamDefaultWriter<Message>,
): Promise<void> {
  for (;;) {
    const r = await from.read();
    if (r.done) return to.close();
    await to.write(r.value);
  }
}

/**
 * Raw streams of the same shape: `width` branches of `layers + 1` TransformStreams, a JS pump
 * between consecutive streams (the pass-through component), the source writing each packet to
 * every branch head (`await` per write), one reader loop per branch tail counting arrivals.
 */
function rawRig(layers: number, width: number): Rig {
  const counter = new Counter();
  const heads: WritableStreamDefaultWriter<Message>[] = [];
  const tails: Promise<void>[] = [];
  for (let w = 0; w < width; w++) {
    const chain = Array.from({ length: layers + 1 }, stream);
    heads.push(chain[0].writable.getWriter());
    for (let l = 0; l < layers; l++) {
      pump(chain[l].readable.getReader(), chain[l + 1].writable.getWriter());
    }
    const tail = chain[layers].readable.getReader();
    tails.push((async () => {
      for (;;) {
        const r = await tail.read();
        if (r.done) return;
        counter.add();
      }
    })());
  }
  let i = 0;
  const send = async (n: number) => {
    for (const end = i + n; i < end; i++) {
      const p = packet(i);
      if (width === 1) await heads[0].write(p);
      else await Promise.all(heads.map((h) => h.write(p)));
    }
  };
  return {
    async burst(n) {
      const target = counter.count + n * width;
      await send(n);
      await counter.until(target);
    },
    async ping(n) {
      for (let k = 0; k < n; k++) {
        const target = counter.count + width;
        await send(1);
        await counter.until(target);
      }
    },
    async close() {
      // Await close and drain every stream (workerd has crashed on unawaited teardown).
      await Promise.all(heads.map((h) => h.close()));
      await Promise.all(tails);
    },
  };
}

/** Calibrated median time per item, ms. */
export async function timePerItem(run: (n: number) => Promise<void>): Promise<number> {
  const once = async (n: number) => {
    const t0 = performance.now();
    await run(n);
    return performance.now() - t0;
  };
  let n = 8;
  let ms = await once(n);
  while (ms < 62) {
    n *= 2;
    ms = await once(n);
  }
  const scale = (ms: number) => Math.max(1, Math.round((n * 250) / Math.max(ms, 1)));
  n = scale(ms);
  for (let w = 0; w < 3; w++) n = scale(await once(n));
  const times: number[] = [];
  for (let r = 0; r < 5; r++) times.push((await once(n)) / n);
  times.sort((a, b) => a - b);
  return times[2];
}

async function figures(make: () => Promise<Rig> | Rig, hops: number): Promise<Figures> {
  const rig = await make();
  try {
    const burstMs = await timePerItem((n) => rig.burst(n));
    const pingMs = await timePerItem((n) => rig.ping(n));
    const latencyUs = pingMs * 1000;
    return { pps: 1000 / burstMs, latencyUs, perHopUs: latencyUs / hops };
  } finally {
    await rig.close();
  }
}

interface Shape {
  name: string;
  layers: number;
  width: number;
  mode: "done" | "send";
}

const SHAPES: Shape[] = [
  { name: "chain 1", layers: 0, width: 1, mode: "done" },
  { name: "chain 10", layers: 9, width: 1, mode: "done" },
  { name: "chain 10 (ctx.send)", layers: 9, width: 1, mode: "send" },
  { name: "chain 100", layers: 99, width: 1, mode: "done" },
  { name: "fan-out/in 1→3→1", layers: 1, width: 3, mode: "done" },
];

/**
 * Runs every shape, network and raw side by side. A "chain N" has N connections: source,
 * N−1 pass-through nodes, sink; the fan shape has 2 hops on each of its 3 paths.
 */
export async function runCoreBench(
  log: (line: string) => void = () => {},
): Promise<Result> {
  const shapes: ShapeResult[] = [];
  for (const s of SHAPES) {
    const hops = s.layers + 1;
    const raw = await figures(() => rawRig(s.layers, s.width), hops);
    const network = await figures(() => networkRig(s.layers, s.width, s.mode), hops);
    const result: ShapeResult = {
      shape: s.name,
      hops,
      network,
      raw,
      ratio: {
        throughput: network.pps / raw.pps,
        latency: network.perHopUs / raw.perHopUs,
      },
    };
    shapes.push(result);
    log(formatShape(result));
  }
  return {
    runtime: runtimeInfo(),
    date: new Date().toISOString(),
    method: "calibrate n to ~250 ms, 3 warm-ups, median of 5 timed runs; one process, " +
      "shapes in sequence, raw then network",
    targets: { throughputRatioMin: 0.6, latencyRatioMax: 1.5 },
    shapes,
  };
}

function fmt(x: number, digits = 1): string {
  return x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(digits);
}

export function formatShape(r: ShapeResult): string {
  return `${r.shape.padEnd(22)} network ${fmt(r.network.pps).padStart(7)} pkt/s ` +
    `${r.network.perHopUs.toFixed(2).padStart(6)} µs/hop | raw ${fmt(r.raw.pps).padStart(7)} ` +
    `pkt/s ${r.raw.perHopUs.toFixed(2).padStart(6)} µs/hop | throughput ×${
      r.ratio.throughput.toFixed(2)
    } latency ×${r.ratio.latency.toFixed(2)}`;
}
