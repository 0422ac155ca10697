/**
 * osm-edge's traffic policies (`policy.openservicemesh.io/v1alpha1`) as the
 * catalog consumes them: already validated and normalised, durations in
 * milliseconds, every optional setting either present or `undefined` (never a
 * default filled in here: defaults belong to the renderer, so `--explain` can
 * tell a configured value from a default one).
 *
 * The shapes follow osm-edge's CRDs so existing objects load unchanged; the
 * names below are the CRD field names unless a comment says otherwise.
 */
import type { ObjectMeta } from "./types.js";

/** A workload identity reference (a Kubernetes ServiceAccount, or a VM service's account). */
export interface ServiceAccountRef {
  readonly kind: "ServiceAccount";
  readonly namespace: string;
  readonly name: string;
}

/** A service reference (`kind: Service`), as Retry destinations and IngressBackend sources use it. */
export interface ServiceRef {
  readonly kind: "Service";
  readonly namespace: string;
  readonly name: string;
}

/** osm-edge's PortSpec; protocol is lower-cased. */
export interface PolicyPort {
  readonly number: number;
  readonly protocol: "http" | "https" | "tcp" | "tcp-server-first" | "grpc";
}

/** A reference to a route object in the policy's namespace (`matches`). */
export interface LocalObjectRef {
  readonly apiGroup?: string;
  readonly kind: string;
  readonly name: string;
}

/**
 * Egress: lets the listed source identities reach destinations outside the
 * mesh, by host (HTTP Host or TLS SNI; a leading `*.` is a suffix match), by IP
 * range (CIDR), on the listed ports. With neither hosts nor ipAddresses the
 * ports apply to any destination, as in osm-edge.
 */
export interface Egress extends ObjectMeta {
  readonly sources: readonly ServiceAccountRef[];
  readonly hosts: readonly string[];
  /** CIDRs, normalised (`10.0.0.0/8`, `2001:db8::/32`); a bare address becomes /32 or /128. */
  readonly ipAddresses: readonly string[];
  readonly ports: readonly PolicyPort[];
  /** HTTPRouteGroup (or UpstreamTrafficSetting) names in the Egress's namespace; empty = all traffic. */
  readonly matches: readonly LocalObjectRef[];
}

/** Who may reach an IngressBackend's backends. */
export type IngressSource =
  /** An ingress controller's Service: its endpoints' addresses are allowed (plaintext or TLS). */
  | { readonly kind: "Service"; readonly namespace: string; readonly name: string }
  /** An mTLS client whose certificate names this identity (SAN / SPIFFE ID / CN, as osm-edge: a DNS-style name). */
  | { readonly kind: "AuthenticatedPrincipal"; readonly name: string }
  /** A CIDR, normalised as in Egress. */
  | { readonly kind: "IPRange"; readonly name: string };

export interface IngressBackendTarget {
  /** A Service in the IngressBackend's namespace. */
  readonly name: string;
  readonly port: PolicyPort;
  /** Present when the backend port expects TLS from the ingress (osm-edge `tls`). */
  readonly tls?: { readonly skipClientCertValidation: boolean; readonly sniHosts: readonly string[] };
}

/** IngressBackend: lets traffic from outside the mesh (an ingress) reach a backend port. */
export interface IngressBackend extends ObjectMeta {
  readonly backends: readonly IngressBackendTarget[];
  readonly sources: readonly IngressSource[];
  readonly matches: readonly LocalObjectRef[];
}

/** A token bucket: `amount` per `unit`, with `burst` extra (osm-edge local rate limit). */
export interface LocalRateLimit {
  /** Requests (HTTP) or connections (TCP) per unit. */
  readonly amount: number;
  readonly unit: "second" | "minute" | "hour";
  readonly burst: number;
}

export interface HttpLocalRateLimit extends LocalRateLimit {
  /** Status of a refused request; osm-edge's default is 429 (filled by the renderer when undefined). */
  readonly responseStatusCode?: number;
  readonly responseHeadersToAdd: readonly { readonly name: string; readonly value: string }[];
}

/** osm-edge's HTTPCircuitBreaking, durations in ms, ratios in 0..1. */
export interface CircuitBreaking {
  readonly statTimeWindowMs: number;
  readonly minRequestAmount: number;
  readonly degradedTimeWindowMs: number;
  readonly slowTimeThresholdMs?: number;
  readonly slowAmountThreshold?: number;
  readonly slowRatioThreshold?: number;
  readonly errorAmountThreshold?: number;
  readonly errorRatioThreshold?: number;
  readonly degradedStatusCode?: number;
  readonly degradedResponseContent?: string;
}

/**
 * UpstreamTrafficSetting: limits for traffic *to* one service (the upstream),
 * applied by every client's proxy (connection limits, circuit breaking) and
 * by the upstream's own inbound side (rate limits), as in osm-edge.
 */
export interface UpstreamTrafficSetting extends ObjectMeta {
  /** The raw `spec.host` (`svc.ns.svc.cluster.local`, or an egress host). */
  readonly host: string;
  /** The mesh service `host` names, when it names one (`svc.ns...`); undefined for egress hosts. */
  readonly service?: { readonly namespace: string; readonly name: string };
  readonly tcp?: { readonly maxConnections?: number; readonly connectTimeoutMs?: number };
  readonly http?: {
    readonly maxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxPendingRequests?: number;
    readonly maxRetries?: number;
    /** meshfed extension (not in osm-edge's CRD): the whole request's deadline. */
    readonly requestTimeoutMs?: number;
    readonly circuitBreaking?: CircuitBreaking;
  };
  readonly rateLimit?: { readonly tcp?: LocalRateLimit; readonly http?: HttpLocalRateLimit };
  /** Per-route rate limits; `path` is a regular expression as in HTTPRouteGroup. */
  readonly httpRoutes: readonly { readonly path: string; readonly rateLimit?: HttpLocalRateLimit }[];
}

/** Retry: how a source identity's proxy retries requests to the destination services. */
export interface Retry extends ObjectMeta {
  readonly source: ServiceAccountRef;
  readonly destinations: readonly ServiceRef[];
  readonly retryPolicy: {
    /** Comma-separated conditions as in osm-edge/Envoy: `5xx`, `gateway-error`, `reset`, `connect-failure`, `retriable-4xx`, or status codes. */
    readonly retryOn: readonly string[];
    readonly numRetries?: number;
    readonly perTryTimeoutMs?: number;
    readonly retryBackoffBaseIntervalMs?: number;
  };
}

/** The policy kinds' lists, as they appear in a MeshSpecSnapshot. */
export interface PolicySnapshot {
  readonly egresses: readonly Egress[];
  readonly ingressBackends: readonly IngressBackend[];
  readonly upstreamTrafficSettings: readonly UpstreamTrafficSetting[];
  readonly retries: readonly Retry[];
}

export function emptyPolicies(): PolicySnapshot {
  return { egresses: [], ingressBackends: [], upstreamTrafficSettings: [], retries: [] };
}
