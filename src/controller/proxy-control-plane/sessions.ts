import { serviceKey, type ServiceKey } from "../../common/service.js";
import type { ConnectedProxy, ConnectedProxySource } from "../catalog/types.js";
import type { ProxySession } from "./session.js";

/**
 * The connected proxies, one session per proxy id, plus two indexes the
 * push path needs: sessions by service (certificate fan-out) and sessions by
 * the services their view depends on (config fan-out to affected proxies
 * only). It is the catalog's ConnectedProxySource.
 */
export class ProxySessions implements ConnectedProxySource {
  readonly #byProxy = new Map<string, ProxySession>();
  readonly #byService = new Map<ServiceKey, Set<ProxySession>>();
  readonly #dependents = new Map<ServiceKey, Set<ProxySession>>();
  readonly #dependsOn = new Map<ProxySession, { all: boolean; services: Set<ServiceKey> }>();
  /** Sessions whose view depends on every service (permissive mode), kept apart so a lookup never scans all sessions. */
  readonly #dependsOnAll = new Set<ProxySession>();

  /** Registers a session; returns the session it replaces, if any. */
  add(session: ProxySession): ProxySession | undefined {
    const previous = this.#byProxy.get(session.identity.proxyId);
    if (previous) this.#drop(previous);
    this.#byProxy.set(session.identity.proxyId, session);
    addTo(this.#byService, serviceKey(session.identity.service), session);
    return previous;
  }

  /** Removes a session if it is still the current one for its proxy; true when it was. */
  remove(session: ProxySession): boolean {
    if (this.#byProxy.get(session.identity.proxyId) !== session) return false;
    this.#drop(session);
    return true;
  }

  #drop(session: ProxySession): void {
    this.#byProxy.delete(session.identity.proxyId);
    removeFrom(this.#byService, serviceKey(session.identity.service), session);
    this.setDependencies(session, { all: false, services: new Set() });
    this.#dependsOn.delete(session);
  }

  setDependencies(session: ProxySession, deps: { all: boolean; services: Set<ServiceKey> }): void {
    const old = this.#dependsOn.get(session);
    for (const key of old?.services ?? []) if (!deps.services.has(key)) removeFrom(this.#dependents, key, session);
    for (const key of deps.services) if (!old?.services.has(key)) addTo(this.#dependents, key, session);
    this.#dependsOn.set(session, deps);
    if (deps.all) this.#dependsOnAll.add(session);
    else this.#dependsOnAll.delete(session);
  }

  /** Sessions whose view may change when these services change. */
  affectedBy(services: readonly ServiceKey[]): Set<ProxySession> {
    const out = new Set<ProxySession>(this.#dependsOnAll);
    for (const key of services) for (const s of this.#dependents.get(key) ?? []) out.add(s);
    return out;
  }

  get(proxyId: string): ProxySession | undefined {
    return this.#byProxy.get(proxyId);
  }

  bySerial(serial: string): ProxySession | undefined {
    for (const s of this.#byProxy.values()) if (s.identity.serial === serial) return s;
    return undefined;
  }

  ofService(key: ServiceKey): readonly ProxySession[] {
    return [...(this.#byService.get(key) ?? [])];
  }

  services(): ServiceKey[] {
    return [...this.#byService.keys()];
  }

  all(): ProxySession[] {
    return [...this.#byProxy.values()];
  }

  get size(): number {
    return this.#byProxy.size;
  }

  *connected(): Iterable<ConnectedProxy> {
    for (const s of this.#byProxy.values()) {
      yield {
        proxyId: s.identity.proxyId, service: s.identity.service, serial: s.identity.serial, addresses: s.addresses, connectedAt: s.connectedAt,
        ...(s.certificateIdentity === "" ? {} : { identity: s.certificateIdentity }),
        ...(s.capture !== null ? { capture: s.capture.mode } : {}),
      };
    }
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
