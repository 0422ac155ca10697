/**
 * The resilience parts of config.json (issue 18), rendered from the view's
 * UpstreamTrafficSetting and Retry parts: per outbound service `limits` and
 * `retry`, and `inbound.rateLimit`. Defaults are filled here (osm-edge's and
 * Envoy's, named below), so the scripts only count and compare. Durations
 * are milliseconds (`...Ms`), except `connectTimeout`, which is seconds like
 * the mesh-wide `outbound.connectTimeout` it overrides.
 * Absent when no policy says anything, so renders without these policies stay
 * byte-identical to before.
 */
import type { InboundRateLimitView, RetryView, UpstreamLimitsView } from "../../catalog/resilience-types.js";
import type { CircuitBreaking, HttpLocalRateLimit, LocalRateLimit } from "../../spec/policy-types.js";

/** osm-edge's degraded answer while a circuit breaker is open. */
export const CIRCUIT_BREAKER_DEFAULTS = { degradedStatusCode: 409, degradedResponseContent: "" } as const;
/** Envoy's: one retry, 25 ms backoff base, the backoff capped at 10x the base. */
export const RETRY_DEFAULTS = { numRetries: 1, backoffBaseMs: 25, backoffCapFactor: 10 } as const;
/** osm-edge's status for a request refused by a local rate limit. */
export const RATE_LIMIT_DEFAULT_STATUS = 429;

const UNIT_MS = { second: 1000, minute: 60_000, hour: 3_600_000 } as const;

export interface PipyCircuitBreakerV1 {
  readonly statTimeWindowMs: number;
  readonly minRequestAmount: number;
  readonly degradedTimeWindowMs: number;
  /** A response slower than this counts as slow (absent: slowness is not counted). */
  readonly slowTimeThresholdMs?: number;
  readonly slowAmountThreshold?: number;
  readonly slowRatioThreshold?: number;
  readonly errorAmountThreshold?: number;
  readonly errorRatioThreshold?: number;
  readonly degradedStatusCode: number;
  readonly degradedResponseContent: string;
}

export interface PipyLimitsV1 {
  readonly upstreamTrafficSetting: string;
  readonly connectTimeout?: number;
  /**
   * Requests in progress to the service at once (per Pipy worker), beyond
   * which the sidecar answers 503 at once. HTTP/1: maxConnections +
   * maxPendingRequests (one request per connection, the rest would wait for
   * one, as Envoy's HTTP/1 pool), capped by maxRequests; HTTP/2: maxRequests.
   */
  readonly maxInFlightHttp1?: number;
  readonly maxInFlightHttp2?: number;
  /** TCP connections open to the service at once (ports carrying raw TCP). */
  readonly maxConnections?: number;
  readonly maxRequestsPerConnection?: number;
  readonly maxRetries?: number;
  readonly requestTimeoutMs?: number;
  readonly circuitBreaker?: PipyCircuitBreakerV1;
}

export interface PipyRetryV1 {
  readonly retry: string;
  /** Inclusive status ranges that are retried, sorted, merged. */
  readonly statuses: readonly (readonly [number, number])[];
  /** Retry when no response came (refused, reset, timed out: Pipy's made-up answer, or a per-try timeout). */
  readonly noResponse: boolean;
  readonly numRetries: number;
  readonly perTryTimeoutMs?: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export interface PipyRateLimitV1 {
  /** Tokens per millisecond. */
  readonly ratePerMs: number;
  /** Bucket size: the amount of one unit plus the burst (Envoy's max_tokens as osm-edge sets it). */
  readonly capacity: number;
}

export interface PipyHttpRateLimitV1 extends PipyRateLimitV1 {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

export interface PipyInboundRateLimitV1 {
  readonly upstreamTrafficSetting: string;
  readonly tcp?: PipyRateLimitV1;
  readonly http?: PipyHttpRateLimitV1;
  /** Anchored path regular expressions, first match wins. */
  readonly routes: readonly { readonly path: string; readonly rateLimit: PipyHttpRateLimitV1 }[];
}

const opt = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

const sum = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : a + b);
const min = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

export function pipyLimits(l: UpstreamLimitsView): PipyLimitsV1 {
  // Only maxConnections without maxPendingRequests leaves HTTP/1 unbounded, as Envoy's 1024 pending default nearly does.
  const http1 = min(l.maxRequests, sum(l.maxConnections, l.maxPendingRequests));
  return {
    upstreamTrafficSetting: l.upstreamTrafficSetting,
    ...opt("connectTimeout", l.connectTimeoutMs === undefined ? undefined : l.connectTimeoutMs / 1000),
    ...opt("maxInFlightHttp1", http1),
    ...opt("maxInFlightHttp2", l.maxRequests),
    ...opt("maxConnections", l.maxConnections),
    ...opt("maxRequestsPerConnection", l.maxRequestsPerConnection),
    ...opt("maxRetries", l.maxRetries),
    ...opt("requestTimeoutMs", l.requestTimeoutMs),
    ...opt("circuitBreaker", l.circuitBreaking ? circuitBreaker(l.circuitBreaking) : undefined),
  };
}

function circuitBreaker(c: CircuitBreaking): PipyCircuitBreakerV1 {
  return {
    statTimeWindowMs: c.statTimeWindowMs,
    minRequestAmount: c.minRequestAmount,
    degradedTimeWindowMs: c.degradedTimeWindowMs,
    ...opt("slowTimeThresholdMs", c.slowTimeThresholdMs),
    ...opt("slowAmountThreshold", c.slowAmountThreshold),
    ...opt("slowRatioThreshold", c.slowRatioThreshold),
    ...opt("errorAmountThreshold", c.errorAmountThreshold),
    ...opt("errorRatioThreshold", c.errorRatioThreshold),
    degradedStatusCode: c.degradedStatusCode ?? CIRCUIT_BREAKER_DEFAULTS.degradedStatusCode,
    degradedResponseContent: c.degradedResponseContent ?? CIRCUIT_BREAKER_DEFAULTS.degradedResponseContent,
  };
}

/**
 * Envoy's retry_on conditions as status ranges. `5xx` and `gateway-error`
 * include "no response" (Envoy: connect failure, reset, timeout), as do
 * `reset` and `connect-failure`: Pipy 1.5.18 answers all of those with one
 * kind of made-up response, so the sidecar cannot tell them apart.
 * `retriable-4xx` is 409, as in Envoy. Unknown words are ignored (the spec
 * layer validates them).
 */
export function retryStatuses(retryOn: readonly string[]): { statuses: [number, number][]; noResponse: boolean } {
  const ranges: [number, number][] = [];
  let noResponse = false;
  for (const raw of retryOn) {
    const word = raw.trim().toLowerCase();
    if (word === "5xx") { ranges.push([500, 599]); noResponse = true; }
    else if (word === "gateway-error") { ranges.push([502, 504]); noResponse = true; }
    else if (word === "reset" || word === "connect-failure") noResponse = true;
    else if (word === "retriable-4xx") ranges.push([409, 409]);
    else if (/^[1-5][0-9][0-9]$/.test(word)) ranges.push([Number(word), Number(word)]);
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return { statuses: merged, noResponse };
}

export function pipyRetry(r: RetryView): PipyRetryV1 {
  const base = r.retryBackoffBaseIntervalMs ?? RETRY_DEFAULTS.backoffBaseMs;
  return {
    retry: r.retry,
    ...retryStatuses(r.retryOn),
    numRetries: r.numRetries ?? RETRY_DEFAULTS.numRetries,
    ...opt("perTryTimeoutMs", r.perTryTimeoutMs),
    backoffBaseMs: base,
    backoffMaxMs: base * RETRY_DEFAULTS.backoffCapFactor,
  };
}

function bucket(l: LocalRateLimit): PipyRateLimitV1 {
  return { ratePerMs: l.amount / UNIT_MS[l.unit], capacity: l.amount + l.burst };
}

function httpBucket(l: HttpLocalRateLimit): PipyHttpRateLimitV1 {
  return {
    ...bucket(l),
    status: l.responseStatusCode ?? RATE_LIMIT_DEFAULT_STATUS,
    headers: Object.fromEntries(l.responseHeadersToAdd.map((h) => [h.name.toLowerCase(), h.value])),
  };
}

export function pipyInboundRateLimit(r: InboundRateLimitView): PipyInboundRateLimitV1 {
  return {
    upstreamTrafficSetting: r.upstreamTrafficSetting,
    ...opt("tcp", r.tcp ? bucket(r.tcp) : undefined),
    ...opt("http", r.http ? httpBucket(r.http) : undefined),
    routes: r.routes.map((x) => ({ path: `^(?:${x.path})$`, rateLimit: httpBucket(x.rateLimit) })),
  };
}
