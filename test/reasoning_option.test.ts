/**
 * `reasoning: false` per HTTP request (routes/options.ts): a client that does not want a thinking
 * model's reasoning asks for none, on every route that streams a flow — `POST /research` (body or
 * query; SSE, text and the UI message stream), `GET /research`, `POST /chat` (`useChat`'s `body`),
 * `POST /runs` and `GET /runs/{id}/events` — and gets the same answer without it, while the run's
 * log keeps the reasoning for viewers who want it. The offline model thinks first
 * (`delta.reasoning`). In-process on Node, Deno and workerd, over loopback HTTP on Node and Deno; the
 * wrangler-built Worker (Miniflare), where /research and /runs are runs in Durable Objects (the
 * option travels with the forwarded request).
 */
import assert from "node:assert/strict";
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from "ai";
import { runtime, test } from "./harness.ts";
import { serve } from "./serve.ts";
import { allFrames, type Frame } from "./http_helpers.ts";
import { withWorker } from "./worker_build.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel } from "../src/llm/mod.ts";

const TOPIC = "the history of zero";
const ROLES = ["answer", "facts", "quotes", "stats"];

type Transport = "in-process" | "loopback";
const TRANSPORTS: Transport[] = runtime === "workerd" ? ["in-process"] : ["in-process", "loopback"];
type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

/** The app over `transport`, on an offline model that thinks before it answers. */
async function thinkingApp(transport: Transport) {
  const model = createOfflineModel({ reasoning: "reasoning" });
  const app = createApp({ llm: { fetch: model.fetch } });
  if (transport === "in-process") {
    const fetch: Fetch = async (path, init) => await app.request(path, init);
    return { fetch, close: () => Promise.resolve() };
  }
  const served = await serve(async (req) => await app.fetch(req));
  const fetch: Fetch = (path, init) => globalThis.fetch(`${served.url}${path}`, init);
  return { fetch, close: served.close };
}

const post = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** Each role's answer text and reasoning text, from SSE frames. */
function streams(frames: Frame[]) {
  const text: Record<string, string> = {};
  const reasoning: Record<string, string> = {};
  for (const f of frames) {
    if (f.event === "chunk") text[f.data.role] = (text[f.data.role] ?? "") + f.data.text;
    if (f.event === "reasoning") {
      reasoning[f.data.role] = (reasoning[f.data.role] ?? "") + f.data.text;
    }
  }
  return { text, reasoning, last: frames.at(-1)?.event };
}

for (const transport of TRANSPORTS) {
  test(
    `reasoning=false on POST /research: the same answer, no reasoning frames (${transport})`,
    async () => {
      const { fetch, close } = await thinkingApp(transport);
      try {
        const full = streams(
          await allFrames((await fetch("/research", post({ topic: TOPIC }))).body!),
        );
        // The model does think: by default every agent's reasoning is there, apart from its text.
        assert.deepEqual(Object.keys(full.reasoning).sort(), ROLES);
        assert.equal(full.last, "done");
        for (
          const asked of [
            fetch("/research", post({ topic: TOPIC, reasoning: false })),
            fetch("/research?reasoning=false", post({ topic: TOPIC })),
            fetch("/research?reasoning=0", post({ topic: TOPIC })),
            fetch(`/research?topic=${encodeURIComponent(TOPIC)}&reasoning=false`),
            // The body's field wins over the query's.
            fetch("/research?reasoning=true", post({ topic: TOPIC, reasoning: false })),
          ]
        ) {
          const res = await asked;
          assert.equal(res.status, 200);
          const frames = await allFrames(res.body!);
          assert.equal(frames.filter((f) => f.event === "reasoning").length, 0);
          const seen = streams(frames);
          assert.deepEqual(seen.text, full.text, "every agent's answer is unchanged");
          assert.equal(seen.last, "done");
          // Usage still counts the reasoning tokens: the client chose not to see it, not to lose it.
          const usage = frames.find((f) => f.event === "usage" && f.data.scope === "flow");
          assert.ok(usage?.data.usage.reasoningTokens > 0);
        }
        // `reasoning: true` (or leaving it out) shows it.
        const shown = streams(
          await allFrames(
            (await fetch("/research", post({ topic: TOPIC, reasoning: true }))).body!,
          ),
        );
        assert.deepEqual(shown.reasoning, full.reasoning);
      } finally {
        await close();
      }
    },
    { timeout: 30_000 },
  );

  test(`reasoning=false on the text format and the UI message stream (${transport})`, async () => {
    const { fetch, close } = await thinkingApp(transport);
    try {
      const text = async (query: string) =>
        await (await fetch(`/research?format=text${query}`, post({ topic: TOPIC }))).text();
      assert.match(await text(""), /\[facts reasoning\] /);
      const plain = await text("&reasoning=false");
      assert.doesNotMatch(plain, /reasoning\]/);
      assert.match(plain, /^\[facts\] |\n\n\[facts\] /);

      const ui = async (body: Record<string, unknown>) => {
        const res = await fetch("/research?format=ui", post({ topic: TOPIC, ...body }));
        assert.equal(res.headers.get("x-vercel-ai-ui-message-stream"), "v1");
        return await res.text();
      };
      assert.match(await ui({}), /"type":"reasoning-delta"/);
      const without = await ui({ reasoning: false });
      assert.doesNotMatch(without, /"type":"reasoning-/);
      assert.match(without, /"type":"text-delta"/);
      assert.match(without, /data: \[DONE\]\n\n$/);
    } finally {
      await close();
    }
  }, { timeout: 30_000 });

  test(
    `reasoning=false on runs: the log keeps it, each viewer chooses (${transport})`,
    async () => {
      const { fetch, close } = await thinkingApp(transport);
      try {
        // A run led by POST /research that asked for no reasoning…
        const led = await fetch("/research", post({ topic: TOPIC, reasoning: false }));
        const where = led.headers.get("content-location")!;
        assert.match(where, /^\/runs\/[0-9a-f-]{36}$/);
        const ledFrames = await allFrames(led.body!);
        assert.equal(ledFrames.filter((f) => f.event === "reasoning").length, 0);
        // …still logged the reasoning: another viewer who wants it gets it, one who does not, not.
        const all = streams(await allFrames((await fetch(`${where}/events`)).body!));
        assert.deepEqual(Object.keys(all.reasoning).sort(), ROLES);
        for (const query of ["?reasoning=false", "?reasoning=no&format=sse"]) {
          const frames = await allFrames((await fetch(`${where}/events${query}`)).body!);
          assert.equal(frames.filter((f) => f.event === "reasoning").length, 0, query);
          assert.deepEqual(streams(frames).text, all.text, query);
          assert.equal(frames[0].event, "run");
        }
        // The UI message stream of the run, without reasoning parts.
        const ui = await (await fetch(`${where}/events?format=ui&reasoning=false`)).text();
        assert.doesNotMatch(ui, /"type":"reasoning-/);
        assert.match(ui, /"type":"text-delta"/);

        // POST /runs: the body's field (or the query) for the creator's own stream.
        for (const [path, body] of [["/runs", { reasoning: false }], ["/runs?reasoning=0", {}]]) {
          const created = await fetch(path as string, post({ topic: TOPIC, ...(body as object) }));
          assert.equal(created.status, 201);
          const frames = await allFrames(created.body!);
          assert.equal(frames.filter((f) => f.event === "reasoning").length, 0, String(path));
          assert.deepEqual(streams(frames).text, all.text);
          const again = streams(
            await allFrames((await fetch(`${created.headers.get("location")}/events`)).body!),
          );
          assert.deepEqual(again.reasoning, all.reasoning, "the run logged its reasoning");
        }
      } finally {
        await close();
      }
    },
    { timeout: 60_000 },
  );

  test(`reasoning: a value that is not a boolean is a 400 naming it (${transport})`, async () => {
    const { fetch, close } = await thinkingApp(transport);
    try {
      const refusals = [
        await fetch("/research", post({ topic: TOPIC, reasoning: "maybe" })),
        await fetch("/research?reasoning=maybe", post({ topic: TOPIC })),
        await fetch(`/research?topic=zero&reasoning=2`),
        await fetch("/runs", post({ topic: TOPIC, reasoning: 0 })),
        await fetch("/runs?reasoning=", post({ topic: TOPIC })),
        await fetch(`/runs/${crypto.randomUUID()}/events?reasoning=perhaps`),
        await fetch("/chat", post({ id: "c", messages: [], reasoning: "x" })),
      ];
      for (const res of refusals) {
        assert.equal(res.status, 400, res.url);
        assert.match(JSON.stringify(await res.json()), /reasoning must be true or false/);
      }
    } finally {
      await close();
    }
  });
}

test(
  "reasoning=false on POST /chat: useChat's body option, a message with no reasoning parts",
  async () => {
    const model = createOfflineModel({ reasoning: "reasoning" });
    const app = createApp({ llm: { fetch: model.fetch } });
    const inProcess = (input: RequestInfo | URL, init?: RequestInit) =>
      Promise.resolve(app.fetch(new Request(input, init)));
    const message = async (body?: Record<string, unknown>) => {
      const transport = new DefaultChatTransport({
        api: "http://reflow.test/chat",
        fetch: inProcess,
        body,
      });
      const stream = await transport.sendMessages({
        chatId: "chat-1",
        messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: TOPIC }] }],
        abortSignal: undefined,
        trigger: "submit-message",
        messageId: undefined,
      });
      let last: UIMessage | undefined;
      for await (const m of readUIMessageStream({ stream })) last = m;
      return last!;
    };
    const texts = (m: UIMessage) =>
      Object.fromEntries(
        m.parts.flatMap((p) =>
          p.type === "text" ? [[(p.providerMetadata?.reflow as { role: string }).role, p.text]] : []
        ),
      );
    const full = await message();
    assert.equal(full.parts.filter((p) => p.type === "reasoning").length, 4);
    const without = await message({ reasoning: false });
    assert.equal(without.parts.filter((p) => p.type === "reasoning").length, 0);
    assert.deepEqual(texts(without), texts(full));
    assert.deepEqual(Object.keys(texts(full)).sort(), ROLES);
  },
  { timeout: 30_000 },
);

test(
  "worker: reasoning=false on /research and on /runs, both runs in their Durable Objects",
  async () => {
    const model = createOfflineModel({ reasoning: "reasoning" });
    const served = await serve(model.handle);
    try {
      await withWorker({ OPENAI_BASE_URL: `${served.url}/v1`, REFLOW_MODEL: "m" }, async (mf) => {
        const at = (path: string, init?: RequestInit) =>
          mf.dispatchFetch(`http://worker.test${path}`, init);
        const full = streams(await allFrames((await at("/research", post({ topic: TOPIC }))).body));
        assert.deepEqual(Object.keys(full.reasoning).sort(), ROLES);
        for (
          const [path, body] of [
            ["/research?reasoning=false", { topic: TOPIC }],
            ["/research", { topic: TOPIC, reasoning: false }],
          ] as const
        ) {
          const frames = await allFrames((await at(path, post(body))).body);
          assert.equal(frames.filter((f) => f.event === "reasoning").length, 0, path);
          assert.deepEqual(streams(frames).text, full.text);
          assert.equal(streams(frames).last, "done");
        }

        // POST /runs is forwarded to the run's Durable Object with the option; its log keeps it.
        const created = await at("/runs", post({ topic: TOPIC, reasoning: false }));
        assert.equal(created.status, 201);
        const runFrames = await allFrames(created.body);
        assert.equal(runFrames.filter((f) => f.event === "reasoning").length, 0);
        assert.deepEqual(streams(runFrames).text, full.text);
        const events = `${created.headers.get("location")}/events`;
        const logged = streams(await allFrames((await at(events)).body));
        assert.deepEqual(Object.keys(logged.reasoning).sort(), ROLES);
        const hidden = await allFrames((await at(`${events}?reasoning=false`)).body);
        assert.equal(hidden.filter((f) => f.event === "reasoning").length, 0);
        assert.equal((await at(`${events}?reasoning=maybe`)).status, 400);
      });
    } finally {
      await served.close();
    }
  },
  {
    only: ["node"],
    why: "builds the Worker with wrangler and drives workerd through Miniflare from Node",
    timeout: 120_000,
  },
);
