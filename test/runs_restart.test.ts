/**
 * A server restarted on SQLite: `main.ts --serve` under Deno (which has node:sqlite) with
 * REFLOW_RUNS_DB in a temporary directory is killed (SIGKILL) with one run finished and one in
 * flight, then started again on the same file: the finished run's log is served byte for byte as
 * before, the unfinished one reads `interrupted` and its log ends with an `error` event. Under
 * Node 20 the server says at start that runs are kept in memory, and why.
 */
import assert from "node:assert/strict";
import { runtime, test } from "./harness.ts";
import { eventually } from "./http_helpers.ts";
import { startServe } from "./serve_process.ts";

const body = (topic: string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ topic }),
});

test(
  "a server restarted on SQLite serves a finished run's log and marks an unfinished one interrupted",
  async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(join(tmpdir(), "reflow-runs-"));
    const env = { REFLOW_RUNS_DB: join(dir, "runs.db") };
    try {
      const first = await startServe("deno", env);
      let finished = "";
      let unfinished = "";
      let finishedLog = "";
      try {
        assert.match(first.err(), /runs are kept in SQLite at .*runs\.db/);
        const res = await fetch(`${first.url}/runs`, body("the history of zero"));
        finished = res.headers.get("location")!.slice(6);
        finishedLog = await res.text();
        assert.match(finishedLog, /event: done\ndata: \{\}\n\n$/);
        unfinished = (await (await fetch(`${first.url}/runs?detach=1`, body("zero"))).json()).id;
        await eventually(
          async () => (await (await fetch(`${first.url}/runs/${unfinished}`)).json()).lastSeq > 20,
          "the second run is under way",
          15_000,
        );
        // Give the batched log write a moment to reach the file, then crash.
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        await first.kill("SIGKILL");
      }

      const second = await startServe("deno", env);
      try {
        assert.match(second.err(), /1 run\(s\) left unfinished by the last server: interrupted/);
        const again = await fetch(`${second.url}/runs/${finished}/events`);
        assert.equal(await again.text(), finishedLog, "the finished run's log, byte for byte");
        assert.equal((await (await fetch(`${second.url}/runs/${finished}`)).json()).status, "done");
        const info = await (await fetch(`${second.url}/runs/${unfinished}`)).json();
        assert.equal(info.status, "interrupted");
        assert.match(info.error, /interrupted: its server restarted/);
        const log = await (await fetch(`${second.url}/runs/${unfinished}/events`)).text();
        const ids = [...log.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
        assert.deepEqual(ids, ids.map((_, i) => i + 1), "no gap in what survived");
        assert.ok(ids.length > 20);
        assert.match(log, /event: error\ndata: \{"message":"the run was interrupted[^\n]*\n\n$/);
        const list = (await (await fetch(`${second.url}/runs`)).json()).runs;
        assert.deepEqual(list.map((r: { id: string }) => r.id), [unfinished, finished]);
      } finally {
        await second.kill("SIGINT");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
  {
    only: ["node", "deno"],
    why: "spawns servers as child processes (node:child_process), which workerd cannot",
    timeout: 90_000,
  },
);

// The server is spawned with this process's Node (tsx), so it has node:sqlite exactly when this one does.
const nodeHasSqlite = runtime === "node" &&
  await import("node:sqlite").then(() => true, () => false);

test("a Node server without node:sqlite says so at start and keeps runs in memory", async () => {
  const server = await startServe("node", { REFLOW_RUNS_DB: "" });
  try {
    assert.match(
      server.err(),
      /runs are kept in memory \(node:sqlite is not available in this runtime .*it needs Node ≥ 22\.5 or Deno ≥ 2\.2\); they are lost when the server stops/,
    );
    const res = await fetch(`${server.url}/runs`, body("zero"));
    assert.equal(res.status, 201);
    assert.match(await res.text(), /event: done/);
  } finally {
    await server.kill("SIGINT");
  }
}, {
  only: nodeHasSqlite ? [] : ["node"],
  why: nodeHasSqlite
    ? `this Node (${
      (globalThis as { process?: { version?: string } }).process?.version
    }) has node:sqlite; the server without it is Node < 22.5's`
    : "it is about the Node server (spawned with tsx from node:child_process)",
  timeout: 60_000,
});
