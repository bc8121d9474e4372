/**
 * The load benchmark's CI variant (see bench/load.bench.ts): N concurrent streaming clients
 * against the real app over real HTTP on loopback. Every response must be complete and, word for
 * word, the offline model's text for that client's own topic (bench/load_check.ts), and nothing
 * may be left running afterwards. Assertions are on content and counts, never on time.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { allFrames, eventually } from "./http_helpers.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { checkFrames, researchOnce } from "../bench/load_check.ts";

const N = 20;

test(
  `under load: ${N} concurrent streams over HTTP, each complete and correct for its topic`,
  async () => {
    // Fast but not instant pacing, so that the clients' streams interleave on the server.
    const model = createOfflineModel({ tokenDelayMs: 1, firstTokenDelayMs: 5 });
    const app = createApp({ llm: { fetch: model.fetch } });
    const served = await serve(async (req) => await app.fetch(req));
    try {
      const topics = Array.from({ length: N }, (_, i) => `topic ${i}`);
      const outcomes = await Promise.all(topics.map((topic) => researchOnce(served.url, topic)));
      const failed = outcomes.filter((o) => o.problems.length);
      assert.deepEqual(
        failed.map((o) => `${o.topic}: ${o.problems.join("; ")}`),
        [],
        "every stream complete and correct",
      );
      assert.equal(outcomes.length, N);
      assert.ok(outcomes.every((o) => o.ttfcMs !== undefined), "each saw a chunk");

      const healthz = async () => (await (await fetch(`${served.url}/healthz`)).json()).active;
      await eventually(async () => (await healthz()) === 0, "no flow in flight");
      assert.equal(await healthz(), 0);
      await eventually(() => model.stats.active === 0, "no model request in flight");
      // Four model requests per flow (three specialists and the synthesizer), all run to the end.
      assert.deepEqual({ ...model.stats }, {
        active: 0,
        started: 4 * N,
        completed: 4 * N,
        aborted: 0,
      });
    } finally {
      await served.close();
    }
  },
  {
    only: ["node", "deno"],
    why: "workerd cannot listen on a loopback port (test/worker.test.ts drives a real Worker)",
    timeout: 60_000,
  },
);

test("the load check rejects a stream for another topic, or one cut short", async () => {
  const model = createOfflineModel();
  const app = createApp({ llm: { fetch: model.fetch } });
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: "topic 1" }),
  });
  const frames = await allFrames(res.body!);
  assert.deepEqual(checkFrames("topic 1", frames), []);
  const other = checkFrames("topic 2", frames);
  assert.ok(
    ["facts", "stats", "quotes"].every((r) => other.some((p) => p.startsWith(`${r} text`))),
    `mixed topics are caught: ${other.join("; ")}`,
  );
  assert.ok(checkFrames("topic 1", frames.slice(0, -1)).length > 0, "a missing done is caught");
  const twice = [...frames.slice(0, -1), frames.at(-2)!, frames.at(-1)!];
  assert.ok(checkFrames("topic 1", twice).some((p) => p.includes("2 answer events")));
  const dropAt = frames.findIndex((f, i) => i >= 5 && f.event === "chunk");
  const lost = frames.filter((_, i) => i !== dropAt);
  assert.ok(checkFrames("topic 1", lost).length > 0, "a lost chunk is caught");
});
