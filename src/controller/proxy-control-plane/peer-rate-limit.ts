/**
 * A token bucket per peer address, for Enroll. A join token is 256 random
 * bits, so guessing one is hopeless; what the limit buys is that one host
 * cannot make the controller verify CSR signatures and hash token guesses as
 * fast as it can send them, nor crowd out the other hosts' enrollments.
 *
 * Buckets are keyed by the peer's IP address without its port (every retry
 * comes from a new source port). A bucket that has refilled completely holds
 * no information, so buckets are pruned once the table grows past
 * `maxPeers`: an attacker spraying source addresses costs memory bounded by
 * that number, not by the number of addresses.
 */
export interface PeerRateLimitOptions {
  /** Tokens added per second per peer. */
  readonly ratePerSecond: number;
  /** Tokens a peer may spend at once (and the bucket's size). */
  readonly burst: number;
  readonly now?: () => number;
  /** Buckets kept before full ones are pruned. */
  readonly maxPeers?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class PeerRateLimit {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #maxPeers: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: PeerRateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) throw new RangeError("ratePerSecond must be a positive number");
    if (!Number.isInteger(options.burst) || options.burst < 1) throw new RangeError("burst must be a whole number of at least 1");
    this.#rate = options.ratePerSecond / 1000;
    this.#burst = options.burst;
    this.#now = options.now ?? Date.now;
    this.#maxPeers = options.maxPeers ?? 10_000;
  }

  /**
   * Spends one token of `peer`'s bucket. Returns 0 when allowed, otherwise
   * the milliseconds until the next token (for a retry hint).
   */
  take(peer: string): number {
    const now = this.#now();
    const key = peerAddress(peer);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxPeers) this.#prune(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    }
    this.#refill(bucket, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.#rate);
  }

  /** Buckets currently held (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #refill(bucket: Bucket, now: number): void {
    // max(0, …): a clock stepped backwards must not drain a bucket.
    bucket.tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#rate);
    bucket.at = now;
  }

  #prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.tokens >= this.#burst) this.#buckets.delete(key);
    }
    // Still full of busy peers: forget the oldest rather than grow without bound.
    // A forgotten peer starts again with a full bucket, which is the lenient error.
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxPeers) break;
      this.#buckets.delete(key);
    }
  }
}

/**
 * The address part of a gRPC peer string: `ipv4:10.0.0.1:5000`,
 * `10.0.0.1:5000`, `[::1]:5000` or `ipv6:[::1]:5000` all name one host.
 */
export function peerAddress(peer: string): string {
  const text = peer.replace(/^ipv[46]:/, "");
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (v6) return v6[1]!.toLowerCase();
  const v4 = /^([^:]+):\d+$/.exec(text);
  return (v4 ? v4[1]! : text).toLowerCase();
}
