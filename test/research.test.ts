import assert from "node:assert/strict";
import { ActorError, type NetworkEvent } from "../src/mod.ts";
import { LlmError } from "../src/llm/errors.ts";
import { createOfflineModel, type OfflineModelOptions } from "../src/llm/offline_model.ts";
import { offlineReasoning, offlineReply, offlineTokens } from "../src/llm/offline_text.ts";
import {
  type ChunkEvent,
  formatJsonLines,
  formatSse,
  formatText,
  researchActors,
  type ResearchEvent,
  researchEvents,
  researchGraph,
  researchNetwork,
  runResearch,
} from "../src/research/mod.ts";
import { researchWithHistorian } from "../examples/fourth_specialist.ts";
import { toGraphJson } from "../src/mod.ts";
import { deferred, test } from "./harness.ts";
import { serve } from "./serve.ts";

const TOPIC = "the history of zero";
const SENTINEL = "sk-SENTINEL-research-1234";

/** Serves an offline model on loopback (in-process under workerd) and the LLM config to reach it. */
async function model(options: OfflineModelOptions = {}) {
  const offline = createOfflineModel(options);
  const served = await serve(offline.handle);
  const llm = {
    baseURL: `${served.url}/v1`,
    fetch: served.fetch,
    apiKey: SENTINEL,
    maxRetries: 0,
  };
  return { offline, served, llm };
}

/** A writable that keeps what the Logger writes, and the chunks it formatted. */
function recorder() {
  const writes: string[] = [];
  const chunks: ChunkEvent[] = [];
  const output = new WritableStream<string>({ write: (text) => void writes.push(text) });
  const text = formatText();
  const format = (event: ResearchEvent) => {
    if (event.event === "chunk") chunks.push(event);
    return text(event);
  };
  return { output, format, writes, chunks };
}

/** The text of one role, joined from its chunks. */
function roleText(chunks: ChunkEvent[], role: string): string {
  return chunks.filter((c) => c.role === role).map((c) => c.text).join("");
}

test("specialists run concurrently; the synthesizer starts after all three findings", async () => {
  // Paced so that every specialist streams for a while: facts slowest, quotes quickest.
  const { served, llm } = await model({
    pacing: {
      facts: { tokenDelayMs: 6, firstTokenDelayMs: 20 },
      stats: { tokenDelayMs: 5, firstTokenDelayMs: 20 },
      quotes: { tokenDelayMs: 4, firstTokenDelayMs: 20 },
      answer: { tokenDelayMs: 1, firstTokenDelayMs: 20 },
    },
  });
  try {
    const timeline: string[] = [];
    const span: Record<string, { start: number; end: number }> = {};
    let answer = "";
    const output = new WritableStream<string>();
    const seen = new Set<string>();
    const text = formatText();
    const net = researchNetwork(
      TOPIC,
      researchActors({
        llm,
        output,
        format: (event) => {
          if (event.event === "chunk" && !seen.has(event.role)) {
            seen.add(event.role);
            timeline.push(`first:${event.role}`);
          }
          return text(event);
        },
      }, (a) => (answer = a)),
    );
    net.on((event: NetworkEvent) => {
      if (event._type === "MessageSent" && event.toActor === "synth") {
        timeline.push(`finding:${event.fromActor}`);
      } else if (event._type === "ActorStarted") {
        span[event.actorId] = { start: performance.now(), end: 0 };
        if (event.actorId === "synth") timeline.push("synth-started");
      } else if (event._type === "ActorCompleted") {
        span[event.actorId].end = performance.now();
      }
    }, ["MessageSent", "ActorStarted", "ActorCompleted"]);
    const started = performance.now();
    await net.start();
    await net.whenIdle({ timeoutMs: 30_000 });
    const total = performance.now() - started;
    await net.shutdown();

    const firstFinding = timeline.findIndex((e) => e.startsWith("finding:"));
    for (const role of ["facts", "stats", "quotes"]) {
      const at = timeline.indexOf(`first:${role}`);
      assert.ok(at >= 0 && at < firstFinding, `${role} streamed before any finding: ${timeline}`);
    }
    const synthStart = timeline.indexOf("synth-started");
    const findings = timeline.filter((e) => e.startsWith("finding:"));
    assert.deepEqual(findings.sort(), [
      "finding:factual",
      "finding:quoter",
      "finding:statistician",
    ]);
    assert.ok(timeline.lastIndexOf(findings.at(-1)!) < synthStart, timeline.join(" "));
    assert.ok(timeline.indexOf("first:answer") > synthStart);
    assert.ok(answer.length > 0);

    // Latency is max(specialist) + synthesizer, not their sum: compare ratios, not times.
    const specialists = ["factual", "statistician", "quoter"].map((id) =>
      span[id].end - span[id].start
    );
    const synth = span.synth.end - span.synth.start;
    const parallel = Math.max(...specialists) + synth;
    const serial = specialists.reduce((a, b) => a + b, 0) + synth;
    assert.ok(total < 1.5 * parallel, `total ${total} vs max+synth ${parallel}`);
    assert.ok(total < 0.85 * serial, `total ${total} vs sum ${serial}: not parallel`);
  } finally {
    await served.close();
  }
}, { timeout: 40_000 });

test("the logger writes seed-format role-tagged text; nothing lost or doubled", async () => {
  const { served, llm } = await model({ tokenDelayMs: 1 });
  try {
    const rec = recorder();
    const { answer } = await runResearch(TOPIC, { llm, output: rec.output, format: rec.format });
    for (const role of ["facts", "stats", "quotes"] as const) {
      assert.equal(roleText(rec.chunks, role), offlineReply(role, TOPIC, `Topic: ${TOPIC}`));
    }
    assert.equal(roleText(rec.chunks, "answer"), answer);
    // The answer is the offline model's for exactly the findings the synthesizer was given.
    const prompt = "Combine these three perspectives into a 2–3 paragraph answer.\n\n" +
      `## Facts\n${roleText(rec.chunks, "facts")}\n\n` +
      `## Stats\n${roleText(rec.chunks, "stats")}\n\n` +
      `## Quotes\n${roleText(rec.chunks, "quotes")}\n`;
    assert.equal(answer, offlineReply("answer", "", prompt));
    // Seed format, rebuilt independently: a tag at each role change, a blank line between roles.
    let expected = "";
    let role: string | null = null;
    for (const c of rec.chunks) {
      if (c.role !== role) expected += `${role === null ? "" : "\n\n"}[${c.role}] `;
      expected += c.text;
      role = c.role;
    }
    assert.equal(rec.writes.join(""), expected);
    assert.match(rec.writes.join(""), /^\[(facts|stats|quotes)\] /);
    assert.ok(rec.chunks.at(-1)!.role === "answer");
  } finally {
    await served.close();
  }
});

test("the research flow is research.graph.json, in any form; the topic goes to the topic ports", async () => {
  const { served, llm } = await model();
  try {
    const standard = (await runResearch(TOPIC, { llm })).answer;
    const asJson = JSON.stringify(toGraphJson(researchGraph("something else")));
    const fromJson = (await runResearch(TOPIC, { llm, graph: asJson })).answer;
    const otherTopic = (await runResearch("tea", { llm, graph: researchGraph() })).answer;
    assert.equal(fromJson, standard);
    assert.notEqual(otherTopic, standard);
    const tea = researchGraph("tea");
    assert.deepEqual(
      tea.initials.map((i) => `${i.to.node}.${i.to.port}=${i.data}`),
      ["factual.topic=tea", "statistician.topic=tea", "quoter.topic=tea"],
    );
    // A graph with nowhere to put the topic is refused, naming why.
    const noTopic = { ...tea, initials: [] };
    await assert.rejects(
      runResearch(TOPIC, { llm, graph: noTopic }),
      /no initial packet goes to a port named "topic"/,
    );
  } finally {
    await served.close();
  }
});

test("aborting mid-flow ends every model request on the server and rejects", async () => {
  const ended: Promise<void>[] = [];
  const allStarted = deferred();
  const { offline, served, llm } = await model({
    tokenDelayMs: 20,
    onRequest: (info) => {
      ended.push(info.ended);
      if (ended.length === 3) allStarted.resolve();
    },
  });
  const controller = new AbortController();
  const firstChunk = deferred();
  const output = new WritableStream<string>({ write: () => firstChunk.resolve() });
  const run = runResearch(TOPIC, { llm, output, signal: controller.signal });
  // Whatever happens below, the flow's own outcome is observed (no unhandled rejection).
  const outcome = run.then(() => "resolved", (e: unknown) => e);
  try {
    await Promise.all([firstChunk.promise, allStarted.promise]);
    assert.equal(offline.stats.active, 3, "three specialists are streaming");
    const reason = new DOMException("user pressed stop", "AbortError");
    controller.abort(reason);
    assert.equal(await outcome, reason);
    await Promise.all(ended);
    assert.equal(offline.stats.active, 0);
    assert.equal(offline.stats.aborted, 3);
    assert.equal(offline.stats.started, 3, "the synthesizer never asked the model");
  } finally {
    controller.abort();
    await outcome;
    await served.close();
  }
});

/** Runs the flow against a misbehaving model and returns the LlmError it failed with. */
async function failure(options: OfflineModelOptions, llmExtra = {}): Promise<LlmError> {
  const { served, llm } = await model(options);
  try {
    const error = await runResearch(TOPIC, { llm: { ...llm, ...llmExtra } }).then(
      () => assert.fail("the flow succeeded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ActorError, `expected an ActorError, got ${error}`);
    assert.ok(error.cause instanceof LlmError, `expected an LlmError cause, got ${error.cause}`);
    const text = `${error.message} ${error.stack} ${JSON.stringify(error)} ${error.cause.stack}`;
    assert.ok(!text.includes(SENTINEL), "the API key leaked into the error");
    assert.match(error.message, /^node "(factual|statistician|quoter|synth)" failed: /);
    return error.cause;
  } finally {
    await served.close();
  }
}

test("a 401 from the model server fails the flow with a clear error", async () => {
  const e = await failure({ fault: { requireKey: "another-key" } });
  assert.equal(e.code, "unauthorized");
  assert.match(e.message, /qwen2\.5:3b/);
  assert.match(e.message, /127\.0\.0\.1|offline\.invalid/);
});

test("an unknown model (404) and a 500 fail the flow with clear errors", async () => {
  const notFound = await failure({ fault: { status: 404 } });
  assert.equal(notFound.code, "model_not_found");
  assert.match(notFound.message, /model qwen2\.5:3b/);
  const broken = await failure({ fault: { status: 500, roles: ["stats"] } });
  assert.equal(broken.code, "server_error");
});

test("a stalled stream and garbage SSE fail the flow instead of hanging", async () => {
  const stalled = await failure({ fault: { stallAfterTokens: 2 } }, { idleTimeoutMs: 200 });
  assert.equal(stalled.code, "timeout");
  const garbage = await failure({ fault: { garbage: true, roles: ["quotes"] } });
  assert.equal(garbage.code, "bad_stream");
});

test("a model server that is down fails the flow naming its URL", async () => {
  const { served } = await model();
  const url = served.url;
  await served.close();
  const error = await runResearch(TOPIC, {
    llm: { baseURL: `${url}/v1`, apiKey: SENTINEL, maxRetries: 0 },
  }).then(() => assert.fail("succeeded"), (e: unknown) => e as ActorError);
  assert.ok(error.cause instanceof LlmError);
  assert.equal(error.cause.code, "unreachable");
  assert.ok(error.message.includes(`${url}/v1`), error.message);
  assert.ok(!error.message.includes(SENTINEL));
}, { only: ["node", "deno"], why: "workerd cannot listen on a loopback port, so none can refuse" });

test("bad arguments are rejected at once", async () => {
  await assert.rejects(runResearch("  "), /topic must be a non-empty string/);
  const controller = new AbortController();
  controller.abort(new DOMException("already stopped", "AbortError"));
  await assert.rejects(runResearch(TOPIC, { signal: controller.signal }), /already stopped/);
});

test("fail-fast: one specialist failing aborts its siblings' model requests", async () => {
  const ended: Promise<void>[] = [];
  const { offline, served, llm } = await model({
    tokenDelayMs: 15,
    // The stats stream drops mid-way, when all three specialists are surely streaming.
    fault: { dropAfterTokens: 5, roles: ["stats"] },
    onRequest: (info) => ended.push(info.ended),
  });
  try {
    const error = await runResearch(TOPIC, { llm }).then(
      () => assert.fail("succeeded"),
      (e: unknown) => e as ActorError,
    );
    assert.match(error.message, /^node "statistician" failed: /);
    assert.equal((error.cause as LlmError).code, "bad_stream");
    await Promise.all(ended);
    assert.equal(offline.stats.active, 0);
    assert.equal(offline.stats.aborted, 2, "facts and quotes were cut off, not finished");
  } finally {
    await served.close();
  }
});

test("continue: the synthesizer gets what arrived plus an error note", async () => {
  const { offline, served, llm } = await model({ fault: { status: 500, roles: ["stats"] } });
  try {
    const rec = recorder();
    const { answer } = await runResearch(TOPIC, { llm, ...rec, policy: "continue" });
    const stats = roleText(rec.chunks, "stats");
    assert.match(stats, /^\(note: the stats agent failed: .*500/);
    assert.ok(!stats.includes(SENTINEL));
    assert.equal(roleText(rec.chunks, "facts"), offlineReply("facts", TOPIC, `Topic: ${TOPIC}`));
    assert.equal(roleText(rec.chunks, "answer"), answer);
    const prompt = "Combine these three perspectives into a 2–3 paragraph answer.\n\n" +
      `## Facts\n${roleText(rec.chunks, "facts")}\n\n` +
      `## Stats\n${stats}\n\n` +
      `## Quotes\n${roleText(rec.chunks, "quotes")}\n`;
    assert.equal(answer, offlineReply("answer", "", prompt));
    assert.equal(offline.stats.started, 4);
    // The same policy applies to the graph loaded from JSON.
    const fromJson = await runResearch(TOPIC, { llm, graph: researchGraph(), policy: "continue" });
    assert.equal(fromJson.answer, answer);
  } finally {
    await served.close();
  }
});

test("a fourth specialist is one node and three edges in data (examples/fourth_specialist.ts)", async () => {
  const offline = createOfflineModel();
  const prompts: string[] = [];
  // Observe what the model is asked, then let the real offline model answer.
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body ?? "{}"));
    prompts.push(body.messages?.at(-1)?.content ?? "");
    return await offline.fetch(input, init);
  };
  const rec = recorder();
  const llm = { fetch, baseURL: "http://offline.invalid/v1" };
  const answer = await researchWithHistorian(TOPIC, llm, rec.output);
  const roles = new Set(rec.writes.join("").match(/\[(\w+)\] /g));
  assert.deepEqual([...roles].sort(), [
    "[answer] ",
    "[facts] ",
    "[history] ",
    "[quotes] ",
    "[stats] ",
  ]);
  const synthPrompt = prompts.find((p) => p.startsWith("Combine"))!;
  assert.match(synthPrompt, /^Combine these four perspectives/);
  assert.match(synthPrompt, /\n## History\n\S/);
  assert.equal(prompts.length, 5);
  assert.equal(prompts.filter((p) => p === `Topic: ${TOPIC}`).length, 4, "four specialists");
  assert.equal(answer, offlineReply("answer", "", synthPrompt));
});

// ---------------------------------------------------------------------------------------------
// The research event vocabulary (the shared contract)

async function allEvents(stream: ReadableStream<ResearchEvent>): Promise<ResearchEvent[]> {
  const out: ResearchEvent[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
}

test("research events: reasoning apart, finish and usage per agent, the flow's usage, in order", async () => {
  const offline = createOfflineModel({ reasoning: "reasoning" });
  const llm = { fetch: offline.fetch, baseURL: "http://offline.invalid/v1" };
  const events = await allEvents(researchEvents(TOPIC, { llm }));
  assert.deepEqual(events.slice(-2).map((e) => e.event), ["answer", "done"]);
  const text = (role: string, kind: string) =>
    events.filter((e) => e.event === kind && (e as { role: string }).role === role)
      .map((e) => (e as { text: string }).text).join("");
  for (const role of ["facts", "stats", "quotes"]) {
    assert.equal(text(role, "chunk"), offlineReply(role, TOPIC, `Topic: ${TOPIC}`));
    assert.equal(text(role, "reasoning"), offlineReasoning(role, TOPIC, `Topic: ${TOPIC}`));
  }
  assert.ok(text("answer", "reasoning").length > 0);
  assert.ok(!text("answer", "chunk").includes("The user wants"), "no reasoning in the answer");
  const answer = events.at(-2) as { text: string };
  assert.equal(answer.text, text("answer", "chunk"));
  let sum = 0;
  for (const role of ["facts", "stats", "quotes", "answer"]) {
    const at = (pred: (e: ResearchEvent) => boolean) => events.findIndex(pred);
    const finish = at((e) => e.event === "finish" && e.role === role);
    const usage = at((e) => e.event === "usage" && e.scope === "agent" && e.role === role);
    const lastToken = events.findLastIndex((e) =>
      (e.event === "chunk" || e.event === "reasoning") && e.role === role
    );
    assert.ok(lastToken < finish && finish < usage, `${role}: tokens, finish, usage`);
    const f = events[finish] as { finishReason: string; node: string };
    assert.equal(f.finishReason, "stop");
    assert.equal(
      f.node,
      { facts: "factual", stats: "statistician", quotes: "quoter", answer: "synth" }[role],
    );
    const u = (events[usage] as { usage: { totalTokens: number; reasoningTokens?: number } }).usage;
    assert.ok(u.reasoningTokens! > 0);
    sum += u.totalTokens;
  }
  const flow = events.filter((e) => e.event === "usage" && e.scope === "flow");
  assert.equal(flow.length, 1);
  assert.equal((flow[0] as { usage: { totalTokens: number } }).usage.totalTokens, sum);
  assert.ok(events.indexOf(flow[0]) < events.length - 2, "the flow's usage before the answer");
  // Node states: every node ran and ended done, before the answer.
  const nodes = events.filter((e) => e.event === "node").map((e) => `${e.id}:${e.state}`);
  for (const id of ["factual", "statistician", "quoter", "synth"]) {
    assert.ok(nodes.includes(`${id}:running`) && nodes.includes(`${id}:done`), id);
  }
});

test("runResearch resolves with the usage per agent and in all, and the finish reasons", async () => {
  const offline = createOfflineModel();
  const llm = { fetch: offline.fetch, baseURL: "http://offline.invalid/v1" };
  const events = new WritableStream<ResearchEvent>();
  const result = await runResearch(TOPIC, { llm, events });
  assert.deepEqual(Object.keys(result.usageByRole).sort(), ["answer", "facts", "quotes", "stats"]);
  const sum = Object.values(result.usageByRole).reduce((n, u) => n + u.totalTokens, 0);
  assert.equal(result.usage?.totalTokens, sum);
  assert.deepEqual(result.finishReasons, {
    facts: "stop",
    stats: "stop",
    quotes: "stop",
    answer: "stop",
  });
  assert.equal(
    result.usageByRole.facts.outputTokens,
    offlineTokens(offlineReply("facts", TOPIC, `Topic: ${TOPIC}`)).length,
  );
});

test("reasoning: false leaves the reasoning out; the text format shows it under its own tag", async () => {
  const offline = createOfflineModel({ reasoning: "reasoning_content" });
  const llm = { fetch: offline.fetch, baseURL: "http://offline.invalid/v1" };
  const hidden = await allEvents(researchEvents(TOPIC, { llm, reasoning: false }));
  assert.ok(!hidden.some((e) => e.event === "reasoning"));
  const writes: string[] = [];
  const output = new WritableStream<string>({ write: (t) => void writes.push(t) });
  await runResearch(TOPIC, { llm, output });
  const parts = writes.join("").split(/\n\n(?=\[)/);
  const under = (tag: string) =>
    parts.filter((part) => part.startsWith(`[${tag}] `)).map((part) => part.slice(tag.length + 3))
      .join("");
  // The reasoning under its own tag, each answer chunk under its plain role tag.
  assert.equal(under("facts reasoning"), offlineReasoning("facts", TOPIC, `Topic: ${TOPIC}`));
  assert.equal(under("facts"), offlineReply("facts", TOPIC, `Topic: ${TOPIC}`));
});

test("a reply cut at the token limit finishes with length, shown in every view", async () => {
  const offline = createOfflineModel({ fault: { stopAfterTokens: 4, roles: ["stats"] } });
  const llm = { fetch: offline.fetch, baseURL: "http://offline.invalid/v1" };
  const events = await allEvents(researchEvents(TOPIC, { llm }));
  const finish = events.find((e) => e.event === "finish" && e.role === "stats");
  assert.deepEqual(finish, {
    event: "finish",
    role: "stats",
    node: "statistician",
    finishReason: "length",
  });
  const render = formatText();
  const text = events.map(render).join("");
  assert.match(text, /\[stats stopped: cut at the token limit \(length\)\]/);
  assert.match(
    formatSse()(finish!),
    /^event: finish\ndata: \{"role":"stats","node":"statistician","finishReason":"length"\}\n\n$/,
  );
  assert.deepEqual(JSON.parse(formatJsonLines()(finish!)), finish);
});

test("model calls reach the network as events with the actorId (one per call)", async () => {
  const offline = createOfflineModel();
  const llm = { fetch: offline.fetch, baseURL: "http://offline.invalid/v1" };
  const seen: NetworkEvent[] = [];
  await runResearch(TOPIC, { llm, onEvent: (e) => seen.push(e) });
  const calls = seen.filter((e) => e._type.startsWith("ModelCall"));
  const byActor = new Map<string, string[]>();
  for (const e of calls) {
    const actor = (e as { actorId: string }).actorId;
    byActor.set(actor, [...(byActor.get(actor) ?? []), e._type]);
  }
  assert.deepEqual([...byActor.keys()].sort(), ["factual", "quoter", "statistician", "synth"]);
  for (const types of byActor.values()) {
    assert.deepEqual(types, ["ModelCallStarted", "ModelCallFinished"]);
  }
  const finished = calls.find((e) => e._type === "ModelCallFinished" && e.actorId === "synth");
  assert.ok(finished && finished._type === "ModelCallFinished");
  assert.equal(finished.component, "synthesizer");
  assert.equal(finished.finishReason, "stop");
  assert.ok(finished.usage && finished.usage.totalTokens > 0);
  // Each call lies within its node's tick.
  const started = seen.findIndex((e) => e._type === "ActorStarted" && e.actorId === "synth");
  const completed = seen.findIndex((e) => e._type === "ActorCompleted" && e.actorId === "synth");
  assert.ok(started < seen.indexOf(finished) && seen.indexOf(finished) < completed);
});
