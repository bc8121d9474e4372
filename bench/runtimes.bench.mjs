#!/usr/bin/env node
/**
 * The core benchmark on every runtime, each with its raw-stream baseline measured in the same
 * run: Node (tsx), Deno (from the npm package) and workerd (bundled with esbuild, run in
 * Miniflare, timed inside the isolate). Writes bench/results/core{,.deno,.workerd}.json and
 * bench/results/runtimes.json, and prints the network/raw ratios side by side.
 */
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { WORKERD_BUNDLE } from "../scripts/workerd_bundle.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const results = join(root, "bench", "results");
const bin = (name) => join(root, "node_modules", ".bin", name);

function run(label, command, args) {
  console.log(`--- ${label}`);
  const out = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (out.status !== 0) throw new Error(`${label} failed with exit code ${out.status}`);
}

async function workerd() {
  console.log("--- workerd (miniflare)");
  const outfile = join(root, "dist", "bench-workerd", "worker.mjs");
  await esbuild.build({
    entryPoints: [join(root, "bench", "workerd-entry.ts")],
    outfile,
    ...WORKERD_BUNDLE,
    logLevel: "silent",
  });
  // Miniflare 5 takes its own options; these are in Miniflare 4's form, which it converts.
  const mf = new Miniflare(convertV4MiniflareOptions({
    modules: [{ type: "ESModule", path: outfile, contents: await readFile(outfile, "utf8") }],
    compatibilityDate: "2026-10-01",
  }));
  try {
    const response = await mf.dispatchFetch("http://bench.local/");
    const { result, lines } = await response.json();
    for (const line of lines) console.log(line);
    // Inside workerd the runtime reports no version of its own; name it after the npm package.
    const { version } = JSON.parse(
      await readFile(join(root, "node_modules", "workerd", "package.json"), "utf8"),
    );
    result.runtime = { name: "workerd", version };
    await writeFile(join(results, "core.workerd.json"), JSON.stringify(result, null, 2) + "\n");
    return result;
  } finally {
    await mf.dispose();
  }
}

// `node bench/runtimes.bench.mjs workerd` re-runs only the runtimes named; the others are read
// from their last results.
const only = process.argv.slice(2);
const wanted = (name) => only.length === 0 || only.includes(name);
await mkdir(results, { recursive: true });
if (wanted("node")) run("node", process.execPath, ["--import", "tsx", "bench/core.bench.ts"]);
if (wanted("deno")) run("deno", bin("deno"), ["run", "-A", "bench/core.bench.ts"]);
const last = async (file) => JSON.parse(await readFile(join(results, file), "utf8"));
const byRuntime = {
  node: await last("core.json"),
  deno: await last("core.deno.json"),
  workerd: wanted("workerd") ? await workerd() : await last("core.workerd.json"),
};

console.log("\nnetwork / raw, per runtime (throughput ratio; per-hop latency ratio)");
const names = Object.keys(byRuntime);
console.log(`${"shape".padEnd(22)}${names.map((n) => n.padStart(20)).join("")}`);
const summary = {};
for (const [i, shape] of byRuntime.node.shapes.entries()) {
  const cells = names.map((n) => {
    const r = byRuntime[n].shapes[i];
    summary[n] ??= {};
    summary[n][r.shape] = { ...r.ratio, networkPps: r.network.pps, rawPps: r.raw.pps };
    return `×${r.ratio.throughput.toFixed(2)} / ×${r.ratio.latency.toFixed(2)}`.padStart(20);
  });
  console.log(`${shape.shape.padEnd(22)}${cells.join("")}`);
}
await writeFile(
  join(results, "runtimes.json"),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      runtimes: Object.fromEntries(names.map((n) => [n, byRuntime[n].runtime])),
      ratios: summary,
    },
    null,
    2,
  ) + "\n",
);
console.log(`wrote ${join(results, "runtimes.json")}`);
