/**
 * Endpoint providers: DESIGN.md §2 (Interfaces) and §3 flow 1 (Discovery).
 *
 * A provider watches one platform (Kubernetes, Azure, an on-prem hosts file,
 * connected agents), keeps its own view of services and their endpoints, and
 * tells the catalog *which* services changed. The catalog then reads just
 * those services back, so the cost of a change follows the change, not the
 * size of the mesh. Providers know nothing of each other or of the catalog.
 */
import type { AppProtocol } from "../../common/app-protocol.js";
import type { ServiceKey, ServiceRef } from "../../common/service.js";

/** Where one endpoint was seen, e.g. `{ provider: "onprem", source: "config/hosts.yaml#db-1" }`. */
export interface Provenance {
  readonly provider: string;
  /** The source object inside that provider: file and host, namespace/slice, VM resource id. */
  readonly source: string;
}

export interface ProviderEndpoint {
  readonly ip: string;
  readonly port: number;
  /** The source object inside the provider (the provider id is implied). */
  readonly source: string;
  /** Application protocol of this port as the platform declares it; absent = "http". */
  readonly protocol?: AppProtocol;
  /**
   * The identity of the workload behind this endpoint: a ServiceAccount name in
   * the service's namespace (a pod's account; a VM's configured account).
   * Absent = the service's own name, so nothing configured before changes meaning.
   */
  readonly serviceAccount?: string;
}

/**
 * The probed health of one endpoint, as the agent fronting it reports it
 * (docs/agent.md, "Health probes"). "unhealthy" withdraws the endpoint from
 * every caller, whichever providers list it; "unknown" (no verdict yet) and
 * "healthy" leave it as it is.
 */
export interface EndpointHealthInfo {
  readonly ip: string;
  readonly port: number;
  readonly state: "healthy" | "unhealthy" | "unknown";
  /** Why, e.g. "probe failed: connection refused after 3 tries". */
  readonly reason: string;
  /** RFC 3339: since when it is in this state. */
  readonly since: string;
  /** What is probed, e.g. "http GET :14001/healthz every 10s (...)". */
  readonly probe: string;
  /** Where the probe was declared: "agent", "token" or "hosts". */
  readonly source: string;
}

export interface ServiceEndpoints {
  readonly service: ServiceRef;
  readonly endpoints: readonly ProviderEndpoint[];
  /** Virtual addresses of the service on its platform (Kubernetes ClusterIPs), if any. */
  readonly virtualIPs?: readonly string[];
}

export type { ProviderState, ProviderError, ProviderStatus } from "../source-status.js";
import type { ProviderStatus } from "../source-status.js";

export interface EndpointProvider {
  /** "kubernetes", "azure", "onprem", "agents". */
  readonly id: string;
  /** Resolves once the first full sync is done; the provider stops when `signal` aborts. */
  start(signal: AbortSignal): Promise<void>;
  /** The current view, every service this provider knows. */
  services(): Iterable<ServiceEndpoints>;
  /** The current endpoints of one service, or undefined when this provider has none. */
  endpoints(service: ServiceKey): readonly ProviderEndpoint[] | undefined;
  /**
   * The service's platform virtual IPs (Kubernetes ClusterIPs); optional:
   * providers without such addresses do not implement it. A change of them is
   * reported through `change` like a change of endpoints.
   */
  virtualIPs?(service: ServiceKey): readonly string[] | undefined;
  /**
   * Endpoints of the service that a mesh proxy announced it fronts and whose
   * proxy is gone now (it disconnected and no connected proxy announces them);
   * optional: only a provider that knows proxies (agents) implements it. The
   * catalog offers such endpoints to callers only as a last resort (docs/pipy.md,
   * "Endpoints whose proxy is gone"). A change is reported through `change`.
   */
  goneEndpoints?(service: ServiceKey): readonly { readonly ip: string; readonly port: number }[] | undefined;
  /**
   * The probed health of the service's endpoints, for those a probe guards;
   * optional: only a provider that hears from agents (agents) implements it.
   * A change is reported through `change`.
   */
  endpointHealth?(service: ServiceKey): readonly EndpointHealthInfo[] | undefined;
  /** Called with the keys of the services whose endpoints changed (added, removed or edited). */
  on(event: "change", fn: (changed: readonly ServiceKey[]) => void): () => void;
  status(): ProviderStatus;
}

/**
 * A provider whose platform one replica polls for all (docs/ha.md, "What only
 * the leader does"): the leader polls and its view is published through the
 * store; the other replicas pause polling and serve that view. Wired by the
 * composition root (ha/leader-polled-provider.ts); a provider never knows
 * whether it leads.
 */
export interface SharedViewProvider extends EndpointProvider {
  /**
   * Stops polling; the current view stays served. Called before start(),
   * start() reads nothing from the platform and resolves at once.
   */
  pausePolling(): void;
  /** Polls again (after start()); resolves after the first sync, failed or not. */
  resumePolling(): Promise<void>;
  /** Serves a view another replica polled, in place of the current one. Only while paused. */
  adopt(services: readonly ServiceEndpoints[]): void;
}
