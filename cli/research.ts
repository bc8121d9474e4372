import { createOfflineModel } from "../src/llm/offline_model.ts";
import { DEFAULT_LLM_CONFIG, type LlmConfig } from "../src/llm/config.ts";
import type { TokenUsage } from "../src/llm/deltas.ts";
import type { ResearchEvent } from "../src/research/events.ts";
import { formatJsonLines, formatText } from "../src/research/format.ts";
import { researchEvents } from "../src/research/research_events.ts";
import type { CliArgs } from "./args.ts";

/** Pacing of the offline model in the CLI: quick, but slow enough to watch the agents interleave. */
export const OFFLINE_PACING = { tokenDelayMs: 12, firstTokenDelayMs: 120 };

export interface CliEnv {
  baseURL?: string;
  apiKey?: string;
  model?: string;
}

export interface CliIo {
  stdout: WritableStream<string>;
  notice(line: string): void;
  signal: AbortSignal;
}

/**
 * Chooses the model server: the offline model when asked, or when nobody answers at the default
 * URL and no URL was chosen explicitly; otherwise the configured server.
 */
export async function chooseLlm(
  args: CliArgs,
  env: CliEnv,
  notice: (line: string) => void,
  defaultBaseURL = DEFAULT_LLM_CONFIG.baseURL,
): Promise<LlmConfig> {
  const explicit = args.baseURL ?? env.baseURL;
  const llm: LlmConfig = {
    baseURL: explicit ?? defaultBaseURL,
    apiKey: env.apiKey,
    model: args.model ?? env.model,
  };
  if (args.offline) return { ...llm, fetch: createOfflineModel(OFFLINE_PACING).fetch };
  if (explicit === undefined && !(await answers(llm.baseURL!))) {
    notice(
      `reflow-edge: no model server answers at ${llm.baseURL}; using the offline model ` +
        `(start Ollama, or set OPENAI_BASE_URL / --base-url, to use a real one)`,
    );
    return { ...llm, fetch: createOfflineModel(OFFLINE_PACING).fetch };
  }
  return llm;
}

/**
 * Runs the research flow for the CLI and writes its output: the seed's text (or one JSON line per
 * event with `--json`) on stdout, a one-line token summary on stderr. Resolves with the exit code;
 * a failed flow rejects with its error (after `--json` wrote the `error` line).
 */
export async function runCli(args: CliArgs, env: CliEnv, io: CliIo): Promise<number> {
  const llm = await chooseLlm(args, env, io.notice);
  const format = args.json
    ? formatJsonLines({ reasoning: !args.noReasoning })
    : formatText({ reasoning: !args.noReasoning });
  const usage: { role: string; usage: TokenUsage }[] = [];
  let total: TokenUsage | undefined;
  let failure: { message: string } | undefined;
  let done = false;
  const writer = io.stdout.getWriter();
  try {
    const events = researchEvents(args.topic, {
      llm,
      signal: io.signal,
      reasoning: !args.noReasoning,
    });
    for await (const event of events as unknown as AsyncIterable<ResearchEvent>) {
      if (event.event === "usage") {
        if (event.scope === "agent") usage.push({ role: event.role, usage: event.usage });
        else total = event.usage;
      } else if (event.event === "done") done = true;
      else if (event.event === "error") failure = event;
      // The error goes to stderr (and the exit code); --json also gets it as a line.
      if (event.event === "error" && !args.json) continue;
      const text = format(event);
      if (text) await writer.write(text);
    }
  } finally {
    writer.releaseLock();
  }
  if (total) io.notice(usageLine(usage, total));
  if (failure) throw new Error(failure.message);
  if (!done) throw io.signal.reason ?? new Error("the research flow ended without an answer");
  return 0;
}

/** `reflow-edge: tokens: facts 412 (35 in, 377 out), …; total 2,345 (…)`, for stderr. */
export function usageLine(
  byAgent: { role: string; usage: TokenUsage }[],
  total: TokenUsage,
): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const one = (u: TokenUsage) =>
    `${n(u.totalTokens)} (${n(u.inputTokens)} in, ${n(u.outputTokens)} out` +
    `${u.reasoningTokens ? `, ${n(u.reasoningTokens)} reasoning` : ""})`;
  const parts = byAgent.map((a) => `${a.role} ${one(a.usage)}`);
  return `reflow-edge: tokens: ${parts.join(", ")}; total ${one(total)}`;
}

/** Whether anything answers HTTP at `baseURL` within a second and a half. */
async function answers(baseURL: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseURL.replace(/\/+$/, "")}/models`, {
      signal: AbortSignal.timeout(1500),
    });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}
