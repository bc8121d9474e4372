/**
 * Deno's permissions for the CLI, settled once at the start: the environment variables it reads
 * and the hosts it talks to. Missing ones are asked for in a terminal (Deno's own prompt: env
 * access, then each host); anywhere else (a pipe, CI, `--no-prompt`) the CLI prints one line with
 * the command that grants exactly them, instead of a stack trace later. Under Node there are no permissions
 * and everything here is a no-op.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno;

/** The environment variables the CLI and the openai SDK read (`OPENAI_*` also covers the SDK's own). */
export const ENV_NAMES = ["OPENAI_*", "REFLOW_*"];
/** …and those `--serve` reads besides. */
export const SERVE_ENV_NAMES = ["PORT", "HOST"];

/** What to ask Deno for: env variable names (a trailing `*` is a prefix) and `host[:port]`s. */
export interface Needs {
  env?: string[];
  net?: string[];
  /** Files to read and write (`--serve`'s run log, REFLOW_RUNS_DB). */
  files?: string[];
}

type Descriptor =
  | { name: "env"; variable: string }
  | { name: "net"; host: string }
  | { name: "read" | "write"; path: string };

function descriptors(needs: Needs): Descriptor[] {
  return [
    ...(needs.env ?? []).map((variable) => ({ name: "env" as const, variable })),
    ...(needs.net ?? []).map((host) => ({ name: "net" as const, host })),
    ...(needs.files ?? []).flatMap((path) => [
      { name: "read" as const, path },
      { name: "write" as const, path },
    ]),
  ];
}

/**
 * Makes sure Deno granted `needs`: asks in a terminal, otherwise returns the one line to print (the
 * flags to add and the whole command). Returns undefined when everything is granted (always under
 * Node).
 *
 * @example
 * ```ts
 * const problem = ensurePermissions({ env: ENV_NAMES, net: ["localhost:11434"] }, "deno task start");
 * if (problem) { printError(problem); exit(2); }
 * ```
 */
export function ensurePermissions(
  needs: Needs,
  task: string,
  /** What the line names (default: `needs`): e.g. everything the run will need, not just this step. */
  toName: (needs: Needs) => Needs = (n) => n,
): string | undefined {
  if (!deno?.permissions) return undefined;
  const missing = descriptors(needs).filter((d) =>
    deno.permissions.querySync(d).state !== "granted"
  );
  if (missing.length === 0) return undefined;
  if (deno.stdin.isTerminal()) {
    // Deno's prompt takes no wildcard (a grant of "OPENAI_*" would cover that literal name only),
    // so in a terminal env access is asked for once as a whole; hosts are asked for exactly.
    const ask = missing.some((d) => d.name === "env")
      ? [{ name: "env" }, ...missing.filter((d) => d.name !== "env")]
      : missing;
    const denied = ask.filter((d) => deno.permissions.requestSync(d).state !== "granted");
    if (denied.length === 0) return undefined;
  }
  return permissionsLine(toName(needs), task);
}

/** `reflow-edge: Deno needs …; run: deno run --allow-env=… --allow-net=… main.ts 'topic'`. */
export function permissionsLine(needs: Needs, task: string): string {
  const flags = permissionFlags(needs);
  const parts = [
    needs.env?.length ? `to read ${needs.env.join(", ")}` : "",
    needs.net?.length ? `to reach ${needs.net.join(", ")}` : "",
    needs.files?.length ? `to read and write ${needs.files.join(", ")}` : "",
  ].filter(Boolean);
  const what = parts.length > 1
    ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`
    : parts.join("");
  const script = deno ? new URL(deno.mainModule).pathname : "main.ts";
  const words: string[] = deno ? [...deno.args] : [];
  const args = words.map(shellQuote).join(" ");
  // The task already says what its command line does (`deno task serve` is `main.ts --serve`).
  const taskArgs = words.filter((w) =>
    !task.endsWith(` ${w}`) && !(w === "--serve" && task.endsWith("serve"))
  )
    .map(shellQuote).join(" ");
  return `reflow-edge: Deno needs permission ${what}; run: deno run ${flags.join(" ")} ${
    shellQuote(script)
  }${args ? ` ${args}` : ""}  (or: ${task}${taskArgs ? ` ${taskArgs}` : ""}, or -A for everything)`;
}

/** The `--allow-*` flags for `needs`, quoted for a POSIX shell (`OPENAI_*` must not glob). */
export function permissionFlags(needs: Needs): string[] {
  const flags: string[] = [];
  if (needs.env?.length) flags.push(`--allow-env=${shellQuote(needs.env.join(","))}`);
  if (needs.net?.length) flags.push(`--allow-net=${shellQuote(needs.net.join(","))}`);
  if (needs.files?.length) {
    const files = shellQuote(needs.files.join(","));
    flags.push(`--allow-read=${files}`, `--allow-write=${files}`);
  }
  return flags;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
