/**
 * The wall clock, injectable. Certificate validity, renewal points and token
 * expiry are decisions about wall-clock time, and a test must be able to
 * jump a day ahead without waiting one (the outage-budget test). Elapsed
 * time for timers and backoff stays on the real clock: warping it would not
 * make a socket time out sooner.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
