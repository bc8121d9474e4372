/**
 * `deno run main.ts` without permission flags, as a Deno user types it: not in a terminal, it
 * prints one line naming exactly the permissions and the command that grants them (exit 2, no
 * stack trace), and that command then works. In a terminal Deno prompts instead (checked by hand in
 * tmux; see README). Also: deno.json's npm imports agree with package.json.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";

const ONLY = {
  only: ["deno"] as "deno"[],
  why: "about Deno's permissions and deno.json (Node has neither; workerd spawns nothing)",
  timeout: 60_000,
};

// deno-lint-ignore no-explicit-any
const Deno = (globalThis as any).Deno;
async function run(flags: string[], args: string[]) {
  // Not at the top: the file also loads in workerd, where import.meta.url is no base URL.
  const main = new URL("../main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--node-modules-dir=manual", ...flags, main, ...args],
    env: { NO_COLOR: "1", OPENAI_BASE_URL: "", REFLOW_MODEL: "" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code as number,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** The `--allow-*` flags in the printed command, unquoted as a shell would. */
function flagsIn(line: string): string[] {
  return [...line.matchAll(/--allow-(env|net)=('[^']*'|\S+)/g)].map((m) =>
    `--allow-${m[1]}=${m[2].replace(/^'|'$/g, "")}`
  );
}

test(
  "deno run main.ts with no flags and no terminal: one line with the command, exit 2",
  async () => {
    const { code, stdout, stderr } = await run([], ["the history of zero"]);
    assert.equal(code, 2);
    assert.equal(stdout, "");
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0],
      /^reflow-edge: Deno needs permission to read OPENAI_\*, REFLOW_\* and to reach localhost:11434; run: deno run --allow-env='OPENAI_\*,REFLOW_\*' --allow-net=localhost:11434 \S*main\.ts 'the history of zero' {2}\(or: deno task start 'the history of zero', or -A for everything\)$/,
    );
    assert.doesNotMatch(stderr, /\bat \S+:\d+:\d+/); // no stack frames
  },
  ONLY,
);

test("the command that line gives works (--offline needs no network at all)", async () => {
  const denied = await run([], ["--offline", "zero"]);
  assert.equal(denied.code, 2);
  const flags = flagsIn(denied.stderr);
  assert.deepEqual(flags, ["--allow-env=OPENAI_*,REFLOW_*"]);
  const ok = await run(flags, ["--offline", "zero"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /\[answer\] /);
}, ONLY);

test(
  "--serve without flags: the env it reads and the address it listens on, in one line",
  async () => {
    const { code, stderr } = await run([], ["--serve", "--port", "0", "--offline"]);
    assert.equal(code, 2);
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
    assert.match(
      stderr,
      /--allow-env='OPENAI_\*,REFLOW_\*,PORT,HOST' --allow-net=127\.0\.0\.1 --allow-read=reflow-runs\.db,reflow-runs\.db-wal,reflow-runs\.db-shm --allow-write=reflow-runs\.db,reflow-runs\.db-wal,reflow-runs\.db-shm /,
    );
    assert.match(stderr, /\(or: deno task serve --port 0 --offline, or -A for everything\)/);
  },
  ONLY,
);

test("deno.json's npm imports name the same versions as package.json", async () => {
  const read = async (name: string) =>
    JSON.parse(await Deno.readTextFile(new URL(`../${name}`, import.meta.url)));
  const denoJson = await read("deno.json");
  const pkg = await read("package.json");
  const declared = {
    ...pkg.devDependencies,
    ...pkg.peerDependencies,
    ...pkg.dependencies,
  } as Record<string, string>;
  const npmImports = Object.entries(denoJson.imports as Record<string, string>)
    .filter(([, target]) => target.startsWith("npm:"));
  assert.ok(npmImports.length >= 3);
  for (const [name, target] of npmImports) {
    const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)\/?$/.exec(target);
    assert.ok(m, `deno.json imports.${name}: ${target}`);
    assert.equal(m[2], declared[m[1]], `deno.json imports.${name} vs package.json ${m[1]}`);
  }
  // Every runtime dependency is importable without node_modules.
  for (const dep of Object.keys(pkg.dependencies)) {
    assert.ok(denoJson.imports[dep], `deno.json imports has no "${dep}"`);
  }
}, { ...ONLY, timeout: 20_000 });
