/**
 * The command line: `deno run -A main.ts "the history of zero"` streams the research flow's
 * role-tagged tokens, then prints the answer; `--serve` serves the HTTP app. Also runs under Node
 * (`npx tsx main.ts …`).
 */
import { parseArgs, USAGE } from "./cli/args.ts";
import { argv, env, exit, onInterrupt, printError, stdout } from "./cli/platform.ts";
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
  const settings = {
    baseURL: env("OPENAI_BASE_URL"),
    apiKey: env("OPENAI_API_KEY"),
    model: env("REFLOW_MODEL") ?? env("OPENAI_MODEL"),
  };
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
  try {
    return await runCli(args, settings, {
      stdout: stdout(),
      notice: printError,
      signal: controller.signal,
    });
  } catch (error) {
    printError(`\nreflow-edge: ${describeError(error)}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    stopListening();
  }
}

exit(await main());
