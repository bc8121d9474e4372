/**
 * `main.ts --serve --port 0 --offline` as a child process, the way a user starts it: under Deno, or
 * under Node with tsx's loader (`node --import tsx`, not the `tsx` command, which relays a SIGINT
 * only if the child reports it within 30 ms and else SIGKILLs it: a loaded machine misses that).
 * Spawned from Node (node:child_process). The caller's `REFLOW_TOKEN` and `PORT` are left out of
 * the child's environment (a blank token is a startup error, a PORT would fix the port); pass them
 * in `env` to set them.
 */
import { eventually } from "./http_helpers.ts";

/** A running `main.ts --serve`. */
export interface ServeProcess {
  /** Where it listens, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** What it has written to stdout / stderr so far. */
  out(): string;
  err(): string;
  /** Resolves with its exit code once it has exited. */
  exited: Promise<number | null>;
  /** Sends `signal` and resolves with the exit code. */
  kill(signal: "SIGINT" | "SIGKILL"): Promise<number | null>;
}

/** Starts main.ts --serve under `how` with `env` on top of this process's, and waits for its URL. */
export async function startServe(
  how: "deno" | "node",
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  const { spawn } = await import("node:child_process");
  const main = new URL("../main.ts", import.meta.url).pathname;
  const args = [main, "--serve", "--port", "0", "--offline"];
  // deno-lint-ignore no-explicit-any
  const own = (globalThis as any).process.env as Record<string, string>;
  const { REFLOW_TOKEN: _token, PORT: _port, ...base } = own;
  const child = how === "deno"
    ? spawn(
      new URL("../node_modules/.bin/deno", import.meta.url).pathname,
      ["run", "-A", "--node-modules-dir=manual", ...args],
      { env: { ...base, DENO_NO_UPDATE_CHECK: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] },
    )
    : spawn(process.execPath, ["--import", "tsx", ...args], {
      env: { ...base, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Uint8Array) => (out += d));
  child.stderr.on("data", (d: Uint8Array) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = () => /serving (http:\/\/\S+)/.exec(out)?.[1].replace(/\/$/, "");
  try {
    await eventually(() => url() !== undefined || child.exitCode !== null, "its URL", 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message} (stderr: ${err})`);
  }
  if (url() === undefined) throw new Error(`main.ts --serve exited at start (stderr: ${err})`);
  return {
    url: url()!,
    out: () => out,
    err: () => err,
    exited,
    kill: (signal) => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
