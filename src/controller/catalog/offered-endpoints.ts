/**
 * Which endpoints a caller is offered (issue 23; the rule is in docs/pipy.md,
 * "Endpoints whose proxy is gone"). An endpoint whose proxy the mesh knows to
 * be gone (a provider's `goneEndpoints`: an agent announced it, then left) is
 * left out while another endpoint on the same service port can take its
 * traffic, and offered as a last resort when none can: a stale answer beats
 * none when the controller is wrong, and the sidecar retries elsewhere anyway.
 * An endpoint no proxy ever announced (a plain hosts-file entry) is never
 * left out: nothing says a proxy was expected there.
 *
 * An endpoint whose agent's health probe says "unhealthy" (docs/agent.md,
 * "Health probes") is never offered, not even as a last resort: that is the
 * probe's whole point, and it is what Kubernetes does with a pod that is not
 * ready. A service whose endpoints are all unhealthy has none (fail closed).
 */
import type { ServiceKey } from "../../common/service.js";
import type { EndpointProvider } from "../providers/types.js";
import type { CatalogEndpoint } from "./types.js";

/** The endpoints of a service known to have no proxy any more, as `ip|port`. */
export interface EndpointLiveness {
  gone(service: ServiceKey): ReadonlySet<string> | undefined;
  /** The endpoints of a service whose health probe fails, as `ip|port`; optional (none). */
  unhealthy?(service: ServiceKey): ReadonlySet<string> | undefined;
}

export const ALL_LIVE: EndpointLiveness = { gone: () => undefined };

/** Liveness from the providers that know proxies (those implementing goneEndpoints). */
export function providersLiveness(providers: readonly Pick<EndpointProvider, "goneEndpoints">[]): EndpointLiveness {
  const knowing = providers.filter((p) => p.goneEndpoints !== undefined);
  if (knowing.length === 0) return ALL_LIVE;
  return {
    gone(service) {
      let out: Set<string> | undefined;
      for (const p of knowing) for (const e of p.goneEndpoints!(service) ?? []) (out ??= new Set()).add(`${e.ip}|${e.port}`);
      return out;
    },
  };
}

export interface EndpointPool {
  readonly service: ServiceKey;
  readonly endpoints: readonly CatalogEndpoint[];
}

/**
 * The endpoints to offer from pools that one outbound service reaches (its
 * own endpoints and its TrafficSplit backends'), in the pools' order. The
 * last resort is decided per service port over all the pools together, so a
 * backend whose proxies are all gone drops out of a split while another
 * backend serves that port, and nothing is dropped on a port only gone
 * endpoints serve.
 */
export function offeredEndpoints(all: readonly EndpointPool[], liveness: EndpointLiveness): CatalogEndpoint[][] {
  const pools = withoutUnhealthy(all, liveness);
  const gone = pools.map((p) => liveness.gone(p.service));
  if (gone.every((g) => g === undefined || g.size === 0)) return pools.map((p) => [...p.endpoints]);
  const isGone = (i: number, e: CatalogEndpoint) => gone[i]?.has(`${e.ip}|${e.port}`) === true;
  const livePorts = new Set<number>();
  pools.forEach((p, i) => {
    for (const e of p.endpoints) if (!isGone(i, e)) livePorts.add(e.port);
  });
  return pools.map((p, i) => p.endpoints.filter((e) => !isGone(i, e) || !livePorts.has(e.port)));
}

/** The pools minus their unhealthy endpoints (the same objects when none is). */
function withoutUnhealthy(pools: readonly EndpointPool[], liveness: EndpointLiveness): readonly EndpointPool[] {
  if (liveness.unhealthy === undefined) return pools;
  return pools.map((p) => {
    const bad = liveness.unhealthy!(p.service);
    return bad === undefined || bad.size === 0 ? p : { service: p.service, endpoints: p.endpoints.filter((e) => !bad.has(`${e.ip}|${e.port}`)) };
  });
}
