/**
 * Shared OpenAI clients. A flow makes one call per agent and a server runs many flows, so clients
 * are built once per (baseURL, apiKey, fetch) and reused: a client is cheap to call but not to
 * build, and each one holds its own configuration objects.
 *
 * @module
 */
import OpenAI from "openai";

// Enough for every endpoint a process realistically talks to; the cap only stops a caller that
// builds a fresh `fetch` per call from growing the cache without bound.
const MAX_CLIENTS = 32;

const byFetch = new WeakMap<typeof fetch, Map<string, OpenAI>>();
const withGlobalFetch = new Map<string, OpenAI>();

/**
 * The shared client for an endpoint, built on first use. The SDK's own retries are off: the LLM
 * layer retries itself so that it never retries after a token was delivered.
 *
 * @example
 * ```ts
 * const client = openAIClient({ baseURL: "http://localhost:11434/v1", apiKey: "ollama" });
 * ```
 */
export function openAIClient(
  options: { baseURL: string; apiKey: string; fetch?: typeof fetch },
): OpenAI {
  let clients = options.fetch ? byFetch.get(options.fetch) : withGlobalFetch;
  if (!clients) {
    clients = new Map();
    byFetch.set(options.fetch!, clients);
  }
  const key = `${options.baseURL}\u0000${options.apiKey}`;
  let client = clients.get(key);
  if (client) return client;
  client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey,
    // Explicit nulls stop the SDK from reading OPENAI_ORG_ID and friends from the environment.
    adminAPIKey: null,
    organization: null,
    project: null,
    webhookSecret: null,
    maxRetries: 0,
    // Malformed streams become an LlmError; the SDK would also print them to the console.
    logLevel: "off",
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
  clients.set(key, client);
  return client;
}
