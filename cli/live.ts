/**
 * The CLI in a terminal: the research flow's events drawn by the live view (cli/terminal_view.ts)
 * instead of the seed's text. Chosen by main.ts when stdout is a terminal and neither `--plain`
 * nor `--json` was given; a pipe or a file always gets the seed's format.
 *
 * @module
 */
import { researchEvents } from "../src/research/research_events.ts";
import { researchGraph } from "../src/research/run_research.ts";
import type { CliArgs } from "./args.ts";
import { chooseLlm, type CliEnv, type CliIo } from "./research.ts";
import { TerminalView } from "./terminal_view.ts";

/** What the live view needs besides the CLI's usual streams. */
export interface LiveIo extends CliIo {
  size(): { columns: number; rows: number };
  color: boolean;
}

/**
 * Runs the research flow with the live view (its report ends with the token counts, so no summary
 * line on stderr as in the plain mode); resolves with the exit code, rejects with the flow's error
 * after the view has shown what arrived and given the terminal back.
 */
export async function runLive(args: CliArgs, env: CliEnv, io: LiveIo): Promise<number> {
  const llm = await chooseLlm(args, env, io.notice);
  const writer = io.stdout.getWriter();
  const view = new TerminalView({
    write: (text) => writer.write(text),
    size: io.size,
    color: io.color,
    topic: args.topic,
    nodes: researchGraph(args.topic).nodes.map((n) => n.id),
  });
  let failure: { message: string } | undefined;
  let done = false;
  try {
    const events = researchEvents(args.topic, {
      llm,
      signal: io.signal,
      reasoning: !args.noReasoning,
    });
    for await (
      const event of events as unknown as AsyncIterable<Parameters<typeof view.handle>[0]>
    ) {
      view.handle(event);
      if (event.event === "error") failure = event;
      else if (event.event === "done") done = true;
    }
  } finally {
    // Whatever happened (Ctrl-C included), the panes give way to what arrived and the cursor returns.
    await view.close();
    writer.releaseLock();
  }
  if (failure) throw new Error(failure.message);
  if (!done) throw io.signal.reason ?? new Error("the research flow ended without an answer");
  return 0;
}
