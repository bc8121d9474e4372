/**
 * Admission control: how many research flows may run at once, server-wide (per isolate on Workers)
 * and per client address, and how many a client may start per minute (a client that connects and
 * leaves over and over holds no flow for long, but each start costs the server a flow's setup and
 * its model requests). A request over a cap is answered at once with `429` and `Retry-After`,
 * before its body is read or a model is asked anything.
 *
 * @module
 */

/** The caps. */
export interface AdmissionLimits {
  /** Flows (and requests reading their body) in flight at once, server-wide. */
  maxFlows: number;
  /** The same, per client address (IPv6: per /64), when the runtime tells the address. */
  maxFlowsPerClient: number;
  /**
   * Flows one client address may start per minute, in the long run: a token bucket that refills at
   * this many a minute...
   */
  maxFlowStartsPerClientPerMinute: number;
  /** ...and holds at most this many starts, so a short burst is fine and a storm is not. */
  flowStartBurstPerClient: number;
}

/** A place in the server: hand it back once, when the flow (or the refused request) is over. */
export interface Slot {
  release(): void;
}

/** Why a request was refused, and when to try again (seconds). */
export interface Refusal {
  /** `server`: the server-wide cap; `client`: this client's flows; `rate`: this client's starts. */
  reason: "server" | "client" | "rate";
  /** Seconds until trying again can succeed (`rate`); undefined when it depends on other flows. */
  retryAfter?: number;
}

/** Bucket entries kept before idle (full) ones are swept. */
const MAX_BUCKETS = 10_000;

/**
 * Counts flows in flight and refuses the one too many.
 *
 * @example
 * ```ts
 * const admission = new Admission({ maxFlows: 64, maxFlowsPerClient: 8 });
 * const slot = admission.enter("203.0.113.7");
 * if ("reason" in slot) return tooBusy(slot);
 * try { … } finally { slot.release(); }
 * ```
 */
export class Admission {
  #active = 0;
  #perClient = new Map<string, number>();
  /** Per client: the starts left, when last counted. */
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(readonly limits: AdmissionLimits, private readonly now: () => number = Date.now) {}

  /** Requests holding a slot now. */
  get active(): number {
    return this.#active;
  }

  /** Takes a slot for a request from `address` (undefined: unknown, only the server cap applies). */
  enter(address: string | undefined): Slot | Refusal {
    if (this.#active >= this.limits.maxFlows) return { reason: "server" };
    const key = address === undefined ? undefined : clientKey(address);
    const mine = key === undefined ? 0 : this.#perClient.get(key) ?? 0;
    if (key !== undefined && mine >= this.limits.maxFlowsPerClient) return { reason: "client" };
    if (key !== undefined) {
      const wait = this.#take(key);
      if (wait > 0) return { reason: "rate", retryAfter: Math.ceil(wait / 1000) };
    }
    this.#active++;
    if (key !== undefined) this.#perClient.set(key, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#active--;
        if (key === undefined) return;
        const left = (this.#perClient.get(key) ?? 1) - 1;
        if (left <= 0) this.#perClient.delete(key);
        else this.#perClient.set(key, left);
      },
    };
  }

  /** Takes one start from `key`'s bucket: 0 when it had one, else the ms until it will. */
  #take(key: string): number {
    const capacity = Math.max(1, this.limits.flowStartBurstPerClient);
    const perMs = this.limits.maxFlowStartsPerClientPerMinute / 60_000;
    const now = this.now();
    const bucket = this.#buckets.get(key);
    const tokens = bucket
      ? Math.min(capacity, bucket.tokens + (now - bucket.at) * perMs)
      : capacity;
    if (tokens < 1) {
      if (bucket) {
        bucket.tokens = tokens;
        bucket.at = now;
      }
      return (1 - tokens) / perMs;
    }
    if (!bucket && this.#buckets.size >= MAX_BUCKETS) this.#sweep(now, capacity, perMs);
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    return 0;
  }

  /** Forgets the clients whose buckets have filled up again (they would start from full anyway). */
  #sweep(now: number, capacity: number, perMs: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * perMs >= capacity) this.#buckets.delete(key);
    }
  }
}

/**
 * The key a client is counted under: an IPv4 address as it is (also when written IPv4-mapped,
 * `::ffff:192.0.2.1`), an IPv6 address by its /64 prefix, since one host commonly holds a whole
 * /64; anything else (a name, a malformed value) as it is.
 */
export function clientKey(address: string): string {
  const bare = address.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1];
  if (!bare.includes(":")) return bare;
  const halves = bare.split("::");
  if (halves.length > 2) return bare;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return bare;
  const groups = [...head, ...Array(missing).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return bare;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
