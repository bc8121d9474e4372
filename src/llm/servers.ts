/**
 * Which kind of model server a base URL or a response belongs to, and what to tell the user when
 * it refuses: the fix for a 404 on Ollama (`ollama pull`) is not the fix on OpenAI (check the
 * model id). Recognised from the base URL first, then from what the server sent back. Nothing
 * here ever sees the API key.
 *
 * @module
 */

/** The servers whose formats the LLM layer knows (see the README's table). */
export type ServerKind =
  | "ollama"
  | "vllm"
  | "llama.cpp"
  | "lmstudio"
  | "openrouter"
  | "groq"
  | "deepseek"
  | "openai"
  | "azure"
  | "offline"
  | "unknown";

/** Human names, as messages show them. */
export const SERVER_NAMES: Readonly<Record<ServerKind, string>> = Object.freeze({
  ollama: "Ollama",
  vllm: "vLLM",
  "llama.cpp": "llama.cpp server",
  lmstudio: "LM Studio",
  openrouter: "OpenRouter",
  groq: "Groq",
  deepseek: "DeepSeek",
  openai: "OpenAI",
  azure: "Azure OpenAI",
  offline: "the offline model",
  unknown: "the server",
});

const HOSTED: ReadonlySet<ServerKind> = new Set([
  "openrouter",
  "groq",
  "deepseek",
  "openai",
  "azure",
]);

/** True for the hosted APIs (keys, quotas, model ids), false for servers you run yourself. */
export function isHosted(kind: ServerKind): boolean {
  return HOSTED.has(kind);
}

/** Where a call goes, for errors and for telemetry (`server.address`, `server.port`). */
export interface ServerInfo {
  kind: ServerKind;
  host: string;
  port?: number;
}

/**
 * Recognises the server from its base URL: the hosted APIs by host name, local servers by their
 * default port (Ollama 11434, LM Studio 1234, vLLM 8000, llama.cpp 8080).
 *
 * @example
 * ```ts
 * serverFromUrl("https://api.groq.com/openai/v1").kind; // "groq"
 * serverFromUrl("http://localhost:11434/v1").kind; // "ollama"
 * ```
 */
export function serverFromUrl(baseURL: string): ServerInfo {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return { kind: "unknown", host: baseURL };
  }
  const host = url.hostname;
  const port = url.port ? Number(url.port) : undefined;
  const info = (kind: ServerKind): ServerInfo =>
    port === undefined ? { kind, host } : { kind, host, port };
  if (host === "api.openai.com") return info("openai");
  if (/\.(openai\.azure\.com|cognitiveservices\.azure\.com|services\.ai\.azure\.com)$/.test(host)) {
    return info("azure");
  }
  if (host === "api.groq.com") return info("groq");
  if (host === "openrouter.ai" || host.endsWith(".openrouter.ai")) return info("openrouter");
  if (host === "api.deepseek.com") return info("deepseek");
  if (host === "offline.invalid") return info("offline");
  if (port === 11434) return info("ollama");
  if (port === 1234) return info("lmstudio");
  if (port === 8000) return info("vllm");
  if (port === 8080) return info("llama.cpp");
  return info("unknown");
}

/**
 * Recognises the server from a response: headers each server sets, and the shape of its bodies
 * (error objects, chunk fields). Returns undefined when nothing gives it away.
 */
export function serverFromResponse(
  headers: Headers | undefined,
  body?: unknown,
): ServerKind | undefined {
  if (headers) {
    const server = headers.get("server") ?? "";
    if (/llama\.cpp/i.test(server)) return "llama.cpp";
    if (headers.has("x-groq-region") || headers.has("x-groq-id")) return "groq";
    if (headers.has("apim-request-id") || headers.has("x-ms-region")) return "azure";
    if (headers.has("openai-organization") || headers.has("openai-processing-ms")) return "openai";
    if (headers.has("x-generation-id")) return "openrouter";
  }
  if (body && typeof body === "object") {
    // deno-lint-ignore no-explicit-any
    const b = body as any;
    if (b.x_groq) return "groq";
    if (b.system_fingerprint === "fp_ollama") return "ollama";
    if (b.timings && typeof b.timings === "object") return "llama.cpp";
    if (b.object === "error") return "vllm";
    if (typeof b.provider === "string" && "choices" in b) return "openrouter";
    if (b.usage && typeof b.usage === "object" && "prompt_cache_hit_tokens" in b.usage) {
      return "deepseek";
    }
    const type = b.error?.type ?? b.type;
    if (type === "exceed_context_size_error" || type === "unavailable_error") return "llama.cpp";
    const message = typeof b.error === "string" ? b.error : b.error?.message ?? b.message;
    if (typeof message === "string") {
      if (/not found, try pulling it first/.test(message)) return "ollama";
      if (/^Unexpected endpoint or method/.test(message)) return "lmstudio";
    }
  }
  return undefined;
}

/** What the user can do about a refused key, per server. */
export function unauthorizedHint(kind: ServerKind): string {
  if (kind === "azure") {
    return "check the key of your Azure OpenAI resource (OPENAI_API_KEY) and that the base URL " +
      "is https://<resource>.openai.azure.com/openai/v1";
  }
  if (isHosted(kind)) {
    return `check the ${SERVER_NAMES[kind]} API key (OPENAI_API_KEY): it is missing, mistyped ` +
      "or revoked";
  }
  if (kind === "unknown") return "check the key, e.g. OPENAI_API_KEY";
  return `${SERVER_NAMES[kind]} was started with an API key (e.g. --api-key): pass the same ` +
    "key as OPENAI_API_KEY";
}

/** What the user can do about a model the server does not have, per server. */
export function modelNotFoundHint(kind: ServerKind, model: string, baseURL: string): string {
  switch (kind) {
    case "ollama":
    case "offline":
      return `\`ollama pull ${model}\` or choose another model`;
    case "lmstudio":
      return `load it in LM Studio (\`lms load ${model}\`) or use an id from ${baseURL}/models`;
    case "vllm":
      return `use the name vLLM serves (its --served-model-name; see ${baseURL}/models)`;
    case "llama.cpp":
      return "llama.cpp serves the model it was started with (-m, --alias): check the model " +
        `name and that the base URL ends in /v1 (${baseURL}/models)`;
    case "azure":
      return "on Azure OpenAI the model is your deployment name: check it and the base URL";
    case "openrouter":
      return `check the model id: OpenRouter ids look like "qwen/qwen-2.5-7b-instruct" (see ` +
        "https://openrouter.ai/models)";
    case "openai":
    case "groq":
    case "deepseek":
      return `check the model id against ${SERVER_NAMES[kind]}'s list (${baseURL}/models)`;
    default:
      return `check the model name (${baseURL}/models lists what this server has); on Ollama: ` +
        `\`ollama pull ${model}\``;
  }
}

/** What to do about a rate limit, per server. */
export function rateLimitHint(kind: ServerKind): string {
  const who = isHosted(kind) ? `${SERVER_NAMES[kind]}'s rate limit` : "the server's rate limit";
  return `${who} was hit (free tiers allow few requests a minute, and a research flow sends ` +
    "four): wait and retry, or raise the limit or maxRetryWaitMs";
}

/** What to do about an exhausted quota or balance, per server. */
export function quotaHint(kind: ServerKind): string {
  const where = kind === "openai"
    ? " at https://platform.openai.com/settings/organization/billing"
    : kind === "openrouter"
    ? " at https://openrouter.ai/settings/credits"
    : kind === "deepseek"
    ? " at https://platform.deepseek.com/top_up"
    : kind === "groq"
    ? " at https://console.groq.com/settings/billing"
    : "";
  return `this is a billing or quota problem, not a rate limit: waiting will not help; add ` +
    `credits or raise the quota${where}`;
}

/** What to do when the prompt does not fit the model's context. */
export function contextHint(kind: ServerKind): string {
  if (kind === "llama.cpp") {
    return "start llama-server with a larger --ctx-size, or shorten the input";
  }
  if (kind === "ollama") return "raise num_ctx (e.g. OLLAMA_CONTEXT_LENGTH), or shorten the input";
  if (kind === "lmstudio") {
    return "load the model with a larger context length, or shorten the input";
  }
  if (kind === "vllm") return "serve the model with a larger --max-model-len, or shorten the input";
  return "use a model with a larger context window, or shorten the input";
}
