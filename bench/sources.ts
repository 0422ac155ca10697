// Inputs for the benchmarks: an in-memory endpoint provider, in-memory SMI
// policies, an in-memory state store. All implement meshfed's own interfaces, nothing else.
import { Listeners } from "../src/common/emitter.js";
import type { ServiceKey } from "../src/common/service.js";
import type { EndpointProvider, ProviderEndpoint, ProviderStatus, ServiceEndpoints } from "../src/controller/providers/types.js";
import { sameBytes, type PutOptions, type StateStore } from "../src/controller/store/types.js";
import type { MeshSpec, MeshSpecSnapshot } from "../src/controller/spec/types.js";

export class MemoryProvider implements EndpointProvider {
  readonly #services = new Map<ServiceKey, ServiceEndpoints>();
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  constructor(readonly id: string) {}

  set(namespace: string, name: string, endpoints: ProviderEndpoint[], emit = true): void {
    const key = `${namespace}/${name}`;
    this.#services.set(key, { service: { namespace, name }, endpoints });
    if (emit) this.#listeners.emit([key]);
  }
  async start(): Promise<void> {}
  services(): Iterable<ServiceEndpoints> {
    return this.#services.values();
  }
  endpoints(key: ServiceKey) {
    return this.#services.get(key)?.endpoints;
  }
  on(_e: "change", fn: (changed: readonly ServiceKey[]) => void) {
    return this.#listeners.add(fn);
  }
  status(): ProviderStatus {
    return { id: this.id, kind: "endpoints", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}

export class MemoryStore implements StateStore {
  readonly kind = "memory";
  readonly #data = new Map<string, Uint8Array>();
  async get(key: string) {
    return this.#data.get(key);
  }
  async put(key: string, value: Uint8Array | string, _options?: PutOptions) {
    this.#data.set(key, typeof value === "string" ? Buffer.from(value) : value);
  }
  async create(key: string, value: Uint8Array | string) {
    if (this.#data.has(key)) return false;
    await this.put(key, value);
    return true;
  }
  async compareAndPut(key: string, expected: Uint8Array, value: Uint8Array | string) {
    const current = this.#data.get(key);
    if (current === undefined || !sameBytes(current, expected)) return false;
    await this.put(key, value);
    return true;
  }
  async delete(key: string) {
    this.#data.delete(key);
  }
  /** One process, nobody else writes: nothing to follow. */
  async watch() {}
  async list(prefix: string) {
    return [...this.#data].filter(([k]) => k.startsWith(`${prefix}/`)).map(([key, value]) => ({ key, value }));
  }
  async close() {}
}

/** SMI policies held in memory, already in the catalog's normalised shape. */
export class MemorySpec implements MeshSpec {
  readonly id = "smi-memory";
  constructor(private readonly spec: MeshSpecSnapshot) {}
  async start(): Promise<void> {}
  trafficSplits() { return this.spec.trafficSplits; }
  trafficTargets() { return this.spec.trafficTargets; }
  httpRouteGroups() { return this.spec.httpRouteGroups; }
  tcpRoutes() { return this.spec.tcpRoutes; }
  policies() { const s = this.spec; return { egresses: s.egresses, ingressBackends: s.ingressBackends, upstreamTrafficSettings: s.upstreamTrafficSettings, retries: s.retries }; }
  on(): () => void {
    return () => undefined;
  }
  status(): ProviderStatus {
    return { id: this.id, kind: "spec", state: "synced", lastSync: null, lastError: null, counts: {} };
  }
}
