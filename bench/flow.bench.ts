/**
 * The flow benchmark: what one live research flow costs in memory, and what the runtime costs
 * per flow in CPU, on the in-process offline model and on plain actors (no LLM client at all).
 *
 * Node:  `npm run bench:flow` (= `node --expose-gc --import tsx bench/flow.bench.ts`)
 * Deno:  `deno run -A --v8-flags=--expose-gc bench/flow.bench.ts`
 *
 * Writes bench/results/flow.json (Node) or flow.<runtime>.json.
 *
 * Memory: heapUsed after 2× gc(), before vs. with N flows live and parked mid-stream (every
 * specialist has had its first token and waits for the next), against a floor of 8 N bare
 * connection streams (the same TransformStream strategy, writer + reader held, read() pending):
 * 8 connections per research flow. Then every flow is aborted and the heap checked against the
 * baseline. CPU: the lib's calibrated median (≈250 ms runs, 3 warm-ups, median of 5).
 */
import { Actor, type ActorContext, Message } from "../src/mod.ts";
import { DEFAULT_CAPACITY } from "../src/connection.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { detectRole, offlineReply, offlineTokens, parseTopic } from "../src/llm/offline_text.ts";
import {
  Logger,
  type ResearchFormat,
  researchNetwork,
  runResearch,
  Sink,
} from "../src/research/mod.ts";
import { runtimeInfo, timePerItem } from "./lib.ts";

const FLOWS = 1000;
/** `--memory`: the memory figures only (printed, not written), e.g. to compare a change. */
const MEMORY_ONLY = cliArgs().includes("--memory");

/** The command line's arguments, on Node or Deno. */
function cliArgs(): string[] {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  return g.Deno?.args ?? g.process?.argv?.slice(2) ?? [];
}
const CONNECTIONS_PER_FLOW = 8;
const TOPIC = "the history of zero";
const TARGET_RATIO = 1.5;

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

if (typeof g.gc !== "function") {
  throw new Error(
    "run with gc exposed: node --expose-gc --import tsx bench/flow.bench.ts, or " +
      "deno run -A --v8-flags=--expose-gc bench/flow.bench.ts",
  );
}

function heapUsed(): number {
  return g.Deno?.memoryUsage ? g.Deno.memoryUsage().heapUsed : g.process.memoryUsage().heapUsed;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** heapUsed after two full collections, a macrotask apart (lets finalisers and timers run). */
async function settledHeap(): Promise<number> {
  await sleep(20);
  g.gc();
  await sleep(20);
  g.gc();
  return heapUsed();
}

const kb = (bytes: number) => bytes / 1024;

// ---------------------------------------------------------------------------------------------
// Plain actors with the research topology: no openai client, no fetch.

/** Chunks each role sends on the offline model (measured once, so plain actors match it). */
interface ChunkCounts {
  facts: number;
  stats: number;
  quotes: number;
  answer: number;
}

async function offlineChunkCounts(): Promise<ChunkCounts> {
  const counts: Record<string, number> = { facts: 0, stats: 0, quotes: 0, answer: 0 };
  const roleOf: ResearchFormat = (event) => event.event === "chunk" ? event.role : "";
  await runResearch(TOPIC, {
    llm: { fetch: createOfflineModel().fetch },
    format: roleOf,
    output: new WritableStream<string>({
      write(role) {
        counts[role]++;
      },
    }),
  });
  return counts as unknown as ChunkCounts;
}

/** The templates researchNetwork names, as plain actors: `parked` specialists never finish. */
function plainActors(counts: ChunkCounts, parked: boolean) {
  const specialist = (role: "facts" | "stats" | "quotes") => () =>
    new (class extends Actor {
      override inports = ["topic"];
      override outports = ["chunk", "finding"];
      async run(ctx: ActorContext) {
        let text = "";
        const n = parked ? 1 : counts[role];
        for (let i = 0; i < n; i++) {
          const delta = ` ${role}${i}`;
          text += delta;
          await ctx.send({ chunk: Message.object({ role, text: delta, first: i === 0 }) });
        }
        if (parked) {
          // Mid-stream: waits for a next token that never comes, until the flow is aborted.
          await new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true })
          );
        }
        ctx.done({ finding: Message.string(text) });
      }
    })();
  const synthesizer = () =>
    new (class extends Actor {
      override inports = ["facts", "stats", "quotes"];
      override outports = ["chunk", "answer"];
      override awaitAllInports = true;
      async run(ctx: ActorContext) {
        let text = "";
        for (let i = 0; i < counts.answer; i++) {
          const delta = ` answer${i}`;
          text += delta;
          await ctx.send({
            chunk: Message.object({ role: "answer", text: delta, first: i === 0 }),
          });
        }
        ctx.done({ answer: Message.string(text) });
      }
    })();
  return (onAnswer: (a: string) => void) => ({
    tpl_factual: specialist("facts"),
    tpl_statistician: specialist("stats"),
    tpl_quoter: specialist("quotes"),
    tpl_synthesizer: synthesizer,
    tpl_logger: () => new Logger(),
    tpl_sink: () => new Sink(onAnswer),
  });
}

/** One research flow on plain actors, start to shutdown, as runResearch runs it. */
async function plainFlow(actors: ReturnType<typeof plainActors>): Promise<string> {
  let answer: string | undefined;
  const net = researchNetwork(TOPIC, actors((a) => (answer = a)));
  try {
    await net.start();
    await net.whenIdle();
  } finally {
    await net.shutdown();
  }
  if (answer === undefined) throw new Error("plain flow: no answer");
  return answer;
}

/**
 * The offline model's replies as an event stream with no timer at all: the offline model's
 * `tokenDelayMs: 0` still waits `setTimeout(0)` per token (≥ 1 ms on Node), which makes a flow
 * timer-bound. This isolates runtime + openai SDK + fetch/Response from pacing.
 */
function instantModel(): typeof fetch {
  const encoder = new TextEncoder();
  return (_input: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as {
      messages: { role: string; content: string }[];
    };
    const system = body.messages.find((m) => m.role === "system")?.content ?? "";
    const user = body.messages.findLast((m) => m.role === "user")?.content ?? "";
    const tokens = offlineTokens(offlineReply(detectRole(system, user), parseTopic(user), user));
    const frame = (delta: Record<string, string>, finish: string | null) =>
      encoder.encode(
        `data: ${
          JSON.stringify({
            id: "chatcmpl-instant",
            object: "chat.completion.chunk",
            created: 0,
            model: "offline",
            choices: [{ index: 0, delta, finish_reason: finish }],
          })
        }\n\n`,
      );
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent < tokens.length) {
          controller.enqueue(frame({ content: tokens[sent++] }, null));
        } else {
          controller.enqueue(frame({}, "stop"));
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          controller.close();
        }
      },
    }, { highWaterMark: 0 });
    return Promise.resolve(
      new Response(stream, { headers: { "content-type": "text/event-stream" } }),
    );
  };
}

// ---------------------------------------------------------------------------------------------
// Memory

interface MemoryFigures {
  flows: number;
  baselineMB: number;
  liveMB: number;
  afterAbortMB: number;
  heapPerFlowKB: number;
  /** heapPerFlowKB ÷ streamFloorPerFlowKB. */
  ratio: number;
  /** Heap left after aborting every flow, over the baseline, per flow (KB). */
  leakPerFlowKB: number;
  setupMs: number;
}

interface FloorFigures {
  streams: number;
  perStreamKB: number;
  streamFloorPerFlowKB: number;
  /** Heap left after closing every stream, over the baseline, per stream (KB). */
  leakPerStreamKB: number;
}

/** 8 N bare connection streams, as openConnection makes them, each with a read() pending. */
async function measureFloor(n: number): Promise<FloorFigures> {
  const count = n * CONNECTIONS_PER_FLOW;
  const make = () => {
    const ts = new TransformStream<Message, Message>(undefined, { highWaterMark: 1 }, {
      highWaterMark: DEFAULT_CAPACITY,
    });
    const writer = ts.writable.getWriter();
    const reader = ts.readable.getReader();
    const pending = reader.read();
    pending.catch(() => {});
    return { writer, reader, pending };
  };
  // Warm-up: the same code once, so that its compilation is not in the figure.
  const warm = Array.from({ length: 100 }, make);
  await Promise.all(warm.map((s) => Promise.allSettled([s.reader.cancel(), s.writer.abort()])));
  warm.length = 0;
  const baseline = await settledHeap();
  let streams: ReturnType<typeof make>[] = Array.from({ length: count }, make);
  const live = await settledHeap();
  await Promise.all(streams.map((s) => Promise.allSettled([s.reader.cancel(), s.writer.abort()])));
  streams = [];
  const after = await settledHeap();
  const perStream = (live - baseline) / count;
  return {
    streams: count,
    perStreamKB: kb(perStream),
    streamFloorPerFlowKB: kb(perStream * CONNECTIONS_PER_FLOW),
    leakPerStreamKB: kb((after - baseline) / count),
  };
}

/**
 * N research flows on the offline model, each specialist parked after its first token (the next
 * is 10 minutes away); aborted through runResearch's signal.
 */
async function measureLlmFlows(n: number, floorPerFlowKB: number): Promise<MemoryFigures> {
  const model = createOfflineModel({ firstTokenDelayMs: 0, tokenDelayMs: 600_000 });
  const launch = (count: number) => {
    const controllers: AbortController[] = [];
    const ends: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      ends.push(
        runResearch(TOPIC, { llm: { fetch: model.fetch }, signal: controller.signal }).catch(
          (e) => e,
        ),
      );
    }
    return { controllers, ends };
  };
  const parkedAll = async (requests: number) => {
    while (model.stats.started < requests) await sleep(10);
    await sleep(200); // first tokens: firstTokenDelayMs 0 is one timer away
  };
  // Warm-up: compile every path (client, request, stream parser, abort) outside the figure.
  {
    const w = launch(20);
    await parkedAll(60);
    for (const c of w.controllers) c.abort();
    await Promise.all(w.ends);
  }
  const started = model.stats.started;
  const baseline = await settledHeap();
  const t0 = performance.now();
  let flows: ReturnType<typeof launch> | undefined = launch(n);
  await parkedAll(started + 3 * n);
  const setupMs = performance.now() - t0;
  const live = await settledHeap();
  if (model.stats.active !== 3 * n) {
    throw new Error(`expected ${3 * n} requests in flight, got ${model.stats.active}`);
  }
  for (const c of flows.controllers) c.abort();
  const outcomes = await Promise.all(flows.ends);
  const wrong = outcomes.filter((e) => !(e instanceof DOMException && e.name === "AbortError"));
  if (wrong.length) throw new Error(`${wrong.length} flows did not end aborted: ${wrong[0]}`);
  flows = undefined;
  const after = await settledHeap();
  return memoryFigures(n, baseline, live, after, floorPerFlowKB, setupMs);
}

/** N research flows on plain actors: each specialist sent one chunk and awaits its signal. */
async function measurePlainFlows(
  n: number,
  floorPerFlowKB: number,
  counts: ChunkCounts,
): Promise<MemoryFigures> {
  const actors = plainActors(counts, true);
  const launch = async (count: number) => {
    const nets = [];
    for (let i = 0; i < count; i++) {
      const net = researchNetwork(TOPIC, actors(() => {}));
      await net.start();
      nets.push(net);
    }
    await sleep(50);
    return nets;
  };
  {
    const w = await launch(20);
    await Promise.all(w.map((net) => net.shutdown()));
  }
  const baseline = await settledHeap();
  const t0 = performance.now();
  let nets = await launch(n);
  const setupMs = performance.now() - t0;
  const live = await settledHeap();
  const busy = nets.filter((net) => net.waiting().length !== 0).length;
  if (busy) throw new Error(`${busy} plain flows got past their specialists`);
  await Promise.all(nets.map((net) => net.shutdown()));
  nets = [];
  const after = await settledHeap();
  return memoryFigures(n, baseline, live, after, floorPerFlowKB, setupMs);
}

function memoryFigures(
  n: number,
  baseline: number,
  live: number,
  after: number,
  floorPerFlowKB: number,
  setupMs: number,
): MemoryFigures {
  const heapPerFlowKB = kb((live - baseline) / n);
  return {
    flows: n,
    baselineMB: baseline / 2 ** 20,
    liveMB: live / 2 ** 20,
    afterAbortMB: after / 2 ** 20,
    heapPerFlowKB,
    ratio: heapPerFlowKB / floorPerFlowKB,
    leakPerFlowKB: kb((after - baseline) / n),
    setupMs,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU

interface CpuFigures {
  sequential: { flowsPerSec: number; usPerFlow: number };
  concurrent10: { flowsPerSec: number; usPerFlow: number };
}

async function cpuFigures(flow: () => Promise<unknown>): Promise<CpuFigures> {
  const sequentialMs = await timePerItem(async (n) => {
    for (let i = 0; i < n; i++) await flow();
  });
  const concurrentMs = await timePerItem(async (n) => {
    let next = 0;
    const worker = async () => {
      while (next++ < n) await flow();
    };
    await Promise.all(Array.from({ length: 10 }, worker));
  });
  const figures = (ms: number) => ({ flowsPerSec: 1000 / ms, usPerFlow: ms * 1000 });
  return { sequential: figures(sequentialMs), concurrent10: figures(concurrentMs) };
}

// ---------------------------------------------------------------------------------------------

export interface FlowResult {
  runtime: { name: string; version: string };
  date: string;
  method: string;
  targets: { heapToFloorRatioMax: number };
  chunksPerFlow: ChunkCounts;
  memory: { floor: FloorFigures; offlineModel: MemoryFigures; plainActors: MemoryFigures };
  cpu: {
    /** createOfflineModel({ tokenDelayMs: 0, firstTokenDelayMs: 0 }): one timer per token. */
    offlineModel: CpuFigures;
    /** The same replies with no timer (runtime + openai SDK + in-process fetch). */
    instantModel: CpuFigures;
    /** The same topology and chunk counts on plain actors: the runtime alone. */
    plainActors: CpuFigures;
  };
  peers: Record<string, string>;
}

const PEERS = {
  "LangGraph.js 4-node chain": "4.4–6.6 ms per run (peers.md §8, Node 20, not measured here)",
  "Mastra workflow": "0.41–1.03 ms per run (peers.md §8, Node 20, not measured here)",
};

export async function runFlowBench(log: (line: string) => void = () => {}): Promise<FlowResult> {
  const counts = await offlineChunkCounts();
  log(
    `chunks per flow on the offline model: facts ${counts.facts}, stats ${counts.stats}, ` +
      `quotes ${counts.quotes}, answer ${counts.answer}`,
  );

  const floor = await measureFloor(FLOWS);
  log(
    `floor: ${floor.streams} parked connection streams: ${floor.perStreamKB.toFixed(2)} KB each, ` +
      `${floor.streamFloorPerFlowKB.toFixed(1)} KB per flow (×${CONNECTIONS_PER_FLOW}); ` +
      `left after close ${floor.leakPerStreamKB.toFixed(3)} KB/stream`,
  );
  const plain = await measurePlainFlows(FLOWS, floor.streamFloorPerFlowKB, counts);
  log(formatMemory("plain actors (zero-LLM)", plain));
  const llm = await measureLlmFlows(FLOWS, floor.streamFloorPerFlowKB);
  log(formatMemory("offline model (openai client)", llm));
  if (MEMORY_ONLY) return { memoryOnly: true, floor, plain, llm } as unknown as FlowResult;

  const fast = createOfflineModel({ tokenDelayMs: 0, firstTokenDelayMs: 0 });
  const cpuLlm = await cpuFigures(() => runResearch(TOPIC, { llm: { fetch: fast.fetch } }));
  log(formatCpu("offline model, tokenDelayMs 0", cpuLlm));
  const instant = instantModel();
  const cpuInstant = await cpuFigures(() => runResearch(TOPIC, { llm: { fetch: instant } }));
  log(formatCpu("same replies, no timers", cpuInstant));
  const actors = plainActors(counts, false);
  const cpuPlain = await cpuFigures(() => plainFlow(actors));
  log(formatCpu("plain actors, same chunks", cpuPlain));
  for (const [peer, figure] of Object.entries(PEERS)) log(`context: ${peer}: ${figure}`);
  log(
    `context: a flow here runs 6 actors, 8 connections, ${
      counts.facts + counts.stats + counts.quotes + counts.answer + 4
    } packets; the peers' chains run 4 nodes with no streaming`,
  );

  return {
    runtime: runtimeInfo(),
    date: new Date().toISOString(),
    method: `memory: heapUsed after 2× gc(), before vs. with ${FLOWS} flows live (specialists ` +
      "parked after their first token), then after aborting them all; floor: " +
      `${CONNECTIONS_PER_FLOW * FLOWS} TransformStreams (HWM 1 / ${DEFAULT_CAPACITY}) with ` +
      "writer, reader and a pending read(). cpu: calibrate n to ~250 ms, 3 warm-ups, median of " +
      "5 timed runs; sequential flows and 10 at a time; one process",
    targets: { heapToFloorRatioMax: TARGET_RATIO },
    chunksPerFlow: counts,
    memory: { floor, offlineModel: llm, plainActors: plain },
    cpu: { offlineModel: cpuLlm, instantModel: cpuInstant, plainActors: cpuPlain },
    peers: PEERS,
  };
}

function formatMemory(label: string, m: MemoryFigures): string {
  return `${label.padEnd(30)} ${m.flows} flows live: ${m.heapPerFlowKB.toFixed(1)} KB/flow, ` +
    `×${m.ratio.toFixed(2)} the stream floor (target ≤ ${TARGET_RATIO}) ${
      m.ratio <= TARGET_RATIO ? "ok" : "MISSED"
    }; heap ${m.baselineMB.toFixed(1)} → ${m.liveMB.toFixed(1)} → ${
      m.afterAbortMB.toFixed(1)
    } MB after abort (${m.leakPerFlowKB.toFixed(2)} KB/flow left); setup ${
      m.setupMs.toFixed(0)
    } ms`;
}

function formatCpu(label: string, c: CpuFigures): string {
  return `${label.padEnd(30)} sequential ${c.sequential.flowsPerSec.toFixed(0)} flows/s ` +
    `(${c.sequential.usPerFlow.toFixed(0)} µs/flow) | c=10 ${
      c.concurrent10.flowsPerSec.toFixed(0)
    } flows/s (${c.concurrent10.usPerFlow.toFixed(0)} µs/flow)`;
}

async function writeResult(result: FlowResult): Promise<string> {
  const suffix = result.runtime.name === "node" ? "" : `.${result.runtime.name}`;
  const url = new URL(`./results/flow${suffix}.json`, import.meta.url);
  const text = JSON.stringify(result, null, 2) + "\n";
  if (g.Deno?.writeTextFile) {
    await g.Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await g.Deno.writeTextFile(url, text);
  } else {
    const fs = await import("node:fs/promises");
    await fs.mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await fs.writeFile(url, text);
  }
  return url.pathname;
}

const result = await runFlowBench((line) => console.log(line));
if (MEMORY_ONLY) {
  // deno-lint-ignore no-explicit-any
  (globalThis as any).process?.exit?.(0);
  // deno-lint-ignore no-explicit-any
  (globalThis as any).Deno?.exit?.(0);
}
console.log(`${result.runtime.name} ${result.runtime.version}, ${result.date}`);
console.log(`wrote ${await writeResult(result)}`);
