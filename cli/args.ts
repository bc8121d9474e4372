/** What the command line asked for. */
export interface CliArgs {
  topic: string;
  model?: string;
  baseURL?: string;
  offline: boolean;
  json: boolean;
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
  --json             one JSON line per chunk, then {"event":"answer",…}
  --serve            serve the HTTP API and the page instead of running once
  --port N           port for --serve (env PORT; default 8787)
  -h, --help         this text

With no model server at the default URL, the offline model is used with a notice on
stderr. A URL you chose that does not answer is an error.`;

/** Parses argv (without the runtime and script); throws an Error with a usage hint on bad input. */
export function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { topic: "", offline: false, json: false, help: false, serve: false };
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value (see --help)`);
      return v;
    };
    switch (flag) {
      case "--model":
        args.model = value();
        break;
      case "--base-url":
        args.baseURL = value();
        break;
      case "--port": {
        const port = Number(value());
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new Error(`--port must be a whole number from 0 to 65535`);
        }
        args.port = port;
        break;
      }
      case "--offline":
        args.offline = true;
        break;
      case "--json":
        args.json = true;
        break;
      case "--serve":
        args.serve = true;
        break;
      case "-h":
      case "--help":
        args.help = true;
        break;
      case "--":
        words.push(...argv.slice(i + 1));
        i = argv.length;
        break;
      default:
        if (arg.startsWith("-") && arg.length > 1) {
          throw new Error(`unknown option ${arg} (see --help)`);
        }
        words.push(arg);
    }
  }
  args.topic = words.join(" ").trim();
  if (args.baseURL !== undefined) {
    try {
      new URL(args.baseURL);
    } catch {
      throw new Error(`--base-url: "${args.baseURL}" is not a URL`);
    }
  }
  return args;
}
