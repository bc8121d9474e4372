#!/usr/bin/env node
/**
 * Runs test/**\/*.test.ts inside workerd: esbuild bundles scripts/workers-entry.ts plus every
 * test file into one ES-module Worker, Miniflare runs it, and one request runs all the tests
 * (see the entry for why). Prints one line per test and ends with
 * `workerd: N passed, N failed[, N not run]`; exits non-zero on any failure.
 */
import { builtinModules, SourceMap } from "node:module";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { WORKERD_BUNDLE } from "./workerd_bundle.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const outDir = join(root, "dist", "workers-test");
const bundlePath = join(outDir, "worker.mjs");

/** Test files, sorted so the order (and so a crash's position) is reproducible. */
async function testFiles() {
  const entries = await readdir(join(root, "test"), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".test.ts"))
    .map((e) => relative(root, join(e.parentPath ?? e.path, e.name)).replaceAll("\\", "/"))
    .sort();
}

/**
 * The shared files tests read in place on Node and Deno (`../shared/graphs`: the graph corpus),
 * or why they are absent. A Worker has no file system, so the bundle carries them (see
 * test/shared_files.ts).
 */
async function sharedFiles() {
  const dir = join(root, "..", "shared", "graphs");
  if (!existsSync(dir)) return { missing: `${relative(root, dir)} is absent` };
  const files = {};
  for (const name of (await readdir(dir)).sort()) {
    files[`graphs/${name}`] = await readFile(join(dir, name), "utf8");
  }
  return { files };
}

/** Bundles the Worker. Returns esbuild's errors (per file) instead of throwing. */
async function bundle(files) {
  const testFilesPlugin = {
    name: "reflow-test-files",
    setup(build) {
      build.onResolve({ filter: /^reflow:test-files$/ }, () => ({
        path: "test-files",
        namespace: "reflow",
      }));
      build.onLoad({ filter: /.*/, namespace: "reflow" }, () => ({
        resolveDir: root,
        loader: "js",
        contents: `export default [\n${
          files.map((f) => `  [${JSON.stringify(f)}, () => import(${JSON.stringify(`./${f}`)})],`)
            .join("\n")
        }\n];`,
      }));
      // A test's own `await import("x")` stays a runtime import: it names something only some
      // runtimes have (its test is limited with `only`), so it must not break the bundle.
      build.onResolve(
        { filter: /.*/ },
        (args) =>
          args.kind === "dynamic-import" && args.namespace !== "reflow"
            ? { path: args.path, external: true }
            : undefined,
      );
    },
  };
  return await esbuild.build({
    entryPoints: [join(root, "scripts", "workers-entry.ts")],
    outfile: bundlePath,
    ...WORKERD_BUNDLE,
    // nodejs_compat provides node:* (node:assert among them) inside workerd.
    // tv4: named by fbp's parser only for a schema check we never turn on (see src/graph/fbp.ts).
    external: ["node:*", ...builtinModules, "tv4"],
    define: { "globalThis.REFLOW_SHARED_FILES": JSON.stringify(await sharedFiles()) },
    sourcemap: "linked",
    logLevel: "silent",
    plugins: [testFilesPlugin],
  }).then(() => [], (e) => e.errors ?? [{ text: String(e) }]);
}

async function newMiniflare() {
  // Miniflare 5 takes its own options; these are written in Miniflare 4's form, which it converts.
  return new Miniflare(convertV4MiniflareOptions({
    // The module is given explicitly: with scriptPath Miniflare would try to resolve the bundle's
    // deliberately external dynamic imports (vitest, playwright-core, …) and refuse to start.
    modules: [{ type: "ESModule", path: bundlePath, contents: await readFile(bundlePath, "utf8") }],
    compatibilityDate: "2026-10-01",
    // enable_request_signal: request.signal aborts when the client goes away, as in production.
    compatibilityFlags: ["nodejs_compat", "enable_request_signal"],
  }));
}

/** Rewrites bundle positions in a stack to test/src positions using esbuild's source map. */
function mapStack(stack) {
  return stack.replace(/(?:file:\/\/)?[^\s()]*worker\.mjs:(\d+):(\d+)/g, (whole, line, column) => {
    const hit = sourceMap?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!hit?.originalSource) return whole;
    const file = relative(root, resolve(outDir, hit.originalSource));
    return `${file}:${hit.originalLine + 1}:${hit.originalColumn + 1}`;
  });
}

const indent = (text) => text.split("\n").map((l) => `      ${l}`).join("\n");
const counts = { passed: 0, failed: 0, "not-run": 0 };

function report(line) {
  if (line.kind === "file-error") {
    counts.failed++;
    console.log(`  ✗ ${line.file}: failed to load: ${line.message}`);
    if (line.stack) console.log(indent(mapStack(line.stack)));
  } else if (line.kind === "test") {
    counts[line.status]++;
    const mark = { passed: "✓", failed: "✗", "not-run": "-" }[line.status];
    const note = line.status === "not-run" ? ` [not run: ${line.message}]` : ` (${line.ms} ms)`;
    console.log(`  ${mark} ${line.file} > ${line.name}${note}`);
    if (line.status === "failed") console.log(indent(mapStack(line.stack ?? line.message)));
  }
}

/** Runs tests from index `from` on; returns the index to resume at after a crash, or null. */
async function runFrom(mf, from) {
  let next = from;
  let running = `test #${from}`;
  let done = false;
  try {
    const res = await mf.dispatchFetch(`http://tests.local/?from=${from}`);
    const decoder = new TextDecoderStream();
    let buffered = "";
    for await (const text of res.body.pipeThrough(decoder)) {
      buffered += text;
      const lines = buffered.split("\n");
      buffered = lines.pop();
      for (const raw of lines) {
        const line = JSON.parse(raw);
        // After a restart the files load again; their load errors were reported the first time.
        if (line.kind === "file-error" && from > 0) continue;
        if (line.kind === "start") running = `${line.file} > ${line.name}`;
        report(line);
        if (line.kind === "test") next = line.index + 1;
        if (line.kind === "done") done = true;
      }
    }
  } catch (e) {
    console.log(`  ! request failed: ${e.message}`);
  }
  if (done) return null;
  // workerd died (it has segfaulted on torn-down stream chains) or the stream broke: the test
  // at `next` was running. Count it as failed and carry on after it in a fresh workerd.
  counts.failed++;
  console.log(`  ✗ ${running}: workerd stopped while it was running (see output above)`);
  return next + 1;
}

const files = await testFiles();
const errors = await bundle(files);
if (errors.length) {
  for (const e of errors) {
    const at = e.location ? `${e.location.file}:${e.location.line}: ` : "";
    console.log(`  ✗ bundle: ${at}${e.text}`);
  }
  console.log(`workerd: 0 passed, ${errors.length} failed`);
  process.exit(1);
}
const sourceMap = new SourceMap(JSON.parse(await readFile(`${bundlePath}.map`, "utf8")));

console.log(`workerd: ${files.length} test file(s) in ${relative(root, bundlePath)}`);
let from = 0;
let restarts = 0;
while (from !== null) {
  const mf = await newMiniflare();
  try {
    await mf.ready;
    from = await runFrom(mf, from);
  } finally {
    await mf.dispose();
  }
  if (from !== null && ++restarts > 5) {
    console.log("  ! workerd keeps dying; giving up on the remaining tests");
    break;
  }
}

const notRun = counts["not-run"] ? `, ${counts["not-run"]} not run` : "";
console.log(`workerd: ${counts.passed} passed, ${counts.failed} failed${notRun}`);
process.exitCode = counts.failed ? 1 : 0;
