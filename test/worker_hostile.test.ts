/**
 * Hostile and careless clients against the Worker as it ships (wrangler's bundle in workerd,
 * through Miniflare, from Node): raw sockets to the port Miniflare serves (HEAD, malformed chunked
 * bodies), its flow caps (per isolate, and per client by `CF-Connecting-IP`), the model allowlist,
 * and bindings that must stop it (a blank REFLOW_TOKEN). Assertions are on statuses, bytes and
 * counts (`/healthz` active), never on elapsed time.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { eventually } from "./http_helpers.ts";
import { type Mf, withWorker } from "./worker_build.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "builds the Worker with wrangler and drives workerd through Miniflare from Node",
  timeout: 120_000,
};
const DIR = "worker-hostile";

/** Offline pacing that keeps every flow waiting for its first token. */
const HOLD = { REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "60000" };

async function active(mf: Mf): Promise<number> {
  return (await (await mf.dispatchFetch("http://worker.test/healthz")).json()).active;
}

/**
 * Sends `request` on a fresh TCP connection to Miniflare (then half-closes it with `end`);
 * resolves with what came back.
 */
async function raw(mf: Mf, request: string, { end = false, waitMs = 5_000 } = {}): Promise<string> {
  const net = await import("node:net");
  const url: URL = await mf.ready;
  return await new Promise<string>((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let bytes = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(bytes);
    };
    const timer = setTimeout(done, waitMs);
    socket.on("data", (d: Uint8Array) => {
      bytes += new TextDecoder().decode(d);
      // One whole answer (headers, and a body of its Content-Length, or none for HEAD) is enough.
      const end = bytes.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(bytes.slice(0, end))?.[1] ?? 0);
      if (request.startsWith("HEAD") || bytes.length >= end + 4 + length) done();
    });
    socket.on("error", () => {});
    socket.on("close", done);
    socket.write(request);
    if (end) socket.end();
  });
}

test("worker: a blank REFLOW_TOKEN binding refuses every request (500 misconfigured)", async () => {
  for (const token of ["", "   "]) {
    await withWorker({ REFLOW_TOKEN: token }, async (mf) => {
      for (const path of ["/research?topic=zero", "/healthz", "/graph"]) {
        const res = await mf.dispatchFetch(`http://worker.test${path}`);
        assert.equal(res.status, 500, `${JSON.stringify(token)} ${path}`);
        const body = await res.json();
        assert.equal(body.code, "misconfigured");
        assert.ok(!JSON.stringify(body).includes("REFLOW_TOKEN"), "the reason is for the log");
      }
    }, DIR);
  }
}, ONLY);

test("worker: HEAD /research starts no flow; malformed chunked bodies are a 400", async () => {
  await withWorker(HOLD, async (mf) => {
    for (let i = 0; i < 20; i++) {
      const head = await raw(mf, "HEAD /research?topic=zero HTTP/1.1\r\nHost: w\r\n\r\n");
      assert.match(head, /^HTTP\/1\.1 200 /);
      assert.match(head, /content-type: text\/event-stream/i);
    }
    assert.equal(await active(mf), 0, "no flow in flight after 20 HEADs");
    const post = "POST /research HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n" +
      "Transfer-Encoding: chunked\r\n\r\n";
    for (
      const [body, end] of [
        ['zz\r\n{"topic":"zero"}\r\n0\r\n\r\n', false], // a chunk size that is not hex
        ['40\r\n{"topic":"zero"}', true], // cut off: the client stops sending mid-chunk
      ] as const
    ) {
      const answer = await raw(mf, post + body, { end });
      assert.match(answer, /^HTTP\/1\.1 400 /, answer);
      assert.match(answer, /"code":"body_unreadable"/);
    }
    assert.equal(await active(mf), 0);
  }, DIR);
}, ONLY);

test(
  "worker: REFLOW_MAX_FLOWS and REFLOW_MAX_FLOWS_PER_CLIENT answer 429 with Retry-After",
  async () => {
    // Every flow waits for its first token far longer than the test runs: they hold their places.
    // (That a client leaving frees its place is the lifetime tests' business.)
    const caps = { REFLOW_MAX_FLOWS: "3", REFLOW_MAX_FLOWS_PER_CLIENT: "2" };
    await withWorker({ ...HOLD, ...caps }, async (mf) => {
      const clients: AbortController[] = [];
      const from = (ip: string) => {
        const client = new AbortController();
        clients.push(client);
        return mf.dispatchFetch("http://worker.test/research?topic=zero", {
          headers: { "cf-connecting-ip": ip },
          signal: client.signal,
        });
      };
      const a1 = await from("198.51.100.1");
      const a2 = await from("198.51.100.1");
      const a3 = await from("198.51.100.1");
      assert.deepEqual([a1.status, a2.status, a3.status], [200, 200, 429]);
      assert.equal(a3.headers.get("retry-after"), "5");
      assert.match((await a3.json()).error, /this client already runs/);
      const b1 = await from("198.51.100.2");
      const b2 = await from("198.51.100.3");
      assert.deepEqual([b1.status, b2.status], [200, 429]);
      assert.match((await b2.json()).error, /the server is running as many research flows/);
      assert.equal(await active(mf), 3);
      for (const c of clients) c.abort();
    }, DIR);
  },
  ONLY,
);

test("worker: REFLOW_MODELS lets clients pick among those models only", async () => {
  await withWorker({ REFLOW_MODELS: "offline,qwen2.5:3b" }, async (mf) => {
    const ask = (model: string) =>
      mf.dispatchFetch("http://worker.test/research", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "zero", model }),
      });
    const no = await ask("gpt-4o");
    assert.equal(no.status, 400);
    assert.match((await no.json()).error, /allowed: offline, qwen2\.5:3b/);
    const yes = await ask("qwen2.5:3b");
    assert.equal(yes.status, 200);
    await yes.body.cancel();
  }, DIR);
  await withWorker({}, async (mf) => {
    const res = await mf.dispatchFetch("http://worker.test/research?topic=zero&model=gpt-4o");
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /does not let clients choose the model/);
  }, DIR);
}, ONLY);

/**
 * A client that leaves early: right after its request, right after the response headers, after
 * the first chunk with a slow model; SSE and text. workerd reports some of these through
 * `request.signal`, and for others stops the request's timers and promises without a word; either
 * way the flow must end within the configured bounds (the stall and silent-flow limits, here a
 * few seconds; a flow left to itself would run for minutes at 500 ms a token).
 */
test(
  "worker: a client that leaves right after its request, its headers or a chunk frees its flow",
  async () => {
    const bindings = {
      REFLOW_OFFLINE_TOKEN_DELAY_MS: "500",
      REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS: "1000",
      REFLOW_HEARTBEAT_MS: "300",
      REFLOW_STALL_TIMEOUT_MS: "1500",
      REFLOW_SILENT_FLOW_MS: "2000",
    };
    // As shipped (each /research SSE a run in its own Durable Object), and without the RUNS
    // binding (runs in the Worker's isolate).
    for (const durableObjects of [true, false]) {
      await withWorker(
        bindings,
        async (mf) => {
          const net = await import("node:net");
          const url: URL = await mf.ready;
          for (const format of ["sse", "text"]) {
            for (const leave of ["after the request", "after the headers", "after a chunk"]) {
              await new Promise<boolean>((resolve) => {
                const socket = net.connect(Number(url.port), url.hostname);
                let got = "";
                const go = (seen: boolean) => {
                  socket.destroy();
                  resolve(seen);
                };
                socket.on("error", () => {});
                socket.on("data", (d: Uint8Array) => {
                  got += new TextDecoder().decode(d);
                  const body = got.slice(got.indexOf("\r\n\r\n") + 4);
                  if (leave === "after the headers" && got.includes("\r\n\r\n")) go(true);
                  if (
                    leave === "after a chunk" && /event: chunk|\[(facts|stats|quotes)\]/.test(body)
                  ) {
                    go(true);
                  }
                });
                socket.write(
                  `GET /research?topic=zero${
                    format === "text" ? "&format=text" : ""
                  } HTTP/1.1\r\n` +
                    "Host: w\r\n\r\n",
                );
                if (leave === "after the request") setTimeout(() => go(false), 20);
              });
              await eventually(
                async () => (await active(mf)) === 0,
                `${format}, ${leave}: the flow ended`,
                30_000,
              );
            }
          }
          // Each SSE request was a run led by its client. None is left running: in its object, the
          // client leaving (or the stall limit) stopped it; in the isolate, even a run whose request
          // workerd froze, as the sweep that frees its place finishes its record too (Runs.forget).
          const running = async () => {
            const runs = (await (await mf.dispatchFetch("http://worker.test/runs")).json()).runs;
            assert.equal(runs.length, 3);
            return runs.filter((r: { status: string }) => r.status === "running").length;
          };
          await eventually(async () => (await running()) === 0, "no run left running", 30_000);
        },
        DIR,
        { durableObjects },
      );
    }
  },
  { ...ONLY, timeout: 400_000 },
);
