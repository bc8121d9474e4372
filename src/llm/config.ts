/**
 * Configuration of the LLM layer. Nothing here reads the environment: each entry point (CLI,
 * server, Worker) reads its own and passes the result in.
 *
 * @module
 */
import type OpenAI from "openai";
import type { ServerKind } from "./servers.ts";

/** Where and how to reach an OpenAI-compatible chat-completions endpoint. */
export interface LlmConfig {
  /**
   * Base URL of the API, including `/v1`. Default `http://localhost:11434/v1` (Ollama). A user and
   * password in it (`http://user:password@host/v1`, a proxy's basic auth) are sent as
   * `Authorization: Basic …` when no `apiKey` is set, and never shown (see {@link splitCredentials}).
   */
  baseURL?: string;
  /**
   * Sent as `Authorization: Bearer …`. Default `ollama` (Ollama ignores it). When set, it wins
   * over a user and password in `baseURL`, which are then not sent.
   */
  apiKey?: string;
  /** Default `qwen2.5:3b`. */
  model?: string;
  /** Default 0.4. */
  temperature?: number;
  /** Sent as `max_tokens` when set; a reply cut there finishes with `length`. */
  maxTokens?: number;
  /** Retries before the first token (connection refused, 5xx, 429). Default 2. */
  maxRetries?: number;
  /**
   * Longest wait before one retry, in ms. A server asking for longer (`Retry-After`,
   * `retry-after-ms`) fails the call at once with the wait it asked for. Default 30,000.
   */
  maxRetryWaitMs?: number;
  /**
   * How long to keep retrying a `503` that says the model is loading (llama.cpp's "Loading
   * model"), in ms; these retries do not count against `maxRetries`. Default 120,000.
   */
  loadingBudgetMs?: number;
  /**
   * Ask for token counts (`stream_options: { include_usage: true }`). A server that rejects the
   * option gets the request again without it, once, and is remembered. Default true.
   */
  includeUsage?: boolean;
  /**
   * Split a `<think>…</think>` block at the start of the content off as reasoning (servers that
   * send a thinking model's thoughts inline). Default true.
   */
  splitThink?: boolean;
  /** Accept a reply with no text at all; otherwise it is an `empty_answer` error. Default false. */
  allowEmpty?: boolean;
  /** Longest wait from sending the request to the first token. Default 60,000 ms. */
  firstTokenTimeoutMs?: number;
  /** Longest gap between two chunks once the stream has started. Default 30,000 ms. */
  idleTimeoutMs?: number;
  /** A fetch to use instead of the global one, e.g. the offline model's in-process `fetch`. */
  fetch?: typeof fetch;
  /**
   * Which kind of server this is, for its hints, when neither the base URL nor its responses say
   * (e.g. Ollama behind a reverse proxy at https://llm.example.com/v1).
   */
  server?: ServerKind;
  /** A ready client; `baseURL`, `apiKey` and `fetch` are then only used in error messages. */
  client?: OpenAI;
}

/**
 * {@link LlmConfig} with every default filled in; `baseURL` without credentials, and the
 * `Authorization` header they make (`basicAuth`) when no `apiKey` was given.
 */
export type ResolvedLlmConfig =
  & Required<Omit<LlmConfig, "fetch" | "client" | "server">>
  & Pick<LlmConfig, "fetch" | "client" | "server">
  & { basicAuth?: string };

/** The defaults: a local Ollama serving `qwen2.5:3b`. */
export const DEFAULT_LLM_CONFIG: Readonly<
  Required<Omit<LlmConfig, "fetch" | "client" | "server">>
> = Object
  .freeze({
    baseURL: "http://localhost:11434/v1",
    apiKey: "ollama",
    model: "qwen2.5:3b",
    temperature: 0.4,
    maxTokens: 0,
    maxRetries: 2,
    maxRetryWaitMs: 30_000,
    loadingBudgetMs: 120_000,
    includeUsage: true,
    splitThink: true,
    allowEmpty: false,
    firstTokenTimeoutMs: 60_000,
    idleTimeoutMs: 30_000,
  });

/**
 * Fills in defaults. `undefined` fields fall back to the default, so callers can pass optional
 * values straight through.
 *
 * @example
 * ```ts
 * const config = resolveLlmConfig({ model: "llama3.2:1b" });
 * config.baseURL; // "http://localhost:11434/v1"
 * ```
 */
export function resolveLlmConfig(partial: LlmConfig = {}): ResolvedLlmConfig {
  const pick = <K extends keyof typeof DEFAULT_LLM_CONFIG>(key: K) =>
    partial[key] ?? DEFAULT_LLM_CONFIG[key];
  const { baseURL, basicAuth } = splitCredentials(pick("baseURL").replace(/\/+$/, ""));
  return {
    baseURL,
    ...(basicAuth !== undefined && partial.apiKey === undefined ? { basicAuth } : {}),
    apiKey: pick("apiKey"),
    model: pick("model"),
    temperature: pick("temperature"),
    maxTokens: Math.max(0, Math.floor(pick("maxTokens"))),
    maxRetries: Math.max(0, Math.floor(pick("maxRetries"))),
    maxRetryWaitMs: Math.max(0, pick("maxRetryWaitMs")),
    loadingBudgetMs: Math.max(0, pick("loadingBudgetMs")),
    includeUsage: pick("includeUsage"),
    splitThink: pick("splitThink"),
    allowEmpty: pick("allowEmpty"),
    firstTokenTimeoutMs: pick("firstTokenTimeoutMs"),
    idleTimeoutMs: pick("idleTimeoutMs"),
    fetch: partial.fetch,
    client: partial.client,
    server: partial.server,
  };
}

/**
 * Takes the user and password out of a base URL (`http://user:password@host/v1`, as proxies in
 * front of LiteLLM or Ollama are often written): `fetch` refuses a URL that carries credentials,
 * and a URL printed in an error or a log must not show them. Returns the URL without them and the
 * `Authorization: Basic …` value they make (RFC 7617: base64 of the UTF-8 `user:password`, both
 * percent-decoded). A text that does not parse as a URL loses anything that looks like
 * credentials (`//…@`) all the same.
 *
 * @example
 * ```ts
 * splitCredentials("http://me:s%40cret@proxy.test/v1");
 * // { baseURL: "http://proxy.test/v1", basicAuth: "Basic bWU6c0BjcmV0" }
 * ```
 */
export function splitCredentials(baseURL: string): { baseURL: string; basicAuth?: string } {
  const userinfo = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i.exec(baseURL);
  if (!userinfo) return { baseURL };
  const bare = userinfo[1] + baseURL.slice(userinfo[0].length);
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return { baseURL: bare };
  }
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const pair = `${decode(url.username)}:${decode(url.password)}`;
  if (pair === ":") return { baseURL: bare };
  const bytes = new TextEncoder().encode(pair);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return { baseURL: bare, basicAuth: `Basic ${btoa(binary)}` };
}

/**
 * What is wrong with a base URL given as setting `name` (`--base-url`, `OPENAI_BASE_URL`), in one
 * line that never shows its credentials; undefined when it is a usable http(s) URL.
 *
 * @example
 * ```ts
 * baseUrlProblem("--base-url", "http://me:pw@[bad/v1"); // '--base-url: "http://[bad/v1" is not a URL'
 * ```
 */
export function baseUrlProblem(name: string, value: string): string | undefined {
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    // not a URL at all
  }
  if (protocol === "http:" || protocol === "https:") return undefined;
  return `${name}: "${splitCredentials(value).baseURL}" is not ${
    protocol ? "an http or https" : "a"
  } URL`;
}
