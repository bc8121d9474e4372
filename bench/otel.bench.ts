/**
 * What tracing costs per research flow: the seed flow on the zero-delay offline model, untraced
 * (the baseline, measured in the same run), then with `traceNetwork` and no provider registered
 * (the API's no-op), then recording into the real SDK (`@opentelemetry/sdk-trace-base`, a simple
 * processor into an in-memory exporter, cleared between runs) with every tick, and without the
 * logger's per-token ticks. Samples are taken round-robin and the medians compared, so a busy
 * shared machine skews every configuration alike.
 *
 * Node: `npx tsx bench/otel.bench.ts`. Deno: `deno run -A bench/otel.bench.ts`.
 * Writes bench/results/otel.json (Node) or otel.<runtime>.json.
 */
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { traceNetwork, type TraceOptions } from "../src/otel/mod.ts";
import { runResearch } from "../src/research/mod.ts";
import { runtimeInfo } from "./lib.ts";

const TOPIC = "the history of zero";
const model = createOfflineModel({ tokenDelayMs: 0, firstTokenDelayMs: 0 });
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("bench");

/** One flow, traced with `trace` when given. */
function flow(trace?: TraceOptions | "noop"): () => Promise<unknown> {
  return () =>
    runResearch(TOPIC, {
      llm: { fetch: model.fetch },
      instrument: trace === undefined
        ? undefined
        : (net) => traceNetwork(net, trace === "noop" ? {} : trace),
    });
}

/** µs per flow over one sample of `n` flows. */
async function sample(run: () => Promise<unknown>, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await run();
    exporter.reset();
  }
  return ((performance.now() - t0) / n) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Spans per flow, counted once.
await flow({ tracer })();
const spansAll = exporter.getFinishedSpans().length;
exporter.reset();
const noLogger: TraceOptions = { tracer, nodes: (_id, component) => component !== "logger" };
await flow(noLogger)();
const spansNoLogger = exporter.getFinishedSpans().length;
exporter.reset();

const configs = [
  { name: "untraced (baseline)", spans: 0, run: flow() },
  { name: "traceNetwork, no provider registered", spans: 0, run: flow("noop") },
  { name: "SDK, every tick", spans: spansAll, run: flow({ tracer }) },
  { name: "SDK, without the logger", spans: spansNoLogger, run: flow(noLogger) },
];
// Samples of n flows, round-robin over the configurations, so that the drift of a shared machine
// hits them all alike; n is calibrated so that one untraced sample takes about 100 ms.
let n = 4;
for (const c of configs) await sample(c.run, n); // warm-up
while ((await sample(configs[0].run, n)) * n < 100_000) n *= 2;
const ROUNDS = 11;
const times: number[][] = configs.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < configs.length; k++) {
    const i = (k + round) % configs.length;
    times[i].push(await sample(configs[i].run, n));
  }
}
const baseline = median(times[0]);
const rows = configs.map((c, i) => ({ name: c.name, spans: c.spans, us: median(times[i]) }));

const runtime = runtimeInfo();
console.log(
  `otel bench on ${runtime.name} ${runtime.version}: µs per seed flow (ratio to baseline)`,
);
for (const r of rows) {
  console.log(
    `  ${r.name.padEnd(38)} ${r.us.toFixed(0).padStart(7)} µs  ×${(r.us / baseline).toFixed(2)}` +
      (r.spans ? `  (${r.spans} spans)` : ""),
  );
}

const result = {
  runtime,
  date: new Date().toISOString(),
  method: `median of ${ROUNDS} samples of ${n} sequential flows per configuration, taken ` +
    "round-robin; seed flow on createOfflineModel({ tokenDelayMs: 0, firstTokenDelayMs: 0 })",
  rows: rows.map((r) => ({ ...r, ratio: r.us / baseline })),
};
// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const file = runtime.name === "node" ? "otel.json" : `otel.${runtime.name}.json`;
const path = new URL(`./results/${file}`, import.meta.url);
if (g.Deno) await g.Deno.writeTextFile(path, JSON.stringify(result, null, 2) + "\n");
else {
  const { writeFile } = await import("node:fs/promises");
  await writeFile(path, JSON.stringify(result, null, 2) + "\n");
}
