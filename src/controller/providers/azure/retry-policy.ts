/**
 * Our retry policy for ARM requests, installed in both SDK clients with their
 * own retries turned off (`retryOptions.maxRetries: 0`). Why not the SDK's:
 *  - it sleeps for whatever Retry-After says, unbounded; one `Retry-After:
 *    3600` would freeze a resource group's sync for an hour with no trace in
 *    status. Here a wait longer than `maxRetryAfterMs` is not slept: the
 *    request fails as throttled and the scheduler waits until then instead;
 *  - the SDK's nextLink page requests carry no abort signal; this policy
 *    attaches the provider's stop signal to every request, so stopping
 *    aborts in-flight pages and pending waits alike (no leaked handles);
 *  - it reports each throttle to the provider (logs, status).
 * 429 and 503 honour Retry-After (seconds or HTTP date, or retry-after-ms);
 * without it, and for 408/500/502/504 and socket errors, waits grow
 * exponentially with full jitter up to `maxDelayMs`.
 */
import type { PipelinePolicy, PipelineRequest, PipelineResponse } from "@azure/core-rest-pipeline";

export interface ArmRetryOptions {
  readonly signal: AbortSignal;
  /** Retries after the first attempt. Default 4. */
  readonly maxRetries?: number;
  /** First backoff step. Default 500 ms. */
  readonly baseDelayMs?: number;
  /** Cap of one backoff wait. Default 30 s. */
  readonly maxDelayMs?: number;
  /** The longest Retry-After we sleep inside one sync. Default 60 s. */
  readonly maxRetryAfterMs?: number;
  /** Told of every throttled answer: its status, the wait asked (or chosen) and whether we will retry. */
  readonly onThrottle?: (event: ThrottleEvent) => void;
  readonly random?: () => number;
}

export interface ThrottleEvent {
  readonly status: number;
  readonly url: string;
  readonly waitMs: number;
  /** True when Retry-After was given by the server (as opposed to our backoff). */
  readonly retryAfter: boolean;
  readonly retrying: boolean;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function armRetryPolicy(options: ArmRetryOptions): PipelinePolicy {
  const maxRetries = options.maxRetries ?? 4;
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 30_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 60_000;
  const random = options.random ?? Math.random;
  const backoff = (attempt: number): number => Math.round(random() * Math.min(cap, base * 2 ** attempt));
  return {
    name: "meshfedArmRetry",
    async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
      request.abortSignal = request.abortSignal === undefined ? options.signal : AbortSignal.any([request.abortSignal as AbortSignal, options.signal]);
      for (let attempt = 0; ; attempt++) {
        // core-client's deserialization policy (arm-network) turns an error
        // status into a thrown RestError carrying the response; the compute
        // client returns the response. Both are handled alike.
        let response: PipelineResponse;
        let failure: { error: unknown } | undefined;
        try {
          response = await next(request);
        } catch (err) {
          const carried = (err as { response?: PipelineResponse } | null)?.response;
          if (carried === undefined || !RETRY_STATUS.has(carried.status)) {
            if (options.signal.aborted || attempt >= maxRetries || !isTransient(err)) throw err;
            await sleep(backoff(attempt), options.signal);
            continue;
          }
          response = carried;
          failure = { error: err };
        }
        if (!RETRY_STATUS.has(response.status)) return response;
        const throttled = response.status === 429 || response.status === 503;
        const asked = throttled ? retryAfterMs(response) : undefined;
        const waitMs = asked ?? backoff(attempt);
        const retrying = attempt < maxRetries && waitMs <= maxRetryAfter && !options.signal.aborted;
        if (throttled) options.onThrottle?.({ status: response.status, url: request.url, waitMs, retryAfter: asked !== undefined, retrying });
        if (!retrying) {
          if (failure !== undefined) throw failure.error;
          return response;
        }
        await sleep(waitMs, options.signal);
      }
    },
  };
}

/** Retry-After in ms from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` (seconds or HTTP date). */
export function retryAfterMs(response: PipelineResponse, now = Date.now()): number | undefined {
  for (const header of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const v = response.headers.get(header);
    if (v !== undefined && /^\d+$/.test(v.trim())) return Number(v);
  }
  const v = response.headers.get("retry-after")?.trim();
  if (v === undefined || v === "") return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "REQUEST_SEND_ERROR" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "ECONNREFUSED";
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
