/**
 * Hostile and careless clients (issue 15), through the real app: `app.request()` on Node, Deno
 * and workerd; raw sockets against the server `--serve` runs (cli/listen.ts: node:http under Node
 * and Deno) on node and deno. Each attack from the issue: HEAD, floods past the flow caps, slow
 * and stalled and oversized and malformed bodies, slow headers, idle connections, a client picking
 * the billed model, a model server that echoes every secret it was sent. Assertions are on
 * statuses, the bytes received, whether the connection closed, and counts (`/healthz` active, the
 * model's requests); time only as generous bounds around the documented limits.
 */
import assert from "node:assert/strict";
import { type Runtime, test } from "./harness.ts";
import { createApp } from "../routes/app.ts";
import { Admission, clientKey } from "../routes/admission.ts";
import { serverSettings, SettingsError } from "../routes/env.ts";
import { createScrubber, redactUrl } from "../routes/secrets.ts";
import { createOfflineModel, type OfflineModelOptions } from "../src/llm/offline_model.ts";
import { allFrames, eventually, researchRequest, SENTINEL_KEY } from "./http_helpers.ts";

const SOCKETS = {
  only: ["node", "deno"] as Runtime[],
  why: "raw TCP sockets against a listening server (workerd cannot listen; the Worker's own " +
    "attacks are in worker_hostile.test.ts, driven through Miniflare)",
};

/** An app on the offline model; `hold` keeps every flow waiting for its first token. */
function appWith(
  config: Partial<Parameters<typeof createApp>[0]> = {},
  model: OfflineModelOptions = {},
) {
  const offline = createOfflineModel(model);
  const app = createApp({ llm: { fetch: offline.fetch, maxRetries: 0 }, ...config });
  const active = async () => (await (await app.request("/healthz")).json()).active as number;
  return { app, model: offline, active };
}

const HOLD: OfflineModelOptions = { firstTokenDelayMs: 60_000 };

// --- HEAD ---------------------------------------------------------------------------------------

test("HEAD /research answers with the GET's headers and starts no flow", async () => {
  const { app, model, active } = appWith({}, HOLD);
  for (let i = 0; i < 20; i++) {
    const res = await app.request("/research?topic=zero", { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(res.body, null);
  }
  const text = await app.request("/research?topic=zero&format=text", { method: "HEAD" });
  assert.match(text.headers.get("content-type") ?? "", /^text\/plain/);
  const bad = await app.request("/research", { method: "HEAD" });
  assert.equal(bad.status, 400, "a GET without a topic is a 400, so is its HEAD");
  assert.equal(await active(), 0);
  assert.equal(model.stats.started, 0, "no model request was made");
});

test("HEAD with auth on: 401 without the token, headers only with it", async () => {
  const { app, model } = appWith({ token: "head-token-123" }, HOLD);
  const denied = await app.request("/research?topic=zero", { method: "HEAD" });
  assert.equal(denied.status, 401);
  const allowed = await app.request("/research?topic=zero", {
    method: "HEAD",
    headers: { authorization: "Bearer head-token-123" },
  });
  assert.equal(allowed.status, 200);
  assert.equal(model.stats.started, 0);
});

// --- Admission control --------------------------------------------------------------------------

test("past maxFlows a request is a 429 with Retry-After, before anything runs", async () => {
  const { app, model, active } = appWith({ maxFlows: 2, retryAfterSeconds: 7 }, HOLD);
  const running = [
    await app.request(...researchRequest({ topic: "one" })),
    await app.request("/research?topic=two"),
  ];
  for (const r of running) assert.equal(r.status, 200);
  await eventually(() => model.stats.started === 6, "both flows asked the model");
  for (const request of [researchRequest({ topic: "three" }), ["/research?topic=four", {}]]) {
    const res = await app.request(...(request as [string, RequestInit]));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "7");
    const body = await res.json();
    assert.equal(body.code, "busy");
    assert.match(body.error, /as many research flows as it allows \(2\); try again in 7 s/);
  }
  // Refused requests took nothing: still two flows, six model requests.
  assert.equal(await active(), 2);
  assert.equal(model.stats.started, 6);
  // /healthz, the page and the graph are not flows: they answer.
  assert.equal((await app.request("/healthz")).status, 200);
  assert.equal((await app.request("/graph")).status, 200);
  // One ends; its place is free again.
  await running[0].body!.cancel();
  await eventually(async () => (await active()) === 1, "the cancelled flow ended");
  const next = await app.request(...researchRequest({ topic: "five" }));
  assert.equal(next.status, 200);
  await next.body!.cancel();
  await running[1].body!.cancel();
  await eventually(async () => (await active()) === 0, "every flow ended");
  await eventually(() => model.stats.active === 0, "every model request ended");
});

test("maxFlowsPerClient caps one address; others still get in; bad requests free their place", async () => {
  const { app, model, active } = appWith({
    maxFlows: 10,
    maxFlowsPerClient: 2,
    // What an entry point reads from the connection; here a header stands in for it.
    clientAddress: (request) => request.headers.get("x-test-client") ?? undefined,
  }, HOLD);
  const from = (client: string, topic = "zero") =>
    app.request(...researchRequest({ topic }, { headers: { "x-test-client": client } }));
  // Requests that fail validation release their place at once.
  for (let i = 0; i < 5; i++) {
    assert.equal((await from("203.0.113.9", "")).status, 400);
  }
  const a1 = await from("203.0.113.9");
  const a2 = await from("::ffff:203.0.113.9"); // the same client, IPv4-mapped
  const a3 = await from("203.0.113.9");
  assert.deepEqual([a1.status, a2.status, a3.status], [200, 200, 429]);
  assert.match((await a3.json()).error, /this client already runs as many research flows/);
  // Two addresses in one IPv6 /64 are one client; another /64 is another.
  const b1 = await from("2001:db8:1:2::10");
  const b2 = await from("2001:db8:1:2:ffff::1");
  const b3 = await from("2001:0db8:0001:0002:0:0:0:99");
  const c1 = await from("2001:db8:1:3::10");
  assert.deepEqual([b1.status, b2.status, b3.status, c1.status], [200, 200, 429, 200]);
  assert.equal(await active(), 5);
  for (const r of [a1, a2, b1, b2, c1]) await r.body!.cancel();
  await eventually(async () => (await active()) === 0, "every flow ended");
  await eventually(() => model.stats.active === 0, "every model request ended");
  assert.equal(clientKey("2001:db8:1:2::10"), "2001:db8:1:2::/64");
  assert.equal(clientKey("[2001:DB8:1:2::10%eth0]"), "2001:db8:1:2::/64");
  assert.equal(clientKey("::ffff:10.0.0.1"), "10.0.0.1");
  assert.equal(clientKey("10.0.0.1"), "10.0.0.1");
});

test("a client may start a burst of flows, then maxFlowStartsPerClientPerMinute a minute", async () => {
  const { app, model, active } = appWith({
    maxFlowStartsPerClientPerMinute: 3,
    flowStartBurstPerClient: 3,
    clientAddress: (request) => request.headers.get("x-test-client") ?? undefined,
  }, HOLD);
  const from = (client: string) =>
    app.request("/research?topic=zero", { headers: { "x-test-client": client } });
  // Connect and leave, three times: each start counts, though none holds a flow for long.
  for (let i = 0; i < 3; i++) {
    const res = await from("198.51.100.7");
    assert.equal(res.status, 200);
    await res.body!.cancel();
  }
  const refused = await from("198.51.100.7");
  assert.equal(refused.status, 429);
  const wait = Number(refused.headers.get("retry-after"));
  assert.ok(wait >= 1 && wait <= 20, `Retry-After ${wait}: one start comes back every 20 s`);
  assert.match(
    (await refused.json()).error,
    /starts research flows faster than one client may \(3 a minute, 3 at once\)/,
  );
  // Another client is not held back by it.
  const other = await from("198.51.100.8");
  assert.equal(other.status, 200);
  await other.body!.cancel();
  await eventually(async () => (await active()) === 0, "every flow ended");
  await eventually(() => model.stats.active === 0, "every model request ended");
});

test("the start bucket refills at its rate, and holds no more than its burst", () => {
  let now = 0;
  const admission = new Admission(
    {
      maxFlows: 100,
      maxFlowsPerClient: 100,
      maxFlowStartsPerClientPerMinute: 6,
      flowStartBurstPerClient: 6,
    },
    () => now,
  );
  const start = () => {
    const slot = admission.enter("192.0.2.1");
    if ("reason" in slot) return slot;
    slot.release();
    return "ok";
  };
  for (let i = 0; i < 6; i++) assert.equal(start(), "ok");
  assert.deepEqual(start(), { reason: "rate", retryAfter: 10 });
  now += 9_000;
  assert.equal((start() as { reason: string }).reason, "rate");
  now += 1_000; // 10 s: one start back (6 a minute)
  assert.equal(start(), "ok");
  assert.equal((start() as { reason: string }).reason, "rate");
  now += 60_000; // a full bucket again, no more than that
  for (let i = 0; i < 6; i++) assert.equal(start(), "ok");
  assert.equal((start() as { reason: string }).reason, "rate");
});

// --- Request bodies -----------------------------------------------------------------------------

test("a body over the limit by its Content-Length is a 413 before a byte of it is read", async () => {
  const { app, model } = appWith({ maxBodyBytes: 1_000 });
  let pulled = 0;
  // A body that would never end: only its declared length can have decided the answer.
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(100));
    },
  }, { highWaterMark: 0 });
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": "1000001" },
    body: endless,
    duplex: "half",
  } as RequestInit);
  assert.equal(res.status, 413);
  const body = await res.json();
  assert.equal(body.code, "body_too_large");
  assert.match(body.error, /larger than 1000 bytes/);
  assert.equal(res.headers.get("connection"), "close");
  assert.ok(pulled <= 1, `read ${pulled} chunks of a body it had already refused`);
  assert.equal(model.stats.started, 0);
});

test("a body that stalls is a 408 after bodyTimeoutMs, and its place is freed", async () => {
  const { app, model, active } = appWith({ bodyTimeoutMs: 300, maxFlows: 1 });
  const stalled = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"topic":"ze')); // … and nothing more, ever
    },
  });
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stalled,
    duplex: "half",
  } as RequestInit);
  assert.equal(res.status, 408);
  const body = await res.json();
  assert.equal(body.code, "body_timeout");
  assert.match(body.error, /did not arrive within 300 ms/);
  assert.equal(res.headers.get("connection"), "close");
  // maxFlows is 1: the stalled request gave its place back.
  const next = await app.request(...researchRequest({ topic: "zero" }));
  assert.equal(next.status, 200);
  await allFrames(next.body!);
  assert.equal(await active(), 0);
  assert.equal(model.stats.active, 0);
});

test("a body the runtime cannot read (malformed or cut off) is a 400, not a 500", async () => {
  const { app, model } = appWith();
  const broken = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"topic":'));
      c.error(new TypeError("invalid chunked encoding")); // what the runtimes' parsers throw
    },
  });
  const res = await app.request("/research", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: broken,
    duplex: "half",
  } as RequestInit);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.code, "body_unreadable");
  assert.ok(Array.isArray(body.issues));
  assert.equal(model.stats.started, 0);
});

// --- The model a client may ask for -------------------------------------------------------------

test("REFLOW_MODELS: allowed models pass, others are a 400 naming the allowed ones", async () => {
  const seen: string[] = [];
  const offline = createOfflineModel({ onRequest: (info) => seen.push(info.model) });
  const allowed = createApp({
    llm: { fetch: offline.fetch, maxRetries: 0 },
    models: ["cheap:1b", "big:70b"],
  });
  // No model named: the first allowed one.
  await allFrames((await allowed.request(...researchRequest({ topic: "zero" }))).body!);
  assert.deepEqual(seen.splice(0), ["cheap:1b", "cheap:1b", "cheap:1b", "cheap:1b"]);
  await allFrames(
    (await allowed.request(...researchRequest({ topic: "zero", model: "big:70b" }))).body!,
  );
  assert.deepEqual(seen.splice(0), ["big:70b", "big:70b", "big:70b", "big:70b"]);
  for (
    const request of [
      researchRequest({ topic: "zero", model: "gpt-4.5-preview" }),
      ["/research?topic=zero&model=gpt-4.5-preview", {}] as [string, RequestInit],
    ]
  ) {
    const res = await allowed.request(...request);
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.code, "bad_request");
    assert.match(
      body.error,
      /model "gpt-4\.5-preview" is not allowed here; allowed: cheap:1b, big:70b/,
    );
    assert.deepEqual(body.issues.map((i: { path: string }) => i.path), ["model"]);
  }
  assert.deepEqual(seen, [], "no model was asked for a refused request");
  assert.throws(
    () => createApp({ llm: { model: "other" }, models: ["cheap:1b"] }),
    /default model other is not among the allowed models \(cheap:1b\)/,
  );
});

test("without REFLOW_MODELS the model field is refused, unless the operator allows any", async () => {
  const seen: string[] = [];
  const offline = createOfflineModel({ onRequest: (info) => seen.push(info.model) });
  const llm = { fetch: offline.fetch, model: "house:3b", maxRetries: 0 };
  const strict = createApp({ llm });
  const refused = await strict.request(...researchRequest({ topic: "zero", model: "big:70b" }));
  assert.equal(refused.status, 400);
  assert.match((await refused.json()).error, /does not let clients choose the model/);
  // Naming the server's own model is fine.
  const same = await strict.request(...researchRequest({ topic: "zero", model: "house:3b" }));
  assert.equal(same.status, 200);
  await allFrames(same.body!);
  const open = createApp({ llm, anyModel: true });
  await allFrames((await open.request("/research?topic=zero&model=big:70b")).body!);
  assert.deepEqual(seen, [...Array(4).fill("house:3b"), ...Array(4).fill("big:70b")]);
});

// --- Secrets ------------------------------------------------------------------------------------

test("the scrubber hides the key, the token, URL credentials and secret query parameters", () => {
  const scrub = createScrubber({
    apiKey: "sk-live-ABCDEF123456",
    token: "bearer-tok-998877",
    urls: [
      "https://alice:p%40ss%3Aword@llm.example.test:8443/v1?api_key=qk-55aa&api-version=2024-06-01",
    ],
  });
  const text = [
    "Incorrect API key provided: sk-live-ABCDEF123456",
    "token bearer-tok-998877",
    "GET https://alice:p%40ss%3Aword@llm.example.test:8443/v1?api_key=qk-55aa&api-version=2024-06-01",
    "user alice password p@ss:word or p%40ss%3Aword",
    "key=qk-55aa",
  ].join("\n");
  const out = scrub(text);
  for (
    const secret of [
      "sk-live-ABCDEF123456",
      "bearer-tok-998877",
      "p@ss:word",
      "p%40ss%3Aword",
      "qk-55aa",
      "alice",
    ]
  ) {
    assert.ok(!out.includes(secret), `${secret} in: ${out}`);
  }
  assert.match(
    out,
    /https:\/\/\*\*\*@llm\.example\.test:8443\/v1\?api_key=\*\*\*&api-version=2024-06-01/,
  );
  assert.equal(
    redactUrl("http://u:pw@h.test/v1?token=abc&x=1"),
    "http://***@h.test/v1?token=***&x=1",
  );
  assert.equal(redactUrl("not a url"), "not a url");
  // Ollama's public placeholder key and very short values are not "secrets" to garble text with.
  assert.equal(
    createScrubber({ apiKey: "ollama", token: "ab" })("ollama pull ab"),
    "ollama pull ab",
  );
});

/**
 * A model server that echoes everything it was sent (URL, Authorization header) in a 500 for one
 * role: the worst case for what an upstream's own words can carry. `urls`: every URL requested.
 */
function echoingModel() {
  const offline = createOfflineModel();
  const urls: string[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    urls.push(url);
    const body = typeof init?.body === "string" ? init.body : "";
    if (body.includes("statistician")) {
      const auth = new Headers(init?.headers).get("authorization");
      return Response.json(
        { error: { message: `upstream failed for ${url} with ${auth}`, type: "server_error" } },
        { status: 500 },
      );
    }
    return await offline.fetch(url.replace(/\?[^/]*\//, "/"), init);
  };
  return { offline, fetch, urls };
}

const SECRET_URL = "http://svc-user:Pw-0f-Secret@model.internal.test/v1";
const TOKEN = "reflow-token-0d9c8b7a";

test("no configured secret reaches a client through an upstream that echoes them all", async () => {
  for (const verboseErrors of [false, true]) {
    const { fetch, urls } = echoingModel();
    const logged: string[] = [];
    const app = createApp({
      llm: { baseURL: SECRET_URL, apiKey: SENTINEL_KEY, fetch, maxRetries: 0 },
      token: TOKEN,
      verboseErrors,
      log: (line) => logged.push(line),
    });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const shown: string[] = [];
    for (const query of ["", "?format=text"]) {
      const res = await app.request(
        ...researchRequest({ topic: "zero" }, { query, headers: auth }),
      );
      shown.push(`${res.status} ${JSON.stringify([...res.headers])}\n${await res.text()}`);
    }
    const cont = await app.request(
      ...researchRequest({ topic: "zero", policy: "continue" }, { headers: auth }),
    );
    shown.push(await cont.text());
    const all = shown.join("\n");
    for (const secret of [SENTINEL_KEY, "SENTINEL", TOKEN, "Pw-0f-Secret", "svc-user"]) {
      assert.ok(
        !all.includes(secret),
        `verbose=${verboseErrors}: ${secret} leaked: ${all.slice(-400)}`,
      );
      assert.ok(!logged.join("\n").includes(secret), `${secret} in the server log`);
    }
    assert.match(shown[0], /event: error/);
    // The URL's credentials never travel in a URL (src/llm/config.ts: basic auth, or the key wins).
    assert.ok(urls.length > 0 && urls.every((u) => !u.includes("@")), urls.join(" "));
    if (verboseErrors) {
      // The operator asked for detail: the host is shown, its credentials are not.
      assert.match(shown[0], /upstream failed for http:\/\/model\.internal\.test\/v1/);
    } else {
      assert.ok(!shown[0].includes("model.internal.test"), "no upstream host without verbose");
      assert.ok(!shown[0].includes("upstream failed"), "no upstream words without verbose");
    }
    assert.match(logged.join("\n"), /upstream failed for http:\/\/model\.internal\.test\/v1/);
  }
});

// --- Settings: a blank token and friends stop the server ----------------------------------------

test("settings: a blank or whitespace REFLOW_TOKEN is a one-line startup error", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  for (const token of ["", " ", "\t", "  \n "]) {
    assert.throws(
      () => serverSettings(env({ REFLOW_TOKEN: token })),
      (e: unknown) =>
        e instanceof SettingsError && /^REFLOW_TOKEN is set but blank/.test(e.message) &&
        !e.message.includes("\n"),
    );
  }
  assert.throws(() => serverSettings(env({ REFLOW_TOKEN: "two words" })), /RFC 6750/);
  assert.equal(serverSettings(env({ REFLOW_TOKEN: "t0k3n" })).token, "t0k3n");
  assert.equal(serverSettings(env({})).token, undefined);
  assert.deepEqual(serverSettings(env({ REFLOW_MODELS: "a, b ,c" })).models, ["a", "b", "c"]);
  assert.deepEqual(
    serverSettings(env({ REFLOW_MODELS: "a,b,c" }), { model: "b" }).models,
    ["b", "a", "c"],
  );
  assert.throws(
    () => serverSettings(env({ REFLOW_MODELS: "a,b" }), { model: "z" }),
    /the default model z \(REFLOW_MODEL or --model\) is not in REFLOW_MODELS \(a, b\)/,
  );
  assert.throws(() => serverSettings(env({ REFLOW_MODELS: " , " })), /lists nothing/);
  assert.throws(
    () => serverSettings(env({ REFLOW_MODELS: "a", REFLOW_ANY_MODEL: "1" })),
    /not both/,
  );
  assert.throws(() => serverSettings(env({ REFLOW_MAX_FLOWS: "0" })), /REFLOW_MAX_FLOWS must be/);
  assert.throws(() => serverSettings(env({ REFLOW_MAX_FLOWS: "12x" })), /got "12x"/);
  assert.equal(serverSettings(env({ REFLOW_MAX_FLOWS: "12" })).maxFlows, 12);
  assert.throws(() => serverSettings(env({ REFLOW_VERBOSE_ERRORS: "maybe" })), /1\/true\/yes/);
});

for (const runner of ["tsx", "deno"] as const) {
  test(
    `main.ts --serve (${runner}) refuses to start with a blank REFLOW_TOKEN, in one line`,
    async () => {
      const { spawn } = await import("node:child_process");
      const bin = new URL(`../node_modules/.bin/${runner}`, import.meta.url).pathname;
      const main = new URL("../main.ts", import.meta.url).pathname;
      const args = runner === "deno" ? ["run", "-A", "--node-modules-dir=manual", main] : [main];
      const env = {
        // deno-lint-ignore no-explicit-any
        ...(globalThis as any).process.env,
        REFLOW_TOKEN: "   ",
        DENO_NO_UPDATE_CHECK: "1",
      };
      const child = spawn(bin, [...args, "--serve", "--port", "0", "--offline"], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Uint8Array) => (out += d));
      child.stderr.on("data", (d: Uint8Array) => (err += d));
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      assert.equal(code, 2, `exit code (stderr: ${err})`);
      assert.equal(err.trim().split("\n").length, 1, `one line: ${err}`);
      assert.match(err, /^reflow-edge: REFLOW_TOKEN is set but blank/);
      assert.ok(!/serving/.test(out), "it never listened");
    },
    {
      only: ["node"],
      why: "spawns the CLI under tsx and Deno from Node (node:child_process); once is enough",
      timeout: 60_000,
    },
  );
}

// --- Raw sockets against the server --serve runs ------------------------------------------------

interface RawResult {
  /** Everything the server sent. */
  bytes: string;
  status?: number;
  /** Whether the server closed the connection before `waitMs` ran out. */
  closed: boolean;
  error?: string;
}

/**
 * Opens a TCP connection, lets `act` write to it, and collects what comes back until the server
 * closes it or `waitMs` passes.
 */
async function raw(
  port: number,
  act: (socket: import("node:net").Socket) => void,
  waitMs: number,
): Promise<RawResult> {
  const net = await import("node:net");
  return await new Promise<RawResult>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let bytes = "";
    let error: string | undefined;
    const timer = setTimeout(() => finish(false), waitMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(bytes)?.[1];
      resolve({ bytes, closed, error, ...(status ? { status: Number(status) } : {}) });
    };
    socket.on("data", (d: Uint8Array) => (bytes += new TextDecoder().decode(d)));
    socket.on("error", (e: Error) => (error = String(e)));
    socket.on("close", () => finish(true));
    socket.on("connect", () => act(socket));
  });
}

/** The server `--serve` runs, with short limits so the tests need not wait long. */
async function listening(
  config: Partial<Parameters<typeof createApp>[0]> = {},
  model: OfflineModelOptions = {},
  limits: { headersTimeoutMs?: number; requestTimeoutMs?: number; keepAliveTimeoutMs?: number } =
    SHORT,
) {
  const { listen, clientAddress } = await import("../cli/listen.ts");
  const built = appWith({ clientAddress, ...config }, model);
  const server = await listen(built.app.fetch, { port: 0, hostname: "127.0.0.1", limits });
  return { ...built, server };
}

/** Connection limits short enough for the tests of those limits not to wait long. */
const SHORT = { headersTimeoutMs: 500, requestTimeoutMs: 3_000, keepAliveTimeoutMs: 500 };
/** For the other tests: the defaults, so that a loaded machine cannot run into them. */
const USUAL = {};

/** Generous: the limits above are ≤ 3 s; a loaded machine may add many seconds. */
const WAIT_MS = 30_000;
const POST = "POST /research HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n";

test(
  "sockets: slow headers, an idle connection and an idle keep-alive are closed (408)",
  async () => {
    const s = await listening();
    try {
      const [trickle, idle, keepAlive] = await Promise.all([
        raw(s.server.port, (socket) => {
          socket.write("GET /healthz HTTP/1.1\r\nHost: t\r\n");
          const t = setInterval(() => socket.writable && socket.write("X-Slow: 1\r\n"), 100);
          socket.on("close", () => clearInterval(t));
        }, WAIT_MS),
        raw(s.server.port, () => {}, WAIT_MS),
        raw(
          s.server.port,
          (socket) => socket.write("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"),
          WAIT_MS,
        ),
      ]);
      for (const [name, r] of [["slow headers", trickle], ["idle", idle]] as const) {
        assert.ok(r.closed, `${name}: closed`);
        assert.equal(r.status, 408, `${name}: ${r.bytes}`);
        assert.match(r.bytes, /"code":"request_timeout"/);
      }
      assert.ok(keepAlive.closed, "idle keep-alive closed");
      assert.equal(keepAlive.status, 200);
      assert.match(keepAlive.bytes, /Keep-Alive: timeout=0\b|Keep-Alive: timeout=1\b/i);
    } finally {
      await s.server.close();
    }
  },
  { ...SOCKETS, timeout: 30_000 },
);

test("sockets: a body sent a byte at a time is a 408 the client reads, then closed", async () => {
  // The app's body limit is what is tested: the connection limits keep their defaults, so a
  // loaded machine cannot let node:http's request limit (3 s in SHORT) answer first.
  const s = await listening({ bodyTimeoutMs: 1_000 }, {}, USUAL);
  try {
    const r = await raw(s.server.port, (socket) => {
      socket.write(`${POST}Content-Length: 200\r\n\r\n{"topic":`);
      const t = setInterval(() => socket.writable && socket.write(" "), 100);
      socket.on("close", () => clearInterval(t));
    }, WAIT_MS);
    assert.ok(r.closed);
    assert.equal(r.status, 408, r.bytes);
    assert.match(r.bytes, /"code":"body_timeout"/);
    assert.equal(s.model.stats.started, 0);
    assert.equal(await s.active(), 0);
  } finally {
    await s.server.close();
  }
}, { ...SOCKETS, timeout: 30_000 });

test("sockets: a 10 MB body over the limit gets a readable 413 (no reset first)", async () => {
  const s = await listening({}, {}, USUAL);
  try {
    // The client sends everything before it reads, as many do.
    const r = await raw(s.server.port, (socket) => {
      socket.write(`${POST}Content-Length: 10000000\r\n\r\n`);
      socket.write("x".repeat(10_000_000));
    }, WAIT_MS);
    assert.equal(r.status, 413, `${r.error}: ${r.bytes.slice(0, 200)}`);
    assert.match(r.bytes, /"code":"body_too_large"/);
    assert.ok(r.closed);
    // And through fetch, which fails outright on a reset.
    const res = await fetch(`${s.server.url}/research`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(10_000_000),
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, "body_too_large");
  } finally {
    await s.server.close();
  }
}, { ...SOCKETS, timeout: 30_000 });

test("sockets: malformed chunked encoding is a 400 JSON answer", async () => {
  const s = await listening({}, {}, USUAL);
  try {
    const r = await raw(s.server.port, (socket) => {
      socket.write(`${POST}Transfer-Encoding: chunked\r\n\r\nzz\r\n{"topic":"zero"}\r\n0\r\n\r\n`);
    }, WAIT_MS);
    assert.equal(r.status, 400, r.bytes);
    assert.match(r.bytes, /application\/json/);
    assert.ok(r.closed);
    assert.equal(s.model.stats.started, 0);
  } finally {
    await s.server.close();
  }
}, { ...SOCKETS, timeout: 30_000 });

test("sockets: 300 HEADs start no flow; /healthz stays at 0", async () => {
  const s = await listening({}, HOLD, USUAL);
  try {
    for (let round = 0; round < 30; round++) {
      await Promise.all(Array.from({ length: 10 }, () =>
        raw(s.server.port, (socket) => {
          socket.write(
            "HEAD /research?topic=zero HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
          );
        }, WAIT_MS).then((r) => assert.equal(r.status, 200, r.bytes))));
    }
    assert.equal(await s.active(), 0);
    assert.equal(s.model.stats.started, 0);
  } finally {
    await s.server.close();
  }
}, { ...SOCKETS, timeout: 60_000 });

test("sockets: a storm of connect-and-leave clients meets the cap; everything ends", async () => {
  const s = await listening({ maxFlows: 8, maxFlowsPerClient: 8 }, HOLD, USUAL);
  try {
    // 40 clients that stay: exactly 8 get a flow, 32 a 429 with Retry-After.
    const net = await import("node:net");
    const held = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) =>
          new Promise<{ status: number; head: string; socket: import("node:net").Socket }>(
            (resolve, reject) => {
              const socket = net.connect(s.server.port, "127.0.0.1", () => {
                socket.write(`GET /research?topic=held${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
              });
              let head = "";
              socket.on("data", (d: Uint8Array) => {
                head += new TextDecoder().decode(d);
                const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
                if (status && head.includes("\r\n\r\n")) {
                  resolve({ status: Number(status), head, socket });
                }
              });
              socket.on("error", reject);
            },
          ),
      ),
    );
    const statuses = held.map((h) => h.status);
    assert.equal(statuses.filter((x) => x === 200).length, 8, `${statuses}`);
    assert.equal(statuses.filter((x) => x === 429).length, 32, `${statuses}`);
    for (const h of held.filter((h) => h.status === 429)) assert.match(h.head, /retry-after: 5/i);
    assert.equal(await s.active(), 8);
    // /healthz answers on a new connection while the server is full.
    assert.equal((await fetch(`${s.server.url}/healthz`)).status, 200);
    for (const h of held) h.socket.destroy();
    await eventually(async () => (await s.active()) === 0, "every held flow ended", 30_000);
    // Then 200 that leave as soon as the status line is in, 20 at a time.
    const seen: number[] = [];
    for (let round = 0; round < 10; round++) {
      const rs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          raw(s.server.port, (socket) => {
            socket.write(`GET /research?topic=storm${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
            socket.on("data", () => socket.destroy());
          }, WAIT_MS)),
      );
      for (const r of rs) if (r.status) seen.push(r.status);
    }
    assert.ok(seen.every((x) => x === 200 || x === 429), `only 200s and 429s: ${seen}`);
    await eventually(async () => (await s.active()) === 0, "every flow ended", 30_000);
    await eventually(() => s.model.stats.active === 0, "every model request ended", 30_000);
  } finally {
    await s.server.close();
  }
  // A normal client still gets its whole answer (a server on the ordinary pacing).
  const t = await listening({ maxFlows: 8 }, {}, USUAL);
  try {
    const res = await fetch(`${t.server.url}/research?topic=after`);
    assert.equal(res.status, 200);
    assert.deepEqual((await allFrames(res.body!)).map((f) => f.event).slice(-2), [
      "answer",
      "done",
    ]);
  } finally {
    await t.server.close();
  }
}, { ...SOCKETS, timeout: 60_000 });

/** A full garbage collection (node:v8 lets a test turn `gc` on, under Node and Deno alike). */
async function collectedHeap(): Promise<number> {
  const v8 = await import("node:v8");
  const vm = await import("node:vm");
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  return g.Deno ? g.Deno.memoryUsage().heapUsed : g.process.memoryUsage().heapUsed;
}

test("sockets: HEADs and connect-and-leave storms leave no heap and no flow behind", async () => {
  // Before issue 15, 300 HEADs left 300 flows running for good: +85–130 MB.
  const s = await listening(
    { maxFlows: 16, maxFlowsPerClient: 16, maxFlowStartsPerClientPerMinute: 1e6 },
    HOLD,
    USUAL,
  );
  const attack = async () => {
    for (let round = 0; round < 15; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) =>
        raw(s.server.port, (socket) => {
          const method = i % 2 ? "HEAD" : "GET";
          socket.write(`${method} /research?topic=t${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
          socket.on("data", () => socket.destroy()); // leave as soon as anything comes back
        }, WAIT_MS)));
    }
    await eventually(async () => (await s.active()) === 0, "every flow ended", 30_000);
    await eventually(() => s.model.stats.active === 0, "every model request ended", 30_000);
  };
  try {
    await attack(); // warm-up: code, caches and pools reach their steady size
    const before = await collectedHeap();
    await attack();
    await attack();
    const after = await collectedHeap();
    const grew = (after - before) / 1024 / 1024;
    assert.ok(grew < 20, `the heap grew by ${grew.toFixed(1)} MB over 600 attacks`);
    assert.equal(await s.active(), 0);
  } finally {
    await s.server.close();
  }
}, { ...SOCKETS, timeout: 120_000 });
