import type { CliArgs } from "./args.ts";
import type { CliEnv } from "./research.ts";
import { printError } from "./platform.ts";

/** `--serve`: the HTTP app arrives with the HTTP issue; until then say so plainly. */
export function serve(_args: CliArgs, _env: CliEnv): Promise<number> {
  printError("reflow-edge: --serve is not available in this build yet");
  return Promise.resolve(2);
}
