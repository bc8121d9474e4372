/**
 * Security through the app (`app.request()`, on Node, Deno and workerd): a sentinel API key sent
 * through every model-server fault never shows up in a response body, header, SSE frame or error;
 * bearer auth rejects every missing, wrong or malformed header with a 401 JSON body and passes the
 * right one; request size and topic limits hold (400, never 500). The page's escaping of the
 * model's words is covered in a browser by test/page.test.ts; the CLI's output by cli.test.ts.
 */
import assert from "node:assert/strict";
import { type Runtime, test } from "./harness.ts";
import { createApp } from "../routes/app.ts";
import { tokensEqual } from "../routes/auth.ts";
import {
  allFrames,
  countedModel,
  eventually,
  FAULTS,
  faultyApp,
  researchRequest,
  SENTINEL_KEY,
  type Transport,
} from "./http_helpers.ts";

const NET = {
  only: ["node", "deno"] as Runtime[],
  why: "workerd cannot listen on a loopback port, so nothing can refuse a connection",
};

/** Everything a response shows: status line, headers, body. */
async function exposed(res: Response): Promise<string> {
  return `${res.status} ${JSON.stringify([...res.headers])}\n${await res.text()}`;
}

for (const transport of ["in-process", "loopback"] as Transport[]) {
  test(`the API key never leaks through any model fault (${transport})`, async () => {
    for (const c of FAULTS) {
      if (transport === "in-process" && c.refused) continue;
      for (const policy of ["fail-fast", "continue"] as const) {
        const f = await faultyApp(c, { transport, siblingDelayMs: 0 });
        try {
          const shown: string[] = [];
          for (const query of ["", "?format=text"]) {
            shown.push(
              await exposed(
                await f.app.request(...researchRequest({ topic: "zero", policy }, { query })),
              ),
            );
          }
          shown.push(await exposed(await f.app.request(`/research?topic=zero&policy=${policy}`)));
          for (const text of shown) {
            assert.ok(!text.includes(SENTINEL_KEY), `${c.name} (${policy}): ${text.slice(-300)}`);
            // Nor a recognisable piece of it.
            assert.ok(!text.includes("SENTINEL"), `${c.name} (${policy}) leaked part of the key`);
          }
          // The failure was reported (so the key had every chance to leak): an error or a note.
          assert.match(shown[0], /event: error|note: the stats agent failed/, c.name);
          await eventually(() => f.model.stats.active === 0, "every model request ended");
        } finally {
          await f.close();
        }
      }
    }
    // Two stall faults wait out their limit (FAULT_TIMEOUT_MS) six times each.
  }, transport === "loopback" ? { ...NET, timeout: 90_000 } : { timeout: 90_000 });
}

test("the model echoing the key (401) is scrubbed in SSE frames, text and errors", async () => {
  // requireKey answers 401 quoting the key it was given: the sentinel, verbatim.
  const m = countedModel({ fault: { requireKey: "the-right-key" } });
  const app = createApp({ llm: { fetch: m.fetch, apiKey: SENTINEL_KEY, maxRetries: 0 } });
  const frames = await allFrames((await app.request(...researchRequest({ topic: "zero" }))).body!);
  const error = frames.find((f) => f.event === "error");
  assert.ok(error, "an error frame");
  assert.equal(error.data.code, "unauthorized");
  assert.match(error.data.message, /refused this server's credentials/);
  assert.ok(!JSON.stringify(frames).includes(SENTINEL_KEY));
});

test("bearer auth: missing, wrong and malformed headers are 401 JSON; the right one passes", async () => {
  const token = "tok-3f9a1c7e5b";
  const m = countedModel();
  const app = createApp({ llm: { fetch: m.fetch }, token });
  const bad: [string, string | undefined][] = [
    ["missing", undefined],
    ["empty", ""],
    ["scheme only", "Bearer"],
    ["scheme and space", "Bearer "],
    ["Basic", `Basic ${btoa(`user:${token}`)}`],
    ["Basic with the token", `Basic ${token}`],
    ["bare token", token],
    ["wrong token", "Bearer nope"],
    ["token twice", `Bearer ${token} ${token}`],
    ["token and junk", `Bearer ${token} x`],
    ["comma list", `Bearer ${token}, Bearer ${token}`],
    ["tab-separated", `Bearer\t${token}`],
    ["leading space", ` Bearer ${token}x`],
    ["quoted", `Bearer "${token}"`],
    ["very long", `Bearer ${"a".repeat(8_000)}`],
    // Headers carry bytes: non-ASCII arrives as its UTF-8 bytes, read as Latin-1.
    ["unicode (UTF-8 bytes)", `Bearer ${latin1(token.replace("a", "а"))}`], // Cyrillic а
    ["unicode (Latin-1)", `Bearer ${token.replace("a", "á")}`],
    ["prefix", `Bearer ${token.slice(0, -1)}`],
    ["extension", `Bearer ${token}0`],
    ["other case", `Bearer ${token.toUpperCase()}`],
    ["other scheme", `Token ${token}`],
  ];
  for (const [name, header] of bad) {
    for (
      const [path, init] of [
        researchRequest({ topic: "zero" }),
        ["/research?topic=zero", {}],
        ["/graph", {}],
      ] as [string, RequestInit][]
    ) {
      const headers = new Headers(init.headers);
      if (header !== undefined) headers.set("authorization", header);
      const res = await app.request(path, { ...init, headers });
      assert.equal(res.status, 401, `${name} on ${path}`);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/, name);
      const body = await res.json();
      assert.match(body.error, /^unauthorized: /, name);
      assert.ok(!JSON.stringify(body).includes(token), "never echoes the token");
    }
  }
  assert.equal(m.model.stats.started, 0, "no flow started without the token");
  // Accepted: any case of the scheme, extra spaces around the token.
  for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER   ${token}  `]) {
    const res = await app.request(
      ...researchRequest({ topic: "zero" }, { headers: { authorization: header } }),
    );
    assert.equal(res.status, 200, header);
    await res.body?.cancel();
  }
  await eventually(() => m.model.stats.active === 0, "every model request ended");
});

test("tokens of every length are rejected alike; the comparison hashes both sides", async () => {
  // Constant-time by construction (routes/auth.ts): both tokens are hashed with SHA-256 and the
  // fixed-size digests compared with an XOR loop, so neither length nor a matching prefix changes
  // the work. Checked by behaviour, not timing: every near miss, of every length, is rejected.
  const token = "x".repeat(32);
  for (let length = 0; length <= 80; length++) {
    const given = "x".repeat(length);
    assert.equal(await tokensEqual(given, token), length === 32, `length ${length}`);
  }
  for (let i = 0; i < token.length; i++) {
    const flipped = token.slice(0, i) + "y" + token.slice(i + 1);
    assert.equal(await tokensEqual(flipped, token), false, `differs at ${i}`);
  }
  assert.equal(await tokensEqual("\u0000".repeat(32), token), false);
  assert.equal(await tokensEqual("é", "e\u0301"), false, "no normalisation");
});

test("size and topic limits: 400/413 with issues at and past the limits, never 500", async () => {
  const m = countedModel();
  const app = createApp({ llm: { fetch: m.fetch }, maxTopicLength: 100, maxBodyBytes: 1_000 });
  const EMPTY_PAD = JSON.stringify({ topic: "t", pad: "" }).length;
  const cases: [string, number, unknown][] = [
    ["topic one past the limit", 400, { topic: "t".repeat(101) }],
    ["topic at the limit", 200, { topic: "t".repeat(100) }],
    ["topic of 100 emoji (code points)", 200, { topic: "🦀".repeat(100) }],
    ["topic of 101 emoji", 400, { topic: "🦀".repeat(101) }],
    ["body at the limit", 200, { topic: "t", pad: "p".repeat(1_000 - EMPTY_PAD) }],
    ["body one byte past the limit", 413, { topic: "t", pad: "p".repeat(1_001 - EMPTY_PAD) }],
    ["body far past the limit", 413, { topic: "t".repeat(50), pad: "p".repeat(100_000) }],
    ["model name too long", 400, { topic: "t", model: "m".repeat(201) }],
  ];
  for (const [name, status, body] of cases) {
    const res = await app.request(...researchRequest(body));
    assert.equal(res.status, status, `${name}: ${JSON.stringify(body).length} bytes`);
    if (status !== 200) {
      const json = await res.json();
      assert.ok(Array.isArray(json.issues) && json.issues.length > 0, name);
    } else {
      await res.body?.cancel();
    }
  }
  // A body without a Content-Length (streamed) is cut off at the limit too.
  const big = new TextEncoder().encode(JSON.stringify({ topic: "t", pad: "p".repeat(50_000) }));
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < big.length; i += 4_096) c.enqueue(big.subarray(i, i + 4_096));
        c.close();
      },
    }),
    duplex: "half",
  } as RequestInit);
  assert.equal(res.status, 413);
  await eventually(() => m.model.stats.active === 0, "every model request ended");
});

/** `text`'s UTF-8 bytes as a Latin-1 string: what a raw HTTP client puts in a header. */
function latin1(text: string): string {
  return String.fromCharCode(...new TextEncoder().encode(text));
}
