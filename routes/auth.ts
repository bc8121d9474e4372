/**
 * Optional bearer-token auth for the API routes: Hono's `bearerAuth` middleware (header parsing,
 * the RFC 6750 token syntax, `WWW-Authenticate` challenges), with our JSON errors and our token
 * comparison.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth as honoBearerAuth } from "hono/bearer-auth";

const encoder = new TextEncoder();

/** RFC 6750's `b64token`: what a bearer token may contain (the middleware refuses anything else). */
export const TOKEN_SYNTAX = /^[A-Za-z0-9._~+/-]+=*$/;

/**
 * Whether `given` equals `expected`, in time that depends on neither the tokens' contents nor
 * their lengths: both are hashed with SHA-256 and the digests compared with an XOR loop. (Hono's
 * own comparison also compares the raw strings, over the longer one's length, which tells a
 * client that sends short tokens how long the secret is; so the middleware is given this one.)
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
 * malformed or wrong (a malformed header stays a 401 with our message rather than the
 * middleware's 400, so every client sees one status for "not allowed"). CORS preflights (OPTIONS)
 * pass, so browsers can ask before sending it. Throws at once if `token` could never be sent.
 *
 * @example
 * ```ts
 * app.use("/research", bearerAuth("s3cret-token"));
 * ```
 */
export function bearerAuth(token: string): MiddlewareHandler {
  if (!TOKEN_SYNTAX.test(token)) {
    throw new TypeError(
      "the token may contain only letters, digits and . _ ~ + / - (then = padding), " +
        "as a bearer token must (RFC 6750)",
    );
  }
  const unauthorized = (why: string) => (c: Context) =>
    c.json({ error: `unauthorized: ${why} (expected: Bearer <token>)` }, 401);
  const auth = honoBearerAuth({
    verifyToken: (given) => tokensEqual(given, token),
    realm: "reflow-edge",
    noAuthenticationHeader: { message: unauthorized("missing Authorization header") },
    invalidAuthenticationHeader: { message: unauthorized("malformed Authorization header") },
    invalidToken: { message: (c: Context) => c.json({ error: "unauthorized: wrong token" }, 401) },
  });
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return await next();
    return await auth(c, next);
  };
}
