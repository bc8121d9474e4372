/**
 * The LLM layer against replays of what real model servers send (test/replays.ts: Ollama, vLLM,
 * llama.cpp server, LM Studio, OpenRouter, Groq, DeepSeek, OpenAI, Azure OpenAI; each format is
 * cited there from the server's source or the issue threads where users posted raw streams). The
 * real `openai` client talks to each replay in-process (its real base URL, so the server is
 * recognised from it) and over loopback HTTP (node, deno), with bodies cut inside UTF-8 sequences
 * and, with CR LF line endings, between CR and LF. For each: the text received equals the text
 * sent exactly, reasoning comes apart, usage matches, the finish is reported, every error is the
 * right LlmError with the server's own words, and the research flow completes.
 */
import assert from "node:assert/strict";
import { type Runtime, test } from "./harness.ts";
import { serve } from "./serve.ts";
import {
  type ChatDelta,
  LlmError,
  type ModelCallEvent,
  streamChat,
  type StreamChatOptions,
  type TokenUsage,
} from "../src/llm/mod.ts";
import { offlineReasoning, offlineReply } from "../src/llm/offline_text.ts";
import { type ResearchEvent, researchEvents } from "../src/research/mod.ts";
import {
  AZURE,
  type Behaviour,
  expectedUsage,
  GROQ,
  LLAMACPP,
  LMSTUDIO,
  OLLAMA,
  OPENAI,
  OPENROUTER,
  REASONING,
  type Replay,
  replayHandler,
  REPLAYS,
  TEXT,
  VLLM,
} from "./replays.ts";

const KEY = "sk-SENTINEL-servers-1234";
const SYSTEM = "You are a helpful assistant.";
const USER = "Say something about zero.";
const TOPIC = "the history of zero";
type Transport = "in-process" | "loopback";
const NET: { only: Runtime[]; why: string } = {
  only: ["node", "deno"],
  why: "workerd cannot listen on a loopback port (the in-process variant runs there)",
};

/** A replay reached in-process (at its real base URL) or over loopback HTTP. */
async function connect(server: Replay, transport: Transport, behaviour: Behaviour = {}) {
  const replay = replayHandler(server, { ...behaviour, paced: transport === "loopback" });
  if (transport === "in-process") {
    const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
      replay.handle(new Request(input, init));
    return {
      ...replay,
      config: { baseURL: server.baseURL, apiKey: KEY, fetch, model: "test-model" },
      close: () => Promise.resolve(),
    };
  }
  const served = await serve(replay.handle);
  return {
    ...replay,
    config: {
      baseURL: `${served.url}/v1`,
      apiKey: KEY,
      model: "test-model",
      ...(served.fetch ? { fetch: served.fetch } : {}),
    },
    close: () => served.close(),
  };
}

async function deltas(options: StreamChatOptions): Promise<ChatDelta[]> {
  const out: ChatDelta[] = [];
  for await (const d of streamChat(options)) out.push(d);
  return out;
}
const joined = (ds: ChatDelta[], type: "text" | "reasoning") =>
  ds.filter((d) => d.type === type).map((d) => (d as { text: string }).text).join("");
const usageOf = (ds: ChatDelta[]) =>
  (ds.find((d) => d.type === "usage") as { usage: TokenUsage } | undefined)?.usage;

async function failure(fn: () => Promise<unknown>): Promise<LlmError> {
  const error = await fn().then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof LlmError, `expected an LlmError, got ${String(error)}`);
  for (const text of [error.message, JSON.stringify(error), error.stack ?? ""]) {
    assert.ok(!text.includes(KEY) && !text.includes("SENTINEL"), `the key leaked: ${text}`);
  }
  return error;
}

for (const server of REPLAYS) {
  for (const transport of ["in-process", "loopback"] as Transport[]) {
    const where = transport === "loopback" ? NET : {};

    test(
      `${server.name} (${transport}): the text exactly, reasoning apart, usage and finish`,
      async () => {
        for (const crlf of [false, true]) {
          const r = await connect(server, transport, { crlf, think: true });
          try {
            const ds = await deltas({ ...r.config, system: SYSTEM, user: USER });
            const ending = crlf ? "CR LF" : "LF";
            assert.equal(joined(ds, "text"), TEXT, `text (${ending})`);
            assert.equal(joined(ds, "reasoning"), server.reasoning ? REASONING : "", ending);
            const want = expectedUsage(SYSTEM, USER, TEXT, server.reasoning ? REASONING : "");
            const usage = usageOf(ds);
            assert.ok(usage, `usage (${ending})`);
            assert.equal(usage.inputTokens, want.input);
            assert.equal(usage.outputTokens, want.output);
            assert.equal(usage.totalTokens, want.total);
            assert.deepEqual(ds.at(-1), { type: "finish", finishReason: "stop" });
            // Reasoning first, then the text: never mixed into it.
            const firstText = ds.findIndex((d) => d.type === "text");
            assert.ok(ds.slice(firstText).every((d) => d.type !== "reasoning"));
            assert.deepEqual(r.seen.bodies[0].stream_options, { include_usage: true });
            assert.equal(r.seen.requests, 1);
          } finally {
            await r.close();
          }
        }
      },
      where,
    );

    test(
      `${server.name} (${transport}): each error is an LlmError with the server's own words`,
      async () => {
        for (const c of server.errors) {
          const r = await connect(server, transport, { errorOn: () => c });
          try {
            const error = await failure(() =>
              deltas({ ...r.config, maxRetries: 0, system: SYSTEM, user: USER })
            );
            assert.equal(error.code, c.code, `${c.name}: ${error.message}`);
            assert.equal(error.status, c.status, c.name);
            assert.match(error.message, c.says, c.name);
            assert.match(error.serverMessage ?? "", c.says, c.name);
            assert.ok(error.message.includes(r.config.baseURL), `${c.name} names the base URL`);
            // Recognised from the base URL in-process; over loopback only the response can tell.
            if (transport === "in-process") {
              assert.equal(error.server, server.kind, c.name);
              assert.match(error.message, c.hint, `${c.name}: ${error.message}`);
              assert.match(error.hint ?? "", c.hint, c.name);
            }
            assert.equal(r.seen.requests, 1, `${c.name}: not retried with maxRetries 0`);
            if (transport === "loopback") {
              // Where neither the URL nor the response tells, `server` names it: the same hint.
              const named = await failure(() =>
                deltas({
                  ...r.config,
                  server: server.kind,
                  maxRetries: 0,
                  system: SYSTEM,
                  user: USER,
                })
              );
              assert.match(named.message, c.hint, `${c.name} (server: ${server.kind})`);
            }
          } finally {
            await r.close();
          }
        }
      },
      where,
    );
  }

  test(`${server.name}: the research flow completes, reasoning apart, usage per agent and in all`, async () => {
    const r = await connect(server, "in-process", { think: true });
    const events: ResearchEvent[] = [];
    const reader = researchEvents(TOPIC, { llm: r.config }).getReader();
    for (let e = await reader.read(); !e.done; e = await reader.read()) events.push(e.value);
    assert.deepEqual(events.slice(-2).map((e) => e.event), ["answer", "done"]);
    const of = (role: string, kind: string) =>
      events.filter((e) => e.event === kind && (e as { role: string }).role === role)
        .map((e) => (e as { text: string }).text).join("");
    for (const role of ["facts", "stats", "quotes"]) {
      assert.equal(of(role, "chunk"), offlineReply(role, TOPIC, `Topic: ${TOPIC}`), role);
      const thought = server.reasoning ? offlineReasoning(role, TOPIC, `Topic: ${TOPIC}`) : "";
      assert.equal(of(role, "reasoning"), thought, `${role} reasoning`);
    }
    const answer = events.at(-2) as { text: string };
    assert.equal(answer.text, of("answer", "chunk"));
    const agents = events.filter((e) => e.event === "usage" && e.scope === "agent");
    assert.equal(agents.length, 4);
    const flow = events.find((e) => e.event === "usage" && e.scope === "flow");
    assert.ok(flow && flow.event === "usage");
    const sum = agents.reduce((n, e) => n + (e as { usage: TokenUsage }).usage.totalTokens, 0);
    assert.equal(flow.usage.totalTokens, sum);
    assert.equal(r.seen.requests, 4);
  });
}

// ---------------------------------------------------------------------------------------------
// Odd streams, each as the server that sends it

/** Every delta, plus what onCall reported, of one call. */
async function call(options: StreamChatOptions) {
  const calls: ModelCallEvent[] = [];
  const ds = await deltas({ ...options, onCall: (e) => calls.push(e) });
  return { ds, calls };
}
const sse = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

for (const transport of ["in-process", "loopback"] as Transport[]) {
  const where = transport === "loopback" ? NET : {};

  test(
    `llama.cpp before late 2025 (${transport}): an error: line, then [DONE], is its own words`,
    async () => {
      // tools/server/server.cpp: server_sent_event(sink, "error", error_data), then "data: [DONE]".
      const words = "the request exceeds the available context size, try increasing it";
      const r = await connect(LLAMACPP, transport, {
        body: () =>
          `error: ${
            JSON.stringify({ code: 400, message: words, type: "exceed_context_size_error" })
          }\n\ndata: [DONE]\n\n`,
      });
      try {
        const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
        assert.equal(e.code, "context_too_long", e.message);
        assert.ok(e.message.includes(words), e.message);
        assert.equal(e.serverMessage, words);
        assert.equal(e.serverCode, "exceed_context_size_error");
        assert.doesNotMatch(e.message, /OpenAI-compatible/, "not blamed on the base URL");
        if (transport === "in-process") assert.match(e.message, /--ctx-size/);
        assert.equal(r.seen.requests, 1, "not retried: the prompt will not fit next time either");
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(
    `vLLM (${transport}): an error chunk after some text keeps the text and fails with the words`,
    async () => {
      // serving.py: on a generation error mid-stream, create_streaming_error_response, then [DONE].
      const r = await connect(VLLM, transport, {
        body: (s, ask) => {
          const full = VLLM.stream(s, ask).split("\n\n").slice(0, 6).join("\n\n") + "\n\n";
          return full + sse({
            error: {
              message: "CUDA out of memory",
              type: "InternalServerError",
              param: null,
              code: 500,
            },
          }) + "data: [DONE]\n\n";
        },
      });
      try {
        const seen: string[] = [];
        const e = await failure(async () => {
          for await (const d of streamChat({ ...r.config, system: SYSTEM, user: USER })) {
            if (d.type === "text") seen.push(d.text);
          }
        });
        assert.equal(e.code, "server_error");
        assert.match(e.message, /reported an error mid-stream .*CUDA out of memory/);
        assert.ok(seen.length > 0 && TEXT.startsWith(seen.join("")), "the text before it arrived");
        assert.equal(r.seen.requests, 1, "no retry after text was delivered");
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(
    `LM Studio (${transport}): 200 with no text (context overflow) is empty_answer`,
    async () => {
      // lmstudio-bug-tracker#2339: 200, a well-formed stream, zero content deltas.
      const r = await connect(LMSTUDIO, transport, { cutAfter: 0 });
      try {
        const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
        assert.equal(e.code, "empty_answer");
        assert.match(e.message, /sent no text \(finish_reason stop\)/);
        assert.match(e.message, /context/);
        // Unless the caller accepts it.
        const ok = await deltas({ ...r.config, allowEmpty: true, system: SYSTEM, user: USER });
        assert.deepEqual(ok.at(-1), { type: "finish", finishReason: "stop" });
        assert.equal(joined(ok, "text"), "");
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(`LM Studio (${transport}): event: error without an error key is its own words`, async () => {
    // nugget/thane-ai-agent#1395: the failure arrives as an `event: error` frame.
    const r = await connect(LMSTUDIO, transport, {
      body: () =>
        `event: error\ndata: ${JSON.stringify({ message: "Context size has been exceeded." })}\n\n`,
    });
    try {
      const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
      assert.equal(e.code, "context_too_long");
      assert.match(e.message, /Context size has been exceeded\./);
    } finally {
      await r.close();
    }
  }, where);

  test(`LM Studio (${transport}): a 200 application/json error body is its own words`, async () => {
    const r = await connect(LMSTUDIO, transport, {
      errorOn: () => ({
        name: "unknown path",
        status: 200,
        body: JSON.stringify({
          error: "Unexpected endpoint or method. (POST /v1/chat/completions)",
        }),
        code: "bad_request",
        says: /Unexpected endpoint/,
        hint: /base URL/,
        source: "LM Studio's answer to an unknown path",
      }),
    });
    try {
      const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
      assert.equal(e.code, "bad_request");
      assert.match(e.message, /Unexpected endpoint or method\. \(POST \/v1\/chat\/completions\)/);
      assert.match(e.message, /base URL points at the server's OpenAI-compatible \/v1 endpoint/);
    } finally {
      await r.close();
    }
  }, where);

  test(
    `OpenRouter (${transport}): an error chunk with finish_reason error fails with its words`,
    async () => {
      // openrouter.ai/docs/api-reference/streaming: "Handling Errors During Streaming".
      const r = await connect(OPENROUTER, transport, {
        body: (s, ask) => {
          const start = OPENROUTER.stream(s, ask).split("\n\n").slice(0, 5).join("\n\n") + "\n\n";
          return start + sse({
            id: "gen-1767225600-Xh3kQ0",
            object: "chat.completion.chunk",
            created: 1767225600,
            model: ask.model,
            provider: "DeepInfra",
            error: { code: "server_error", message: "Provider disconnected unexpectedly" },
            choices: [{ index: 0, delta: { content: "" }, finish_reason: "error" }],
          }) + "data: [DONE]\n\n";
        },
      });
      try {
        const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
        assert.equal(e.code, "server_error");
        assert.match(e.message, /Provider disconnected unexpectedly/);
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(
    `a raw JSON error object inside a 200 event stream (${transport}) is its own words`,
    async () => {
      // What some proxies in front of a model server do: the upstream's error body, as is.
      const r = await connect(OPENAI, transport, {
        body: () =>
          JSON.stringify(
            {
              error: { message: "upstream connect error or disconnect/reset", type: "proxy_error" },
            },
            null,
            2,
          ) +
          "\n",
      });
      try {
        const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
        assert.equal(e.code, "server_error");
        assert.match(e.message, /upstream connect error or disconnect\/reset/);
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(
    `[DONE] without a finish_reason (${transport}) is a complete answer, finish unknown`,
    async () => {
      // Several gateways drop the finish chunk and keep [DONE].
      const r = await connect(VLLM, transport, { finish: null });
      try {
        const { ds, calls } = await call({ ...r.config, system: SYSTEM, user: USER });
        assert.equal(joined(ds, "text"), TEXT);
        assert.deepEqual(ds.at(-1), { type: "finish", finishReason: "unknown" });
        assert.equal(calls.at(-1)?.type, "end");
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(`[DONE] and no content at all (${transport}) is still an error`, async () => {
    const r = await connect(OPENAI, transport, { body: () => "data: [DONE]\n\n" });
    try {
      const e = await failure(() => deltas({ ...r.config, system: SYSTEM, user: USER }));
      assert.equal(e.code, "bad_stream");
      assert.match(e.message, /carried no completion chunks/);
    } finally {
      await r.close();
    }
  }, where);

  test(`[DONE] on a connection held open (${transport}) ends the call at [DONE]`, async () => {
    const r = await connect(OPENAI, transport, { holdOpen: true });
    try {
      const ds = await deltas({ ...r.config, idleTimeoutMs: 60_000, system: SYSTEM, user: USER });
      assert.equal(joined(ds, "text"), TEXT);
      assert.deepEqual(ds.at(-1), { type: "finish", finishReason: "stop" });
    } finally {
      await r.close();
    }
  }, where);

  test(
    `Azure (${transport}): a content filter stop mid-answer is reported, with the text so far`,
    async () => {
      const r = await connect(AZURE, transport, { cutAfter: 6, finish: "content_filter" });
      try {
        const ds = await deltas({ ...r.config, system: SYSTEM, user: USER });
        assert.ok(TEXT.startsWith(joined(ds, "text")) && joined(ds, "text").length > 0);
        assert.deepEqual(ds.at(-1), { type: "finish", finishReason: "content_filter" });
      } finally {
        await r.close();
      }
    },
    where,
  );

  test(
    `Ollama before 0.1.40 (${transport}): finish_reason "" on every chunk is no finish`,
    async () => {
      // ollama/ollama#4357: "finish_reason":"" on each chunk, then "stop".
      const r = await connect(OLLAMA, transport, {
        body: (s, ask) =>
          OLLAMA.stream(s, ask).replaceAll('"finish_reason":null', '"finish_reason":""'),
      });
      try {
        const ds = await deltas({ ...r.config, system: SYSTEM, user: USER });
        assert.equal(joined(ds, "text"), TEXT);
        assert.deepEqual(ds.at(-1), { type: "finish", finishReason: "stop" });
      } finally {
        await r.close();
      }
    },
    where,
  );
}

// ---------------------------------------------------------------------------------------------
// Retries that respect the server: ordering and request counts, never wall time

test("Groq 429 with Retry-After: 1 is waited out and retried once: the answer arrives", async () => {
  const limited = GROQ.errors.find((c) => c.code === "rate_limited")!;
  const r = await connect(GROQ, "in-process", {
    errorOn: (n) => n === 0 ? { ...limited, headers: { "retry-after": "1" } } : undefined,
  });
  const { ds, calls } = await call({ ...r.config, system: SYSTEM, user: USER });
  assert.equal(joined(ds, "text"), TEXT);
  assert.equal(r.seen.requests, 2);
  assert.deepEqual(calls.map((c) => `${c.type}:${c.attempt}`), [
    "start:1",
    "error:1",
    "start:2",
    "end:2",
  ]);
  const failed = calls[1] as ModelCallEvent & { type: "error" };
  assert.equal(failed.code, "rate_limited");
  assert.equal(failed.retryInMs, 1000, "the wait the server asked for");
});

test("retry-after-ms wins over Retry-After; an HTTP-date Retry-After is honoured too", async () => {
  const limited = AZURE.errors.find((c) => c.code === "rate_limited")!;
  const r = await connect(AZURE, "in-process", {
    errorOn: (n) =>
      n === 0
        ? {
          ...limited,
          headers: { "retry-after": "30", "retry-after-ms": "150" } as Record<string, string>,
        }
        : n === 1
        ? {
          ...limited,
          headers: { "retry-after": new Date(Date.now() + 1_500).toUTCString() } as Record<
            string,
            string
          >,
        }
        : undefined,
  });
  const { ds, calls } = await call({ ...r.config, system: SYSTEM, user: USER });
  assert.equal(joined(ds, "text"), TEXT);
  const waits = calls.filter((c) => c.type === "error").map((c) => c.retryInMs!);
  assert.equal(waits[0], 150);
  assert.ok(waits[1] > 0 && waits[1] <= 1_500, `the date, as a wait: ${waits[1]}`);
  assert.equal(r.seen.requests, 3);
});

test("a 429 asking for longer than maxRetryWaitMs fails at once, saying how long it asked for", async () => {
  const limited = AZURE.errors.find((c) => c.code === "rate_limited")!;
  const r = await connect(AZURE, "in-process", { errorOn: () => limited });
  const e = await failure(() =>
    deltas({ ...r.config, maxRetryWaitMs: 2_000, system: SYSTEM, user: USER })
  );
  assert.equal(e.code, "rate_limited");
  assert.equal(e.retryAfterMs, 6_000);
  assert.match(e.message, /have exceeded token rate limit/);
  assert.match(e.message, /asked to wait 6 s, longer than maxRetryWaitMs \(2000 ms\)/);
  assert.equal(r.seen.requests, 1);
});

test("insufficient_quota is a billing problem: never retried, and the hint says so", async () => {
  const quota = OPENAI.errors.find((c) => c.code === "quota_exceeded")!;
  const r = await connect(OPENAI, "in-process", { errorOn: () => quota });
  const e = await failure(() => deltas({ ...r.config, maxRetries: 5, system: SYSTEM, user: USER }));
  assert.equal(e.code, "quota_exceeded");
  assert.match(e.message, /billing or quota problem, not a rate limit: waiting will not help/);
  assert.equal(r.seen.requests, 1);
});

test("x-should-retry: false stops a retry of a 500; true retries a 409", async () => {
  const fail = (status: number, should: string) => ({
    name: `${status}`,
    status,
    headers: { "x-should-retry": should },
    body: JSON.stringify({ error: { message: `status ${status}`, type: "server_error" } }),
    code: "server_error" as const,
    says: /status/,
    hint: /./,
    source: "openai-node client.ts shouldRetry (x-should-retry)",
  });
  const no = await connect(OPENAI, "in-process", { errorOn: () => fail(500, "false") });
  await failure(() => deltas({ ...no.config, system: SYSTEM, user: USER }));
  assert.equal(no.seen.requests, 1);
  const yes = await connect(OPENAI, "in-process", {
    errorOn: (n) => n === 0 ? fail(409, "true") : undefined,
  });
  assert.equal(joined(await deltas({ ...yes.config, system: SYSTEM, user: USER }), "text"), TEXT);
  assert.equal(yes.seen.requests, 2);
});

test("llama.cpp 503 Loading model is retried while the model loads, within loadingBudgetMs", async () => {
  const loading = {
    name: "503 loading",
    status: 503,
    body: JSON.stringify({
      error: { code: 503, message: "Loading model", type: "unavailable_error" },
    }),
    code: "server_error" as const,
    says: /Loading model/,
    hint: /loading/,
    source: "llama.cpp server-context.cpp: 503 unavailable_error while the model loads",
  };
  // Two 503s, then the model is up: more than maxRetries (0) allows, still within the budget.
  const r = await connect(LLAMACPP, "in-process", {
    errorOn: (n) => n < 2 ? loading : undefined,
  });
  const { ds, calls } = await call({ ...r.config, maxRetries: 0, system: SYSTEM, user: USER });
  assert.equal(joined(ds, "text"), TEXT);
  assert.equal(r.seen.requests, 3);
  assert.deepEqual(calls.map((c) => c.type), ["start", "error", "start", "error", "start", "end"]);
  // A model that never finishes loading fails once the budget is spent, with its words.
  const stuck = await connect(LLAMACPP, "in-process", { errorOn: () => loading });
  const e = await failure(() =>
    deltas({ ...stuck.config, loadingBudgetMs: 1_500, system: SYSTEM, user: USER })
  );
  assert.equal(e.code, "server_error");
  assert.equal(e.status, 503);
  assert.match(e.message, /still loading model test-model \(Loading model\)/);
  assert.ok(stuck.seen.requests >= 2 && stuck.seen.requests <= 3, `${stuck.seen.requests}`);
});

test("a server that rejects stream_options is asked again without it, once, and remembered", async () => {
  // Azure OpenAI before api-version 2024-09-01, and other older servers, reject the option.
  const rejects = {
    name: "400 stream_options",
    status: 400,
    body: JSON.stringify({
      error: {
        message: "Unrecognized request argument supplied: stream_options",
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    }),
    code: "bad_request" as const,
    says: /stream_options/,
    hint: /./,
    source: "Azure OpenAI on older api-versions",
  };
  const r = await connect(AZURE, "in-process", {
    errorOn: (n) => n === 0 ? rejects : undefined,
  });
  const baseURL = "https://legacy-research.openai.azure.com/openai/v1";
  const first = await deltas({ ...r.config, baseURL, system: SYSTEM, user: USER });
  assert.equal(joined(first, "text"), TEXT);
  assert.equal(first.some((d) => d.type === "usage"), false, "no usage without the option");
  const second = await deltas({ ...r.config, baseURL, system: SYSTEM, user: USER });
  assert.equal(joined(second, "text"), TEXT);
  assert.equal(r.seen.requests, 3);
  assert.deepEqual(r.seen.bodies.map((b) => "stream_options" in b), [true, false, false]);
});

test("aborting while waiting out a Retry-After ends at once, with no further request", async () => {
  const limited = GROQ.errors.find((c) => c.code === "rate_limited")!;
  const r = await connect(GROQ, "in-process", {
    errorOn: () => ({ ...limited, headers: { "retry-after": "20" } }),
  });
  const controller = new AbortController();
  const e = await failure(() =>
    deltas({
      ...r.config,
      signal: controller.signal,
      onCall: (event) => event.type === "error" && controller.abort(new Error("stop")),
      system: SYSTEM,
      user: USER,
    })
  );
  assert.equal(e.code, "aborted");
  assert.equal(r.seen.requests, 1);
});
