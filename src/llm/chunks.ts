/**
 * What the fields of a chat-completion chunk mean, across servers: where the reasoning is, where
 * the token counts are, and which objects are errors in disguise.
 *
 * @module
 */
import type { TokenUsage } from "./deltas.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * The reasoning text of a delta: `reasoning` (Ollama's openai/openai.go, vLLM's DeltaMessage,
 * OpenRouter, Groq) or `reasoning_content` (llama.cpp, DeepSeek, LM Studio, older vLLM).
 */
export function reasoningOf(delta: Json): string | undefined {
  const r = delta.reasoning_content ?? delta.reasoning;
  return typeof r === "string" && r !== "" ? r : undefined;
}

/**
 * The error an object carries, if it is one: `{ error: { message } }` (OpenAI, vLLM, Ollama,
 * llama.cpp, OpenRouter mid-stream), `{ error: "text" }` (LM Studio), `{ object: "error",
 * message }` (vLLM before its errors were wrapped), or a bare `{ message, type|code }`.
 */
export function errorOf(value: Json): ServerError | undefined {
  if (!value || typeof value !== "object") return undefined;
  const e = value.error;
  if (typeof e === "string") return { message: e };
  if (e && typeof e === "object") {
    const message = typeof e.message === "string"
      ? e.message
      : e.message !== undefined
      ? JSON.stringify(e.message)
      : JSON.stringify(e);
    return serverError(message, e.type, e.code, e.status);
  }
  if (value.object === "error" || (typeof value.message === "string" && !("choices" in value))) {
    return serverError(String(value.message ?? JSON.stringify(value)), value.type, value.code);
  }
  return undefined;
}

/** An error as a server stated it. */
export interface ServerError {
  message: string;
  /** `type` or string `code`, e.g. `insufficient_quota`, `exceed_context_size_error`. */
  kind?: string;
  /** A numeric `code`/`status` named in the body (llama.cpp and vLLM put the HTTP status there). */
  status?: number;
}

function serverError(message: string, type: unknown, code: unknown, status?: unknown): ServerError {
  const out: ServerError = { message };
  const kind = typeof code === "string" && code
    ? code
    : typeof type === "string"
    ? type
    : undefined;
  if (kind) out.kind = kind;
  const n = typeof code === "number" ? code : typeof status === "number" ? status : undefined;
  if (n !== undefined && n >= 100 && n < 600) out.status = n;
  return out;
}

/**
 * Token counts from a chunk, whichever way the server reports them: `usage` (OpenAI and
 * everyone with `stream_options.include_usage`, on the last chunk or an empty-choices chunk),
 * Groq's `x_groq.usage`, or llama.cpp's `timings` (`cache_n` + `prompt_n` in, `predicted_n` out).
 */
export function usageOf(chunk: Json): TokenUsage | undefined {
  const u = chunk.usage ?? chunk.x_groq?.usage;
  if (u && typeof u === "object" && typeof (u.prompt_tokens ?? u.completion_tokens) === "number") {
    const input = num(u.prompt_tokens);
    const output = num(u.completion_tokens);
    const usage: TokenUsage = {
      inputTokens: input,
      outputTokens: output,
      totalTokens: typeof u.total_tokens === "number" ? u.total_tokens : input + output,
    };
    const reasoning = u.completion_tokens_details?.reasoning_tokens ?? u.reasoning_tokens;
    if (typeof reasoning === "number") usage.reasoningTokens = reasoning;
    const cached = u.prompt_tokens_details?.cached_tokens ?? u.prompt_cache_hit_tokens;
    if (typeof cached === "number") usage.cachedInputTokens = cached;
    return usage;
  }
  const t = chunk.timings;
  if (t && typeof t === "object" && typeof t.predicted_n === "number") {
    const input = num(t.prompt_n) + num(t.cache_n);
    const output = num(t.predicted_n);
    const usage: TokenUsage = {
      inputTokens: input,
      outputTokens: output,
      totalTokens: input + output,
    };
    if (typeof t.cache_n === "number") usage.cachedInputTokens = t.cache_n;
    return usage;
  }
  return undefined;
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

const OPEN = "<think>";
const CLOSE = "</think>";

/**
 * Splits a `<think>…</think>` block at the start of the content off as reasoning, across deltas
 * (the tags may arrive in pieces). Once the content is past the start without such a block, text
 * passes through untouched.
 */
export class ThinkSplitter {
  /** `start`: maybe a block is coming; `in`: inside it; `after`: just closed; `text`: plain. */
  state: "start" | "in" | "after" | "text" = "start";
  #held = "";
  /** Filled by {@link push}: the reasoning and the text of the last delta (either may be ""). */
  reasoning = "";
  text = "";

  push(content: string): void {
    this.reasoning = "";
    this.text = "";
    if (this.state === "text") {
      this.text = content;
      return;
    }
    let s = this.#held + content;
    this.#held = "";
    if (this.state === "start") {
      const lead = s.length - s.trimStart().length;
      const rest = s.slice(lead);
      if (rest.startsWith(OPEN)) {
        this.state = "in";
        s = rest.slice(OPEN.length);
      } else if (OPEN.startsWith(rest)) {
        this.#held = s; // "", "  ", "<th": not decided yet
        return;
      } else {
        this.state = "text";
        this.text = s;
        return;
      }
    }
    if (this.state === "in") {
      const close = s.indexOf(CLOSE);
      if (close < 0) {
        // Keep back a tail that could be the start of "</think>".
        let keep = Math.min(CLOSE.length - 1, s.length);
        while (keep > 0 && !CLOSE.startsWith(s.slice(s.length - keep))) keep--;
        this.reasoning = s.slice(0, s.length - keep);
        this.#held = s.slice(s.length - keep);
        return;
      }
      this.reasoning = s.slice(0, close);
      s = s.slice(close + CLOSE.length);
      this.state = "after";
    }
    // After the block: drop the blank lines that separate it from the answer.
    const trimmed = s.trimStart();
    if (trimmed === "") return;
    this.state = "text";
    this.text = trimmed;
  }

  /** The stream ended: whatever is held back. */
  flush(): void {
    this.reasoning = "";
    this.text = "";
    if (this.state === "in") this.reasoning = this.#held;
    else if (this.state === "start") this.text = this.#held;
    this.#held = "";
  }
}
