/**
 * Short-lived signed tokens for one run's event stream, for clients that cannot send a bearer
 * token (`EventSource`, a shared link): `<expiry>.<HMAC-SHA256(server token, "<run id>.<expiry>")>`
 * with the expiry in epoch seconds and the MAC in base64url. Checked with `crypto.subtle.verify`
 * (constant time); a token names one run and is good for no other.
 *
 * @module
 */

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function key(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    if (keys.size > 8) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined;
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=");
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * A token for `runId` valid until `expiresAt` (epoch seconds).
 *
 * @example
 * ```ts
 * const token = await signRunToken(serverToken, id, Math.floor(Date.now() / 1000) + 900);
 * // GET /runs/{id}/events?token=<token>
 * ```
 */
export async function signRunToken(
  secret: string,
  runId: string,
  expiresAt: number,
): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await key(secret),
    encoder.encode(`${runId}.${expiresAt}`),
  );
  return `${expiresAt}.${toBase64Url(new Uint8Array(mac))}`;
}

/** Why a token was refused, or `ok`. `nowSeconds` is the current epoch time in seconds. */
export async function checkRunToken(
  secret: string,
  runId: string,
  token: string,
  nowSeconds: number,
): Promise<"ok" | "malformed" | "expired" | "forged"> {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]+)$/.exec(token);
  const mac = m && fromBase64Url(m[2]);
  if (!m || !mac) return "malformed";
  const expiresAt = Number(m[1]);
  const genuine = await crypto.subtle.verify(
    "HMAC",
    await key(secret),
    mac as Uint8Array<ArrayBuffer>,
    encoder.encode(`${runId}.${expiresAt}`),
  );
  if (!genuine) return "forged";
  return expiresAt > nowSeconds ? "ok" : "expired";
}
