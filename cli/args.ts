/**
 * The command line's flags, parsed by `node:util`'s `parseArgs` (Node and Deno both have it; the
 * CLI is an entry point, so it may import `node:*`, unlike `src/`).
 *
 * @module
 */
import { parseArgs as parse } from "node:util";
import { baseUrlProblem } from "../src/llm/config.ts";

/** What the command line asked for. */
export interface CliArgs {
  topic: string;
  model?: string;
  baseURL?: string;
  offline: boolean;
  json: boolean;
  /** Leave the agents' reasoning out of the output. */
  noReasoning: boolean;
  /** The seed's text even in a terminal (the live view is off). */
  plain: boolean;
  /** No colours in the live view (as NO_COLOR). */
  noColor: boolean;
  help: boolean;
  serve: boolean;
  port?: number;
}

export const USAGE =
  `reflow-edge research: three specialist agents, a synthesizer, live role-tagged tokens.

Usage:
  deno run -A main.ts [options] "the history of zero"
  npx tsx main.ts [options] "the history of zero"      (npm start -- "…")
  deno run -A main.ts --serve [--port 8787]             (HTTP + the live page)

Options:
  --model NAME       model to ask (env REFLOW_MODEL or OPENAI_MODEL; default qwen2.5:3b)
  --base-url URL     OpenAI-compatible endpoint (env OPENAI_BASE_URL; default
                     http://localhost:11434/v1, Ollama). Key: env OPENAI_API_KEY.
  --offline          use the built-in offline model (no server needed)
  --json             one JSON line per event (src/research/events.ts): chunk, reasoning,
                     finish, usage, node…, then {"event":"answer",…} and {"event":"done"}
  --no-reasoning     leave the agents' reasoning (thinking models) out of the output
  --plain            in a terminal too, the seed's role-tagged text (what a pipe or a
                     file gets) instead of the live view: a pane per agent, node states
  --no-color         no colours in the live view (also: env NO_COLOR)
  --serve            serve the HTTP API and the page instead of running once
  --port N           port for --serve (env PORT; default 8787)
  -h, --help         this text

With no model server at the default URL, the offline model is used with a notice on
stderr. A URL you chose that does not answer is an error.`;

const OPTIONS = {
  model: { type: "string" },
  "base-url": { type: "string" },
  port: { type: "string" },
  offline: { type: "boolean" },
  json: { type: "boolean" },
  "no-reasoning": { type: "boolean" },
  plain: { type: "boolean" },
  "no-color": { type: "boolean" },
  serve: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses argv (without the runtime and script); throws an Error with a usage hint on bad input.
 *
 * @example
 * ```ts
 * parseArgs(["--offline", "the", "history", "of", "zero"]).topic; // "the history of zero"
 * ```
 */
export function parseArgs(argv: readonly string[]): CliArgs {
  let parsed;
  try {
    parsed = parse({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new Error(usageError(error));
  }
  const { values, positionals } = parsed;
  for (const name of ["model", "base-url", "port"] as const) {
    if (values[name] === "") throw new Error(`--${name} needs a value (see --help)`);
  }
  const args: CliArgs = {
    topic: positionals.join(" ").trim(),
    model: values.model,
    baseURL: values["base-url"],
    offline: values.offline ?? false,
    json: values.json ?? false,
    noReasoning: values["no-reasoning"] ?? false,
    plain: values.plain ?? false,
    noColor: values["no-color"] ?? false,
    help: values.help ?? false,
    serve: values.serve ?? false,
  };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) {
      throw new Error(`--port must be a whole number from 0 to 65535`);
    }
    args.port = port;
  }
  const problem = args.baseURL === undefined
    ? undefined
    : baseUrlProblem("--base-url", args.baseURL);
  if (problem) throw new Error(problem);
  return args;
}

/** parseArgs' errors, reworded as one line in our words (its own are long and name no help). */
function usageError(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const flag = /'(-[^' ]+)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${flag} (see --help)`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return /takes no argument|does not take an argument/.test(message)
      ? `${flag} takes no value (see --help)`
      : `${flag} needs a value (see --help)`;
  }
  return `${message} (see --help)`;
}
