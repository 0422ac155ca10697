/**
 * The mesh spec: SMI policies as the catalog consumes them, independent of
 * where they were read from (YAML files today, Kubernetes CRDs later).
 * DESIGN.md §2 (MeshSpec). Objects here are already validated and normalised
 * (one API version per kind), so the catalog trusts their shape.
 */
import type { ProviderStatus } from "../source-status.js";
import type { PolicySnapshot } from "./policy-types.js";

/** An SMI identity: a service account. For VM and on-prem services it is the service's own name. */
export interface IdentityRef {
  readonly kind: "ServiceAccount";
  readonly namespace: string;
  readonly name: string;
}

export interface ObjectMeta {
  readonly namespace: string;
  readonly name: string;
  /** Where the object came from (`file.yaml#3` for the third document), for errors and APIs. */
  readonly origin: string;
}

export interface TrafficSplit extends ObjectMeta {
  /** The root (apex) service clients address, in the split's namespace. */
  readonly service: string;
  readonly backends: readonly { readonly service: string; readonly weight: number }[];
  /** Names of HTTPRouteGroups the split applies to (v1alpha4 `matches`); empty = all traffic. */
  readonly matches: readonly string[];
}

export interface RuleRef {
  readonly kind: "HTTPRouteGroup" | "TCPRoute";
  readonly name: string;
  /** Named matches inside an HTTPRouteGroup; empty = every match in the group. */
  readonly matches: readonly string[];
}

export interface TrafficTarget extends ObjectMeta {
  readonly destination: IdentityRef & { readonly port?: number };
  readonly sources: readonly IdentityRef[];
  readonly rules: readonly RuleRef[];
}

export interface HttpMatch {
  readonly name: string;
  /** A regular expression, anchored when matched; undefined = any path. */
  readonly pathRegex?: string;
  /** Upper-case HTTP methods; ["*"] or empty = any method. */
  readonly methods: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
}

export interface HTTPRouteGroup extends ObjectMeta {
  readonly matches: readonly HttpMatch[];
}

export interface TCPRoute extends ObjectMeta {
  /** Empty = every port. */
  readonly ports: readonly number[];
}

/** SMI objects plus osm-edge's policy kinds (policy-types.ts). */
export interface MeshSpecSnapshot extends PolicySnapshot {
  readonly trafficSplits: readonly TrafficSplit[];
  readonly trafficTargets: readonly TrafficTarget[];
  readonly httpRouteGroups: readonly HTTPRouteGroup[];
  readonly tcpRoutes: readonly TCPRoute[];
}

export interface MeshSpec {
  readonly id: string;
  /** Resolves once the first full read is done; stops watching when `signal` aborts. */
  start(signal: AbortSignal): Promise<void>;
  trafficSplits(): readonly TrafficSplit[];
  trafficTargets(): readonly TrafficTarget[];
  httpRouteGroups(): readonly HTTPRouteGroup[];
  tcpRoutes(): readonly TCPRoute[];
  /** Egress, IngressBackend, UpstreamTrafficSetting and Retry objects. */
  policies(): PolicySnapshot;
  /** Called after the policies changed; the snapshot is the whole new spec (policies are few). */
  on(event: "change", fn: (spec: MeshSpecSnapshot) => void): () => void;
  status(): ProviderStatus;
}
