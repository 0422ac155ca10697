/**
 * osm-edge's UpstreamTrafficSetting and Retry, indexed the ways a proxy view
 * asks for them (issue 18; semantics in docs/dataplane.md, "Resilience"):
 * - an UpstreamTrafficSetting whose host names a mesh service gives every
 *   caller of that service its client-side limits (connections, requests,
 *   retry budget, timeouts, circuit breaking), and the service's own proxies
 *   their inbound local rate limits;
 * - a Retry gives its source identity's proxy a retry policy towards each of
 *   its destination services.
 * Precedence, when two objects say something about the same thing: the
 * first by `namespace/name` wins, the others are listed in `shadowed` (the
 * spec store reports duplicates; the outcome here must at least be
 * deterministic, whatever order the sources list them in).
 * An UpstreamTrafficSetting for a host that is not a mesh service (an egress
 * host) has no effect here; one for a mesh service that does not exist yet
 * applies as soon as the service appears.
 */
import type { ServiceKey } from "../../common/service.js";
import type { PolicySnapshot, Retry, UpstreamTrafficSetting } from "../spec/policy-types.js";
import type { IdentityRef } from "../spec/types.js";
import type { InboundRateLimitView, RetryView, UpstreamLimitsView } from "./resilience-types.js";
import type { OutboundService, ProxyView } from "./types.js";

const keyOf = (o: { namespace: string; name: string }): string => `${o.namespace}/${o.name}`;
const byKey = <T extends { namespace: string; name: string }>(a: T, b: T): number => {
  const x = keyOf(a);
  const y = keyOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

export class ResilienceIndex {
  readonly #settings = new Map<ServiceKey, UpstreamTrafficSetting>();
  /** `source identity key` -> destination service key -> Retry. */
  readonly #retries = new Map<string, Map<ServiceKey, Retry>>();
  /** Objects (or parts) that lost to another one, with the reason. */
  readonly shadowed: readonly string[];

  constructor(policies: Pick<PolicySnapshot, "upstreamTrafficSettings" | "retries">) {
    const shadowed: string[] = [];
    for (const s of [...policies.upstreamTrafficSettings].sort(byKey)) {
      if (!s.service) continue;
      const service = keyOf(s.service);
      const winner = this.#settings.get(service);
      if (winner) shadowed.push(`UpstreamTrafficSetting ${keyOf(s)}: ${service} already has ${keyOf(winner)}`);
      else this.#settings.set(service, s);
    }
    for (const r of [...policies.retries].sort(byKey)) {
      const source = keyOf(r.source);
      let forSource = this.#retries.get(source);
      if (!forSource) this.#retries.set(source, (forSource = new Map<ServiceKey, Retry>()));
      for (const d of r.destinations) {
        const destination = keyOf(d);
        const winner = forSource.get(destination);
        if (winner && winner !== r) shadowed.push(`Retry ${keyOf(r)}: ${source} -> ${destination} already has ${keyOf(winner)}`);
        else forSource.set(destination, r);
      }
    }
    this.shadowed = shadowed;
  }

  /** The client-side limits for calls to `service`, or undefined when none is configured. */
  limitsFor(service: ServiceKey): UpstreamLimitsView | undefined {
    const s = this.#settings.get(service);
    if (!s) return undefined;
    const view: UpstreamLimitsView = {
      upstreamTrafficSetting: keyOf(s),
      ...defined("connectTimeoutMs", s.tcp?.connectTimeoutMs),
      ...defined("maxConnections", s.tcp?.maxConnections),
      ...defined("maxRequests", s.http?.maxRequests),
      ...defined("maxPendingRequests", s.http?.maxPendingRequests),
      ...defined("maxRequestsPerConnection", s.http?.maxRequestsPerConnection),
      ...defined("maxRetries", s.http?.maxRetries),
      ...defined("requestTimeoutMs", s.http?.requestTimeoutMs),
      ...defined("circuitBreaking", s.http?.circuitBreaking),
    };
    return Object.keys(view).length > 1 ? view : undefined;
  }

  /** The inbound rate limits of `service`'s own proxies, or undefined. */
  inboundFor(service: ServiceKey): InboundRateLimitView | undefined {
    const s = this.#settings.get(service);
    if (!s) return undefined;
    const routes = s.httpRoutes.flatMap((r) => (r.rateLimit ? [{ path: r.path, rateLimit: r.rateLimit }] : []));
    if (!s.rateLimit?.tcp && !s.rateLimit?.http && routes.length === 0) return undefined;
    return {
      upstreamTrafficSetting: keyOf(s),
      ...defined("tcp", s.rateLimit?.tcp),
      ...defined("http", s.rateLimit?.http),
      routes,
    };
  }

  /** The retry policy of `source`'s proxy towards `destination`, or undefined (the driver's default). */
  retryFor(source: IdentityRef, destination: ServiceKey): RetryView | undefined {
    const r = this.#retries.get(keyOf(source))?.get(destination);
    if (!r) return undefined;
    const p = r.retryPolicy;
    return {
      retry: keyOf(r),
      retryOn: p.retryOn,
      ...defined("numRetries", p.numRetries),
      ...defined("perTryTimeoutMs", p.perTryTimeoutMs),
      ...defined("retryBackoffBaseIntervalMs", p.retryBackoffBaseIntervalMs),
    };
  }
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/**
 * Outbound services with their resilience parts, and the proxy's own inbound
 * rate limit. Services no policy touches come back as the same objects, so
 * renders without these policies stay byte-identical to before.
 */
export function resilienceParts(
  index: ResilienceIndex, own: ServiceKey, identity: IdentityRef, outbound: readonly OutboundService[],
): { outbound: OutboundService[]; rateLimit?: InboundRateLimitView } {
  const rateLimit = index.inboundFor(own);
  const decorated = outbound.map((o): OutboundService => {
    const key = keyOf(o.service);
    const limits = index.limitsFor(key);
    const retry = index.retryFor(identity, key);
    return limits || retry ? { ...o, ...(limits ? { limits } : {}), ...(retry ? { retry } : {}) } : o;
  });
  return { outbound: decorated, ...(rateLimit ? { rateLimit } : {}) };
}

/** The whole view with its resilience parts (the same as the catalog's view builder adds them). */
export function withResilience(view: ProxyView, index: ResilienceIndex): ProxyView {
  const { outbound, rateLimit } = resilienceParts(index, keyOf(view.proxy.service), view.proxy.identity, view.outbound);
  return { ...view, inbound: rateLimit ? { ...view.inbound, rateLimit } : view.inbound, outbound };
}
