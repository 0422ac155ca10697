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
import type { EndpointHealthInfo, EndpointProvider, ProviderEndpoint, ProviderStatus, ServiceEndpoints } from "../types.js";

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
  /** Proxy ids announced by another replica (the proxy's stream is there now). */
  readonly #remote = new Listeners<string>();
  /** proxyId → how many origins announce it now (a proxy moving between replicas has two briefly). */
  readonly #origins = new Map<string, number>();
  /**
   * proxyId → its last announcement, for proxies that withdrew from every
   * origin and have not come back: their endpoints are "gone" (issue 23).
   * Dropped when the proxy announces again or another proxy announces all of
   * its endpoints; in memory only, so a controller restart forgets them.
   */
  readonly #gone = new Map<string, Announcement>();
  /** service → proxyIds in #gone for it. */
  readonly #goneByService = new Map<ServiceKey, Set<string>>();
  /** `origin|proxyId` → the probed health of its endpoints (docs/agent.md, "Health probes"); dropped on withdraw. */
  readonly #health = new Map<string, readonly EndpointHealthInfo[]>();
  readonly #metrics: ControllerMetrics | undefined;
  #lastChange: string | null = null;
  /** Endpoints over every announcement, kept as they change: summing them per change was a scan of every proxy. */
  #endpointCount = 0;

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
    if (origin !== LOCAL_ORIGIN) this.#remote.emit(proxyId);
    this.#byProxy.set(id, { service: key, endpoints: [...endpoints] });
    this.#endpointCount += endpoints.length - (previous?.endpoints.length ?? 0);
    if (!previous) this.#origins.set(proxyId, (this.#origins.get(proxyId) ?? 0) + 1);
    this.#index(id, previous?.service, key);
    const goneBefore = this.#gone.size;
    const back = this.#forgetGone(proxyId, key, endpoints);
    // The same proxy announcing exactly what it announced (a reconnect within
    // the control plane's grace) changes no view: no change event, so its
    // callers are not re-rendered for nothing, once per agent of a storm.
    if (previous?.service === key && this.#gone.size === goneBefore && sameEndpoints(previous.endpoints, endpoints)) {
      if (origin === LOCAL_ORIGIN) this.#local.emit({ proxyId, service: key, endpoints });
      return;
    }
    const changed = new Set<ServiceKey>([key, ...back]);
    if (previous) changed.add(previous.service);
    this.#changed([...changed]);
    if (origin === LOCAL_ORIGIN) this.#local.emit({ proxyId, service: key, endpoints });
  }

  withdraw(proxyId: string, origin = LOCAL_ORIGIN): void {
    const id = `${origin}|${proxyId}`;
    const previous = this.#byProxy.get(id);
    if (!previous) return;
    this.#byProxy.delete(id);
    this.#endpointCount -= previous.endpoints.length;
    this.#health.delete(id);
    const left = (this.#origins.get(proxyId) ?? 1) - 1;
    if (left > 0) this.#origins.set(proxyId, left);
    else {
      this.#origins.delete(proxyId);
      // Gone from every origin: what it fronted is known to have no proxy now.
      if (previous.endpoints.length > 0) this.#rememberGone(proxyId, previous);
    }
    this.#index(id, previous.service, undefined);
    this.#changed([previous.service]);
    if (origin === LOCAL_ORIGIN) this.#local.emit({ proxyId, service: undefined, endpoints: [] });
  }

  /**
   * The probed health of a proxy's endpoints, complete (an empty list: no
   * probes). Only endpoints it announced count; a change is reported for its
   * service when anything a caller or `meshfed catalog` sees differs.
   */
  reportHealth(proxyId: string, health: readonly EndpointHealthInfo[], origin = LOCAL_ORIGIN): void {
    const id = `${origin}|${proxyId}`;
    const announced = this.#byProxy.get(id);
    if (!announced) return;
    const own = new Set(announced.endpoints.map((e) => `${e.ip}|${e.port}`));
    const list = health.filter((h) => own.has(`${h.ip}|${h.port}`));
    const before = this.#health.get(id) ?? [];
    if (JSON.stringify(before) === JSON.stringify(list)) return;
    if (list.length === 0) this.#health.delete(id);
    else this.#health.set(id, list);
    this.#changed([announced.service]);
  }

  /** Health of the service's endpoints as their proxies report it (the same proxy per endpoint as `endpoints`). */
  endpointHealth(key: ServiceKey): readonly EndpointHealthInfo[] | undefined {
    const ids = this.#byService.get(key);
    if (!ids) return undefined;
    const out = new Map<string, EndpointHealthInfo>();
    // Local origin first, as in endpoints(): a proxy moving between replicas reports through both briefly.
    for (const id of [...ids].sort((a, b) => Number(b.startsWith(`${LOCAL_ORIGIN}|`)) - Number(a.startsWith(`${LOCAL_ORIGIN}|`)))) {
      for (const h of this.#health.get(id) ?? []) if (!out.has(`${h.ip}|${h.port}`)) out.set(`${h.ip}|${h.port}`, h);
    }
    return out.size === 0 ? undefined : [...out.values()];
  }

  #rememberGone(proxyId: string, announcement: Announcement): void {
    this.#gone.set(proxyId, announcement);
    let set = this.#goneByService.get(announcement.service);
    if (!set) this.#goneByService.set(announcement.service, (set = new Set()));
    set.add(proxyId);
  }

  /**
   * A proxy announced: its own tombstone goes, and so does any tombstone of
   * the service whose endpoints it now announces in full (an agent re-enrolled
   * on the same host under a new proxy id). Returns the services of the
   * tombstones dropped.
   */
  #forgetGone(proxyId: string, service: ServiceKey, endpoints: readonly AnnouncedEndpoint[]): ServiceKey[] {
    const out: ServiceKey[] = [];
    const own = this.#gone.get(proxyId);
    if (own) {
      this.#dropGone(proxyId, own.service);
      out.push(own.service);
    }
    const ids = this.#goneByService.get(service);
    if (!ids) return out;
    const announced = new Set(endpoints.map((e) => `${e.ip}|${e.port}`));
    for (const id of [...ids]) {
      if (this.#gone.get(id)?.endpoints.every((e) => announced.has(`${e.ip}|${e.port}`))) this.#dropGone(id, service);
    }
    return out;
  }

  #dropGone(proxyId: string, service: ServiceKey): void {
    this.#gone.delete(proxyId);
    const set = this.#goneByService.get(service);
    set?.delete(proxyId);
    if (set?.size === 0) this.#goneByService.delete(service);
  }

  /** Endpoints a proxy that is gone announced for the service, minus those a connected proxy announces now. */
  goneEndpoints(key: ServiceKey): readonly { ip: string; port: number }[] | undefined {
    const ids = this.#goneByService.get(key);
    if (!ids) return undefined;
    const live = new Set((this.endpoints(key) ?? []).map((e) => `${e.ip}|${e.port}`));
    const out = new Map<string, { ip: string; port: number }>();
    for (const id of ids) {
      for (const e of this.#gone.get(id)?.endpoints ?? []) {
        const k = `${e.ip}|${e.port}`;
        if (!live.has(k)) out.set(k, { ip: e.ip, port: e.port });
      }
    }
    return out.size === 0 ? undefined : [...out.values()];
  }

  /**
   * A proxy announced by another replica: its stream is there now. The
   * control plane drops what it keeps of that proxy for its reconnect grace,
   * which would otherwise win over the newer announcement (local first).
   */
  onRemote(fn: (proxyId: string) => void): () => void {
    return this.#remote.add(fn);
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
    this.#metrics?.providerEndpoints.set({ provider: this.id }, this.#endpointCount);
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

/** The same endpoints in the same order, field by field (an agent announces its list in a stable order). */
function sameEndpoints(a: readonly AnnouncedEndpoint[], b: readonly AnnouncedEndpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => {
    const o = b[i]!;
    return e.ip === o.ip && e.port === o.port && e.protocol === o.protocol && e.serviceAccount === o.serviceAccount;
  });
}
