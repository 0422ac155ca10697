/**
 * The Kubernetes endpoint provider. DESIGN.md §2 (providers/kubernetes), §3
 * flow 1 (Discovery).
 *
 * Four informers, cluster-wide: Namespaces, Services, EndpointSlices
 * (discovery.k8s.io/v1) and Pods. A namespace is meshed when it carries the
 * label `meshfed.io/monitored-by=<meshName>`; services of other namespaces
 * are filtered out here (as OSM does) rather than by per-namespace informers,
 * so labelling or unlabelling a namespace needs no informer to start or stop:
 * the objects are already cached and the affected services are recomputed.
 *
 * The view holds every Service of a meshed namespace, with the endpoints of
 * its EndpointSlices (rules in endpoints.ts), even when it has none (an apex
 * service of a TrafficSplit usually has none of its own).
 *
 * Changes: informer callbacks only update maps and mark service keys dirty;
 * a microtask later the dirty services are recomputed and compared with the
 * view, and `change` names only those whose endpoints really differ. A relist
 * (410) or a restart that replays state therefore emits nothing for objects
 * that did not change, and a burst of events becomes one change event.
 *
 * States: "starting" -> "synced" (start() resolves after the first full list
 * of all four informers) <-> "degraded" (an informer failed and is restarting
 * with backoff; the last view stays) -> "stopped" when the signal aborts.
 */
import { countEndpoints } from "../endpoint-lists.js";
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type KubernetesObject, type KubernetesListObject } from "@kubernetes/client-node";
import { Listeners } from "../../../common/emitter.js";
import type { MeshfedError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { compareServiceRefs, type ServiceKey } from "../../../common/service.js";
import type { EndpointProvider, ProviderEndpoint, ProviderError, ProviderStatus, ServiceEndpoints } from "../types.js";
import type { BackoffOptions } from "../../kube/backoff.js";
import { computeEndpoints, sameEndpoints } from "./endpoints.js";
import { KUBE_ERROR_CODES } from "../../kube/errors.js";
import { InformerGroup } from "../../kube/informer-group.js";
import { METRICS_LABEL, MONITORED_BY_LABEL, objectKey, parseEndpointSlice, parseNamespace, parsePod, parseService, type PodInfo, type ServiceInfo, type SliceInfo } from "../../kube/objects.js";
import { SupervisedInformer, type InformerEventType, type InformerState } from "../../kube/supervised-informer.js";

export interface KubernetesProviderOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespaces labelled `meshfed.io/monitored-by=<meshName>` are meshed. Default "meshfed". */
  readonly meshName?: string;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  readonly backoff?: BackoffOptions;
  /** Server-side watch timeout in seconds (jittered). Default 300. */
  readonly watchTimeoutSeconds?: number;
}

/**
 * The API the provider reads, cluster-wide, list and watch only: the RBAC in
 * config/kubernetes/rbac.yaml grants exactly this (test/unit/kubernetes-manifests.test.ts).
 */
export const PROVIDER_API_USE = [
  { group: "", resource: "namespaces", verbs: ["list", "watch"] },
  { group: "", resource: "services", verbs: ["list", "watch"] },
  { group: "", resource: "pods", verbs: ["list", "watch"] },
  { group: "discovery.k8s.io", resource: "endpointslices", verbs: ["list", "watch"] },
] as const;

/** What the provider knows of a pod in a meshed namespace (for participants, later). */
export type KubernetesPod = PodInfo;

const PROVIDER_ID = "kubernetes";

type Kind = "namespaces" | "services" | "endpointslices" | "pods";

export class KubernetesProvider implements EndpointProvider {
  readonly id = PROVIDER_ID;
  readonly #o: KubernetesProviderOptions;
  readonly #log: Logger;
  readonly #meshName: string;
  readonly #listeners = new Listeners<readonly ServiceKey[]>();
  readonly #group: InformerGroup;
  // Caches of parsed objects, cluster-wide; the view filters by namespace.
  readonly #meshed = new Set<string>();
  readonly #metrics = new Set<string>();
  readonly #services = new Map<string, ServiceInfo>();
  readonly #slices = new Map<string, SliceInfo>();
  readonly #slicesByService = new Map<ServiceKey, Set<string>>();
  readonly #pods = new Map<string, PodInfo>();
  /** proxy id (pod annotation) -> pod key, so participants join in O(1) per proxy. */
  readonly #podByProxy = new Map<string, string>();
  /** pod key -> services whose ports were resolved through that pod, and the reverse. */
  readonly #podDependents = new Map<string, Set<ServiceKey>>();
  readonly #servicePods = new Map<ServiceKey, readonly string[]>();
  readonly #unresolvedBy = new Map<ServiceKey, number>();
  #view = new Map<ServiceKey, ServiceEndpoints>();
  /** services() in namespace/name order, rebuilt lazily after a change. */
  #sorted: readonly ServiceEndpoints[] | undefined;
  #dirty = new Set<ServiceKey>();
  #flushQueued = false;
  #synced = false;
  #lastSync: string | null = null;
  #invalid: ProviderError | null = null;

  constructor(options: KubernetesProviderOptions) {
    this.#o = options;
    this.#meshName = options.meshName ?? "meshfed";
    this.#log = options.logger.child({ component: "provider/kubernetes", mesh: this.#meshName });
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const discovery = options.kubeConfig.makeApiClient(DiscoveryV1Api);
    const informer = (kind: Kind, path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>) =>
      new SupervisedInformer<KubernetesObject>({
        name: kind,
        kubeConfig: options.kubeConfig,
        path,
        list,
        logger: this.#log,
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
        onEvent: (type, obj) => this.#onEvent(kind, type, obj),
        onState: (state, err) => this.#onState(kind, state, err),
      });
    this.#group = new InformerGroup("the kubernetes provider", [
      informer("namespaces", "/api/v1/namespaces", () => core.listNamespace()),
      informer("services", "/api/v1/services", () => core.listServiceForAllNamespaces()),
      informer("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", () => discovery.listEndpointSliceForAllNamespaces()),
      informer("pods", "/api/v1/pods", () => core.listPodForAllNamespaces()),
    ]);
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.#group.start(signal);
    // Everything listed: build the whole view once; no change event for it
    // (the catalog reads services() after start() resolves).
    this.#synced = true;
    this.#dirty = new Set([...this.#services.keys(), ...this.#slicesByService.keys()]);
    this.#flush(false);
    this.#lastSync = new Date().toISOString();
    this.#o.metrics?.providerSyncs.inc({ provider: PROVIDER_ID });
    this.#log.info({ namespaces: this.#meshed.size, services: this.#view.size, endpoints: this.#endpointCount() }, "first sync done");
  }

  /** Resolves once every informer stopped after the signal aborted (for orderly shutdown and tests). */
  stopped(): Promise<void> {
    return this.#group.stopped();
  }

  services(): Iterable<ServiceEndpoints> {
    this.#sorted ??= [...this.#view.values()].sort((a, b) => compareServiceRefs(a.service, b.service));
    return this.#sorted;
  }

  endpoints(service: ServiceKey): readonly ProviderEndpoint[] | undefined {
    return this.#view.get(service)?.endpoints;
  }

  /** The Service's ClusterIPs: the transparent data plane maps ClusterIP:port to the service. */
  virtualIPs(service: ServiceKey): readonly string[] | undefined {
    return this.#view.get(service)?.virtualIPs;
  }

  /** Pods of meshed namespaces (their IPs and service accounts), for participants. */
  *pods(): Iterable<KubernetesPod> {
    for (const p of this.#pods.values()) if (this.#meshed.has(p.namespace)) yield p;
  }

  /** Meshed namespaces, sorted. */
  namespaces(): readonly string[] {
    return [...this.#meshed].sort();
  }

  /** Whether `namespace` is labelled for this mesh (as of the last event seen). */
  isMeshed(namespace: string): boolean {
    return this.#meshed.has(namespace);
  }

  /** Whether meshed `namespace` carries `meshfed.io/metrics=enabled` (its pods are announced to Prometheus). */
  wantsMetrics(namespace: string): boolean {
    return this.#metrics.has(namespace);
  }

  /** Services of `namespace` whose selector matches `labels`, sorted by name (the injector picks a pod's service). */
  servicesSelecting(namespace: string, labels: Readonly<Record<string, string>>): readonly string[] {
    const out: string[] = [];
    for (const s of this.#services.values()) {
      if (s.namespace !== namespace) continue;
      const selector = Object.entries(s.selector);
      if (selector.length > 0 && selector.every(([k, v]) => labels[k] === v)) out.push(s.name);
    }
    return out.sort();
  }

  /** The pod an injected proxy fronts (by its `meshfed.io/proxy-id` annotation), in a meshed namespace. */
  podOfProxy(proxyId: string): KubernetesPod | undefined {
    const key = this.#podByProxy.get(proxyId.toLowerCase());
    const pod = key === undefined ? undefined : this.#pods.get(key);
    return pod !== undefined && this.#meshed.has(pod.namespace) ? pod : undefined;
  }

  on(_event: "change", fn: (changed: readonly ServiceKey[]) => void): () => void {
    return this.#listeners.add(fn);
  }

  status(): ProviderStatus {
    const state = this.#group.state();
    const err = this.#group.lastProviderError();
    let pods = 0;
    for (const p of this.#pods.values()) if (this.#meshed.has(p.namespace)) pods++;
    let slices = 0;
    for (const s of this.#slices.values()) if (this.#meshed.has(s.namespace) && s.service !== undefined) slices++;
    return {
      id: this.id,
      kind: "endpoints",
      state: state === "synced" && !this.#synced ? "starting" : state,
      lastSync: this.#lastSync,
      lastError: err ?? this.#invalid,
      counts: {
        namespaces: this.#meshed.size,
        services: this.#view.size,
        endpoints: this.#endpointCount(),
        endpointSlices: slices,
        pods,
        unresolvedPorts: [...this.#unresolvedBy.values()].reduce((a, b) => a + b, 0),
        restarts: this.#group.restarts(),
      },
    };
  }

  #onState(kind: Kind, state: InformerState, err?: MeshfedError): void {
    if (state === "backoff" && err !== undefined) {
      this.#o.metrics?.providerErrors.inc({ provider: PROVIDER_ID, code: err.code });
    }
    if (state === "watching" && this.#synced) {
      // A restart listed or resumed: the view is current again.
      this.#lastSync = new Date().toISOString();
      this.#o.metrics?.providerSyncs.inc({ provider: PROVIDER_ID });
      this.#log.debug({ informer: kind }, "informer watching again");
    }
  }

  #onEvent(kind: Kind, type: InformerEventType, obj: KubernetesObject): void {
    const deleted = type === "delete";
    switch (kind) {
      case "namespaces": {
        const r = parseNamespace(obj);
        if (!r.ok) return this.#rejected(kind, obj, r.message);
        const meshed = !deleted && r.value.labels[MONITORED_BY_LABEL] === this.#meshName;
        // The injector's question, answered from the same events (injector/metrics-annotations.ts).
        if (meshed && r.value.labels[METRICS_LABEL] === "enabled") this.#metrics.add(r.value.name);
        else this.#metrics.delete(r.value.name);
        if (meshed === this.#meshed.has(r.value.name)) return;
        if (meshed) this.#meshed.add(r.value.name);
        else this.#meshed.delete(r.value.name);
        this.#log.info({ namespace: r.value.name, meshed }, meshed ? "namespace joined the mesh" : "namespace left the mesh");
        const prefix = `${r.value.name}/`;
        for (const key of this.#services.keys()) if (key.startsWith(prefix)) this.#dirty.add(key);
        for (const key of this.#view.keys()) if (key.startsWith(prefix)) this.#dirty.add(key);
        break;
      }
      case "services": {
        const r = parseService(obj);
        if (!r.ok) return this.#rejected(kind, obj, r.message);
        const key = objectKey(r.value.namespace, r.value.name);
        if (deleted) this.#services.delete(key);
        else this.#services.set(key, r.value);
        this.#dirty.add(key);
        break;
      }
      case "endpointslices": {
        const r = parseEndpointSlice(obj);
        if (!r.ok) return this.#rejected(kind, obj, r.message);
        const key = objectKey(r.value.namespace, r.value.name);
        const old = this.#slices.get(key);
        if (old?.service !== undefined) {
          const svc = objectKey(old.namespace, old.service);
          this.#slicesByService.get(svc)?.delete(key);
          if (this.#slicesByService.get(svc)?.size === 0) this.#slicesByService.delete(svc);
          this.#dirty.add(svc);
        }
        if (deleted) {
          this.#slices.delete(key);
        } else {
          this.#slices.set(key, r.value);
          if (r.value.service !== undefined) {
            const svc = objectKey(r.value.namespace, r.value.service);
            let set = this.#slicesByService.get(svc);
            if (set === undefined) this.#slicesByService.set(svc, (set = new Set()));
            set.add(key);
            this.#dirty.add(svc);
          }
        }
        break;
      }
      case "pods": {
        const r = parsePod(obj);
        if (!r.ok) return this.#rejected(kind, obj, r.message);
        const key = objectKey(r.value.namespace, r.value.name);
        const previous = this.#pods.get(key)?.proxyId;
        if (previous !== undefined && this.#podByProxy.get(previous) === key) this.#podByProxy.delete(previous);
        if (deleted) this.#pods.delete(key);
        else {
          this.#pods.set(key, r.value);
          if (r.value.proxyId !== undefined) this.#podByProxy.set(r.value.proxyId, key);
        }
        for (const svc of this.#podDependents.get(key) ?? []) this.#dirty.add(svc);
        break;
      }
    }
    this.#scheduleFlush();
  }

  #rejected(kind: Kind, obj: KubernetesObject, message: string): void {
    const where = `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? "?"}`;
    this.#invalid = { code: KUBE_ERROR_CODES.invalidObject, message: `${kind} ${where}: ${message}; skipped`, at: new Date().toISOString() };
    this.#o.metrics?.providerErrors.inc({ provider: PROVIDER_ID, code: KUBE_ERROR_CODES.invalidObject });
    this.#log.warn({ code: KUBE_ERROR_CODES.invalidObject, kind, object: where }, this.#invalid.message);
  }

  #scheduleFlush(): void {
    // Before the first full sync the view is built at once by start().
    if (!this.#synced || this.#flushQueued) return;
    this.#flushQueued = true;
    // A relist delivers its callbacks in one synchronous loop: a microtask
    // later they have all been applied, and one change event covers them.
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush(true);
    });
  }

  #flush(emit: boolean): void {
    if (this.#dirty.size === 0) return;
    const dirty = this.#dirty;
    this.#dirty = new Set();
    const changed: ServiceKey[] = [];
    for (const key of dirty) {
      const next = this.#compute(key);
      const old = this.#view.get(key);
      if (next === undefined) {
        if (old !== undefined) {
          this.#view.delete(key);
          changed.push(key);
        }
        continue;
      }
      if (old === undefined || !sameEndpoints(old.endpoints, next.endpoints) || (old.virtualIPs ?? []).join() !== (next.virtualIPs ?? []).join()) {
        this.#view.set(key, next);
        changed.push(key);
      }
    }
    if (changed.length > 0) {
      this.#sorted = undefined;
      const m = this.#o.metrics;
      m?.providerServices.set({ provider: PROVIDER_ID }, this.#view.size);
      m?.providerEndpoints.set({ provider: PROVIDER_ID }, this.#endpointCount());
    }
    if (emit && changed.length > 0) {
      changed.sort();
      this.#log.debug({ changed }, "services changed");
      this.#listeners.emit(changed);
    }
  }

  #compute(key: ServiceKey): ServiceEndpoints | undefined {
    const service = this.#services.get(key);
    // Drop the pod dependencies of the previous computation.
    for (const pod of this.#servicePods.get(key) ?? []) {
      const dependents = this.#podDependents.get(pod);
      if (dependents?.delete(key) && dependents.size === 0) this.#podDependents.delete(pod);
    }
    this.#servicePods.delete(key);
    this.#unresolvedBy.delete(key);
    if (service === undefined || !this.#meshed.has(service.namespace)) return undefined;
    const slices: SliceInfo[] = [];
    for (const sliceKey of [...(this.#slicesByService.get(key) ?? [])].sort()) {
      const slice = this.#slices.get(sliceKey);
      if (slice !== undefined) slices.push(slice);
    }
    const result = computeEndpoints(service, slices, (pod) => this.#pods.get(objectKey(service.namespace, pod)));
    const podKeys = result.pods.map((pod) => objectKey(service.namespace, pod));
    for (const podKey of podKeys) {
      let set = this.#podDependents.get(podKey);
      if (set === undefined) this.#podDependents.set(podKey, (set = new Set()));
      set.add(key);
    }
    if (podKeys.length > 0) this.#servicePods.set(key, podKeys);
    if (result.unresolved > 0) this.#unresolvedBy.set(key, result.unresolved);
    return {
      service: { namespace: service.namespace, name: service.name }, endpoints: result.endpoints,
      ...(service.clusterIPs.length > 0 ? { virtualIPs: service.clusterIPs } : {}),
    };
  }

  #endpointCount(): number {
    return countEndpoints(this.#view);
  }
}
