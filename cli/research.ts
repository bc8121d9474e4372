import { createOfflineModel } from "../src/llm/offline_model.ts";
import { DEFAULT_LLM_CONFIG, type LlmConfig } from "../src/llm/config.ts";
import { formatJsonLines, formatText } from "../src/research/format.ts";
import { runResearch } from "../src/research/run_research.ts";
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

/** Runs the research flow for the CLI and writes its output; resolves with the exit code. */
export async function runCli(args: CliArgs, env: CliEnv, io: CliIo): Promise<number> {
  const llm = await chooseLlm(args, env, io.notice);
  const answer = await runResearch(args.topic, {
    llm,
    output: io.stdout,
    format: args.json ? formatJsonLines : formatText,
    signal: io.signal,
  });
  const writer = io.stdout.getWriter();
  try {
    await writer.write(
      args.json ? JSON.stringify({ event: "answer", text: answer }) + "\n" : `\n\n${answer}\n`,
    );
  } finally {
    writer.releaseLock();
  }
  return 0;
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
