// Hand-written fakes of meshfed's own interfaces (providers, mesh spec,
// connected proxies), for catalog tests that must not depend on files.
import { Listeners } from "../../src/common/emitter.js";
import type { ServiceKey } from "../../src/common/service.js";
import type { EndpointProvider, ProviderEndpoint, ProviderStatus, ServiceEndpoints } from "../../src/controller/providers/types.js";
import type { MeshSpec, MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { emptyPolicies, type PolicySnapshot } from "../../src/controller/spec/policy-types.js";
import type { ConnectedProxy, ConnectedProxySource } from "../../src/controller/catalog/types.js";

export class FakeProvider implements EndpointProvider {
  readonly #services = new Map<ServiceKey, ProviderEndpoint[]>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  constructor(readonly id: string) {}

  /** Sets a service's endpoints ("ip:port" strings); undefined removes the service. */
  set(key: ServiceKey, endpoints: string[] | undefined, emit = true): void {
    if (endpoints === undefined) this.#services.delete(key);
    else
      this.#services.set(
        key,
        endpoints.map((e) => {
          const i = e.lastIndexOf(":");
          return { ip: e.slice(0, i), port: Number(e.slice(i + 1)), source: `${this.id}-src/${e}` };
        }),
      );
    if (emit) this.#listeners.emit([key]);
  }

  async start(): Promise<void> {}
  *services(): Iterable<ServiceEndpoints> {
    for (const [key, endpoints] of this.#services) {
      const [namespace, name] = key.split("/") as [string, string];
      yield { service: { namespace, name }, endpoints };
    }
  }
  endpoints(key: ServiceKey) {
    return this.#services.get(key);
  }
  on(_e: "change", fn: (changed: readonly ServiceKey[]) => void) {
    return this.#listeners.add(fn);
  }
  status(): ProviderStatus {
    return { id: this.id, kind: "endpoints", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}

export class FakeSpec implements MeshSpec {
  readonly id = "fake-spec";
  #snapshot: MeshSpecSnapshot = { trafficSplits: [], trafficTargets: [], httpRouteGroups: [], tcpRoutes: [], ...emptyPolicies() };
  readonly #listeners = new Listeners<MeshSpecSnapshot>();
  set(snapshot: Partial<MeshSpecSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...snapshot };
    this.#listeners.emit(this.#snapshot);
  }
  async start(): Promise<void> {}
  trafficSplits() { return this.#snapshot.trafficSplits; }
  trafficTargets() { return this.#snapshot.trafficTargets; }
  httpRouteGroups() { return this.#snapshot.httpRouteGroups; }
  tcpRoutes() { return this.#snapshot.tcpRoutes; }
  policies(): PolicySnapshot {
    const s = this.#snapshot;
    return { egresses: s.egresses, ingressBackends: s.ingressBackends, upstreamTrafficSettings: s.upstreamTrafficSettings, retries: s.retries };
  }
  on(_e: "change", fn: (s: MeshSpecSnapshot) => void) { return this.#listeners.add(fn); }
  status(): ProviderStatus {
    return { id: this.id, kind: "spec", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}

export class FakeConnected implements ConnectedProxySource {
  proxies: ConnectedProxy[] = [];
  connected() { return this.proxies; }
}
