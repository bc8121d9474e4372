/**
 * The one scrubber for every secret the server knows: the model server's API key, the bearer token
 * clients must send, and the credentials and secret query parameters of every configured URL.
 * Everything the server shows a client or writes to its log passes through it.
 *
 * @module
 */
import { splitCredentials } from "../src/llm/config.ts";

/** What the server knows that nobody else may see. */
export interface Secrets {
  /** The model server's API key. */
  apiKey?: string;
  /** The bearer token clients must send (REFLOW_TOKEN). */
  token?: string;
  /** Configured URLs (the model server's base URL, …): their user, password and secret parameters. */
  urls?: (string | undefined)[];
  /** Anything else to hide. */
  other?: (string | undefined)[];
}

/** Replaces every secret in `text`; the same text when there are none. */
export type Scrubber = (text: string) => string;

/** What a secret is replaced with. */
export const REDACTED = "[redacted]";

/**
 * Query parameters whose values are credentials (`?key=…`, `?api_key=…`, `?access_token=…`,
 * `?sig=…`, `?code=…` as Azure Functions use it, …). Others (`api-version`) are left alone.
 */
const SECRET_PARAM = /key|token|secret|sig|pass|auth|credential|session|^code$/i;

/**
 * Secrets shorter than this are not scrubbed: replacing every "tok" or "ab" in a message would
 * garble it and hide nothing worth hiding (such a token can be guessed anyway).
 */
const MIN_SECRET_LENGTH = 4;

/** Values that look like keys but are public: Ollama's documented placeholder key. */
const NOT_SECRET = new Set(["ollama"]);

/**
 * Builds the scrubber for `secrets`. URLs are first replaced whole by their redacted form (so a log
 * still says which server, as `https://***@host/v1?key=***`), then every secret string, raw and
 * percent-decoded, wherever it still appears.
 *
 * @example
 * ```ts
 * const scrub = createScrubber({ apiKey: "sk-123456", urls: ["https://u:pw12@h.test/v1"] });
 * scrub("401 from https://u:pw12@h.test/v1: bad key sk-123456");
 * // "401 from https://***@h.test/v1: bad key [redacted]"
 * ```
 */
export function createScrubber(secrets: Secrets): Scrubber {
  const wholeUrls: [string, string][] = [];
  const words = new Set<string>();
  const add = (value: string | undefined) => {
    if (value === undefined) return;
    for (const form of [value, safeDecode(value), encodeURIComponent(value)]) {
      if (form.trim().length >= MIN_SECRET_LENGTH && !NOT_SECRET.has(form)) words.add(form);
    }
  };
  add(secrets.apiKey);
  add(secrets.token);
  for (const other of secrets.other ?? []) add(other);
  for (const url of secrets.urls ?? []) {
    if (!url) continue;
    const parsed = parseUrl(url);
    if (!parsed) continue;
    const redacted = redactUrl(url);
    if (redacted !== url) {
      wholeUrls.push([url, redacted]);
      const bare = url.replace(/\/+$/, "");
      if (bare !== url) wholeUrls.push([bare, redactUrl(bare)]);
      // As WHATWG URL prints it (lower-cased host, default port dropped, …).
      if (parsed.href !== url) wholeUrls.push([parsed.href, redactUrl(parsed.href)]);
    }
    add(parsed.username || undefined);
    add(parsed.password || undefined);
    if (parsed.username && parsed.password) add(`${parsed.username}:${parsed.password}`);
    // As the LLM layer sends them: `Authorization: Basic <base64>` (src/llm/config.ts).
    add(splitCredentials(url).basicAuth?.slice("Basic ".length));
    for (const [name, value] of parsed.searchParams) if (SECRET_PARAM.test(name)) add(value);
    // The raw text of secret parameters as written (before URL normalisation).
    for (const raw of rawSecretParams(url)) add(raw);
  }
  // Longest first, so a secret that contains another is replaced whole.
  const ordered = [...words].sort((a, b) => b.length - a.length);
  wholeUrls.sort((a, b) => b[0].length - a[0].length);
  if (ordered.length === 0 && wholeUrls.length === 0) return (text) => text;
  return (text: string) => {
    let out = text;
    for (const [url, redacted] of wholeUrls) out = out.split(url).join(redacted);
    for (const word of ordered) out = out.split(word).join(REDACTED);
    return out;
  };
}

/**
 * `url` with its user and password replaced by `***` and the values of secret query parameters by
 * `***`; anything that is not a URL comes back as it is.
 *
 * @example
 * ```ts
 * redactUrl("https://me:pw@api.test/v1?key=abc&api-version=2024-06-01");
 * // "https://***@api.test/v1?key=***&api-version=2024-06-01"
 * ```
 */
export function redactUrl(url: string): string {
  const parsed = parseUrl(url);
  if (!parsed) return url;
  let out = url;
  const userinfo = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i.exec(out);
  if (userinfo) out = userinfo[1] + "***@" + out.slice(userinfo[0].length);
  return out.replace(
    /([?&])([^=&#]*)=([^&#]*)/g,
    (all, sep: string, name: string, _value: string) =>
      SECRET_PARAM.test(safeDecode(name)) ? `${sep}${name}=***` : all,
  );
}

function rawSecretParams(url: string): string[] {
  const query = /\?([^#]*)/.exec(url)?.[1] ?? "";
  const out: string[] = [];
  for (const pair of query.split("&")) {
    const at = pair.indexOf("=");
    if (at > 0 && SECRET_PARAM.test(safeDecode(pair.slice(0, at)))) out.push(pair.slice(at + 1));
  }
  return out;
}

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
