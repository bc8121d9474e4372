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

/**
 * The raw text of recent error responses, by an id the copy of the response carries in a header.
 * (Not keyed by the Headers object: @hono/node-server swaps in its own Response on Node, whose
 * headers are a different object once the body has been read.)
 */
const errorBodies = new Map<string, string>();
const BODY_ID = "x-reflow-error-body";
const MAX_KEPT = 64;
let nextBodyId = 0;

/**
 * The body of the error response an `APIError` came from, as the server sent it. The SDK keeps
 * only `body.error`, so a server that words its error elsewhere (vLLM's `{ object: "error",
 * message }`) would otherwise lose its words.
 */
export function errorBodyOf(headers: Headers | undefined): string | undefined {
  const id = headers?.get(BODY_ID);
  if (!id) return undefined;
  const text = errorBodies.get(id);
  errorBodies.delete(id);
  return text;
}

// Error bodies are small; a server that sends a huge one is cut here.
const MAX_ERROR_BODY = 16 * 1024;

function keepingErrorBodies(inner: typeof fetch | undefined): typeof fetch {
  return async (input, init) => {
    const response = await (inner ?? fetch)(input, init);
    if (response.ok || !response.body) return response;
    let text = await response.text().catch(() => "");
    if (text.length > MAX_ERROR_BODY) text = text.slice(0, MAX_ERROR_BODY);
    const id = String(++nextBodyId);
    if (errorBodies.size >= MAX_KEPT) errorBodies.delete(errorBodies.keys().next().value!);
    errorBodies.set(id, text);
    const headers = new Headers(response.headers);
    headers.set(BODY_ID, id);
    return new Response(text, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  };
}

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
  options: { baseURL: string; apiKey: string; fetch?: typeof fetch; basicAuth?: string },
): OpenAI {
  let clients = options.fetch ? byFetch.get(options.fetch) : withGlobalFetch;
  if (!clients) {
    clients = new Map();
    byFetch.set(options.fetch!, clients);
  }
  const key = `${options.baseURL}\u0000${options.apiKey}\u0000${options.basicAuth ?? ""}`;
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
    // A base URL's user and password (src/llm/config.ts): they replace the bearer key.
    ...(options.basicAuth ? { defaultHeaders: { Authorization: options.basicAuth } } : {}),
    // Malformed streams become an LlmError; the SDK would also print them to the console.
    logLevel: "off",
    fetch: keepingErrorBodies(options.fetch),
  });
  if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
  clients.set(key, client);
  return client;
}
