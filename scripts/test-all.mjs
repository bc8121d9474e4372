#!/usr/bin/env node
/**
 * `npm test`: static checks with Deno, then the same test files on Node, Deno and workerd.
 * Streams every step's output, prints a summary table, exits non-zero if anything failed, and
 * prints `N passed, N failed` (totalled over the three runtimes) as its very last line: CI reads
 * that line. `--static` runs only the checks (`npm run check`).
 *
 * It brings what the tests need on a fresh machine after `npm ci`: Deno, workerd and esbuild come
 * from node_modules, and a Chromium for the page tests from scripts/chromium.mjs (the system's,
 * the one the npm package @sparticuz/chromium ships, or Debian's through apt-get as root), and
 * tmux for the terminal tests (Debian's, as root, if missing). What cannot be had is said in one
 * line before the tests run.
 *
 * The Node steps (vitest; the workerd runner, which loads wrangler and miniflare) need Node ≥ 22.12
 * (wrangler 4.164 / miniflare 5 refuse older). On Linux x64/arm64 `npm ci` installs npm's
 * `node-linux-<arch>` package (an optional dependency), whose binary is node_modules/.bin/node: first
 * on PATH here (and in every npm script), so those steps run on it whatever Node started `npm test`.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { aptInstall, canApt, findChromium } from "./chromium.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const env = {
  ...process.env,
  // The deno, vitest and esbuild binaries come from node_modules, not from the machine.
  PATH: `${join(root, "node_modules", ".bin")}${delimiter}${process.env.PATH}`,
  DENO_NO_UPDATE_CHECK: "1",
};

// Check whichever of these exist; a missing one is skipped, the check itself never is.
const checkPaths = [
  "src/",
  "routes/",
  "cli/",
  "main.ts",
  "worker.ts",
  "test/",
  "bench/",
  "examples/",
].filter((p) => existsSync(join(root, p)));

const steps = [
  // deno.json resolves npm packages from Deno's global cache (so a clone with only Deno runs);
  // here they come from the node_modules that `npm ci` installed, exactly as package-lock.json says.
  { name: "deno check", cmd: ["deno", "check", "--node-modules-dir=manual", ...checkPaths] },
  { name: "deno lint", cmd: ["deno", "lint"] },
  { name: "deno fmt", cmd: ["deno", "fmt", "--check"] },
];
if (!process.argv.includes("--static")) {
  steps.push(
    { name: "node", cmd: ["npm", "run", "--silent", "test:node"], counts: vitestCounts },
    { name: "deno", cmd: ["npm", "run", "--silent", "test:deno"], counts: denoCounts },
    { name: "workerd", cmd: ["npm", "run", "--silent", "test:workers"], counts: workerdCounts },
  );
}

// deno-lint-ignore no-control-regex
const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
const num = (text, re) => Number(text.match(re)?.[1] ?? 0);

/** vitest: "Tests  1 failed | 5 passed | 1 skipped (7)"; skipped = not run on Node, by `only`. */
function vitestCounts(out) {
  const line = out.match(/^\s*Tests\s+(.*)$/m)?.[1];
  if (!line) return undefined;
  return {
    passed: num(line, /(\d+) passed/),
    failed: num(line, /(\d+) failed/),
    notRun: num(line, /(\d+) skipped/),
  };
}

/** deno: "ok | 9 passed | 0 failed | 1 ignored (178ms)"; ignored = not run on Deno. */
function denoCounts(out) {
  const line = out.match(/^(?:ok|FAILED) \|(.*)$/m)?.[1];
  if (!line) return undefined;
  return {
    passed: num(line, /(\d+) passed/),
    failed: num(line, /(\d+) failed/),
    notRun: num(line, /(\d+) ignored/),
  };
}

/** scripts/test-workers.mjs: "workerd: 8 passed, 0 failed, 2 not run". */
function workerdCounts(out) {
  const m = out.match(/^workerd: (\d+) passed, (\d+) failed(?:, (\d+) not run)?$/m);
  return m && { passed: Number(m[1]), failed: Number(m[2]), notRun: Number(m[3] ?? 0) };
}

function run(step) {
  console.log(`\n=== ${step.name}: ${step.cmd.join(" ")}`);
  const start = Date.now();
  return new Promise((done) => {
    const child = spawn(step.cmd[0], step.cmd.slice(1), { cwd: root, env, stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (process.stdout.write(d), out += d));
    child.stderr.on("data", (d) => (process.stderr.write(d), out += d));
    child.on("error", (e) => (out += String(e)));
    child.on("close", (code) => done({ code: code ?? 1, out: plain(out), ms: Date.now() - start }));
  });
}

if (!existsSync(join(root, "node_modules", ".bin", "deno"))) {
  console.log("npm test: node_modules is missing or incomplete: run `npm ci` first");
  process.exit(1);
}

if (!process.argv.includes("--static")) {
  // The Node that the steps get (node_modules/.bin/node when npm ci installed one, else the machine's).
  const version = spawnSync("node", ["-v"], { env, encoding: "utf8" }).stdout?.trim() ?? "";
  const [major, minor] = version.slice(1).split(".").map(Number);
  const local = existsSync(join(root, "node_modules", ".bin", "node"));
  if (major > 22 || (major === 22 && minor >= 12)) {
    console.log(
      `=== node for the tests: ${version} (${
        local ? "npm's node-" + process.platform + "-" + process.arch : "this machine's"
      })`,
    );
  } else {
    // wrangler then stops the Worker tests with its own line; everything else still runs.
    console.log(
      `=== ✗ node for the tests is ${version || "missing"}; the Worker tests need Node ≥ 22.12 ` +
        `(npm ships it for Linux x64/arm64 only): install it and run npm test again`,
    );
  }
}

if (!process.argv.includes("--static")) {
  const browser = await findChromium({ install: true, log: (line) => console.log(`=== ${line}`) });
  if (browser.error) {
    // The page tests then fail with this same line; everything else still runs.
    console.log(`=== ✗ ${browser.error}`);
  } else {
    console.log(`=== chromium for the page tests: ${browser.version} (${browser.source})`);
    env.REFLOW_CHROMIUM = browser.path;
  }
}

if (!process.argv.includes("--static")) {
  // The terminal tests run the CLI in tmux (a real pseudo-terminal); Debian's is one apt-get away.
  const hasTmux = () => spawnSync("tmux", ["-V"], { encoding: "utf8" }).status === 0;
  if (!hasTmux() && canApt()) {
    console.log("=== installing Debian's tmux with apt-get for the terminal tests (once) …");
    await aptInstall("tmux");
  }
  if (!hasTmux()) {
    console.log(
      "=== ✗ no tmux for the terminal tests: install it (Debian/Ubuntu: `sudo apt-get install tmux`)",
    );
  }
}

const rows = [];
let total = { passed: 0, failed: 0 };
for (const step of steps) {
  const { code, out, ms } = await run(step);
  const row = { step: step.name, ok: code === 0, secs: (ms / 1000).toFixed(1) };
  if (step.counts) {
    const c = step.counts(out) ?? { passed: 0, failed: 0, notRun: 0 };
    // A runner that died before reporting (crash, syntax error) still counts as one failure,
    // so the final line never reads "0 failed" for a red run.
    if (code !== 0 && c.failed === 0) c.failed = 1;
    Object.assign(row, c);
    total = { passed: total.passed + c.passed, failed: total.failed + c.failed };
  }
  rows.push(row);
}

console.log("\nstep        result  passed  failed  not run  seconds");
for (const r of rows) {
  const cell = (v, w) => String(v ?? "").padStart(w);
  console.log(
    `${r.step.padEnd(11)} ${(r.ok ? "ok" : "FAIL").padEnd(6)} ${cell(r.passed, 7)} ${
      cell(r.failed, 7)
    } ${cell(r.notRun, 8)} ${cell(r.secs, 8)}`,
  );
}
process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
if (!process.argv.includes("--static")) {
  console.log(`${total.passed} passed, ${total.failed} failed`);
}
