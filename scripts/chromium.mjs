/**
 * The Chromium that the page tests drive (through playwright-core, which brings no browser of its
 * own). `findChromium()` looks, in this order, for:
 *
 * 1. `$REFLOW_CHROMIUM`, a path you choose (it must run);
 * 2. a Chromium or Chrome on the machine (`/usr/bin/chromium`, `chromium-browser`, `google-chrome`);
 * 3. the headless Chromium that the npm package `@sparticuz/chromium` (a devDependency) ships inside
 *    the package, unpacked once into `node_modules/.cache/reflow-edge/`;
 * 4. with `{ install: true }` (what `npm test` passes), running as root where `apt-get` exists:
 *    Debian's `chromium`, installed with apt-get.
 *
 * It resolves with `{ path, source }`, or `{ error }`: one line saying what is missing and the
 * command that fixes it. Nothing here throws.
 *
 * @example
 * ```js
 * const found = await findChromium();
 * if (found.error) throw new Error(found.error);
 * const browser = await chromium.launch({ executablePath: found.path });
 * ```
 */
import { execFile, spawn } from "node:child_process";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm } from "node:fs/promises";
import { arch, platform } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createBrotliDecompress } from "node:zlib";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const SYSTEM = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome-stable",
  "/usr/bin/google-chrome",
];
const FIX = "install one (Debian/Ubuntu: `sudo apt-get install chromium`) or set REFLOW_CHROMIUM " +
  "to a Chromium or Chrome binary";

/**
 * @param {{ install?: boolean, log?: (line: string) => void, env?: Record<string, string | undefined> }} [options]
 * @returns {Promise<{ path: string, source: string, version: string, error?: undefined } | { error: string }>}
 */
export async function findChromium(options = {}) {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const chosen = env.REFLOW_CHROMIUM;
  if (chosen) {
    const version = await runs(chosen);
    return version
      ? { path: chosen, source: "REFLOW_CHROMIUM", version }
      : { error: `REFLOW_CHROMIUM=${chosen} does not run (\`${chosen} --version\` failed)` };
  }
  for (const path of SYSTEM) {
    const version = existsSync(path) && await runs(path);
    if (version) return { path, source: "the system", version };
  }
  const packaged = await unpackPackaged(log);
  const version = packaged.path && await runs(packaged.path);
  if (version) return { path: packaged.path, source: packaged.source, version };

  const why = packaged.why ??
    `the Chromium from ${packaged.source} does not run here (missing system libraries?)`;
  if (options.install && canApt()) {
    log("installing Debian's chromium with apt-get for the page tests (once) …");
    const failed = await aptInstall("chromium");
    const version = !failed && await runs("/usr/bin/chromium");
    if (version) return { path: "/usr/bin/chromium", source: "Debian (apt-get)", version };
    return { error: `no Chromium for the page tests: ${why}, and apt-get failed: ${failed}` };
  }
  return { error: `no Chromium for the page tests: ${why}; ${FIX}` };
}

/** The binary's `--version` line, or "" when it does not start. */
function runs(path) {
  return new Promise((done) => {
    execFile(path, ["--version"], { timeout: 30_000 }, (error, stdout) => {
      done(error ? "" : String(stdout).trim() || path);
    });
  });
}

/** Unpacks @sparticuz/chromium's brotli-compressed binary once; concurrent callers are safe. */
async function unpackPackaged(log) {
  const source = "the npm package @sparticuz/chromium";
  if (platform() !== "linux" || arch() !== "x64") {
    return {
      source,
      why: `${source} ships Chromium for Linux x64 only (this is ${platform()} ${arch()})`,
    };
  }
  const dir = join(root, "node_modules", "@sparticuz", "chromium");
  const packed = join(dir, "bin", "chromium.br");
  if (!existsSync(packed)) {
    return { source, why: `${source} is not installed (run \`npm ci\`)` };
  }
  const { version } = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const target = join(
    root,
    "node_modules",
    ".cache",
    "reflow-edge",
    `chromium-${version}`,
    "chromium",
  );
  if (existsSync(target)) return { path: target, source: `${source} ${version}` };
  log(`unpacking Chromium from @sparticuz/chromium ${version} (once) …`);
  const partial = `${target}.${process.pid}.partial`;
  try {
    await mkdir(dirname(target), { recursive: true });
    await pipeline(createReadStream(packed), createBrotliDecompress(), createWriteStream(partial));
    await chmod(partial, 0o755);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    return { source, why: `could not unpack ${packed}: ${error.message}` };
  }
  return { path: target, source: `${source} ${version}` };
}

/** Whether Debian packages can be installed here: root, with apt-get. */
export function canApt() {
  return process.getuid?.() === 0 && existsSync("/usr/bin/apt-get");
}

/** Runs apt-get update + install quietly; resolves with "" or the last line it printed. */
export async function aptInstall(name) {
  const lock = ["-o", "DPkg::Lock::Timeout=300"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const step = (args) =>
    new Promise((done) => {
      const child = spawn("apt-get", [...lock, ...args], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("error", (e) => done(e.message));
      child.on(
        "close",
        (code) => done(code === 0 ? "" : out.trim().split("\n").slice(-1)[0] || `exit ${code}`),
      );
    });
  // An update that fails for one source may still leave the package installable: try anyway.
  await step(["update", "-qq"]);
  return await step(["install", "-y", "-qq", "--no-install-recommends", name]);
}
