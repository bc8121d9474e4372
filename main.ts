#!/usr/bin/env -S deno run --allow-env=OPENAI_*,REFLOW_*,PORT,HOST --allow-net --allow-read=reflow-runs.db,reflow-runs.db-wal,reflow-runs.db-shm --allow-write=reflow-runs.db,reflow-runs.db-wal,reflow-runs.db-shm
/**
 * The command line: `deno run -A main.ts "the history of zero"` streams the research flow's
 * role-tagged tokens, then prints the answer; `--serve` serves the HTTP app. Also runs under Node
 * (`npx tsx main.ts …`).
 */
import { type CliArgs, parseArgs, USAGE } from "./cli/args.ts";
import { ensurePermissions, ENV_NAMES, SERVE_ENV_NAMES } from "./cli/permissions.ts";
import { baseUrlProblem, DEFAULT_LLM_CONFIG } from "./src/llm/config.ts";
import { runStoreFiles } from "./cli/sqlite.ts";
import {
  argv,
  env,
  exit,
  noColorEnv,
  onInterrupt,
  printError,
  stdout,
  stdoutIsTerminal,
  terminalSize,
} from "./cli/platform.ts";
import { runLive } from "./cli/live.ts";
import { runCli } from "./cli/research.ts";
import { describeError } from "./cli/errors.ts";

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(argv());
  } catch (error) {
    printError(`reflow-edge: ${(error as Error).message}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const denied = await permissions(args);
  if (denied) {
    printError(denied);
    return 2;
  }
  const settings = {
    baseURL: env("OPENAI_BASE_URL"),
    apiKey: env("OPENAI_API_KEY"),
    model: env("REFLOW_MODEL") ?? env("OPENAI_MODEL"),
  };
  const badUrl = settings.baseURL && baseUrlProblem("OPENAI_BASE_URL", settings.baseURL);
  if (badUrl) {
    printError(`reflow-edge: ${badUrl}`);
    return 2;
  }
  if (args.serve) {
    const { serve } = await import("./cli/serve.ts");
    return await serve(args, settings);
  }
  if (!args.topic) {
    printError(`reflow-edge: give a topic, e.g. "the history of zero" (see --help)`);
    return 2;
  }
  const controller = new AbortController();
  const stopListening = onInterrupt(() =>
    controller.abort(new DOMException("interrupted (Ctrl-C)", "AbortError"))
  );
  const io = { stdout: stdout(), notice: printError, signal: controller.signal };
  // A person at a terminal gets the live view; a pipe, a file, --plain and --json the seed's text.
  const live = stdoutIsTerminal() && !args.plain && !args.json;
  try {
    return live
      ? await runLive(args, settings, {
        ...io,
        size: terminalSize,
        color: !args.noColor && !noColorEnv(),
      })
      : await runCli(args, settings, io);
  } catch (error) {
    printError(`\nreflow-edge: ${describeError(error)}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    stopListening();
  }
}

/**
 * Under Deno: the environment variables (first, since the model's URL may come from one) and the
 * hosts (the model server unless --offline, the listening address with --serve) the CLI needs.
 * Returns the one line to print when they are not granted; undefined under Node.
 */
async function permissions(args: CliArgs): Promise<string | undefined> {
  const task = args.serve ? "deno task serve" : "deno task start";
  const names = args.serve ? [...ENV_NAMES, ...SERVE_ENV_NAMES] : ENV_NAMES;
  const hosts = async () => {
    // A URL that does not parse is refused after this, in one line (baseUrlProblem).
    const model = args.offline ? [] : hostOf(
      args.baseURL ?? env("OPENAI_BASE_URL") ?? DEFAULT_LLM_CONFIG.baseURL,
    );
    if (!args.serve) return model;
    const address = (await import("./cli/serve.ts")).listenAddress(args);
    const listen = address &&
      (address.port ? `${address.hostname}:${address.port}` : address.hostname);
    return listen ? [...model, listen] : model;
  };
  // Without env access the hosts are a guess (OPENAI_BASE_URL, HOST, PORT unread): named in the
  // line all the same, so that one command usually grants everything.
  const files = (setting?: string) => args.serve ? runStoreFiles(setting) : [];
  const envProblem = ensurePermissions(
    { env: names },
    task,
    () => ({ env: names, net: guess(args), files: files() }),
  );
  if (envProblem) return envProblem;
  const rest = { net: await hosts(), files: files(env("REFLOW_RUNS_DB")) };
  return ensurePermissions(rest, task, () => ({ env: names, ...rest }));
}

/** The host of `url` (never its credentials), or none when it is not a URL. */
function hostOf(url: string): string[] {
  try {
    return [new URL(url).host];
  } catch {
    return [];
  }
}

function guess(args: CliArgs): string[] {
  const model = args.offline ? [] : [new URL(args.baseURL ?? DEFAULT_LLM_CONFIG.baseURL).host];
  const port = args.port ?? 8787;
  return args.serve ? [...model, port ? `127.0.0.1:${port}` : "127.0.0.1"] : model;
}

exit(await main());
