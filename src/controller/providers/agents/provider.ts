/**
 * Endpoints announced by connected agents (DESIGN.md §2, providers/agents).
 * The proxy control plane calls announce() when a proxy's Hello has been
 * validated and withdraw() when its stream ends; this provider knows nothing
 * of gRPC. With self-registration off, the composition root tells the catalog
 * to count these endpoints only when another provider lists them too.
 */
import { Listeners } from "../../../common/emitter.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { parseServiceKey, serviceKey, type ServiceKey, type ServiceRef } from "../../../common/service.js";
import type { EndpointProvider, ProviderEndpoint, ProviderStatus, ServiceEndpoints } from "../types.js";

export const AGENTS_PROVIDER_ID = "agents";

interface Announcement {
  readonly service: ServiceKey;
  readonly endpoints: readonly { ip: string; port: number }[];
}

export class AgentsProvider implements EndpointProvider {
  readonly id = AGENTS_PROVIDER_ID;
  readonly #byProxy = new Map<string, Announcement>();
  /** service → proxy ids announcing for it. */
  readonly #byService = new Map<ServiceKey, Set<string>>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  readonly #metrics: ControllerMetrics | undefined;
  #lastChange: string | null = null;

  constructor(options: { metrics?: ControllerMetrics } = {}) {
    this.#metrics = options.metrics;
  }

  /** Nothing to list: agents announce themselves as they connect. */
  async start(): Promise<void> {
    this.#lastChange = new Date().toISOString();
  }

  announce(proxyId: string, service: ServiceRef, endpoints: readonly { ip: string; port: number }[]): void {
    const key = serviceKey(service);
    const previous = this.#byProxy.get(proxyId);
    this.#byProxy.set(proxyId, { service: key, endpoints: [...endpoints] });
    this.#index(proxyId, previous?.service, key);
    this.#changed(previous && previous.service !== key ? [previous.service, key] : [key]);
  }

  withdraw(proxyId: string): void {
    const previous = this.#byProxy.get(proxyId);
    if (!previous) return;
    this.#byProxy.delete(proxyId);
    this.#index(proxyId, previous.service, undefined);
    this.#changed([previous.service]);
  }

  #index(proxyId: string, from: ServiceKey | undefined, to: ServiceKey | undefined): void {
    if (from !== undefined && from !== to) {
      const set = this.#byService.get(from);
      set?.delete(proxyId);
      if (set?.size === 0) this.#byService.delete(from);
    }
    if (to !== undefined) {
      let set = this.#byService.get(to);
      if (!set) this.#byService.set(to, (set = new Set()));
      set.add(proxyId);
    }
  }

  #changed(keys: ServiceKey[]): void {
    this.#lastChange = new Date().toISOString();
    this.#metrics?.providerServices.set({ provider: this.id }, this.#byService.size);
    this.#metrics?.providerEndpoints.set({ provider: this.id }, [...this.#byProxy.values()].reduce((n, a) => n + a.endpoints.length, 0));
    this.#listeners.emit(keys);
  }

  *services(): Iterable<ServiceEndpoints> {
    for (const key of this.#byService.keys()) yield { service: parseServiceKey(key), endpoints: this.endpoints(key) ?? [] };
  }

  endpoints(key: ServiceKey): readonly ProviderEndpoint[] | undefined {
    const proxies = this.#byService.get(key);
    if (!proxies) return undefined;
    const out: ProviderEndpoint[] = [];
    for (const proxyId of [...proxies].sort()) {
      for (const e of this.#byProxy.get(proxyId)?.endpoints ?? []) out.push({ ip: e.ip, port: e.port, source: `proxy/${proxyId}` });
    }
    return out;
  }

  on(_event: "change", fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#listeners.add(fn);
  }

  status(): ProviderStatus {
    return {
      id: this.id, kind: "endpoints", state: "synced", lastSync: this.#lastChange, lastError: null,
      counts: { proxies: this.#byProxy.size, services: this.#byService.size },
    };
  }
}
