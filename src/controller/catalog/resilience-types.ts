/**
 * The resilience parts of a ProxyView (issue 18): what osm-edge's
 * UpstreamTrafficSetting and Retry objects mean for one proxy. Durations in
 * milliseconds; an absent field is "not configured" (the renderer knows the
 * defaults, so `--explain` can tell a configured value from a default one).
 * Each part names the policy object it comes from (`namespace/name`).
 */
import type { CircuitBreaking, HttpLocalRateLimit, LocalRateLimit } from "../spec/policy-types.js";

/** The client side of an UpstreamTrafficSetting: what a caller's proxy applies to traffic to the service. */
export interface UpstreamLimitsView {
  readonly upstreamTrafficSetting: string;
  readonly connectTimeoutMs?: number;
  readonly maxConnections?: number;
  readonly maxRequests?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequestsPerConnection?: number;
  /** A retry budget: requests to this service that are retrying, at once. */
  readonly maxRetries?: number;
  readonly requestTimeoutMs?: number;
  readonly circuitBreaking?: CircuitBreaking;
}

/** A Retry object's policy for this proxy (the source) towards one destination service. */
export interface RetryView {
  readonly retry: string;
  readonly retryOn: readonly string[];
  readonly numRetries?: number;
  readonly perTryTimeoutMs?: number;
  readonly retryBackoffBaseIntervalMs?: number;
}

/** The upstream side of an UpstreamTrafficSetting: local rate limits on the proxy's own inbound. */
export interface InboundRateLimitView {
  readonly upstreamTrafficSetting: string;
  /** New connections, whatever their protocol. */
  readonly tcp?: LocalRateLimit;
  /** HTTP requests not taken by a route below. */
  readonly http?: HttpLocalRateLimit;
  /** Per route: `path` is a regular expression over the whole path (as in HTTPRouteGroup). */
  readonly routes: readonly { readonly path: string; readonly rateLimit: HttpLocalRateLimit }[];
}
