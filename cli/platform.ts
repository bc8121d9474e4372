/**
 * The CLI's runtime adapters: environment, stdout/stderr, Ctrl-C and exit under Deno or Node.
 * Everything runtime-specific in the command line lives here, not in src/.
 */

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const deno = g.Deno;
const proc = g.process;

/** The command-line arguments after the script. */
export function argv(): string[] {
  return deno ? [...deno.args] : proc.argv.slice(2);
}

/** Reads an environment variable; undefined when unset or empty. */
export function env(name: string): string | undefined {
  const value = envRaw(name);
  return value === undefined || value === "" ? undefined : value;
}

/** Reads an environment variable as set: undefined only when unset ("" when set empty). */
export function envRaw(name: string): string | undefined {
  return deno ? deno.env.get(name) : proc.env[name];
}

/**
 * stdout as a `WritableStream<string>` whose writes resolve when the text was handed to the OS,
 * so a slow terminal or pipe slows the agents down rather than filling memory.
 */
export function stdout(): WritableStream<string> {
  return textWritable(deno ? deno.stdout : proc.stdout);
}

/** Writes a line to stderr. */
export function printError(line: string): void {
  const text = line.endsWith("\n") ? line : line + "\n";
  if (deno) deno.stderr.writeSync(new TextEncoder().encode(text));
  else proc.stderr.write(text);
}

/** Calls `handler` on Ctrl-C (SIGINT); returns a function that stops listening. */
export function onInterrupt(handler: () => void): () => void {
  if (deno) {
    deno.addSignalListener("SIGINT", handler);
    return () => deno.removeSignalListener("SIGINT", handler);
  }
  proc.on("SIGINT", handler);
  return () => proc.off("SIGINT", handler);
}

export function exit(code: number): void {
  if (deno) deno.exit(code);
  else proc.exit(code);
}

/** Whether stdout is a terminal (not a pipe or a file). */
export function stdoutIsTerminal(): boolean {
  return deno ? deno.stdout.isTerminal() : proc.stdout.isTTY === true;
}

/** The terminal's size; 80×24 when it cannot be read. */
export function terminalSize(): { columns: number; rows: number } {
  try {
    if (deno) return deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
  return { columns: proc.stdout.columns || 80, rows: proc.stdout.rows || 24 };
}

/**
 * Whether NO_COLOR (https://no-color.org: set and not empty) asks for no colour. Under Deno
 * this is `Deno.noColor`, which needs no env permission.
 */
export function noColorEnv(): boolean {
  return deno ? deno.noColor === true : (proc.env.NO_COLOR ?? "") !== "";
}

/** Which runtime runs the CLI. */
export const runtimeName: "deno" | "node" = deno ? "deno" : "node";

// deno-lint-ignore no-explicit-any
function textWritable(target: any): WritableStream<string> {
  const encoder = new TextEncoder();
  return new WritableStream<string>({
    write(text) {
      if (deno) return writeAll(target, encoder.encode(text));
      return new Promise<void>((resolve, reject) => {
        target.write(text, (error: unknown) => (error ? reject(error) : resolve()));
      });
    },
  });
}

// deno-lint-ignore no-explicit-any
async function writeAll(file: any, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
}
