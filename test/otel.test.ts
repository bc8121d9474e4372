/**
 * reflow-edge/otel with the real OpenTelemetry SDK (`@opentelemetry/sdk-trace-base`, an
 * in-memory exporter): the span tree of the seed flow on the offline model, failures, retries,
 * and no listening at all when nobody records.
 */
import assert from "node:assert/strict";
import { context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { test } from "./harness.ts";
import { Actor, type ActorContext, Message, Network } from "../src/mod.ts";
import { createOfflineModel } from "../src/llm/mod.ts";
import { type ResearchEvent, runResearch } from "../src/research/mod.ts";
import { traceNetwork, type TraceOptions } from "../src/otel/mod.ts";
import { createApp } from "../routes/app.ts";
import { eventually } from "./http_helpers.ts";

/** A provider of its own per test (nothing global), recording the order spans start and end. */
function recorder() {
  const exporter = new InMemorySpanExporter();
  const order: string[] = [];
  const ids: string[] = [];
  const ordering: SpanProcessor = {
    onStart: (span) => {
      order.push(`start ${(span as unknown as ReadableSpan).name}`);
      ids.push(`start ${span.spanContext().spanId}`);
    },
    onEnd: (span) => {
      order.push(`end ${span.name}`);
      ids.push(`end ${span.spanContext().spanId}`);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter), ordering],
  });
  const tracer = provider.getTracer("reflow-edge-test");
  const spans = () => exporter.getFinishedSpans();
  const named = (name: string) => spans().filter((s) => s.name === name);
  const one = (name: string) => {
    const found = named(name);
    assert.equal(found.length, 1, `exactly one span "${name}": ${found.length}`);
    return found[0];
  };
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  /** Where `span` started or ended in the order of all starts and ends. */
  const when = (what: "start" | "end", span: ReadableSpan) =>
    ids.indexOf(`${what} ${span.spanContext().spanId}`);
  return { tracer, spans, named, one, parentOf, order, when, provider };
}

const SPECIALISTS = [
  "invoke_agent factual_researcher",
  "invoke_agent statistician",
  "invoke_agent quoter",
];

/** Runs the seed flow traced; counts the logger's writes (one tick per chunk). */
async function tracedResearch(
  rec: ReturnType<typeof recorder>,
  options: { fault?: Parameters<typeof createOfflineModel>[0]; trace?: TraceOptions } = {},
) {
  const model = createOfflineModel({ tokenDelayMs: 1, firstTokenDelayMs: 5, ...options.fault });
  // The logger ticks once per packet an agent sends: each chunk, and each agent's finish.
  let writes = 0;
  const events = new WritableStream<ResearchEvent>({
    write: (e) => void (e.event === "chunk" || e.event === "finish" ? writes++ : 0),
  });
  let error: unknown;
  const answer = await runResearch("the history of zero", {
    llm: { fetch: model.fetch, apiKey: "sk-otel-secret-key", maxRetries: 0 },
    events,
    instrument: (net) =>
      traceNetwork(net, { tracer: rec.tracer, workflowName: "research", ...options.trace }),
  }).then((result) => result.answer, (e) => {
    error = e;
    return undefined;
  });
  return { answer, writes, error, model };
}

test("otel: the seed flow is one trace: a run span, a span per tick, specialists overlapping", async () => {
  const rec = recorder();
  const { answer, writes } = await tracedResearch(rec);
  assert.ok(answer && answer.length > 40);

  const run = rec.one("invoke_workflow research");
  assert.equal(run.kind, SpanKind.INTERNAL);
  assert.equal(rec.parentOf(run), undefined, "the run span is a root");
  assert.deepEqual(run.attributes, {
    "gen_ai.operation.name": "invoke_workflow",
    "gen_ai.workflow.name": "research",
  });
  assert.equal(run.status.code, SpanStatusCode.UNSET);

  const agents = [...SPECIALISTS, "invoke_agent synthesizer", "invoke_agent sink"];
  for (const name of agents) rec.one(name);
  // The logger ticks once per chunk: one span each.
  assert.equal(rec.named("invoke_agent logger").length, writes);
  assert.ok(writes > 50, `chunks: ${writes}`);
  const chats = rec.named("chat qwen2.5:3b");
  assert.equal(chats.length, 4, "one chat span per model call");
  assert.equal(rec.spans().length, 1 + agents.length + writes + chats.length);

  const runId = run.spanContext().spanId;
  for (const span of rec.spans()) {
    assert.equal(span.spanContext().traceId, run.spanContext().traceId, `${span.name}: one trace`);
    if (span !== run && !chats.includes(span)) {
      assert.equal(rec.parentOf(span), runId, `${span.name}: child of the run`);
    }
    assert.notEqual(span.status.code, SpanStatusCode.ERROR, span.name);
  }

  const factual = rec.one("invoke_agent factual_researcher");
  assert.equal(factual.kind, SpanKind.INTERNAL);
  assert.deepEqual(factual.attributes, {
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.agent.name": "factual_researcher",
    "gen_ai.agent.id": "factual",
    "reflow.node.id": "factual",
    "reflow.component": "factual_researcher",
    "reflow.attempt": 1,
    // What its model call used (the offline model reports usage).
    "gen_ai.usage.input_tokens": factual.attributes["gen_ai.usage.input_tokens"],
    "gen_ai.usage.output_tokens": factual.attributes["gen_ai.usage.output_tokens"],
  });
  assert.ok((factual.attributes["gen_ai.usage.output_tokens"] as number) > 10);
  assert.equal(rec.one("invoke_agent quoter").attributes["gen_ai.agent.id"], "quoter");

  // Overlap, by the order of start and end (not by clock): all three specialists start before
  // any of them ends; the synthesizer (which may start as the last finding arrives, a moment
  // before that specialist's tick ends) ends after all three; the run ends last.
  const at = (what: string) => {
    const i = rec.order.indexOf(what);
    assert.ok(i >= 0, `${what} recorded`);
    return i;
  };
  const lastStart = Math.max(...SPECIALISTS.map((s) => at(`start ${s}`)));
  const firstEnd = Math.min(...SPECIALISTS.map((s) => at(`end ${s}`)));
  assert.ok(lastStart < firstEnd, `specialists overlap: ${rec.order.slice(0, 12).join(", ")}`);
  const lastEnd = Math.max(...SPECIALISTS.map((s) => at(`end ${s}`)));
  assert.ok(lastStart < at("start invoke_agent synthesizer"));
  assert.ok(lastEnd < at("end invoke_agent synthesizer"));
  assert.equal(rec.order.at(-1), "end invoke_workflow research");
  assert.equal(rec.order[0], "start invoke_workflow research");
});

const AGENTS: [string, string][] = [
  ["invoke_agent factual_researcher", "factual"],
  ["invoke_agent statistician", "statistician"],
  ["invoke_agent quoter", "quoter"],
  ["invoke_agent synthesizer", "synth"],
];

test("otel: one chat span per model call, child of its agent's tick, with usage and TTFC", async () => {
  const rec = recorder();
  await tracedResearch(rec, {
    fault: { reasoning: "reasoning" },
    trace: { nodes: (_id, component) => component !== "logger" },
  });
  const chats = rec.named("chat qwen2.5:3b");
  assert.equal(chats.length, 4, "four model calls");
  for (const [name, node] of AGENTS) {
    const agent = rec.one(name);
    const calls = chats.filter((c) => rec.parentOf(c) === agent.spanContext().spanId);
    assert.equal(calls.length, 1, `${name}: one chat span under it`);
    const call = calls[0];
    assert.equal(call.kind, SpanKind.CLIENT);
    const a = call.attributes;
    assert.equal(a["gen_ai.operation.name"], "chat");
    assert.equal(a["gen_ai.provider.name"], "ollama", "the default base URL is Ollama's");
    assert.equal(a["gen_ai.request.model"], "qwen2.5:3b");
    assert.equal(a["gen_ai.request.stream"], true);
    assert.equal(a["server.address"], "localhost");
    assert.equal(a["server.port"], 11434);
    assert.deepEqual(a["gen_ai.response.finish_reasons"], ["stop"]);
    const input = a["gen_ai.usage.input_tokens"] as number;
    const output = a["gen_ai.usage.output_tokens"] as number;
    const reasoning = a["gen_ai.usage.reasoning.output_tokens"] as number;
    assert.ok(
      input > 0 && output > reasoning && reasoning > 0,
      `${node}: ${input}/${output}/${reasoning}`,
    );
    assert.ok((a["gen_ai.response.time_to_first_chunk"] as number) >= 0);
    // Content is opt-in.
    assert.equal(a["gen_ai.input.messages"], undefined);
    assert.equal(a["gen_ai.output.messages"], undefined);
    // The agent span sums its calls' tokens.
    assert.equal(agent.attributes["gen_ai.usage.input_tokens"], input);
    assert.equal(agent.attributes["gen_ai.usage.output_tokens"], output);
    assert.equal(agent.attributes["gen_ai.usage.reasoning.output_tokens"], reasoning);
    // A call starts and ends inside its tick.
    assert.ok(rec.when("start", agent) < rec.when("start", call));
    assert.ok(rec.when("end", call) < rec.when("end", agent));
  }
});

test("otel: prompt and completion text only when recordContent is on", async () => {
  const rec = recorder();
  const texts: Record<string, string> = {};
  const model = createOfflineModel();
  await runResearch("the history of zero", {
    llm: { fetch: model.fetch },
    output: new WritableStream<string>(),
    onEvent: () => {},
    instrument: (net) => {
      traceNetwork(net, { tracer: rec.tracer, recordContent: true });
      net.on((e) => {
        if (e._type === "ModelCallFinished") texts[e.actorId] = e.text;
      }, ["ModelCallFinished"]);
    },
  });
  const factual = rec.one("invoke_agent factual_researcher");
  const call = rec.named("chat qwen2.5:3b").find((c) =>
    rec.parentOf(c) === factual.spanContext().spanId
  )!;
  assert.deepEqual(JSON.parse(call.attributes["gen_ai.system_instructions"] as string), [
    { type: "text", content: "You are a factual researcher. Give 3–5 bullets." },
  ]);
  assert.deepEqual(JSON.parse(call.attributes["gen_ai.input.messages"] as string), [
    { role: "user", parts: [{ type: "text", content: "Topic: the history of zero" }] },
  ]);
  const output = JSON.parse(call.attributes["gen_ai.output.messages"] as string);
  assert.equal(output[0].role, "assistant");
  assert.equal(output[0].finish_reason, "stop");
  assert.ok(texts.factual.length > 40);
  assert.equal(output[0].parts[0].content, texts.factual);
});

test("otel: a failing model call fails its tick span and the run span, without the key", async () => {
  const rec = recorder();
  const { error, model } = await tracedResearch(rec, {
    fault: { fault: { status: 401, requireKey: "another-key", roles: ["stats"] } },
  });
  assert.ok(error, "the flow failed");
  assert.equal(model.stats.active, 0);

  const stats = rec.one("invoke_agent statistician");
  const call = rec.named("chat qwen2.5:3b").find((c) =>
    rec.parentOf(c) === stats.spanContext().spanId
  );
  assert.ok(call, "the failed call has its span");
  assert.equal(call.status.code, SpanStatusCode.ERROR);
  assert.equal(call.attributes["error.type"], "unauthorized");
  assert.equal(call.attributes["http.response.status_code"], 401);
  assert.equal(stats.status.code, SpanStatusCode.ERROR);
  assert.match(stats.status.message ?? "", /refused the API key/);
  assert.equal(stats.attributes["error.type"], "unauthorized");

  const run = rec.one("invoke_workflow research");
  assert.equal(run.status.code, SpanStatusCode.ERROR);
  assert.match(run.status.message ?? "", /^node "statistician" failed: .*refused the API key/);
  assert.equal(run.attributes["error.type"], "unauthorized");

  // Fail-fast aborted the siblings: their spans are closed, as aborted, not left open.
  for (const name of ["invoke_agent factual_researcher", "invoke_agent quoter"]) {
    const span = rec.one(name);
    assert.equal(span.status.code, SpanStatusCode.ERROR, name);
    assert.equal(span.attributes["error.type"], "aborted", name);
  }
  assert.equal(rec.named("invoke_agent synthesizer").length, 0);
  // Their model calls were cut short too: every span ended, none left open.
  const aborted = rec.named("chat qwen2.5:3b").filter((c) => c !== call);
  assert.equal(aborted.length, 2);
  for (const c of aborted) assert.equal(c.attributes["error.type"], "aborted");
  const everything = JSON.stringify(
    rec.spans().map((s) => [s.name, s.attributes, s.status, s.events]),
  );
  assert.ok(!everything.includes("sk-otel-secret-key"), "the key is in no span");
  assert.ok(!everything.includes("another-key"));
});

test("otel: a retried tick is one span per attempt", async () => {
  const rec = recorder();
  let calls = 0;
  class Flaky extends Actor {
    override component = "flaky";
    override inports = ["in"];
    override outports = [];
    run(ctx: ActorContext) {
      calls++;
      if (ctx.attempt === 1) throw new TypeError("first attempt fails");
    }
  }
  const net = new Network();
  net.registerActor("Flaky", Flaky);
  net.addNode("f", "Flaky", { retry: 2 });
  net.addInitial("f", "in", Message.string("x"));
  traceNetwork(net, { tracer: rec.tracer });
  await net.start();
  await net.whenIdle();
  await net.shutdown();
  assert.equal(calls, 2);
  const spans = rec.named("invoke_agent flaky");
  assert.deepEqual(spans.map((s) => s.attributes["reflow.attempt"]), [1, 2]);
  assert.equal(spans[0].status.code, SpanStatusCode.ERROR);
  assert.equal(spans[0].attributes["error.type"], "retried");
  assert.equal(spans[1].status.code, SpanStatusCode.UNSET);
  assert.equal(rec.one("invoke_workflow reflow").status.code, SpanStatusCode.UNSET);
});

test("otel: a tick failing for good under continue is an error span; the run still ends well", async () => {
  const rec = recorder();
  class Broken extends Actor {
    override component = "broken";
    override inports = ["in"];
    override outports = [];
    run() {
      throw new RangeError("out of range");
    }
  }
  const net = new Network({ failFast: false });
  net.registerActor("Broken", Broken);
  net.addNode("b", "Broken");
  net.addInitial("b", "in", Message.string("x"));
  traceNetwork(net, { tracer: rec.tracer, workflowName: "w", attributes: { "app.run": "r1" } });
  await net.start();
  await net.whenIdle();
  await net.shutdown();
  const span = rec.one("invoke_agent broken");
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.status.message, "out of range");
  assert.equal(span.attributes["error.type"], "RangeError");
  assert.deepEqual(span.events.map((e) => e.attributes?.["exception.message"]), ["out of range"]);
  const run = rec.one("invoke_workflow w");
  assert.equal(run.status.code, SpanStatusCode.UNSET, "the network went idle: the run succeeded");
  assert.equal(run.attributes["app.run"], "r1");
});

test("otel: nodes can be left out, and the run span can have a parent", async () => {
  const rec = recorder();
  const outer: Span = rec.tracer.startSpan("POST /research");
  await tracedResearch(rec, {
    trace: {
      nodes: (_id, component) => component !== "logger",
      parent: trace.setSpan(context.active(), outer),
    },
  });
  outer.end();
  assert.equal(rec.named("invoke_agent logger").length, 0);
  const run = rec.one("invoke_workflow research");
  assert.equal(rec.parentOf(run), outer.spanContext().spanId);
  assert.equal(rec.spans().length, 1 + 1 + 5 + 4);
});

test("otel: with no tracer provider registered, nothing listens once the network started", async () => {
  // The global provider is the API's no-op one here: spans do not record.
  const net = new Network();
  class Echo extends Actor {
    override inports = ["in"];
    override outports = [];
    run() {}
  }
  net.registerActor("Echo", Echo);
  net.addNode("e", "Echo");
  net.addInitial("e", "in", Message.string("x"));
  traceNetwork(net);
  assert.equal(net.listening, true, "listening until it knows whether anyone records");
  await net.start();
  assert.equal(net.listening, false, "no tick events are built for a tracer that records nothing");
  await net.whenIdle();
  await net.shutdown();

  // The same network shape with a recording tracer keeps listening.
  const rec = recorder();
  const traced = new Network();
  traced.registerActor("Echo", Echo);
  traced.addNode("e", "Echo");
  traced.addInitial("e", "in", Message.string("x"));
  traceNetwork(traced, { tracer: rec.tracer });
  await traced.start();
  assert.equal(traced.listening, true);
  await traced.whenIdle();
  await traced.shutdown();
  assert.equal(rec.spans().length, 2);
});

test("otel: createApp({ instrument }) traces every flow it serves; onEnd can hand a flush to waitUntil", async () => {
  const rec = recorder();
  const model = createOfflineModel();
  const flushes: Promise<unknown>[] = [];
  const app = createApp({
    llm: { fetch: model.fetch },
    instrument: (net, { waitUntil }) =>
      traceNetwork(net, {
        tracer: rec.tracer,
        workflowName: "research",
        nodes: (_id, component) => component !== "logger",
        onEnd: () => {
          const flush = rec.provider.forceFlush();
          flushes.push(flush);
          waitUntil(flush);
        },
      }),
  });
  for (const format of ["sse", "ui"]) {
    const res = await app.request(`/research?topic=zero&format=${format}`);
    assert.equal(res.status, 200);
    await res.text();
  }
  await eventually(() => flushes.length === 2, "both runs ended");
  await Promise.all(flushes);
  const runs = rec.named("invoke_workflow research");
  assert.equal(runs.length, 2);
  assert.notEqual(runs[0].spanContext().traceId, runs[1].spanContext().traceId, "a trace each");
  assert.equal(rec.named("chat qwen2.5:3b").length, 8);
});

test("otel: the run span is named after the graph when no workflowName is given", async () => {
  const rec = recorder();
  await runResearch("zero", {
    llm: { fetch: createOfflineModel().fetch },
    instrument: (net) => traceNetwork(net, { tracer: rec.tracer }),
  });
  const run = rec.one("invoke_workflow research");
  assert.equal(run.attributes["gen_ai.workflow.name"], "research");
});
