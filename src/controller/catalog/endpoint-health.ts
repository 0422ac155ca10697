/**
 * The probed health of endpoints, as of the catalog's last update
 * (docs/agent.md, "Health probes"). Providers that hear from agents report
 * it (`endpointHealth`); the catalog re-reads a service's health when it
 * re-reads its endpoints, so what proxies are sent and what `meshfed catalog`
 * shows change together. A change of the unhealthy set alone (the same
 * endpoints) is reported as a change of the service; a new reason alone
 * changes no proxy view, so no rendered hash, and nothing is sent.
 */
import type { ServiceKey } from "../../common/service.js";
import type { EndpointHealthInfo, EndpointProvider } from "../providers/types.js";
import type { CatalogEndpoint, CatalogService, EndpointHealthView } from "./types.js";

export class EndpointHealthIndex {
  readonly #providers: readonly Pick<EndpointProvider, "endpointHealth">[];
  readonly #views = new Map<ServiceKey, Map<string, EndpointHealthView>>();
  readonly #unhealthy = new Map<ServiceKey, Set<string>>();

  constructor(providers: readonly Pick<EndpointProvider, "endpointHealth">[]) {
    this.#providers = providers.filter((p) => p.endpointHealth !== undefined);
  }

  /** Re-reads one service; true when its set of unhealthy endpoints changed. */
  update(key: ServiceKey): boolean {
    const views = new Map<string, EndpointHealthView>();
    for (const p of this.#providers) for (const h of p.endpointHealth!(key) ?? []) if (!views.has(`${h.ip}|${h.port}`)) views.set(`${h.ip}|${h.port}`, toView(h));
    const bad = new Set([...views].filter(([, v]) => v.state === "unhealthy").map(([k]) => k));
    const before = this.#unhealthy.get(key);
    const changed = (before?.size ?? 0) !== bad.size || [...bad].some((k) => !before!.has(k));
    if (views.size === 0) this.#views.delete(key);
    else this.#views.set(key, views);
    if (bad.size === 0) this.#unhealthy.delete(key);
    else this.#unhealthy.set(key, bad);
    return changed;
  }

  unhealthy(key: ServiceKey): ReadonlySet<string> | undefined {
    return this.#unhealthy.get(key);
  }

  get unhealthyCount(): number {
    let n = 0;
    for (const s of this.#unhealthy.values()) n += s.size;
    return n;
  }

  of(key: ServiceKey, ip: string, port: number): EndpointHealthView | undefined {
    return this.#views.get(key)?.get(`${ip}|${port}`);
  }

  /** The service with each probed endpoint's health attached (the same object when none is probed). */
  decorate(service: CatalogService): CatalogService {
    const views = this.#views.get(`${service.namespace}/${service.name}`);
    if (views === undefined) return service;
    const endpoints = service.endpoints.map((e): CatalogEndpoint => {
      const health = views.get(`${e.ip}|${e.port}`);
      return health === undefined ? e : { ...e, health };
    });
    return { ...service, endpoints };
  }
}

function toView(h: EndpointHealthInfo): EndpointHealthView {
  return { state: h.state, reason: h.reason, since: h.since, probe: h.probe, source: h.source };
}
