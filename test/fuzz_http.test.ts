/**
 * Bad input, as property tests (fast-check) through `app.request()` on Node, Deno and workerd:
 * random JSON bodies, wrong types, huge strings, unicode (lone surrogates too), nested objects,
 * random query strings and random Content-Type / Accept headers. Every answer is either a 400 (413
 * for a body over the limit) with `{ error, issues }` JSON or the start of a normal stream (200,
 * text/event-stream or text/plain);
 * never a 500, never a thrown exception. Streams are cancelled at once (the offline model has no
 * pacing), and every flow has ended by the end (`/healthz` active 0).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "./harness.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { eventually } from "./http_helpers.ts";

const MAX_TOPIC = 200;
const MAX_BODY = 4 * 1024;

function fuzzApp() {
  const model = createOfflineModel();
  const app = createApp({
    llm: { fetch: model.fetch, maxRetries: 0 },
    // Random model names reach the flow (the allowlist has its own tests in hostile.test.ts).
    anyModel: true,
    maxTopicLength: MAX_TOPIC,
    maxBodyBytes: MAX_BODY,
  });
  return { app, model };
}

/** Checks one response: a 400 (413) with issues, or a stream that starts (then cancelled). */
async function checkAnswer(res: Response, what: () => string): Promise<"400" | "200"> {
  const type = res.headers.get("content-type") ?? "";
  if (res.status === 200) {
    assert.match(type, /^text\/(event-stream|plain)/, what());
    await res.body?.cancel();
    return "200";
  }
  assert.ok(res.status === 400 || res.status === 413, `${what()}: status ${res.status}`);
  assert.match(type, /^application\/json/, what());
  const body = await res.json();
  assert.equal(typeof body.error, "string", what());
  assert.ok(body.error.length > 0, what());
  assert.ok(Array.isArray(body.issues), what());
  for (const i of body.issues) {
    assert.equal(typeof i.path, "string", what());
    assert.equal(typeof i.message, "string", what());
  }
  return "400";
}

async function noFlowLeft(app: ReturnType<typeof createApp>, model: { stats: { active: number } }) {
  await eventually(
    async () => (await (await app.request("/healthz")).json()).active === 0,
    "no flow in flight",
    10_000,
  );
  await eventually(() => model.stats.active === 0, "no model request in flight", 10_000);
}

/** Strings that stress decoders and validators: any code unit, lone surrogates, long runs. */
const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", " ", "\u0000", "\ud800", "\udfff", "zero\u2028", "\u202e", "🦀".repeat(150)),
  fc.integer({ min: 150, max: 6_000 }).map((n) => "z".repeat(n)),
);

const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    nastyString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(nastyString, fc.constantFrom("topic", "model", "policy")),
      tie("value"),
      {
        maxKeys: 4,
      },
    ),
  ),
})).value;

/** A body: valid ones, objects with topic-ish fields of any type, anything at all. */
const bodyArb = fc.oneof(
  fc.record({
    topic: fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }).filter((t) => !!t.trim()),
    model: fc.option(fc.string({ minLength: 1, maxLength: 20 }).filter((t) => !!t.trim()), {
      nil: undefined,
    }),
    policy: fc.option(fc.constantFrom("fail-fast", "continue"), { nil: undefined }),
  }),
  fc.record(
    {
      topic: fc.oneof(nastyString, jsonish),
      model: fc.oneof(nastyString, jsonish),
      policy: fc.oneof(fc.constantFrom("fail-fast", "continue", "Continue", ""), jsonish),
      extra: jsonish,
    },
    { requiredKeys: [] },
  ),
  jsonish,
);

const contentType = fc.oneof(
  fc.constant("application/json"),
  fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/vnd.api+json",
    "application/jsonx",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    "json",
  ),
  fc.string({ maxLength: 30 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)),
);

const accept = fc.oneof(
  fc.constantFrom(
    "text/plain",
    "text/event-stream",
    "text/plain, text/event-stream",
    "*/*",
    "text/plain;q=0.1",
    "application/json",
  ),
  fc.string({ maxLength: 30 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)),
);

/** A query string of random keys and values, with format/topic/model/policy often among them. */
const queryArb = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom("format", "topic", "model", "policy"), fc.string({ maxLength: 8 })),
    fc.oneof(fc.constantFrom("sse", "text", "xml", "", "zero", "continue"), nastyString),
  ),
  { maxLength: 4 },
).map((pairs) =>
  pairs.length === 0
    ? ""
    : `?${
      pairs.map(([k, v]) =>
        `${encodeURIComponent(fixSurrogates(k))}=${encodeURIComponent(fixSurrogates(v))}`
      ).join("&")
    }`
);

/** encodeURIComponent throws on lone surrogates; the raw %-bytes are tested separately. */
function fixSurrogates(s: string): string {
  return s.replace(/[\ud800-\udfff]/g, (c, i: number) => {
    const code = c.charCodeAt(0);
    const next = s.charCodeAt(i + 1);
    const prev = s.charCodeAt(i - 1);
    const paired = (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) ||
      (code >= 0xdc00 && prev >= 0xd800 && prev <= 0xdbff);
    return paired ? c : "\ufffd";
  });
}

/**
 * A hang is caught per run (fast-check fails the run that does not answer within RUN_LIMIT_MS,
 * with its input); the whole test's limit only bounds thousands of requests, which took 20 s alone
 * and over 60 s beside a full test run on the shared 2-core machine (load 17).
 */
const RUN_LIMIT_MS = 10_000;
const WHOLE_LIMIT_MS = 240_000;

test(
  "POST /research with random bodies, queries and headers: a 400 with issues or a stream",
  async () => {
    const { app, model } = fuzzApp();
    const seen = { "400": 0, "200": 0 };
    await fc.assert(
      fc.asyncProperty(
        bodyArb,
        queryArb,
        contentType,
        fc.option(accept, { nil: undefined }),
        fc.boolean(),
        async (body, query, type, acc, raw) => {
          const headers: Record<string, string> = { "content-type": type };
          if (acc !== undefined) headers.accept = acc;
          // Raw: the JSON text itself, lone surrogates and all (JSON.stringify escapes them).
          const text = raw ? JSON.stringify(body) ?? "" : JSON.stringify(body) ?? "undefined";
          const res = await app.request(`/research${query}`, {
            method: "POST",
            headers,
            body: raw ? text.replace(/\\ud[89ab][0-9a-f]{2}/gi, "\ud800") : text,
          });
          seen[await checkAnswer(res, () => `${type} ${query} ${text.slice(0, 200)}`)]++;
        },
      ),
      { numRuns: 3_000, timeout: RUN_LIMIT_MS },
    );
    assert.ok(
      seen["400"] > 100 && seen["200"] > 10,
      `both outcomes exercised: ${JSON.stringify(seen)}`,
    );
    await noFlowLeft(app, model);
  },
  { timeout: WHOLE_LIMIT_MS },
);

test(
  "GET /research with random query strings (and raw %-bytes): a 400 with issues or a stream",
  async () => {
    const { app, model } = fuzzApp();
    const seen = { "400": 0, "200": 0 };
    const rawBytes = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }).map((bytes) =>
      `?topic=${bytes.map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(queryArb, rawBytes, queryArb.map((q) => `${q}${q ? "&" : "?"}topic=zero`)),
        fc.option(accept, { nil: undefined }),
        async (query, acc) => {
          const res = await app.request(`/research${query}`, {
            headers: acc === undefined ? {} : { accept: acc },
          });
          seen[await checkAnswer(res, () => `GET ${query}`)]++;
        },
      ),
      { numRuns: 3_000, timeout: RUN_LIMIT_MS },
    );
    assert.ok(
      seen["400"] > 100 && seen["200"] > 10,
      `both outcomes exercised: ${JSON.stringify(seen)}`,
    );
    await noFlowLeft(app, model);
  },
  { timeout: WHOLE_LIMIT_MS },
);

test("oversized bodies and over-long topics are 400s at every size around the limits", async () => {
  const { app, model } = fuzzApp();
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: MAX_TOPIC - 5, max: MAX_TOPIC + 5 }),
      fc.integer({ min: 0, max: MAX_BODY * 3 }),
      fc.constantFrom("z", "é", "🦀", "\u0000"),
      async (topicLength, padBytes, unit) => {
        const topic = unit.repeat(topicLength).slice(0, topicLength);
        const body = JSON.stringify({ topic, pad: "x".repeat(padBytes) });
        const res = await app.request("/research", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        const bytes = new TextEncoder().encode(body).length;
        const what = () => `topic ${topic.length} units, body ${bytes} bytes`;
        const outcome = await checkAnswer(res, what);
        // The topic limit counts characters (code points), as zod does, not UTF-16 units.
        const characters = Array.from(topic.trim()).length;
        if (bytes > MAX_BODY || characters > MAX_TOPIC) assert.equal(outcome, "400", what());
        if (bytes <= MAX_BODY && characters <= MAX_TOPIC && topic.trim()) {
          assert.equal(outcome, "200", what());
        }
      },
    ),
    { numRuns: 300, timeout: RUN_LIMIT_MS },
  );
  await noFlowLeft(app, model);
}, { timeout: WHOLE_LIMIT_MS });
