import type { Logger } from "pino";
import { Listeners } from "../../common/emitter.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import type { ServiceKey, ServiceRef } from "../../common/service.js";
import type { CertificateManager } from "../certificates/types.js";
import type { EndpointProvider } from "../providers/types.js";
import type { VipSource } from "../vips/types.js";
import type { MeshSpec } from "../spec/types.js";
import { emptyPolicies } from "../spec/policy-types.js";
import { EndpointIndex } from "./endpoint-index.js";
import { explainProxyView, type ViewExplanation } from "./explain.js";
import { providersLiveness, type EndpointLiveness } from "./offered-endpoints.js";
import { EndpointHealthIndex } from "./endpoint-health.js";
import { computeParticipants } from "./participants.js";
import { buildProxyView, proxyDependencies, proxyIdentity, type IdentityOrigin, type ProxyViewInput, type ServiceAddresses } from "./proxy-view.js";
import type { IdentityRef } from "../spec/types.js";
import { SpecIndex } from "./spec-index.js";
import { ViewParts } from "./view-parts.js";
import type { CatalogChange, CatalogService, CatalogSnapshot, ConnectedProxySource, ParticipantsReport, ProxyDependencies, ProxyView } from "./types.js";

export interface MeshCatalogOptions {
  readonly providers: readonly EndpointProvider[];
  readonly spec: MeshSpec;
  readonly certificates: Pick<CertificateManager, "certificates">;
  readonly connected: ConnectedProxySource;
  /** Provider ids, highest priority first, for resolving conflicts. */
  readonly providerPriority: readonly string[];
  /** Providers whose endpoints count only when another provider lists them too. */
  readonly corroborateOnly?: readonly string[];
  /** Allow every mesh identity to call every service (no TrafficTargets needed). */
  readonly permissive: boolean;
  /** Captured traffic to destinations outside the mesh passes through (default true) or is refused. */
  readonly outboundPassthrough?: boolean;
  /** Quiet time after the last change before an update is applied. */
  readonly coalesceMs?: number;
  /** Upper bound on how long a steady stream of changes can hold an update back. */
  readonly maxDelayMs?: number;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  /** Mesh VIPs per service (vips/); without it no service has one. */
  readonly vips?: VipSource;
}

/**
 * The mesh catalog (DESIGN.md §3 flows 1–2). Provider change events only mark
 * services dirty; after a quiet period (bounded by maxDelayMs) the dirty
 * services are re-read from their providers and merged, and one `change`
 * event names every service whose effective endpoints changed. A burst of a
 * thousand events therefore costs one update, and an update costs what
 * changed, not the mesh size.
 */
export class MeshCatalog {
  readonly #options: MeshCatalogOptions;
  readonly #index: EndpointIndex;
  #spec: SpecIndex;
  readonly #listeners = new Listeners<CatalogChange>();
  readonly #dirty = new Set<ServiceKey>();
  #specDirty = false;
  #timer: NodeJS.Timeout | undefined;
  #firstDirtyAt = 0;
  #unsubscribe: Array<() => void> = [];
  #permissive: boolean;
  #outboundPassthrough: boolean;
  #closed = false;
  /** Platform virtual IPs per service, merged over providers; only services that have some. */
  readonly #virtualIPs = new Map<ServiceKey, readonly string[]>();
  readonly #addresses: ServiceAddresses = {
    vip: (key) => this.#options.vips?.vip(key),
    virtualIPs: (key) => this.#virtualIPs.get(key),
  };

  /** Endpoints whose proxy is gone (the agents provider knows), offered to callers only as a last resort. */
  readonly #liveness: EndpointLiveness;
  /** Probed health of endpoints (agents' probes): unhealthy ones are offered to no caller. */
  readonly #health: EndpointHealthIndex;
  /** Views' shared parts since the last update (view-parts.ts). */
  readonly #parts = new ViewParts();

  constructor(options: MeshCatalogOptions) {
    this.#options = options;
    this.#health = new EndpointHealthIndex(options.providers);
    const gone = providersLiveness(options.providers);
    this.#liveness = { gone: (key) => gone.gone(key), unhealthy: (key) => this.#health.unhealthy(key) };
    this.#index = new EndpointIndex(options.providerPriority, options.corroborateOnly);
    this.#spec = new SpecIndex(emptySpec());
    this.#permissive = options.permissive;
    this.#outboundPassthrough = options.outboundPassthrough ?? true;
  }

  /** Hot switch of permissive mode (MeshConfig): every proxy view may change, as after a spec change. */
  setPermissive(permissive: boolean): void {
    if (permissive === this.#permissive) return;
    this.#permissive = permissive;
    // Shared parts were built in the other mode: a view asked for before the update must not mix the two.
    this.#parts.clear();
    this.#markSpecDirty();
  }

  /** Hot switch of outbound passthrough (MeshConfig): every proxy view may change. */
  setOutboundPassthrough(passthrough: boolean): void {
    if (passthrough === this.#outboundPassthrough) return;
    this.#outboundPassthrough = passthrough;
    this.#markSpecDirty();
  }

  /**
   * Subscribes to every input, then loads their current views in full. Call
   * it once the providers have been started; events that arrive during the
   * load are coalesced into the first update.
   */
  start(signal: AbortSignal): void {
    // Connected proxies are not subscribed to: no proxy's view depends on who
    // else is connected (participants are computed when asked), and an event
    // per connect would cost every session a look during a reconnect storm.
    const { providers, spec } = this.#options;
    for (const p of providers) this.#unsubscribe.push(p.on("change", (keys) => this.#markDirty(keys)));
    this.#unsubscribe.push(spec.on("change", () => this.#markSpecDirty()));
    // A VIP assigned or released re-renders the proxies that call the service, as an endpoint change does.
    if (this.#options.vips) this.#unsubscribe.push(this.#options.vips.on("change", (keys) => this.#markDirty(keys)));
    signal.addEventListener("abort", () => this.close(), { once: true });
    const all = new Set<ServiceKey>();
    for (const p of providers) for (const s of p.services()) all.add(`${s.service.namespace}/${s.service.name}`);
    this.#markDirty([...all]);
    this.#markSpecDirty();
    this.flush();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
  }

  on(_event: "change", fn: (change: CatalogChange) => void): () => void {
    return this.#listeners.add(fn);
  }

  #markDirty(keys: readonly ServiceKey[]): void {
    if (this.#closed || keys.length === 0) return;
    for (const k of keys) this.#dirty.add(k);
    this.#schedule();
  }

  #markSpecDirty(): void {
    if (this.#closed) return;
    this.#specDirty = true;
    this.#schedule();
  }

  #schedule(): void {
    const now = Date.now();
    const quiet = this.#options.coalesceMs ?? 50;
    const maxDelay = this.#options.maxDelayMs ?? 500;
    if (this.#timer === undefined) this.#firstDirtyAt = now;
    clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(quiet, this.#firstDirtyAt + maxDelay - now));
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Applies pending changes now. Returns what changed (also emitted as `change`). */
  flush(): CatalogChange {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#dirty.size === 0 && !this.#specDirty) return { services: [], spec: false };
    const started = process.hrtime.bigint();
    this.#parts.clear();
    const changed = new Set<ServiceKey>();
    for (const key of this.#dirty) {
      const views = this.#options.providers.map((p) => ({ provider: p.id, endpoints: p.endpoints(key) }));
      for (const k of this.#index.replace(key, views)) changed.add(k);
      // Health alone changing (same endpoints) must still re-render the service's callers.
      if (this.#health.update(key)) changed.add(key);
      this.#updateVirtualIPs(key);
    }
    this.#dirty.clear();
    const spec = this.#specDirty;
    if (spec) {
      const s = this.#options.spec;
      this.#spec = new SpecIndex({ trafficSplits: s.trafficSplits(), trafficTargets: s.trafficTargets(), httpRouteGroups: s.httpRouteGroups(), tcpRoutes: s.tcpRoutes(), ...s.policies() });
      this.#specDirty = false;
      // Duplicates the spec store may not catch (across sources): say which object lost.
      for (const shadowed of this.#spec.resilience.shadowed) this.#options.logger.warn({ code: "MESHFED_POLICY_SHADOWED" }, shadowed);
    }
    const identities = this.#index.takeChangedAccounts();
    const change: CatalogChange = { services: [...changed].sort(), spec, ...(identities.length > 0 ? { identities } : {}) };
    this.#record(started);
    this.#options.logger.debug({ services: change.services.length, spec }, "catalog updated");
    this.#listeners.emit(change);
    return change;
  }

  #updateVirtualIPs(key: ServiceKey): void {
    const ips = new Set<string>();
    if (this.#index.has(key)) for (const p of this.#options.providers) for (const ip of p.virtualIPs?.(key) ?? []) ips.add(ip);
    if (ips.size === 0) this.#virtualIPs.delete(key);
    else this.#virtualIPs.set(key, [...ips].sort());
  }

  #record(started: bigint): void {
    const m = this.#options.metrics;
    if (!m) return;
    m.catalogUpdates.inc();
    m.catalogUpdateSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    m.catalogServices.set(this.#index.serviceCount);
    m.catalogEndpoints.set(this.#index.endpointCount);
    m.catalogConflicts.set(this.#index.conflictCount);
    m.catalogUnhealthyEndpoints.set(this.#health.unhealthyCount);
  }

  service(ref: ServiceRef | ServiceKey): CatalogService | undefined {
    const key = typeof ref === "string" ? ref : `${ref.namespace}/${ref.name}`;
    const service = this.#index.service(key);
    return service === undefined ? undefined : this.#withVip(key, this.#health.decorate(service));
  }

  /**
   * Whether the mesh has this service now: discovered endpoints, or the root
   * of a TrafficSplit (a name apps call though nothing serves it directly).
   * The VIP allocator's view of the mesh.
   */
  has(key: ServiceKey): boolean {
    return this.#index.has(key) || this.#spec.splitFor(key) !== undefined;
  }

  /** Every key `has` is true for, unordered. */
  *keys(): Iterable<ServiceKey> {
    yield* this.#index.keys();
    for (const split of this.#spec.splits) {
      const key = `${split.namespace}/${split.service}`;
      if (!this.#index.has(key)) yield key;
    }
  }

  #withVip(key: ServiceKey, service: CatalogService): CatalogService {
    const vip = this.#options.vips?.vip(key);
    return vip === undefined ? service : { ...service, vip };
  }

  /** Services claiming an IP:port and the providers that say so. */
  endpointClaims(ip: string, port: number): Array<{ service: ServiceKey; providers: string[] }> {
    return this.#index.claims(ip, port);
  }

  snapshot(): CatalogSnapshot {
    const services = this.#index.services().map((s) => this.#withVip(`${s.namespace}/${s.name}`, this.#health.decorate(s)));
    return { services, conflicts: this.#index.conflicts(), disagreements: this.#index.disagreements() };
  }

  /**
   * `identity`: the proxy's identity as `proxyIdentity(input)` gave it in the
   * same turn (a push asks for it first), so it is not derived again.
   */
  proxyView(input: ProxyViewInput, identity?: IdentityRef): ProxyView {
    const view = buildProxyView(this.#index, this.#spec, this.#permissive, input, this.#addresses, this.#liveness, this.#parts, identity);
    // Set only when it differs from the default, so that views (and rendered hashes) of meshes that never change it stay as they were.
    return this.#outboundPassthrough ? view : { ...view, proxy: { ...view.proxy, outboundPassthrough: false } };
  }

  /** Where each part of this proxy's view comes from (providers, policies and their files). */
  explainProxyView(input: ProxyViewInput): ViewExplanation[] {
    return explainProxyView(this.proxyView(input), this.#index, this.#spec, proxyIdentity(this.#index, input).origin);
  }

  /**
   * Which service (and account) changes can affect this proxy (for fan-out
   * to affected proxies only): match them against a change's `services` and
   * `identities`.
   */
  proxyDependencies(input: ProxyViewInput, identity?: IdentityRef): ProxyDependencies {
    return proxyDependencies(this.#index, this.#spec, this.#permissive, input, this.#parts, identity);
  }

  /** The identity (account) a proxy speaks for, and where that comes from. */
  proxyIdentity(input: ProxyViewInput): { identity: IdentityRef; origin: IdentityOrigin } {
    return proxyIdentity(this.#index, input);
  }

  participants(): ParticipantsReport {
    return computeParticipants(this.#index, this.#options.certificates.certificates(), this.#options.connected.connected(), (key, ip, port) => this.#health.of(key, ip, port));
  }

  get counts(): { services: number; endpoints: number; conflicts: number } {
    return { services: this.#index.serviceCount, endpoints: this.#index.endpointCount, conflicts: this.#index.conflictCount };
  }
}

function emptySpec() {
  return { trafficSplits: [], trafficTargets: [], httpRouteGroups: [], tcpRoutes: [], ...emptyPolicies() };
}

/** A connected-proxy source with nobody connected (benchmarks, tools that run no control plane). */
export const NO_CONNECTED_PROXIES: ConnectedProxySource = { connected: () => [] };
