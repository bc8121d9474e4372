/**
 * Model-server faults seen through the HTTP app (`app.request()`, so on Node, Deno and workerd):
 * connection refused, 401, 404, 500, a stall before the first token, a stall mid-stream, garbage
 * SSE, a connection dropped mid-stream, and one specialist failing while the others stream.
 *
 * Under fail-fast each one must end the SSE stream with exactly one `event: error` that names the
 * failing node and the model with a stable code and what to try, never shows the key nor the model
 * server's host (those go to the server log, or to the client when the operator turns on verbose
 * errors), and closes the stream; the siblings' model requests are aborted on the model server.
 * Under `continue` the failing specialist's error note reaches the answer, then `done`.
 *
 * The model is the offline model, in-process (its `fetch`) or on a loopback port (a real socket,
 * node and deno only); the stall cases set small first-token and idle limits so they fail fast
 * (http_helpers' FAULT_TIMEOUT_MS), the others keep the defaults.
 */
import assert from "node:assert/strict";
import { type Runtime, test } from "./harness.ts";
import {
  allFrames,
  eventually,
  type FaultCase,
  FAULTS,
  faultyApp,
  type Frame,
  MODEL,
  NODE_OF,
  researchRequest,
  SENTINEL_KEY,
  SPECIALIST_ROLES,
  type Transport,
} from "./http_helpers.ts";

const NET: { only: Runtime[]; why: string } = {
  only: ["node", "deno"],
  why: "workerd cannot listen on a loopback port (serve() falls back to in-process there, which " +
    "the in-process variant already covers; nothing can refuse a connection)",
};

/**
 * Asserts the shape every fail-fast fault must have; returns the error message. `logged` is the
 * server log: the full story (server's words, base URL) is there, never in front of the client
 * unless `verbose`.
 */
function checkFailFast(
  frames: Frame[],
  c: FaultCase,
  baseURL: string,
  logged: string[],
  verbose = false,
): string {
  const errors = frames.filter((f) => f.event === "error");
  assert.equal(errors.length, 1, `exactly one error frame: ${frames.map((f) => f.event)}`);
  assert.equal(frames.at(-1)!.event, "error", "the error is the last frame");
  assert.ok(!frames.some((f) => f.event === "answer" || f.event === "done"), "no answer, no done");
  const { message, code, node: agent } = errors[0].data;
  assert.equal(typeof message, "string");
  const node = c.role ? NODE_OF[c.role] : "(factual|statistician|quoter)";
  assert.match(String(agent), new RegExp(`^${node}$`), JSON.stringify(errors[0].data));
  assert.match(code, c.code, message);
  assert.ok(message.includes(MODEL), `names the model: ${message}`);
  assert.ok(!message.includes(SENTINEL_KEY), "never the key");
  const host = new URL(baseURL).host;
  if (verbose) {
    assert.match(message, new RegExp(`^node "${node}" failed: `), message);
    assert.match(message, c.says, message);
    assert.ok(message.includes(baseURL), `names the base URL ${baseURL}: ${message}`);
  } else {
    assert.match(message, new RegExp(`agent "${node}"`), message);
    assert.match(
      message,
      /try again|operator|choose another model/,
      `says what to try: ${message}`,
    );
    assert.ok(!message.includes(host), `no model server host in front of the client: ${message}`);
  }
  const log = logged.join("\n");
  assert.match(log, new RegExp(`node "${node}" failed: `), "the server log says which node");
  assert.match(log, c.says, `the server log has the server's words: ${log}`);
  assert.ok(log.includes(host), "the server log names the model server");
  assert.ok(!log.includes(SENTINEL_KEY), "never the key, not even in the log");
  // The failing node is shown failed on the page.
  if (c.role) {
    assert.ok(
      frames.some((f) =>
        f.event === "node" && f.data.id === NODE_OF[c.role!] && f.data.state ===
          "failed"
      ),
      "the failing node is reported failed",
    );
  }
  return message;
}

/** Every model request ended on the server; the siblings of the faulty role were aborted. */
async function checkModelSide(
  f: Awaited<ReturnType<typeof faultyApp>>,
  c: FaultCase,
  policy: "fail-fast" | "continue",
): Promise<void> {
  await eventually(() => f.model.stats.active === 0, "every model request ended").catch((e) => {
    const requests = f.seen.map((s) => `${s.role}${s.aborted ? " (aborted)" : ""}`).join(", ");
    throw new Error(`${e.message}: ${JSON.stringify(f.model.stats)}; ${requests}`);
  });
  await Promise.all(f.seen.map((s) => s.ended));
  if (c.refused) {
    assert.equal(f.model.stats.started, 0, "nothing reached a model");
  } else if (policy === "fail-fast") {
    // Siblings may be aborted before their request even reaches the model (the fault can come
    // first on a fast runtime); those that did reach it were aborted, and the synthesizer never ran.
    const roles = f.seen.map((s) => s.role);
    assert.ok(!roles.includes("answer"), `no synth: ${roles}`);
    assert.ok(roles.every((r) => SPECIALIST_ROLES.includes(r)), `${roles}`);
    if (c.role) {
      assert.ok(roles.includes(c.role), `the faulty ${c.role} request was made: ${roles}`);
    }
    for (const s of f.seen) {
      if (s.role !== c.role) assert.ok(s.aborted, `the ${s.role} request was aborted`);
    }
  } else {
    assert.deepEqual(f.seen.map((s) => s.role).sort(), [...SPECIALIST_ROLES, "answer"].sort());
    for (const s of f.seen) {
      if (s.role !== c.role) assert.ok(!s.aborted, `the ${s.role} request completed`);
    }
  }
  const health = await (await f.app.request("/healthz")).json();
  assert.equal(health.active, 0, "no flow left in flight");
}

for (const transport of ["in-process", "loopback"] as Transport[]) {
  for (const c of FAULTS) {
    if (transport === "in-process" && c.refused) continue;
    const restrict = transport === "loopback" || c.refused ? NET : {};
    test(
      `fault (${transport}, fail-fast): ${c.name} → one clear event: error, stream closed`,
      async () => {
        const f = await faultyApp(c, { transport });
        try {
          const res = await f.app.request(...researchRequest({ topic: "the history of zero" }));
          assert.equal(res.status, 200);
          assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
          const frames = await allFrames(res.body!); // resolves only once the stream is done
          const message = checkFailFast(frames, c, f.baseURL, f.logged);
          await checkModelSide(f, c, "fail-fast");
          if (transport === "in-process") {
            // The text format ends with the same message on its own line.
            f.seen.length = 0;
            const text = await (await f.app.request(
              ...researchRequest({ topic: "zero" }, { query: "?format=text" }),
            )).text();
            const last = text.trimEnd().split("\n").at(-1)!;
            assert.equal(last, `error: ${message}`);
            assert.ok(!text.includes(SENTINEL_KEY));
            assert.ok(message.length < 1_000, "one line, not a dump");
            await checkModelSide(f, c, "fail-fast");
          }
        } finally {
          await f.close();
        }
        // The operator may choose to show clients everything (still without the key). Once per
        // fault is enough: the rendering does not depend on how the model was reached.
        if (transport === "loopback" && !c.refused) return;
        const v = await faultyApp(c, { transport, verboseErrors: true });
        try {
          const res = await v.app.request(...researchRequest({ topic: "the history of zero" }));
          checkFailFast(await allFrames(res.body!), c, v.baseURL, v.logged, true);
          await checkModelSide(v, c, "fail-fast");
        } finally {
          await v.close();
        }
      },
      // A stall case waits out its limit once per flow (three flows).
      { ...restrict, timeout: 40_000 },
    );
  }
}

for (const c of FAULTS.filter((c) => !c.refused)) {
  test(
    `fault (continue): ${c.name} in one specialist → answer with its note, then done`,
    async () => {
      const f = await faultyApp(c, { siblingDelayMs: 0 });
      try {
        const res = await f.app.request(
          ...researchRequest({ topic: "the history of zero", policy: "continue" }),
        );
        assert.equal(res.status, 200);
        const frames = await allFrames(res.body!);
        const kinds = frames.map((f) => f.event);
        assert.deepEqual(kinds.slice(-2), ["answer", "done"], kinds.join(","));
        assert.ok(!kinds.includes("error"));
        const note = frames.filter((x) => x.event === "chunk" && x.data.role === c.role)
          .map((x) => x.data.text).join("");
        assert.match(note, /\(note: the stats agent failed: the model /);
        assert.ok(!note.includes(new URL(f.baseURL).host), `no model server host: ${note}`);
        assert.match(f.logged.join("\n"), c.says, "the server log has the server's words");
        assert.ok(!note.includes(SENTINEL_KEY));
        const answer: string = frames.at(-2)!.data.text;
        assert.ok(answer.includes("(note: the stats agent failed: "), `the answer: ${answer}`);
        assert.ok(!JSON.stringify(frames).includes(SENTINEL_KEY));
        await checkModelSide(f, c, "continue");
      } finally {
        await f.close();
      }
    },
    { timeout: 40_000 },
  );
}

test("continue is the app's default when AppConfig.policy says so; a request can override", async () => {
  const c = FAULTS.find((c) => c.name === "500")!;
  const f = await faultyApp(c, { siblingDelayMs: 0, policy: "continue" });
  try {
    const byConfig = await allFrames(
      (await f.app.request(...researchRequest({ topic: "zero" }))).body!,
    );
    assert.deepEqual(byConfig.map((x) => x.event).slice(-2), ["answer", "done"]);
    const get = await allFrames((await f.app.request("/research?topic=zero")).body!);
    assert.deepEqual(get.map((x) => x.event).slice(-2), ["answer", "done"]);
    const overridden = await allFrames(
      (await f.app.request(...researchRequest({ topic: "zero", policy: "fail-fast" }))).body!,
    );
    checkFailFast(overridden, c, f.baseURL, f.logged);
    const getFailFast = await allFrames(
      (await f.app.request("/research?topic=zero&policy=fail-fast")).body!,
    );
    checkFailFast(getFailFast, c, f.baseURL, f.logged);
    for (const policy of ["ignore", 1, null, "Continue"]) {
      const bad = await f.app.request(...researchRequest({ topic: "zero", policy }));
      assert.equal(bad.status, 400, `policy ${JSON.stringify(policy)}`);
      const body = await bad.json();
      assert.deepEqual(body.issues.map((i: { path: string }) => i.path), ["policy"]);
    }
    await eventually(() => f.model.stats.active === 0, "every model request ended");
  } finally {
    await f.close();
  }
});

test("a fault in every role (401 everywhere) still yields exactly one error, never a hang", async () => {
  for (const policy of ["fail-fast", "continue"] as const) {
    const f = await faultyApp({
      name: "401 everywhere",
      fault: { requireKey: "the-right-key" },
      says: /refused the API key/,
      code: /^unauthorized$/,
    }, { siblingDelayMs: 0 });
    const frames = await allFrames(
      (await f.app.request(...researchRequest({ topic: "zero", policy }))).body!,
    );
    const errors = frames.filter((x) => x.event === "error");
    assert.equal(errors.length, 1, `${policy}: ${frames.map((x) => x.event)}`);
    assert.equal(frames.at(-1)!.event, "error");
    // Under continue the specialists hand on notes, and the synthesizer's own 401 fails the flow.
    assert.equal(errors[0].data.code, "unauthorized");
    if (policy === "continue") assert.equal(errors[0].data.node, "synth");
    assert.match(errors[0].data.message, /refused this server's credentials/);
    assert.match(f.logged.join("\n"), /refused the API key/);
    assert.ok(!JSON.stringify(frames).includes(SENTINEL_KEY));
    await eventually(() => f.model.stats.active === 0, "every model request ended");
  }
});
