/**
 * Endpoints announced by connected agents (DESIGN.md §2, providers/agents).
 * The proxy control plane calls announce() when a proxy's Hello has been
 * validated and withdraw() when its stream ends; this provider knows nothing
 * of gRPC. With self-registration off, the composition root tells the catalog
 * to count these endpoints only when another provider lists them too.
 *
 * With replicas (docs/ha.md) an announcement has an origin: "local" for a
 * stream to this process, or the id of the replica that holds the stream
 * (mirrored through the store by ha/agent-registrations.ts). A proxy that
 * moved between replicas may briefly be announced from both; it is counted
 * once, local first.
 */
import type { AppProtocol } from "../../../common/app-protocol.js";
import { Listeners } from "../../../common/emitter.js";
import { declared } from "../endpoint-lists.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { parseServiceKey, serviceKey, type ServiceKey, type ServiceRef } from "../../../common/service.js";
import type { EndpointProvider, ProviderEndpoint, ProviderStatus, ServiceEndpoints } from "../types.js";

export const AGENTS_PROVIDER_ID = "agents";

/** One endpoint a proxy announced: its Hello's declaration plus the account of its certificate. */
export interface AnnouncedEndpoint {
  readonly ip: string;
  readonly port: number;
  readonly protocol?: AppProtocol;
  readonly serviceAccount?: string;
}
export const LOCAL_ORIGIN = "local";

export interface LocalAnnouncement {
  readonly proxyId: string;
  /** Undefined when the proxy withdrew. */
  readonly service: ServiceKey | undefined;
  readonly endpoints: readonly AnnouncedEndpoint[];
}

interface Announcement {
  readonly service: ServiceKey;
  readonly endpoints: readonly AnnouncedEndpoint[];
}

export class AgentsProvider implements EndpointProvider {
  readonly id = AGENTS_PROVIDER_ID;
  /** `origin|proxyId` → what it announced. */
  readonly #byProxy = new Map<string, Announcement>();
  /** service → `origin|proxyId` keys announcing for it. */
  readonly #byService = new Map<ServiceKey, Set<string>>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  readonly #local = new Listeners<LocalAnnouncement>();
  readonly #metrics: ControllerMetrics | undefined;
  #lastChange: string | null = null;

  constructor(options: { metrics?: ControllerMetrics } = {}) {
    this.#metrics = options.metrics;
  }

  /** Nothing to list: agents announce themselves as they connect. */
  async start(): Promise<void> {
    this.#lastChange = new Date().toISOString();
  }

  announce(proxyId: string, service: ServiceRef, endpoints: readonly AnnouncedEndpoint[], origin = LOCAL_ORIGIN): void {
    const key = serviceKey(service);
    const id = `${origin}|${proxyId}`;
    const previous = this.#byProxy.get(id);
    this.#byProxy.set(id, { service: key, endpoints: [...endpoints] });
    this.#index(id, previous?.service, key);
    this.#changed(previous && previous.service !== key ? [previous.service, key] : [key]);
    if (origin === LOCAL_ORIGIN) this.#local.emit({ proxyId, service: key, endpoints });
  }

  withdraw(proxyId: string, origin = LOCAL_ORIGIN): void {
    const id = `${origin}|${proxyId}`;
    const previous = this.#byProxy.get(id);
    if (!previous) return;
    this.#byProxy.delete(id);
    this.#index(id, previous.service, undefined);
    this.#changed([previous.service]);
    if (origin === LOCAL_ORIGIN) this.#local.emit({ proxyId, service: undefined, endpoints: [] });
  }

  /** Announcements and withdrawals of proxies connected to this process (to share them with replicas). */
  onLocal(fn: (announcement: LocalAnnouncement) => void): () => void {
    return this.#local.add(fn);
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
    const ids = this.#byService.get(key);
    if (!ids) return undefined;
    const out: ProviderEndpoint[] = [];
    const seen = new Set<string>();
    // Sorted by proxy id, the local origin first for the same proxy.
    const sorted = [...ids].map((id) => ({ id, proxyId: id.slice(id.indexOf("|") + 1), local: id.startsWith(`${LOCAL_ORIGIN}|`) }))
      .sort((a, b) => (a.proxyId !== b.proxyId ? (a.proxyId < b.proxyId ? -1 : 1) : a.local === b.local ? (a.id < b.id ? -1 : 1) : a.local ? -1 : 1));
    for (const { id, proxyId } of sorted) {
      if (seen.has(proxyId)) continue;
      seen.add(proxyId);
      for (const e of this.#byProxy.get(id)?.endpoints ?? []) out.push({ ip: e.ip, port: e.port, source: `proxy/${proxyId}`, ...declared(e) });
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
