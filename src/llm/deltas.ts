/**
 * What `streamChat` yields: typed deltas, and the token counts a server reports.
 *
 * @module
 */

/**
 * Tokens one model call used, as the server reported them. The names are the AI SDK's and
 * OpenTelemetry's (`gen_ai.usage.input_tokens` / `output_tokens`), not OpenAI's
 * (`prompt_tokens` / `completion_tokens`).
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** Part of `outputTokens` the model spent reasoning, where the server says so. */
  reasoningTokens?: number;
  /** Part of `inputTokens` served from the server's prompt cache, where the server says so. */
  cachedInputTokens?: number;
}

/**
 * Why the model stopped, as the server said (`finish_reason`): `stop` (it was done), `length`
 * (cut at the token limit), `content_filter` (the server's filter stopped it), `tool_calls`, or
 * `unknown` when the stream ended with `data: [DONE]` without ever naming a reason.
 */
export type FinishReason =
  | "stop"
  | "length"
  | "content_filter"
  | "tool_calls"
  | "unknown"
  // deno-lint-ignore ban-types
  | (string & {});

/** Text of the answer. */
export interface TextDelta {
  type: "text";
  text: string;
}

/**
 * The model's reasoning ("thinking"), delivered apart from the answer: `delta.reasoning`
 * (Ollama, vLLM, OpenRouter, Groq), `delta.reasoning_content` (llama.cpp, DeepSeek, LM Studio),
 * or a `<think>…</think>` block at the start of the content.
 */
export interface ReasoningDelta {
  type: "reasoning";
  text: string;
}

/** Token counts, once per call, just before `finish`, when the server reports them. */
export interface UsageDelta {
  type: "usage";
  usage: TokenUsage;
}

/** The last delta of every successful call. */
export interface FinishDelta {
  type: "finish";
  finishReason: FinishReason;
}

/**
 * One piece of a streamed reply. A call yields any number of `text` and `reasoning` deltas in the
 * order the server sent them, then at most one `usage`, then exactly one `finish`.
 */
export type ChatDelta = TextDelta | ReasoningDelta | UsageDelta | FinishDelta;

/**
 * The sum of two usages; `reasoningTokens` and `cachedInputTokens` are kept when either side has
 * them.
 *
 * @example
 * ```ts
 * addUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }, undefined).totalTokens; // 3
 * ```
 */
export function addUsage(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage {
  if (!a) return { ...b! };
  if (!b) return { ...a };
  const sum: TokenUsage = {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  };
  if (a.reasoningTokens !== undefined || b.reasoningTokens !== undefined) {
    sum.reasoningTokens = (a.reasoningTokens ?? 0) + (b.reasoningTokens ?? 0);
  }
  if (a.cachedInputTokens !== undefined || b.cachedInputTokens !== undefined) {
    sum.cachedInputTokens = (a.cachedInputTokens ?? 0) + (b.cachedInputTokens ?? 0);
  }
  return sum;
}
