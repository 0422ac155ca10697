/**
 * Exponential backoff with FULL jitter: the n-th delay is uniform in
 * [0, min(cap, base·2^n)). After a controller outage thousands of agents
 * retry; full jitter spreads them over the whole window instead of
 * bunching them at the same exponential steps ("Exponential Backoff And
 * Jitter", AWS architecture blog, 2015).
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
  /** [0, 1); injectable so tests can pin the jitter. */
  readonly random?: () => number;
}

export class Backoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#baseMs = options.baseMs;
    this.#capMs = options.capMs;
    this.#random = options.random ?? Math.random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling of the next delay (before jitter). */
  ceiling(): number {
    // 2^n overflows to Infinity long after it passed any sane cap; min() handles that.
    return Math.min(this.#capMs, this.#baseMs * 2 ** Math.min(this.#attempt, 52));
  }

  next(): number {
    const delay = Math.floor(this.#random() * this.ceiling());
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
