import { serviceKey, type ServiceKey } from "../../common/service.js";
import type { ConnectedProxy, ConnectedProxySource, ProxyDependencies } from "../catalog/types.js";
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
  readonly #dependsOn = new Map<ProxySession, ProxyDependencies>();
  /** Sessions whose view depends on every service (permissive mode), kept apart so a lookup never scans all sessions. */
  readonly #dependsOnAll = new Set<ProxySession>();
  /** Current sessions by their proxy certificate's serial (a revocation closes its stream). */
  readonly #bySerial = new Map<string, ProxySession>();
  /**
   * Current sessions by the identity (`namespace/account`) of the service
   * certificate last sent to them. Both indexes exist so that a disconnect or
   * a revocation costs a lookup, not a scan of every session: in a reconnect
   * storm of N agents a scan per disconnect is N² work.
   */
  readonly #byIdentity = new Map<string, Set<ProxySession>>();

  /** Registers a session; returns the session it replaces, if any. */
  add(session: ProxySession): ProxySession | undefined {
    const previous = this.#byProxy.get(session.identity.proxyId);
    if (previous) this.#drop(previous);
    this.#byProxy.set(session.identity.proxyId, session);
    this.#bySerial.set(session.identity.serial, session);
    addTo(this.#byService, serviceKey(session.identity.service), session);
    if (session.certificateIdentity !== "") addTo(this.#byIdentity, session.certificateIdentity, session);
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
    if (this.#bySerial.get(session.identity.serial) === session) this.#bySerial.delete(session.identity.serial);
    removeFrom(this.#byService, serviceKey(session.identity.service), session);
    if (session.certificateIdentity !== "") removeFrom(this.#byIdentity, session.certificateIdentity, session);
    this.setDependencies(session, { all: false, services: new Set() });
    this.#dependsOn.delete(session);
  }

  setDependencies(session: ProxySession, deps: ProxyDependencies): void {
    const old = this.#dependsOn.get(session);
    // The catalog hands proxies of one service and account the same object until its next update: nothing to re-index.
    if (old === deps) return;
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
    return this.#bySerial.get(serial);
  }

  /**
   * Records the identity of the service certificate sent to a session (the
   * only way `certificateIdentity` changes), keeping the index in step. A
   * session not (or no longer) current is updated but not indexed.
   */
  setCertificateIdentity(session: ProxySession, identity: string): void {
    if (session.certificateIdentity === identity) return;
    const current = this.#byProxy.get(session.identity.proxyId) === session;
    if (current && session.certificateIdentity !== "") removeFrom(this.#byIdentity, session.certificateIdentity, session);
    session.certificateIdentity = identity;
    if (current && identity !== "") addTo(this.#byIdentity, identity, session);
  }

  /** Current sessions whose service certificate is this identity's. */
  holding(identity: string): readonly ProxySession[] {
    return [...(this.#byIdentity.get(identity) ?? [])];
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
