import { setTimeout as delay } from "node:timers/promises";
import { inspect } from "node:util";

/**
 * The one way a test waits for something. Deadlines are generous upper bounds,
 * never a statement about speed: on a loaded machine (`npm run test:stress`, CI
 * with noisy neighbours) everything is slower, so every deadline given here or
 * through scaled() is multiplied by MESHFED_TEST_TIME_SCALE (default 1).
 */

const ENV = "MESHFED_TEST_TIME_SCALE";

function readScale(): number {
  const raw = process.env[ENV];
  if (raw === undefined || raw.trim() === "") return 1;
  const n = Number(raw);
  // A typo must not silently shorten or disable every deadline.
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${ENV} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** The factor every test deadline is multiplied by (MESHFED_TEST_TIME_SCALE, default 1). */
export const TIME_SCALE = readScale();

/** A duration (ms) a test allows for something, stretched by MESHFED_TEST_TIME_SCALE. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}

/**
 * Sleeps `ms` × MESHFED_TEST_TIME_SCALE. Only for giving something time NOT to
 * happen (a negative check) — say `why`, so a reader sees it asserts no timing.
 */
export async function quietPeriod(ms: number, why: string): Promise<void> {
  void why;
  await delay(scaled(ms));
}

export interface WaitOptions {
  /** What is being waited for, in words: the failure message starts with it. */
  what: string;
  /** Upper bound before MESHFED_TEST_TIME_SCALE; default 10 s. */
  timeoutMs?: number;
  /** Pause between polls; default 25 ms. */
  intervalMs?: number;
  /** More to say when the wait fails (a log tail, a status document). */
  context?: () => string;
}

/**
 * Thrown by a condition when waiting longer cannot help (the process under
 * test exited): waitFor rethrows it at once instead of polling on.
 */
export class StopWaiting extends Error {
  override name = "StopWaiting";
}

/** A condition's "not yet": anything else, including 0 and "", is the awaited value. */
type NotYet = undefined | null | false;

function show(v: unknown): string {
  return inspect(v, { depth: 4, breakLength: Infinity, maxStringLength: 2000 });
}

/**
 * Polls `condition` until it returns something other than undefined, null or
 * false, and returns that. A condition that throws counts as "not yet" (the
 * thing it reads may not exist yet) unless it throws StopWaiting; the failure reports the last value or
 * error, how many times it was tried and how long it took.
 */
export async function waitFor<T>(condition: () => T | NotYet | Promise<T | NotYet>, options: WaitOptions): Promise<T> {
  const timeoutMs = scaled(options.timeoutMs ?? 10_000);
  const intervalMs = options.intervalMs ?? 25;
  const started = Date.now();
  let last: { value: unknown } | { error: unknown } = { value: undefined };
  let tries = 0;
  for (;;) {
    tries++;
    try {
      const v = await condition();
      if (v !== undefined && v !== null && v !== false) return v;
      last = { value: v };
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      last = { error };
    }
    // Checked after the attempt, so a slow condition still gets its last try.
    if (Date.now() - started >= timeoutMs) break;
    await delay(intervalMs);
  }
  const elapsed = Date.now() - started;
  const lastText = "error" in last ? `last error: ${last.error instanceof Error ? (last.error.stack ?? last.error.message) : show(last.error)}` : `last value: ${show(last.value)}`;
  const scaleNote = TIME_SCALE === 1 ? "" : ` (${options.timeoutMs ?? 10_000} ms × ${ENV}=${TIME_SCALE})`;
  const extra = options.context?.() ?? "";
  throw new Error(
    `timed out waiting for ${options.what}: ${elapsed} ms elapsed, deadline ${timeoutMs} ms${scaleNote}, ${tries} tries; ${lastText}${extra ? `\n${extra}` : ""}`,
    "error" in last ? { cause: last.error } : undefined,
  );
}
