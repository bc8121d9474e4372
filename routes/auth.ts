/**
 * Optional bearer-token auth for the API routes.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";

const encoder = new TextEncoder();

/**
 * Whether `given` equals `expected`, in time that depends on neither the tokens' contents nor
 * their lengths: both are hashed with SHA-256 and the digests compared with an XOR loop.
 */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/**
 * Requires `Authorization: Bearer <token>`; answers 401 JSON (`{ error }`) when it is missing,
 * malformed or wrong. CORS preflights (OPTIONS) pass, so browsers can ask before sending it.
 */
export function bearerAuth(token: string): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return await next();
    const header = c.req.header("authorization");
    const given = header === undefined ? undefined : /^Bearer +([^\s]+)\s*$/i.exec(header)?.[1];
    const problem = header === undefined
      ? "missing Authorization header (expected: Bearer <token>)"
      : given === undefined
      ? "malformed Authorization header (expected: Bearer <token>)"
      : (await tokensEqual(given, token))
      ? undefined
      : "wrong token";
    if (problem === undefined) return await next();
    return c.json({ error: `unauthorized: ${problem}` }, 401, {
      "WWW-Authenticate": 'Bearer realm="reflow-edge"',
    });
  };
}
