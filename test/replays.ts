/**
 * Replays of what real model servers send, built from their source code and from raw streams
 * users posted in issue threads (cited per server below). Each replay is a fetch handler: it reads
 * the request the real `openai` client sent (stream_options, max_tokens, the prompts) and answers
 * in that server's own format, status codes and headers. Bodies go out cut at awkward byte
 * boundaries: inside UTF-8 sequences and between `\r` and `\n` when lines end in CR LF.
 *
 * The replays are test fixtures, not the world: where a format detail is not in a cited source, it
 * is left out rather than guessed.
 */
import type { LlmErrorCode, ServerKind } from "../src/llm/mod.ts";
import {
  detectRole,
  offlineReasoning,
  offlineReply,
  offlineTokens,
  parseTopic,
} from "../src/llm/mod.ts";

/** What a reply says. */
export interface Script {
  /** The research role the prompts ask for (facts, stats, quotes, answer, generic). */
  role: string;
  reasoning?: string;
  text: string;
  /** `finish_reason` of the last chunk (default `stop`); null sends none. */
  finish?: string | null;
  /** Tokens the prompt counted (for usage). */
  promptTokens: number;
}

/** What the client asked for. */
export interface Ask {
  model: string;
  includeUsage: boolean;
}

/** An error a server answers with, and what the client must make of it. */
export interface ErrorCase {
  name: string;
  status: number;
  headers?: Record<string, string>;
  /** The body exactly as the server sends it. */
  body: string;
  contentType?: string;
  /** The LlmError code it must become. */
  code: LlmErrorCode;
  /** The server's own words, which the message must carry. */
  says: RegExp;
  /** What the hint must say for this server. */
  hint: RegExp;
  /** Where this exact response was seen. */
  source: string;
}

/** One server's format. */
export interface Replay {
  kind: ServerKind;
  name: string;
  /** Its real base URL (used for the in-process variant, so kind detection by URL is exercised). */
  baseURL: string;
  /** Where the format comes from. */
  sources: string[];
  /** The field its reasoning comes in (undefined: it sends no reasoning text). */
  reasoning?: "reasoning" | "reasoning_content";
  headers: Record<string, string>;
  /** The event-stream body for a reply. */
  stream(script: Script, ask: Ask): string;
  errors: ErrorCase[];
}

const CREATED = 1_767_225_600;
const j = JSON.stringify;
const data = (value: unknown) => `data: ${j(value)}\n\n`;
const DONE = "data: [DONE]\n\n";

/** Tokens of a text, as a model would send them (words with their leading space). */
export function tokens(text: string): string[] {
  return offlineTokens(text);
}

function usage(script: Script, output: number, reasoning?: number) {
  return {
    prompt_tokens: script.promptTokens,
    completion_tokens: output,
    total_tokens: script.promptTokens + output,
    ...(reasoning !== undefined
      ? { completion_tokens_details: { reasoning_tokens: reasoning } }
      : {}),
  };
}

function counts(script: Script): { reasoning: number; text: number; output: number } {
  const r = script.reasoning ? tokens(script.reasoning).length : 0;
  const t = tokens(script.text).length;
  return { reasoning: r, text: t, output: r + t };
}

// ---------------------------------------------------------------------------------------------

/**
 * Ollama's OpenAI layer: openai/openai.go (ChatCompletionChunk, ToChunk: `delta` has `role`,
 * `content` always — `Content any` without omitempty, so `"content":""` beside reasoning — and
 * `reasoning` with omitempty; `system_fingerprint: "fp_ollama"`), middleware/openai.go (ChatWriter:
 * with `stream_options.include_usage` the last chunk is repeated with `choices: []` and `usage`,
 * then `data: [DONE]`; errors are `{"error":{"message","type","param","code"}}` via NewError:
 * 404 → `not_found_error`). The 404 text is Ollama's own "model "x" not found, try pulling it first".
 */
const OLLAMA: Replay = {
  kind: "ollama",
  name: "Ollama",
  baseURL: "http://localhost:11434/v1",
  sources: [
    "github.com/ollama/ollama openai/openai.go (ChatCompletionChunk, ToChunk, NewError)",
    "github.com/ollama/ollama middleware/openai.go (ChatWriter.writeResponse)",
    'github.com/ollama/ollama/issues/4357 (older versions: finish_reason "" on every chunk)',
  ],
  reasoning: "reasoning",
  headers: { "content-type": "text/event-stream" },
  stream(script, ask) {
    const id = "chatcmpl-245";
    const chunk = (delta: Record<string, string>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: ask.model,
      system_fingerprint: "fp_ollama",
      choices: [{ index: 0, delta: { role: "assistant", ...delta }, finish_reason: finish }],
    });
    let out = "";
    for (const t of tokens(script.reasoning ?? "")) {
      out += data(chunk({ content: "", reasoning: t }, null));
    }
    for (const t of tokens(script.text)) out += data(chunk({ content: t }, null));
    const last = chunk({ content: "" }, script.finish === undefined ? "stop" : script.finish);
    out += data(last);
    if (ask.includeUsage) {
      const c = counts(script);
      out += data({ ...last, choices: [], usage: usage(script, c.output) });
    }
    return out + DONE;
  },
  errors: [{
    name: "404 model not found",
    status: 404,
    body: j({
      error: {
        message: 'model "llama9:70b" not found, try pulling it first',
        type: "not_found_error",
        param: null,
        code: null,
      },
    }) + "\n",
    code: "model_not_found",
    says: /model "llama9:70b" not found, try pulling it first/,
    hint: /`ollama pull /,
    source: "ollama middleware/openai.go writeError + server/routes.go (the pull hint)",
  }],
};

/**
 * vLLM: vllm/entrypoints/openai/chat_completion/serving.py and engine/protocol.py (DeltaMessage:
 * `role`, `content`, `reasoning` — `reasoning_content` before 0.10; choices carry `logprobs`,
 * `finish_reason` and `stop_reason`; the first chunk is the role with `content: ""`; with
 * include_usage a last chunk with `choices: []` and `usage`). Errors: `create_error_response` →
 * `{"error":{"message","type","param","code"}}`; before the wrap, `{"object":"error","message",…}`
 * at the top level (entrypoints/openai/serving_engine.py, 0.4–0.8), which the openai SDK cannot
 * read a message from. "The model `x` does not exist." is `_check_model`'s.
 */
const VLLM: Replay = {
  kind: "vllm",
  name: "vLLM",
  baseURL: "http://localhost:8000/v1",
  sources: [
    "github.com/vllm-project/vllm vllm/entrypoints/openai/engine/protocol.py (DeltaMessage)",
    "github.com/vllm-project/vllm vllm/entrypoints/openai/chat_completion/serving.py",
    "github.com/vllm-project/vllm vllm/entrypoints/openai/serving_engine.py (create_error_response)",
  ],
  reasoning: "reasoning",
  headers: { "content-type": "text/event-stream; charset=utf-8", server: "uvicorn" },
  stream(script, ask) {
    const id = "chatcmpl-b2f1c8a6f0a94d6e9c3a8e1f";
    const chunk = (delta: Record<string, string>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: ask.model,
      choices: [{
        index: 0,
        delta,
        logprobs: null,
        finish_reason: finish,
        ...(finish ? { stop_reason: null } : {}),
      }],
    });
    let out = data(chunk({ role: "assistant", content: "" }, null));
    for (const t of tokens(script.reasoning ?? "")) out += data(chunk({ reasoning: t }, null));
    for (const t of tokens(script.text)) out += data(chunk({ content: t }, null));
    if (script.finish !== null) {
      out += data(chunk({ content: "" }, script.finish ?? "stop"));
    }
    if (ask.includeUsage) {
      out += data({
        id,
        object: "chat.completion.chunk",
        created: CREATED,
        model: ask.model,
        choices: [],
        usage: usage(script, counts(script).output),
      });
    }
    return out + DONE;
  },
  errors: [
    {
      name: "404 unknown model (wrapped error)",
      status: 404,
      body: j({
        error: {
          message: "The model `llama9:70b` does not exist.",
          type: "NotFoundError",
          param: "model",
          code: 404,
        },
      }),
      code: "model_not_found",
      says: /The model `llama9:70b` does not exist\./,
      hint: /--served-model-name/,
      source: "vllm engine/serving.py create_error_response + _check_model",
    },
    {
      name: "404 unknown model (older top-level error object)",
      status: 404,
      body: j({
        object: "error",
        message: "The model `llama9:70b` does not exist.",
        type: "NotFoundError",
        param: null,
        code: 404,
      }),
      code: "model_not_found",
      says: /The model `llama9:70b` does not exist\./,
      hint: /--served-model-name/,
      source: "vllm serving_engine.py (0.4–0.8) ErrorResponse(object='error', …)",
    },
    {
      name: "400 prompt longer than max-model-len",
      status: 400,
      body: j({
        error: {
          message: "This model's maximum context length is 8192 tokens. However, you requested " +
            "9100 tokens (8100 in the messages, 1000 in the completion). Please reduce the length " +
            "of the messages or completion.",
          type: "BadRequestError",
          param: null,
          code: 400,
        },
      }),
      code: "context_too_long",
      says: /maximum context length is 8192 tokens/,
      hint: /--max-model-len/,
      source: "vllm serving_engine.py _validate_input (the message users quote in issue threads)",
    },
  ],
};

/**
 * llama.cpp server: tools/server/server-task.cpp `to_json_oaicompat_chat_stream` (deltas from
 * `server_chat_msg_diff_to_json_oaicompat`: `content` or `reasoning_content`; the first is the
 * role with `content: null`; the finish chunk has `delta: {}`; with include_usage a `choices: []`
 * chunk with `usage`; `timings` on the last chunk; `system_fingerprint` is the build),
 * server-common.cpp `format_error_response` (`{"code","message","type"}`; 503
 * `unavailable_error` "Loading model"; 400 `exceed_context_size_error` with `n_prompt_tokens`,
 * `n_ctx`), server.cpp before late 2025: `server_sent_event(sink, "error", …)` writes a stream
 * error as an `error: {…}` line, then `data: [DONE]`. Header `Server: llama.cpp`.
 */
const LLAMACPP: Replay = {
  kind: "llama.cpp",
  name: "llama.cpp server",
  baseURL: "http://localhost:8080/v1",
  sources: [
    "github.com/ggml-org/llama.cpp tools/server/server-task.cpp (to_json_oaicompat_chat_stream)",
    "github.com/ggml-org/llama.cpp tools/server/server-common.cpp (format_error_response, format_oai_sse)",
    'github.com/ggml-org/llama.cpp tools/server/server.cpp (server_sent_event(sink, "error", …))',
  ],
  reasoning: "reasoning_content",
  headers: { "content-type": "text/event-stream", server: "llama.cpp" },
  stream(script, ask) {
    const id = "chatcmpl-Kq9w2VYfYq6mNjH0d3sL1aZbTr8xUe4c";
    const base = {
      created: CREATED,
      id,
      model: ask.model,
      system_fingerprint: "b6915-5d4ee6f7",
      object: "chat.completion.chunk",
    };
    const chunk = (delta: Record<string, string | null>, finish: string | null) => ({
      choices: [{ finish_reason: finish, index: 0, delta }],
      ...base,
    });
    let out = data(chunk({ role: "assistant", content: null }, null));
    for (const t of tokens(script.reasoning ?? "")) {
      out += data(chunk({ reasoning_content: t }, null));
    }
    for (const t of tokens(script.text)) out += data(chunk({ content: t }, null));
    const c = counts(script);
    const timings = {
      cache_n: 0,
      prompt_n: script.promptTokens,
      prompt_ms: 41.2,
      prompt_per_token_ms: 0.9,
      prompt_per_second: 1100.1,
      predicted_n: c.output,
      predicted_ms: 812.5,
      predicted_per_token_ms: 12.3,
      predicted_per_second: 81.2,
    };
    const last: Record<string, unknown> = chunk(
      {},
      script.finish === undefined ? "stop" : script.finish,
    );
    if (ask.includeUsage) {
      out += data(last);
      out += data({
        choices: [],
        ...base,
        usage: {
          completion_tokens: c.output,
          prompt_tokens: script.promptTokens,
          total_tokens: c.output + script.promptTokens,
        },
        timings,
      });
    } else {
      out += data({ ...last, timings });
    }
    return out + DONE;
  },
  errors: [
    {
      name: "400 the request exceeds the context size",
      status: 400,
      body: j({
        error: {
          code: 400,
          message:
            "request (5274 tokens) exceeds the available context size (4096 tokens), try increasing it",
          type: "exceed_context_size_error",
          n_prompt_tokens: 5274,
          n_ctx: 4096,
        },
      }),
      code: "context_too_long",
      says: /request \(5274 tokens\) exceeds the available context size \(4096 tokens\)/,
      hint: /--ctx-size/,
      source: "server-common.cpp format_error_response(ERROR_TYPE_EXCEED_CONTEXT_SIZE); body as " +
        "posted in probes of llama-server (n_prompt_tokens, n_ctx)",
    },
    {
      name: "401 with --api-key",
      status: 401,
      body: j({ error: { code: 401, message: "Invalid API Key", type: "authentication_error" } }),
      code: "unauthorized",
      says: /Invalid API Key/,
      hint: /started with an API key/,
      source: "server-common.cpp format_error_response(ERROR_TYPE_AUTHENTICATION); server-http.cpp",
    },
  ],
};

/**
 * LM Studio (closed source; its bug tracker is the evidence): chunks like OpenAI's with
 * `system_fingerprint` = the model and `logprobs: null`; reasoning in `reasoning_content`
 * (lmstudio-ai/lmstudio-bug-tracker#1602); a prompt over the loaded context gives 200 with zero
 * content deltas (#2339); a streaming failure arrives as an `event: error` frame whose fields are
 * `message`/`error` strings, not `error.message` (nugget/thane-ai-agent#1395); an unknown path is
 * 200 `{"error":"Unexpected endpoint or method. (…)"}`; no model loaded is 400
 * `{"error":{"message":"No models loaded. …"}}` pretty-printed (as users pasted it).
 */
const LMSTUDIO: Replay = {
  kind: "lmstudio",
  name: "LM Studio",
  baseURL: "http://localhost:1234/v1",
  sources: [
    "github.com/lmstudio-ai/lmstudio-bug-tracker/issues/1602 (reasoning_content)",
    "github.com/lmstudio-ai/lmstudio-bug-tracker/issues/2339 (200 with zero deltas on overflow)",
    "github.com/nugget/thane-ai-agent/pull/1395 (streaming failure as event: error)",
  ],
  reasoning: "reasoning_content",
  headers: { "content-type": "text/event-stream", "x-powered-by": "Express" },
  stream(script, ask) {
    const id = "chatcmpl-hn0cq3f6yk8s2o5v1tqg4";
    const chunk = (delta: Record<string, string>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: ask.model,
      system_fingerprint: ask.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    let out = "";
    let first = true;
    const role = (): Record<
      string,
      string
    > => (first ? ((first = false), { role: "assistant" }) : {});
    for (const t of tokens(script.reasoning ?? "")) {
      out += data(chunk({ ...role(), reasoning_content: t }, null));
    }
    for (const t of tokens(script.text)) out += data(chunk({ ...role(), content: t }, null));
    out += data(chunk({}, script.finish === undefined ? "stop" : script.finish));
    if (ask.includeUsage) {
      out += data({
        id,
        object: "chat.completion.chunk",
        created: CREATED,
        model: ask.model,
        system_fingerprint: ask.model,
        choices: [],
        usage: usage(script, counts(script).output),
      });
    }
    return out + DONE;
  },
  errors: [{
    name: "400 no model loaded",
    status: 400,
    body: JSON.stringify(
      {
        error: {
          message:
            "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
        },
      },
      null,
      4,
    ),
    code: "model_not_found",
    says: /No models loaded\. Please load a model/,
    hint: /lms load/,
    source: "bodies users pasted from LM Studio 0.3.x (e.g. 'HTTP 400: {\\n    \"error\": …')",
  }],
};

/**
 * OpenRouter: its docs (api-reference/streaming: `: OPENROUTER PROCESSING` comments; errors during
 * streaming arrive as a chunk with a top-level `error` and `finish_reason: "error"`;
 * errors-and-debugging: `{"error":{"code","message","metadata?"}}`, 402 for credits, 429 rate
 * limits). Chunks carry `provider` and `native_finish_reason`; reasoning in `delta.reasoning`; the
 * usage chunk (with `cost`) repeats an empty delta after the finish.
 */
const OPENROUTER: Replay = {
  kind: "openrouter",
  name: "OpenRouter",
  baseURL: "https://openrouter.ai/api/v1",
  sources: [
    "openrouter.ai/docs/api-reference/streaming (comments, mid-stream errors)",
    "openrouter.ai/docs/api/reference/errors-and-debugging (error shape, 402, 429)",
  ],
  reasoning: "reasoning",
  headers: { "content-type": "text/event-stream", "x-generation-id": "gen-1767225600-Xh3k" },
  stream(script, ask) {
    const id = "gen-1767225600-Xh3kQ0";
    const chunk = (delta: Record<string, string | null>, finish: string | null) => ({
      id,
      provider: "DeepInfra",
      model: ask.model,
      object: "chat.completion.chunk",
      created: CREATED,
      choices: [{
        index: 0,
        delta: { role: "assistant", ...delta },
        finish_reason: finish,
        native_finish_reason: finish,
        logprobs: null,
      }],
    });
    let out = ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n";
    for (const t of tokens(script.reasoning ?? "")) {
      out += data(chunk({ content: "", reasoning: t }, null));
    }
    for (const t of tokens(script.text)) out += data(chunk({ content: t, reasoning: null }, null));
    out += data(
      chunk({ content: "", reasoning: null }, script.finish === undefined ? "stop" : script.finish),
    );
    if (ask.includeUsage) {
      const c = counts(script);
      out += data({
        ...chunk({ content: "", reasoning: null }, null),
        usage: {
          ...usage(script, c.output, c.reasoning),
          cost: 0.0000412,
          prompt_tokens_details: { cached_tokens: 0 },
        },
      });
    }
    return out + DONE;
  },
  errors: [
    {
      name: "402 out of credits",
      status: 402,
      body: j({
        error: {
          code: 402,
          message: "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
        },
      }),
      code: "quota_exceeded",
      says: /Insufficient credits/,
      hint: /billing or quota problem.*openrouter\.ai\/settings\/credits/,
      source: "openrouter.ai/docs errors: 402",
    },
    {
      name: "401 bad key",
      status: 401,
      body: j({ error: { code: 401, message: "No auth credentials found" } }),
      code: "unauthorized",
      says: /No auth credentials found/,
      hint: /OpenRouter API key/,
      source: "openrouter.ai/docs errors: 401",
    },
  ],
};

/**
 * Groq: chunks carry `x_groq` (`{id}`, and on the last chunk `usage` with queue/prompt/completion
 * times) — the console's raw output and their docs; reasoning in `delta.reasoning` with
 * `reasoning_format: "parsed"`. A 429 has `retry-after` in seconds and the body
 * `{"error":{"message":"Rate limit reached … Please try again in 2s. …","type":"requests",
 * "code":"rate_limit_exceeded"}}` (as users post it).
 */
const GROQ: Replay = {
  kind: "groq",
  name: "Groq",
  baseURL: "https://api.groq.com/openai/v1",
  sources: [
    "console.groq.com/docs (x_groq.usage on the last chunk; reasoning_format parsed → delta.reasoning)",
    "429 bodies as posted in issue threads (rate_limit_exceeded, retry-after)",
  ],
  reasoning: "reasoning",
  headers: { "content-type": "text/event-stream", "x-groq-region": "dls" },
  stream(script, ask) {
    const id = "chatcmpl-7c1f2b3a-9d8e-4f6a-b5c4-3e2d1f0a9b8c";
    const chunk = (delta: Record<string, string>, finish: string | null, extra = {}) => ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: ask.model,
      system_fingerprint: "fp_9b1a3c2e7f",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      x_groq: { id: "req_01k0abcxyz", ...extra },
    });
    let out = data(chunk({ role: "assistant", content: "" }, null));
    for (const t of tokens(script.reasoning ?? "")) out += data(chunk({ reasoning: t }, null));
    for (const t of tokens(script.text)) out += data(chunk({ content: t }, null));
    const c = counts(script);
    out += data(chunk({}, script.finish === undefined ? "stop" : script.finish, {
      usage: {
        queue_time: 0.0213,
        prompt_tokens: script.promptTokens,
        prompt_time: 0.0041,
        completion_tokens: c.output,
        completion_time: 0.0512,
        total_tokens: script.promptTokens + c.output,
        total_time: 0.0553,
      },
    }));
    return out + DONE;
  },
  errors: [
    {
      name: "429 rate limit (retry-after)",
      status: 429,
      headers: { "retry-after": "2", "x-ratelimit-remaining-requests": "0" },
      body: j({
        error: {
          message: "Rate limit reached for model `llama-3.1-8b-instant` in organization " +
            "`org_01jabcdef` service tier `on_demand` on requests per minute (RPM): Limit 30, " +
            "Used 30, Requested 1. Please try again in 2s. Need more tokens? Upgrade to Dev Tier " +
            "today at https://console.groq.com/settings/billing",
          type: "requests",
          code: "rate_limit_exceeded",
        },
      }),
      code: "rate_limited",
      says: /Rate limit reached for model `llama-3\.1-8b-instant`/,
      hint: /Groq's rate limit/,
      source: "Groq 429 as posted in issue threads",
    },
    {
      name: "404 unknown model",
      status: 404,
      body: j({
        error: {
          message: "The model `llama9:70b` does not exist or you do not have access to it.",
          type: "invalid_request_error",
          code: "model_not_found",
        },
      }),
      code: "model_not_found",
      says: /does not exist or you do not have access to it/,
      hint: /Groq's list/,
      source: "Groq 404 as posted in issue threads",
    },
  ],
};

/**
 * DeepSeek: its API docs (reasoning in `delta.reasoning_content`, `content: null` meanwhile; the
 * first reasoning chunk is an empty string; with include_usage a last chunk with `choices: []` and
 * `usage` incl. `prompt_cache_hit_tokens`/`prompt_cache_miss_tokens` and
 * `completion_tokens_details.reasoning_tokens`; `: keep-alive` comments while a request waits;
 * 402 "Insufficient Balance"), adolfousier/opencrabs#1128 (the empty first reasoning chunk).
 */
const DEEPSEEK: Replay = {
  kind: "deepseek",
  name: "DeepSeek",
  baseURL: "https://api.deepseek.com/v1",
  sources: [
    "api-docs.deepseek.com (reasoning_content, usage, keep-alive, error codes)",
    'github.com/adolfousier/opencrabs/issues/1128 (first reasoning chunk is "")',
  ],
  reasoning: "reasoning_content",
  headers: { "content-type": "text/event-stream; charset=utf-8" },
  stream(script, ask) {
    const id = "e1c5c5a2-7b1f-4a55-9b0c-2f7d7a1b9c3e";
    const chunk = (delta: Record<string, string | null>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: ask.model,
      system_fingerprint: "fp_7e0991cad4_prod0820_fp8_kvcache",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    let out = ": keep-alive\n\n";
    if (script.reasoning) {
      out += data(chunk({ role: "assistant", content: null, reasoning_content: "" }, null));
      for (const t of tokens(script.reasoning)) {
        out += data(chunk({ content: null, reasoning_content: t }, null));
      }
    } else {
      out += data(chunk({ role: "assistant", content: "" }, null));
    }
    for (const t of tokens(script.text)) {
      out += data(
        chunk({ content: t, ...(script.reasoning ? { reasoning_content: null } : {}) }, null),
      );
    }
    out += data(chunk({ content: "" }, script.finish === undefined ? "stop" : script.finish));
    if (ask.includeUsage) {
      const c = counts(script);
      out += data({
        id,
        object: "chat.completion.chunk",
        created: CREATED,
        model: ask.model,
        system_fingerprint: "fp_7e0991cad4_prod0820_fp8_kvcache",
        choices: [],
        usage: {
          ...usage(script, c.output, c.reasoning),
          prompt_tokens_details: { cached_tokens: 0 },
          prompt_cache_hit_tokens: 0,
          prompt_cache_miss_tokens: script.promptTokens,
        },
      });
    }
    return out + DONE;
  },
  errors: [{
    name: "402 insufficient balance",
    status: 402,
    body: j({
      error: {
        message: "Insufficient Balance",
        type: "unknown_error",
        param: null,
        code: "invalid_request_error",
      },
    }),
    code: "quota_exceeded",
    says: /Insufficient Balance/,
    hint: /platform\.deepseek\.com\/top_up/,
    source: "api-docs.deepseek.com/quick_start/error_codes (402 Insufficient Balance)",
  }],
};

/**
 * OpenAI: the openai-node SDK's own types (ChatCompletionChunk: `service_tier`,
 * `system_fingerprint`, `delta.refusal`, `usage: null` until the include_usage chunk with
 * `choices: []` and `prompt_tokens_details`/`completion_tokens_details`), the API's headers
 * (`openai-organization`, `openai-processing-ms`, `x-request-id`); errors from the error-codes
 * guide: 429 `insufficient_quota` ("You exceeded your current quota…") and 401 `invalid_api_key`
 * echoing the key masked.
 */
const OPENAI: Replay = {
  kind: "openai",
  name: "OpenAI",
  baseURL: "https://api.openai.com/v1",
  sources: [
    "github.com/openai/openai-node src/resources/chat/completions/completions.ts (ChatCompletionChunk)",
    "platform.openai.com/docs/guides/error-codes (429 insufficient_quota, 401 invalid_api_key)",
  ],
  headers: {
    "content-type": "text/event-stream; charset=utf-8",
    "openai-organization": "user-abc123",
    "openai-processing-ms": "182",
    "x-request-id": "req_5b1d2f3e4a",
  },
  stream(script, ask) {
    const id = "chatcmpl-BzYq1cT9hG2mQe0xS7aK4Lr8Nv";
    const chunk = (delta: Record<string, string | null>, finish: string | null) => ({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model: "gpt-4o-mini-2024-07-18",
      service_tier: "default",
      system_fingerprint: "fp_51db84afab",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(ask.includeUsage ? { usage: null } : {}),
    });
    let out = data(chunk({ role: "assistant", content: "", refusal: null }, null));
    for (const t of tokens(script.text)) out += data(chunk({ content: t }, null));
    if (script.finish !== null) out += data(chunk({}, script.finish ?? "stop"));
    if (ask.includeUsage) {
      const c = counts(script);
      out += data({
        id,
        object: "chat.completion.chunk",
        created: CREATED,
        model: "gpt-4o-mini-2024-07-18",
        service_tier: "default",
        system_fingerprint: "fp_51db84afab",
        choices: [],
        usage: {
          ...usage(script, c.output, c.reasoning),
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        },
      });
    }
    return out + DONE;
  },
  errors: [
    {
      name: "429 insufficient_quota (billing, never retried)",
      status: 429,
      body: j({
        error: {
          message: "You exceeded your current quota, please check your plan and billing details. " +
            "For more information on this error, read the docs: " +
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
          type: "insufficient_quota",
          param: null,
          code: "insufficient_quota",
        },
      }),
      code: "quota_exceeded",
      says: /You exceeded your current quota/,
      hint: /not a rate limit: waiting will not help.*platform\.openai\.com/,
      source: "platform.openai.com/docs/guides/error-codes (429 - You exceeded your current quota)",
    },
    {
      name: "401 invalid_api_key (the key echoed, masked)",
      status: 401,
      body: j({
        error: {
          message: "Incorrect API key provided: sk-SENTI*************1234. You can find your API " +
            "key at https://platform.openai.com/account/api-keys.",
          type: "invalid_request_error",
          param: null,
          code: "invalid_api_key",
        },
      }),
      code: "unauthorized",
      says: /Incorrect API key provided: \[redacted\]\. You can find your API key/,
      hint: /OpenAI API key/,
      source: "platform.openai.com/docs/guides/error-codes (401 - Incorrect API key provided)",
    },
  ],
};

/**
 * Azure OpenAI: the first chunk has `choices: []` and `prompt_filter_results` (empty id and model);
 * every chunk carries `content_filter_results`; a completion the filter stops ends with
 * `finish_reason: "content_filter"`; headers `apim-request-id`, `x-ms-region`; 429 with
 * `retry-after` and `retry-after-ms` ("…Please retry after 6 seconds…"); 404 `DeploymentNotFound`
 * (learn.microsoft.com azure/ai-foundry/openai content-filter and quota docs; the openai-node
 * SDK's AzureOpenAI reads retry-after-ms for exactly this).
 */
const AZURE: Replay = {
  kind: "azure",
  name: "Azure OpenAI",
  baseURL: "https://contoso-research.openai.azure.com/openai/v1",
  sources: [
    "learn.microsoft.com azure/ai-foundry/openai/concepts/content-filter (prompt_filter_results, content_filter)",
    "learn.microsoft.com azure/ai-foundry/openai/quotas-limits (429, retry-after-ms)",
  ],
  headers: {
    "content-type": "text/event-stream; charset=utf-8",
    "apim-request-id": "8c1f3a2b-4d5e-6f70-8192-a3b4c5d6e7f8",
    "x-ms-region": "Sweden Central",
  },
  stream(script, ask) {
    const safe = {
      hate: { filtered: false, severity: "safe" },
      self_harm: { filtered: false, severity: "safe" },
      sexual: { filtered: false, severity: "safe" },
      violence: { filtered: false, severity: "safe" },
    };
    const id = "chatcmpl-AzQ7kPj0v1Wc2Xs3Yt4Zu5";
    const chunk = (delta: Record<string, string>, finish: string | null, filter = safe) => ({
      choices: [{
        content_filter_results: filter,
        delta,
        finish_reason: finish,
        index: 0,
        logprobs: null,
      }],
      created: CREATED,
      id,
      model: "gpt-4o-mini-2024-07-18",
      object: "chat.completion.chunk",
      system_fingerprint: "fp_efad92c60b",
    });
    let out = data({
      choices: [],
      created: 0,
      id: "",
      model: "",
      object: "",
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: safe }],
    });
    out += data(chunk({ role: "assistant", content: "" }, null, {} as typeof safe));
    for (const t of tokens(script.text)) out += data(chunk({ content: t }, null));
    const finish = script.finish === undefined ? "stop" : script.finish;
    if (finish === "content_filter") {
      out += data(chunk({}, "content_filter", {
        ...safe,
        violence: { filtered: true, severity: "medium" },
      }));
    } else if (finish !== null) {
      out += data(chunk({}, finish, {} as typeof safe));
    }
    if (ask.includeUsage) {
      out += data({
        choices: [],
        created: CREATED,
        id,
        model: "gpt-4o-mini-2024-07-18",
        object: "chat.completion.chunk",
        system_fingerprint: "fp_efad92c60b",
        usage: usage(script, counts(script).output),
      });
    }
    return out + DONE;
  },
  errors: [
    {
      name: "404 DeploymentNotFound",
      status: 404,
      body: j({
        error: {
          code: "DeploymentNotFound",
          message: "The API deployment for this resource does not exist. If you created the " +
            "deployment within the last 5 minutes, please wait a moment and try again.",
        },
      }),
      code: "model_not_found",
      says: /The API deployment for this resource does not exist/,
      hint: /deployment name/,
      source: "learn.microsoft.com Azure OpenAI troubleshooting (DeploymentNotFound)",
    },
    {
      name: "429 token rate limit (retry-after-ms)",
      status: 429,
      headers: { "retry-after": "6", "retry-after-ms": "6000" },
      body: j({
        error: {
          code: "429",
          message: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API " +
            "version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing " +
            "tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease " +
            "if you would like to further increase the default rate limit.",
        },
      }),
      code: "rate_limited",
      says: /have exceeded token rate limit/,
      hint: /Azure OpenAI's rate limit/,
      source: "learn.microsoft.com Azure OpenAI quotas-limits (the 429 text users quote)",
    },
  ],
};

export { AZURE, DEEPSEEK, GROQ, LLAMACPP, LMSTUDIO, OLLAMA, OPENAI, OPENROUTER, VLLM };

/** Every replayed server. */
export const REPLAYS: readonly Replay[] = [
  OLLAMA,
  VLLM,
  LLAMACPP,
  LMSTUDIO,
  OPENROUTER,
  GROQ,
  DEEPSEEK,
  OPENAI,
  AZURE,
];

// ---------------------------------------------------------------------------------------------
// Serving

/** Text with multi-byte UTF-8 (2, 3 and 4 bytes) so cuts can fall inside characters. */
export const TEXT = "Zero (零, zéro, ṣūnya) began as a dot — 0️⃣ in Brahmi inscriptions; " +
  "Brahmagupta gave it rules in 628 CE. «Nothing» became a number. 🧮";
export const REASONING =
  "Hmm… the user asks about zero 🤔. I should mention Brahmagupta (628 CE), " +
  "the Bakhshali dot and the word śūnya.";

/** Cuts a body into pieces at awkward places: inside UTF-8 sequences, between CR and LF. */
export function awkwardPieces(bytes: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    // After the lead byte of a multi-byte character, after a CR, and now and then anyway.
    if (b >= 0xc0 || b === 13 || (i - start) >= 37) {
      pieces.push(bytes.subarray(start, i + 1));
      start = i + 1;
    }
  }
  if (start < bytes.length) pieces.push(bytes.subarray(start));
  return pieces;
}

/**
 * A body that hands out `pieces` one per read (so an in-process reader sees every cut); `paced`
 * yields a macrotask between them, so a socket sends them apart too.
 */
export function piecewise(
  pieces: Uint8Array[],
  holdOpen = false,
  paced = false,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i < pieces.length) {
        if (paced && i > 0) await new Promise((r) => setTimeout(r, 0));
        controller.enqueue(pieces[i++]);
        return;
      }
      if (holdOpen) return new Promise<void>(() => {}); // like a server that never closes
      controller.close();
    },
  }, { highWaterMark: 0 });
}

/** What a replay handler saw. */
export interface Seen {
  requests: number;
  bodies: Record<string, unknown>[];
}

/** How a replay answers each request. */
export interface Behaviour {
  /** The nth request (0-based) answers with this error instead. */
  errorOn?: (n: number) => ErrorCase | undefined;
  /** Line endings of the stream (CR LF as some proxies send; allowed by the SSE spec). */
  crlf?: boolean;
  /** A custom body for the stream, instead of the server's format (odd streams). */
  body?: (script: Script, ask: Ask) => string;
  /** Keep the connection open after the body. */
  holdOpen?: boolean;
  /** Reply with reasoning (servers that send it). */
  think?: boolean;
  /** The finish reason of the reply. */
  finish?: string | null;
  /** Stop the answer after this many tokens. */
  cutAfter?: number;
  /** Headers of the stream response besides the server's. */
  headers?: Record<string, string>;
  /** A macrotask between the pieces of a body (for a real socket). */
  paced?: boolean;
}

/** A fetch handler replaying `server`: the research roles' offline texts in its format. */
export function replayHandler(server: Replay, behaviour: Behaviour = {}) {
  const seen: Seen = { requests: 0, bodies: [] };
  const encoder = new TextEncoder();
  const handle = async (req: Request): Promise<Response> => {
    const n = seen.requests++;
    const body = await req.json() as Record<string, unknown>;
    seen.bodies.push(body);
    const error = behaviour.errorOn?.(n);
    if (error) {
      return new Response(error.body, {
        status: error.status,
        headers: { "content-type": error.contentType ?? "application/json", ...error.headers },
      });
    }
    const messages = body.messages as { role: string; content: string }[];
    const system = messages.find((m) => m.role === "system")?.content ?? "";
    const user = messages.findLast((m) => m.role === "user")?.content ?? "";
    const role = detectRole(system, user);
    const topic = parseTopic(user);
    let text = role === "generic" ? TEXT : offlineReply(role, topic, user);
    if (behaviour.cutAfter !== undefined) text = tokens(text).slice(0, behaviour.cutAfter).join("");
    const script: Script = {
      role,
      text,
      promptTokens: tokens(`${system} ${user}`).length,
      ...(behaviour.finish !== undefined ? { finish: behaviour.finish } : {}),
      ...(behaviour.think && server.reasoning
        ? { reasoning: role === "generic" ? REASONING : offlineReasoning(role, topic, user) }
        : {}),
    };
    const ask: Ask = {
      model: String(body.model),
      includeUsage: (body.stream_options as { include_usage?: boolean } | undefined)
        ?.include_usage === true,
    };
    let sse = (behaviour.body ?? server.stream)(script, ask);
    if (behaviour.crlf) sse = sse.replace(/\n/g, "\r\n");
    return new Response(
      piecewise(awkwardPieces(encoder.encode(sse)), behaviour.holdOpen, behaviour.paced),
      {
        headers: { ...server.headers, ...behaviour.headers },
      },
    );
  };
  return { handle, seen };
}

/** The usage a replay reports for a reply of `text` (and `reasoning`) to these prompts. */
export function expectedUsage(system: string, user: string, text: string, reasoning = "") {
  const input = tokens(`${system} ${user}`).length;
  const output = tokens(reasoning).length + tokens(text).length;
  return { input, output, total: input + output };
}
