/**
 * Caps on what a model may send (issue 15): `max_tokens` per agent, sent upstream; a byte cap on
 * each agent's reply (the model call is cut, a note says so) and on the synthesizer's prompt. The
 * runaway model here is a replay of a server that never stops streaming (each `data:` event is
 * the OpenAI chat-completions chunk shape, as in openai-node's `ChatCompletionChunk`), reached
 * in-process, so it runs on Node, Deno and workerd. Through the real app (`app.request()`).
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { createApp } from "../routes/app.ts";
import { serverSettings } from "../routes/env.ts";
import { utf8Length, utf8Prefix } from "../src/research/agents.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { researchGraph, runResearch } from "../src/research/run_research.ts";
import { allFrames, eventually, researchRequest } from "./http_helpers.ts";

/** What each model call asked for: its role (from the system prompt), max_tokens, prompt. */
interface Asked {
  system: string;
  user: string;
  maxTokens?: number;
}

/**
 * An OpenAI-compatible fetch: `runaway` roles (matched in the system prompt) stream the same word
 * forever; the others are the offline model. Counts the bytes the runaway streams handed over.
 */
function runawayModel(runaway: RegExp) {
  const offline = createOfflineModel();
  const asked: Asked[] = [];
  const sent = { bytes: 0, open: 0 };
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body ?? "{}"));
    const system = String(body.messages?.[0]?.content ?? "");
    asked.push({
      system,
      user: String(body.messages?.at(-1)?.content ?? ""),
      maxTokens: body.max_tokens,
    });
    if (!runaway.test(system)) return await offline.fetch(input, init);
    const signal = init?.signal ?? undefined;
    const event = new TextEncoder().encode(
      `data: ${
        JSON.stringify({
          id: "chatcmpl-runaway",
          object: "chat.completion.chunk",
          created: 0,
          model: "runaway",
          choices: [{
            index: 0,
            delta: { content: "lorem ipsum dolor sit amet " },
            finish_reason: null,
          }],
        })
      }\n\n`,
    );
    sent.open++;
    let closed = false;
    const done = () => {
      if (!closed) sent.open--;
      closed = true;
    };
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (signal?.aborted) {
            done();
            return c.error(signal.reason);
          }
          sent.bytes += event.byteLength;
          c.enqueue(event);
        },
        cancel: done,
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "text/event-stream" } },
    );
  };
  return { fetch, asked, sent, offline };
}

test("utf8Length and utf8Prefix count bytes and never cut a character in half", () => {
  for (const s of ["", "abc", "é", "€", "🦀", "a🦀b€é"]) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).byteLength, s);
  }
  assert.equal(utf8Prefix("a🦀b", 4), "a");
  assert.equal(utf8Prefix("a🦀b", 5), "a🦀");
  assert.equal(utf8Prefix("€€", 5), "€");
  assert.equal(utf8Prefix("abc", 10), "abc");
});

test("a model that never stops: the reply is cut at maxReplyBytes, the call ends, a note says so", async () => {
  const m = runawayModel(/statistician/);
  const app = createApp({ llm: { fetch: m.fetch, maxRetries: 0 }, maxReplyBytes: 4_096 });
  const frames = await allFrames((await app.request(...researchRequest({ topic: "zero" }))).body!);
  const kinds = frames.map((f) => f.event);
  assert.deepEqual(kinds.slice(-2), ["answer", "done"], "the flow still answers");
  const stats = frames.filter((f) => f.event === "chunk" && f.data.role === "stats")
    .map((f) => f.data.text).join("");
  assert.match(stats, /\(note: the stats agent's reply was cut at 4096 bytes\)$/);
  const reply = stats.slice(0, stats.indexOf("\n\n(note:"));
  assert.ok(utf8Length(reply) <= 4_096 && utf8Length(reply) > 3_500, `${utf8Length(reply)} bytes`);
  const finish = frames.find((f) => f.event === "finish" && f.data.role === "stats");
  assert.equal(finish?.data.finishReason, "length");
  // The synthesizer got the cut finding, note included.
  const synth = m.asked.find((a) => /senior writer/.test(a.system))!;
  assert.match(synth.user, /\(note: the stats agent's reply was cut at 4096 bytes\)/);
  // The model was not read on and on: a few KB past the cap at most, and the call ended.
  await eventually(() => m.sent.open === 0, "the runaway call ended");
  assert.ok(m.sent.bytes < 64 * 1024, `read ${m.sent.bytes} bytes of the runaway stream`);
});

test("a runaway synthesizer: the answer is cut too, and the flow ends normally", async () => {
  const m = runawayModel(/senior writer/);
  const app = createApp({ llm: { fetch: m.fetch, maxRetries: 0 }, maxReplyBytes: 2_000 });
  const frames = await allFrames((await app.request(...researchRequest({ topic: "zero" }))).body!);
  const answer = frames.find((f) => f.event === "answer")!.data.text as string;
  assert.match(answer, /\(note: the answer agent's reply was cut at 2000 bytes\)$/);
  assert.ok(utf8Length(answer) < 2_200);
  await eventually(() => m.sent.open === 0, "the runaway call ended");
});

test("max_tokens goes upstream: 4096 by default, per role when configured, node metadata wins", async () => {
  const byDefault = runawayModel(/^$/);
  await allFrames(
    (await createApp({ llm: { fetch: byDefault.fetch } }).request("/research?topic=zero")).body!,
  );
  assert.deepEqual(byDefault.asked.map((a) => a.maxTokens), [4096, 4096, 4096, 4096]);

  const perRole = runawayModel(/^$/);
  const app = createApp({
    llm: { fetch: perRole.fetch },
    maxTokens: { "*": 8, answer: 512 },
  });
  const frames = await allFrames((await app.request("/research?topic=zero")).body!);
  const sent = Object.fromEntries(
    perRole.asked.map((a) => [/senior writer/.test(a.system) ? "answer" : a.system, a.maxTokens]),
  );
  assert.equal(sent.answer, 512);
  assert.deepEqual(
    perRole.asked.filter((a) => !/senior writer/.test(a.system)).map((a) => a.maxTokens),
    [8, 8, 8],
  );
  // The offline model honours it: the specialists stop at 8 tokens, and say why.
  const finishes = frames.filter((f) => f.event === "finish").map((f) => f.data.finishReason);
  assert.ok(finishes.includes("length"), `finish reasons: ${finishes}`);

  // Node metadata in the graph (maxTokens on one agent) wins over the app's setting.
  const graphed = runawayModel(/^$/);
  const graph = researchGraph();
  graph.nodes.find((n) => n.id === "quoter")!.metadata = { maxTokens: 3 };
  await runResearch("zero", {
    llm: { fetch: graphed.fetch },
    graph,
    limits: { maxTokens: { "*": 100 } },
  });
  assert.deepEqual(
    graphed.asked.map((a) => a.maxTokens).sort((a, b) => a! - b!),
    [3, 100, 100, 100],
  );

  // A library user's own llm.maxTokens is kept when the app is not told otherwise.
  const own = runawayModel(/^$/);
  await allFrames(
    (await createApp({ llm: { fetch: own.fetch, maxTokens: 777 } }).request("/research?topic=z"))
      .body!,
  );
  assert.deepEqual(own.asked.map((a) => a.maxTokens), [777, 777, 777, 777]);
});

test("the synthesizer's prompt is cut to maxPromptBytes, each finding to its share, with a note", async () => {
  const m = runawayModel(/^$/);
  const app = createApp({ llm: { fetch: m.fetch }, maxPromptBytes: 400 });
  const frames = await allFrames((await app.request("/research?topic=zero")).body!);
  const synth = m.asked.find((a) => /senior writer/.test(a.system))!;
  assert.ok(utf8Length(synth.user) <= 400, `prompt of ${utf8Length(synth.user)} bytes`);
  assert.equal(synth.user.match(/\(cut to fit the prompt\)/g)?.length, 3);
  for (const section of ["## Facts", "## Stats", "## Quotes"]) {
    assert.ok(synth.user.includes(section));
  }
  const answerChunks = frames.filter((f) => f.event === "chunk" && f.data.role === "answer")
    .map((f) => f.data.text).join("");
  assert.match(
    answerChunks,
    /^\(note: the findings were cut to fit the synthesizer's prompt limit of 400 bytes\)/,
  );
  assert.deepEqual(frames.map((f) => f.event).slice(-2), ["answer", "done"]);
});

test("settings: REFLOW_MAX_TOKENS as a number or per role; byte caps as numbers", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(serverSettings(env({ REFLOW_MAX_TOKENS: "2048" })).maxTokens, { "*": 2048 });
  assert.deepEqual(
    serverSettings(env({ REFLOW_MAX_TOKENS: "1024, answer=4096" })).maxTokens,
    { "*": 1024, answer: 4096 },
  );
  assert.throws(() => serverSettings(env({ REFLOW_MAX_TOKENS: "answer=lots" })), /role=number/);
  assert.throws(() => serverSettings(env({ REFLOW_MAX_TOKENS: "0" })), /REFLOW_MAX_TOKENS/);
  assert.equal(serverSettings(env({ REFLOW_MAX_REPLY_BYTES: "8192" })).maxReplyBytes, 8192);
  assert.equal(serverSettings(env({ REFLOW_MAX_PROMPT_BYTES: "65536" })).maxPromptBytes, 65536);
});
