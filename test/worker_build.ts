/**
 * The Worker as it ships, for tests that drive it from Node: `wrangler deploy --dry-run` builds
 * worker.ts once per test file, and Miniflare runs that bundle in workerd with wrangler.toml's
 * compatibility settings and Durable Objects. Used by worker.test.ts and worker_hostile.test.ts
 * (Node only).
 */
import assert from "node:assert/strict";

export const COMPATIBILITY_DATE = "2026-10-01";
export const COMPATIBILITY_FLAGS = ["enable_request_signal"];

const built = new Map<string, Promise<string>>();

/**
 * Builds the Worker once per test file with wrangler (offline, no login) into `dist/<dir>`
 * (one directory per test file: vitest runs files in parallel); returns the script.
 */
export function build(dir = "worker-e2e"): Promise<string> {
  let once = built.get(dir);
  if (once) return once;
  once = (async () => {
    const { spawn } = await import("node:child_process");
    const { mkdir, readdir, readFile, rm } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { gzipSync } = await import("node:zlib");
    const root = new URL("..", import.meta.url).pathname;
    // Inside the repository (dist/ is ignored): workerd refuses script paths that climb out of
    // its working directory. One fixed directory, rebuilt on every run.
    const outdir = join(root, "dist", dir);
    await rm(outdir, { recursive: true, force: true });
    await mkdir(outdir, { recursive: true });
    const wrangler = join(root, "node_modules", ".bin", "wrangler");
    // deno-lint-ignore no-explicit-any
    const env = { ...(globalThis as any).process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(wrangler, ["deploy", "--dry-run", "--outdir", outdir], {
        cwd: root,
        env,
      });
      let out = "";
      child.stdout.on("data", (d: Uint8Array) => (out += d));
      child.stderr.on("data", (d: Uint8Array) => (out += d));
      child.on("error", reject);
      child.on("exit", (code) => code === 0 ? resolve(out) : reject(new Error(`wrangler: ${out}`)));
    });
    const script = (await readdir(outdir)).find((f) => f.endsWith(".js"));
    assert.ok(script, `no script in ${outdir}: ${output}`);
    const path = join(outdir, script);
    const bytes = await readFile(path);
    const gz = gzipSync(bytes, { level: 9 }).byteLength;
    console.log(
      `worker bundle: ${(bytes.byteLength / 1024).toFixed(1)} KiB raw, ` +
        `${(gz / 1024).toFixed(1)} KiB gzip -9 (${output.match(/Total Upload:.*$/m)?.[0]})`,
    );
    // The budget (issue 13): a Worker people deploy stays small; a classic-zod import alone
    // (a `z` namespace that keeps every locale) would break it.
    assert.ok(gz <= 150 * 1024, `the Worker is ${(gz / 1024).toFixed(1)} KiB gzip, over 150 KiB`);
    return path;
  })();
  built.set(dir, once);
  return once;
}

// deno-lint-ignore no-explicit-any
export type Mf = any;

/**
 * Runs `fn` against the Worker in Miniflare with `bindings`, and with wrangler.toml's Durable
 * Objects (RUNS: one object per run, which runs /research and /runs; RUN_INDEX) unless
 * `durableObjects` is false (then runs live in the Worker's isolate, as without those bindings).
 */
export async function withWorker(
  bindings: Record<string, string>,
  fn: (mf: Mf) => Promise<void>,
  dir?: string,
  { durableObjects = true }: { durableObjects?: boolean } = {},
): Promise<void> {
  const scriptPath = await build(dir);
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  // Miniflare 5 takes its own options; these are in Miniflare 4's form, which it converts.
  const mf = new Miniflare(convertV4MiniflareOptions({
    scriptPath,
    modules: true,
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    bindings,
    ...(durableObjects
      ? {
        durableObjects: {
          RUNS: { className: "RunObject", useSQLite: true },
          RUN_INDEX: { className: "RunIndex", useSQLite: true },
        },
      }
      : {}),
  }));
  try {
    await mf.ready;
    await fn(mf);
  } finally {
    await mf.dispose();
  }
}
