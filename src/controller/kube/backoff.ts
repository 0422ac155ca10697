/**
 * Exponential backoff with full jitter ("AWS backoff"): attempt n waits a
 * random time in [initial * 2^(n-1) / 2, initial * 2^(n-1)], capped at max.
 * Jitter keeps N controller replicas that lost the API server together from
 * relisting together when it comes back.
 */
export interface BackoffOptions {
  /** Delay before the first retry. Default 500 ms. */
  readonly initialMs?: number;
  /** Upper bound. Default 30 s. */
  readonly maxMs?: number;
}

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

/** `attempt` counts from 1; `random` is injectable for tests. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const max = Math.max(initial, options.maxMs ?? DEFAULT_BACKOFF.maxMs);
  const ceiling = Math.min(max, initial * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
