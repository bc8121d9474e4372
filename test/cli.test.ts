import assert from "node:assert/strict";
import { parseArgs } from "../cli/args.ts";
import { chooseLlm } from "../cli/research.ts";
import { createOfflineModel } from "../src/llm/offline_model.ts";
import { runtime, test } from "./harness.ts";
import { serve } from "./serve.ts";

const NOT_ON_WORKERD = "spawns the CLI as a process, which workerd cannot do";

/**
 * Runs main.ts in a child process (Deno under Deno, tsx under Node) and collects its output;
 * `onOutput` is called with a `kill(signal)` once stdout has something.
 */
async function cli(
  args: string[],
  env: Record<string, string> = {},
  onOutput?: (kill: (signal: "SIGINT") => void) => void,
) {
  const decoder = new TextDecoder();
  if (runtime === "deno") {
    // deno-lint-ignore no-explicit-any
    const Deno = (globalThis as any).Deno;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--node-modules-dir=manual", "main.ts", ...args],
      env: { ...env, NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const read = async (stream: ReadableStream<Uint8Array>, tap?: () => void) => {
      let text = "";
      for await (const bytes of stream) {
        text += decoder.decode(bytes, { stream: true });
        tap?.();
      }
      return text;
    };
    let told = false;
    const [stdout, stderr, status] = await Promise.all([
      read(child.stdout, () => {
        if (!told && onOutput) onOutput((signal) => child.kill(signal));
        told = true;
      }),
      read(child.stderr),
      child.status,
    ]);
    return { code: status.code as number, stdout, stderr };
  }
  const { spawn } = await import("node:child_process");
  return await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "main.ts", ...args], {
      env: { ...process.env, ...env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Uint8Array) => {
      if (stdout === "" && onOutput) onOutput((signal) => child.kill(signal));
      stdout += decoder.decode(d);
    });
    child.stderr.on("data", (d: Uint8Array) => (stderr += decoder.decode(d)));
    child.on(
      "close",
      (code: number | null, signal: string | null) =>
        resolve({ code: code ?? (signal === "SIGINT" ? 130 : -1), stdout, stderr }),
    );
  });
}

test("the CLI streams all four roles on the offline model, then prints the answer", async () => {
  const { code, stdout, stderr } = await cli(["--offline", "the history of zero"]);
  assert.equal(code, 0, stderr);
  for (const role of ["facts", "stats", "quotes", "answer"]) {
    assert.match(stdout, new RegExp(`\\[${role}\\] `), `no [${role}] in:\n${stdout}`);
  }
  // The answer streams live as [answer] tokens, then is printed once more on its own.
  const rest = stdout.slice(stdout.lastIndexOf("[answer] ") + "[answer] ".length);
  const answer = rest.slice(0, (rest.length - 3) / 2);
  assert.ok(answer.length > 20);
  assert.equal(rest, `${answer}\n\n${answer}\n`);
}, { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 });

test("the CLI --json prints one JSON line per event, then the answer and done", async () => {
  const { code, stdout, stderr } = await cli(["--offline", "--json", "tea"]);
  assert.equal(code, 0);
  const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.slice(-2).map((l) => l.event), ["answer", "done"]);
  const kinds = new Set(lines.map((l) => l.event));
  assert.deepEqual([...kinds].sort(), ["answer", "chunk", "done", "finish", "node", "usage"]);
  const chunks = lines.filter((l) => l.event === "chunk");
  assert.ok(chunks.every((l) => typeof l.role === "string" && typeof l.text === "string"));
  const answer = chunks.filter((l) => l.role === "answer").map((l) => l.text).join("");
  assert.equal(answer, lines.at(-2).text);
  // Every agent finished with "stop" and reported its tokens; the flow's total comes once.
  const finishes = lines.filter((l) => l.event === "finish");
  assert.deepEqual(finishes.map((l) => l.role).sort(), ["answer", "facts", "quotes", "stats"]);
  assert.ok(finishes.every((l) => l.finishReason === "stop"));
  const usage = lines.filter((l) => l.event === "usage");
  const flow = usage.filter((l) => l.scope === "flow");
  assert.equal(flow.length, 1);
  const agents = usage.filter((l) => l.scope === "agent");
  assert.equal(agents.length, 4);
  const sum = agents.reduce((n, l) => n + l.usage.totalTokens, 0);
  assert.equal(flow[0].usage.totalTokens, sum);
  // And the one-line summary on stderr.
  assert.match(stderr, new RegExp(`tokens: .*total ${sum.toLocaleString("en-US")} \\(`));
}, { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 });

test("the CLI fails clearly, without the key, when the chosen model server is down", async () => {
  const { served } = await serve(createOfflineModel().handle).then((s) => ({ served: s }));
  const url = `${served.url}/v1`;
  await served.close();
  const { code, stderr, stdout } = await cli(["--base-url", url, "zero"], {
    OPENAI_API_KEY: "sk-SENTINEL-cli-999",
  });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`no model server answers at ${url.replace(/\./g, "\\.")}`));
  assert.ok(!(stderr + stdout).includes("sk-SENTINEL-cli-999"));
}, { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 });

test(
  "a base URL with a user and password: basic auth, and the password never printed",
  async () => {
    // A proxy in front of the model that wants basic auth, echoing what it got when it refuses.
    const model = createOfflineModel();
    const password = "cli-Pa55-w0rd-Qx";
    const wanted = `Basic ${btoa(`alice:${password}`)}`;
    const seen: (string | null)[] = [];
    const served = await serve(async (req) => {
      seen.push(req.headers.get("authorization"));
      if (req.headers.get("authorization") === wanted) return await model.handle(req);
      const got = req.headers.get("authorization");
      return Response.json({ error: { message: `refused: ${got}` } }, { status: 401 });
    });
    try {
      const host = new URL(served.url).host;
      const ok = await cli(["--base-url", `http://alice:${password}@${host}/v1`, "zero"]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /\[answer\] /);
      assert.ok(seen.length >= 4 && seen.every((h) => h === wanted));
      const wrong = "cli-Wr0ng-pass-Zz";
      const bad = await cli(["--base-url", `http://alice:${wrong}@${host}/v1`, "zero"]);
      assert.equal(bad.code, 1);
      assert.match(
        bad.stderr,
        new RegExp(`http://${host.replace(/\./g, "\\.")}/v1 refused the user and password`),
      );
      for (const secret of [password, wrong, btoa(`alice:${wrong}`), "alice:"]) {
        assert.ok(!(bad.stderr + bad.stdout + ok.stderr + ok.stdout).includes(secret), secret);
      }
    } finally {
      await served.close();
    }
  },
  { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 },
);

test("a malformed OPENAI_BASE_URL is one line naming it, exit 2, never its password", async () => {
  for (
    const [env, args, said] of [
      [
        { OPENAI_BASE_URL: "http://alice:cli-Pw-7q@[bad/v1" },
        [],
        /^reflow-edge: OPENAI_BASE_URL: "http:\/\/\[bad\/v1" is not a URL$/,
      ],
      [
        { OPENAI_BASE_URL: "ftp://alice:cli-Pw-7q@host/v1" },
        ["--serve"],
        /^reflow-edge: OPENAI_BASE_URL: "ftp:\/\/host\/v1" is not an http or https URL$/,
      ],
      [
        {},
        ["--base-url", "http://alice:cli-Pw-7q@[bad/v1"],
        /^reflow-edge: --base-url: "http:\/\/\[bad\/v1" is not a URL$/,
      ],
    ] as const
  ) {
    const { code, stdout, stderr } = await cli([...args, "zero"], env);
    assert.equal(code, 2, stderr);
    assert.match(stderr.trim(), said);
    assert.ok(!(stdout + stderr).includes("cli-Pw-7q"));
  }
}, { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 });

test("Ctrl-C stops the flow and every model request at once", async () => {
  const offline = createOfflineModel({ tokenDelayMs: 30 });
  const served = await serve(offline.handle);
  try {
    const { code, stderr } = await cli(["--base-url", `${served.url}/v1`, "zero"], {}, (kill) => {
      kill("SIGINT");
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted \(Ctrl-C\)/);
    // The server sees every request the CLI had opened end, without completing.
    for (let i = 0; i < 100 && offline.stats.active > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(offline.stats.active, 0);
    assert.ok(offline.stats.aborted >= 1, JSON.stringify(offline.stats));
    assert.equal(offline.stats.completed, 0);
  } finally {
    await served.close();
  }
}, { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 });

test("the CLI rejects bad usage with exit code 2", async () => {
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give a topic/);
  const bad = await cli(["--frobnicate", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option --frobnicate/);
  const help = await cli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--offline/);
}, { only: ["node", "deno"], why: NOT_ON_WORKERD, timeout: 60_000 });

test("argument parsing: flags, values, topic words", () => {
  const a = parseArgs(["--model=llama3", "--base-url", "http://x/v1", "the", "history", "--json"]);
  assert.equal(a.model, "llama3");
  assert.equal(a.baseURL, "http://x/v1");
  assert.equal(a.topic, "the history");
  assert.equal(a.json, true);
  assert.throws(() => parseArgs(["--model"]), /--model needs a value/);
  assert.throws(() => parseArgs(["--base-url", "nope"]), /not a URL/);
  // A URL that does not parse still never shows its password.
  assert.throws(
    () => parseArgs(["--base-url", "http://me:hunter2-pw@[bad/v1"]),
    (e: Error) => /^--base-url: "http:\/\/\[bad\/v1" is not a URL$/.test(e.message),
  );
  assert.throws(() => parseArgs(["--port", "99999"]), /--port/);
  // node:util's own wording is reworded into one line that points at --help.
  assert.throws(
    () => parseArgs(["--model", "--json"]),
    /^Error: --model needs a value \(see --help\)$/,
  );
  assert.throws(() => parseArgs(["--model="]), /--model needs a value/);
  assert.throws(() => parseArgs(["--json=yes"]), /--json takes no value/);
  assert.throws(() => parseArgs(["-x", "zero"]), /^Error: unknown option -x \(see --help\)$/);
  assert.equal(parseArgs(["--", "--json", "zero"]).topic, "--json zero");
  assert.equal(parseArgs(["-h"]).help, true);
  assert.equal(parseArgs(["--port=0", "--serve"]).port, 0);
  const view = parseArgs(["--plain", "--no-color", "zero"]);
  assert.deepEqual([view.plain, view.noColor, view.topic], [true, true, "zero"]);
}, {
  only: ["node", "deno"],
  why:
    'node:util parseArgs is a stub in workerd that throws "not implemented" (the CLI never runs there)',
});

test("no server at the default URL and none chosen: the offline model, with a notice", async () => {
  const served = await serve(createOfflineModel().handle);
  const url = `${served.url}/v1`;
  await served.close();
  const notices: string[] = [];
  const llm = await chooseLlm(parseArgs(["zero"]), {}, (l) => notices.push(l), url);
  assert.equal(notices.length, 1);
  assert.match(notices[0], /no model server answers at .*; using the offline model/);
  assert.equal(typeof llm.fetch, "function");
  // Chosen explicitly, the same dead URL is used as given, to fail with its own clear error.
  const chosen = await chooseLlm(
    parseArgs(["--base-url", url, "zero"]),
    {},
    (l) => notices.push(l),
  );
  assert.equal(chosen.baseURL, url);
  assert.equal(chosen.fetch, undefined);
  assert.equal(notices.length, 1);
}, { only: ["node", "deno"], why: "workerd cannot listen on a loopback port, so none can refuse" });
