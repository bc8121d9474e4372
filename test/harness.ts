/**
 * One test API for three runtimes. Test files import `test` from here and assert with
 * `node:assert/strict`; this module maps `test` onto vitest (Node), `Deno.test` (Deno) or a
 * registry that the workerd runner (`scripts/test-workers.mjs`) executes inside a Worker.
 *
 * A test that needs a module only some runtimes have (playwright-core, node:child_process, …)
 * must import it with `await import()` inside the test body and declare `only`/`why`: the
 * workerd bundle leaves dynamic imports unresolved, so the file still loads everywhere.
 */

export type Runtime = "node" | "deno" | "workerd";

export interface TestOptions {
  /** Per-test time limit in ms (default 20,000). */
  timeout?: number;
  /**
   * Runtimes this test can run on. On the others it is reported, with `why`, as not run:
   * never silently skipped.
   */
  only?: Runtime[];
  /** Why the test cannot run on the runtimes missing from `only`. Required with `only`. */
  why?: string;
  /**
   * Under Deno, turn on its op and resource sanitizers (off by default, see below): the test then
   * fails if it leaves a timer, a pending op or an open resource (socket, stream) behind.
   */
  sanitize?: boolean;
}

type TestFn = () => unknown | Promise<unknown>;

export interface Registered {
  name: string;
  /** The test body, already wrapped in the timeout. */
  fn: TestFn;
  options: TestOptions;
  /** False when `only` excludes workerd: the runner reports it as not run, with `options.why`. */
  runsHere: boolean;
}

/** One line of the workerd runner's report. */
export interface Result {
  name: string;
  status: "passed" | "failed" | "not-run";
  ms: number;
  /** The reason for "not-run", or the error's message for "failed". */
  message?: string;
  stack?: string;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export const runtime: Runtime = typeof g.Deno?.test === "function"
  ? "deno"
  : g.navigator?.userAgent === "Cloudflare-Workers"
  ? "workerd"
  : "node";

/** Tests registered under workerd, run by `scripts/test-workers.mjs` through the bundle's fetch. */
export const registry: Registered[] = [];

// Only Node loads vitest; the workerd bundle keeps this dynamic import external, Deno never runs it.
// deno-lint-ignore no-explicit-any
const vitest: any = runtime === "node" ? await import("vitest") : undefined;

/** Registers a test on the current runtime. */
export function test(name: string, fn: TestFn, options: TestOptions = {}): void {
  const timeout = options.timeout ?? 20_000;
  const runsHere = !options.only || options.only.includes(runtime);
  if (options.only && !options.why) throw new Error(`test "${name}": "only" needs a "why"`);
  if (runtime === "node") {
    // vitest enforces the timeout itself and fails the test with its own message.
    if (runsHere) vitest.test(name, fn, timeout);
    else vitest.test.skip(`${name} [not on node: ${options.why}]`, fn);
  } else if (runtime === "deno") {
    g.Deno.test({
      name: runsHere ? name : `${name} [not on deno: ${options.why}]`,
      ignore: !runsHere,
      // Timers and streams left by a test that is meant to leave them are checked by the test
      // itself; Deno's sanitizers would flag the openai client's keep-alive sockets instead.
      sanitizeOps: options.sanitize ?? false,
      sanitizeResources: options.sanitize ?? false,
      fn: () => withTimeout(name, fn, timeout),
    });
  } else {
    registry.push({ name, fn: () => withTimeout(name, fn, timeout), options, runsHere });
  }
}

/** Runs one registered test (workerd), turning any outcome into a `Result`. */
export async function runRegistered(t: Registered): Promise<Result> {
  if (!t.runsHere) {
    return { name: t.name, status: "not-run", ms: 0, message: `not on workerd: ${t.options.why}` };
  }
  const start = Date.now();
  try {
    await t.fn();
    return { name: t.name, status: "passed", ms: Date.now() - start };
  } catch (e) {
    return { name: t.name, status: "failed", ms: Date.now() - start, ...describeError(e) };
  }
}

/** Message and stack of anything thrown (assert errors carry their diff in `message`). */
export function describeError(e: unknown): { message: string; stack?: string } {
  if (e instanceof Error) {
    return { message: `${e.name}: ${e.message}`, stack: e.stack };
  }
  return { message: `non-Error thrown: ${String(e)}` };
}

async function withTimeout(name: string, fn: TestFn, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolvers (Node 20 has no `Promise.withResolvers`). */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
