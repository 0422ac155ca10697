/**
 * The mesh catalog: DESIGN.md §2 and §3 flows 1–2. It joins the endpoint
 * providers, the mesh spec and the certificate registry into one merged view,
 * computes each proxy's ProxyView (what a sidecar driver renders), and the
 * participants (issued ∩ connected ∩ discovered). It imports the interfaces
 * of its inputs only, and nothing of its outputs (drivers, control plane).
 *
 * JSON field names of CatalogService, Conflict and the participants report
 * are an admin-API contract: scripts depend on them.
 */
import type { AppProtocol, CaptureMode, PortProtocols } from "../../common/app-protocol.js";
import type { ServiceKey, ServiceRef } from "../../common/service.js";
import type { Provenance } from "../providers/types.js";
import type { HttpMatch, IdentityRef } from "../spec/types.js";
import type { EgressView } from "./egress-view.js";
import type { IngressRule } from "./ingress-view.js";
import type { InboundRateLimitView, RetryView, UpstreamLimitsView } from "./resilience-types.js";

export interface CatalogEndpoint {
  readonly ip: string;
  readonly port: number;
  /** The port's application protocol: the highest-priority declaration, "http" when nobody declares one. */
  readonly protocol: AppProtocol;
  /** The ServiceAccount (in the service's namespace) the workload runs as; the service's name when nobody declares one. */
  readonly serviceAccount: string;
  /** Provider ids that report this endpoint, sorted. */
  readonly sources: readonly string[];
  /** Every (provider, source object) pair that reports it. */
  readonly provenance: readonly Provenance[];
  /**
   * The probed health when an agent's probe guards this endpoint (docs/agent.md,
   * "Health probes"); absent: not probed, counted ready. "unhealthy" = offered to no caller.
   */
  readonly health?: EndpointHealthView;
}

/** An endpoint's probed health as the admin API shows it (field names are a contract). */
export interface EndpointHealthView {
  readonly state: "healthy" | "unhealthy" | "unknown";
  readonly reason: string;
  readonly since: string;
  readonly probe: string;
  /** Where the probe was declared: "agent" (its config), "token" or "hosts" (the hosts file). */
  readonly source: string;
}

export interface CatalogService {
  readonly namespace: string;
  readonly name: string;
  readonly endpoints: readonly CatalogEndpoint[];
  /** The mesh virtual IP the agents' DNS answers for this service (absent: none allocated; docs/dataplane.md). */
  readonly vip?: string;
}

export interface ConflictClaim {
  readonly service: ServiceKey;
  readonly sources: readonly string[];
}

/** One IP:port claimed by several services; resolved by provider priority, never silently. */
export interface Conflict {
  readonly ip: string;
  readonly port: number;
  readonly claims: readonly ConflictClaim[];
  /** The service that keeps the endpoint. */
  readonly winner: ServiceKey;
  /** "priority": a higher-priority provider won; "tie": equal priority, first service key in order won. */
  readonly resolution: "priority" | "tie";
}

/**
 * Providers that report the same endpoint of one service with different
 * protocols or accounts (e.g. a Service's appProtocol and an agent's
 * `--endpoint IP:PORT/PROTO`). Resolved like conflicts: the highest-priority
 * provider's value wins ("priority"); equal priority: the first value in
 * order ("tie").
 */
export interface Disagreement {
  readonly service: ServiceKey;
  readonly ip: string;
  readonly port: number;
  readonly field: "protocol" | "serviceAccount";
  readonly claims: ReadonlyArray<{ readonly value: string; readonly sources: readonly string[] }>;
  readonly winner: string;
  readonly resolution: "priority" | "tie";
}

export interface CatalogSnapshot {
  readonly services: readonly CatalogService[];
  readonly conflicts: readonly Conflict[];
  readonly disagreements: readonly Disagreement[];
}

export interface CatalogChange {
  /** Services whose effective endpoints changed (conflict losers included). */
  readonly services: readonly ServiceKey[];
  /** True when the SMI policies changed (every proxy view may be affected). */
  readonly spec: boolean;
  /**
   * Accounts (`namespace/name`) whose set of services changed: proxies
   * allowed to call an account by a TrafficTarget must re-render even when
   * none of the services they knew changed (a new service under it).
   */
  readonly identities?: readonly string[];
}

/** A proxy connected to the proxy control plane right now. */
export interface ConnectedProxy {
  readonly proxyId: string;
  readonly service: ServiceRef;
  /** Serial of the proxy certificate it connected with. */
  readonly serial: string;
  /** Addresses of its host, used to find the endpoints it fronts. */
  readonly addresses: readonly string[];
  readonly connectedAt: string;
  /** How it is connected: an agent's gRPC stream, or a pod sidecar polling the Pipy repo. */
  readonly via?: "stream" | "repo";
  /** `namespace/name` of the pod a sidecar runs in, when known (its `meshfed.io/proxy-id` annotation). */
  readonly pod?: string;
  /** With replicas (docs/ha.md): the replica holding its stream. */
  readonly replicaId?: string;
  /** The identity (`namespace/account`) whose service certificate it holds, when the control plane knows it. */
  readonly identity?: string;
  /** How its host hands it traffic (absent: "none", or not known to this replica). */
  readonly capture?: CaptureMode;
}

/** What the proxy control plane tells the catalog: who is connected right now (read when participants are asked for). */
export interface ConnectedProxySource {
  connected(): Iterable<ConnectedProxy>;
}

export interface EndpointAddress {
  readonly ip: string;
  readonly port: number;
}

export interface InboundRule {
  /** The TrafficTarget this rule comes from (`namespace/name`). */
  readonly trafficTarget: string;
  readonly sources: readonly IdentityRef[];
  /** HTTP matches allowed (empty with no tcpPorts = nothing beyond the listed kinds). */
  readonly httpMatches: readonly HttpMatch[];
  /** TCP ports allowed by TCPRoutes; ["*"] semantics are expressed by `anyTcpPort`. */
  readonly tcpPorts: readonly number[];
  readonly anyTcpPort: boolean;
  /** Destination port restriction from the TrafficTarget, if any. */
  readonly port?: number;
}

export interface SplitBackend {
  readonly service: ServiceRef;
  readonly weight: number;
  readonly endpoints: readonly EndpointAddress[];
  /** Every identity that serves this backend (absent = its service identity only). */
  readonly identities?: readonly IdentityRef[];
  /** Protocol per port (absent or unlisted port = "http"). */
  readonly protocols?: PortProtocols;
}

export interface OutboundService {
  readonly service: ServiceRef;
  readonly identity: IdentityRef;
  /** Ports clients may call (from the service's endpoints, or the split backends'). */
  readonly ports: readonly number[];
  readonly endpoints: readonly EndpointAddress[];
  /**
   * Every identity whose proxies serve this service (a service may run under
   * several accounts); a peer must prove one of them. Absent = [identity].
   */
  readonly identities?: readonly IdentityRef[];
  /** Protocol per port (absent or unlisted port = "http"). */
  readonly protocols?: PortProtocols;
  /** The mesh virtual IP the agents' DNS answers for this service's names (VMs; docs/dataplane.md). */
  readonly vip?: string;
  /** The service's platform virtual IPs (Kubernetes ClusterIPs). */
  readonly virtualIPs?: readonly string[];
  /** Present when a TrafficSplit has this service as its root. */
  readonly split?: {
    readonly trafficSplit: string;
    readonly backends: readonly SplitBackend[];
    readonly matches: readonly HttpMatch[];
  };
  /** Client-side limits from the service's UpstreamTrafficSetting (catalog/resilience-view.ts). */
  readonly limits?: UpstreamLimitsView;
  /** The retry policy of a Retry naming this proxy's identity as source and this service as a destination. */
  readonly retry?: RetryView;
}

/** Everything one proxy needs; what a SidecarDriver renders. Deterministic order throughout. */
export interface ProxyView {
  readonly proxy: {
    readonly id: string;
    readonly service: ServiceRef;
    readonly identity: IdentityRef;
    /** How the proxy's host hands it traffic (absent = "none": explicit mode). */
    readonly capture?: CaptureMode;
    /**
     * What a captured connection to a destination outside the mesh does:
     * true (absent) = it passes through to that destination, false = it is
     * refused. Mesh setting `mesh.outboundPassthrough` (osm-edge: enableEgress).
     */
    readonly outboundPassthrough?: boolean;
  };
  readonly inbound: {
    readonly permissive: boolean;
    /** Local endpoints this proxy fronts. */
    readonly endpoints: readonly EndpointAddress[];
    /** Protocol per local port (absent or unlisted port = "http"). */
    readonly protocols?: PortProtocols;
    readonly rules: readonly InboundRule[];
    /** IngressBackends that let callers outside the mesh reach these ports (absent = none: mesh mTLS only). */
    readonly ingress?: readonly IngressRule[];
    /** Local rate limits from the proxy's own service's UpstreamTrafficSetting. */
    readonly rateLimit?: InboundRateLimitView;
  };
  readonly outbound: readonly OutboundService[];
  /** Egresses naming this proxy's identity as a source (absent = none). */
  readonly egress?: EgressView;
}

export type Leg = "issued" | "connected" | "discovered";

/** A participant's endpoint; `health` as in CatalogEndpoint, present only when probed. */
export interface ParticipantEndpoint extends EndpointAddress {
  readonly health?: EndpointHealthView;
}

export interface Participant {
  readonly service: ServiceKey;
  /** The identity it speaks for: ServiceAccount `namespace/name` (the service's name when none is declared). */
  readonly identity: string;
  readonly proxyId: string;
  readonly serial: string;
  readonly endpoints: readonly ParticipantEndpoint[];
  /** For a pod's sidecar: the pod, `namespace/name`. */
  readonly pod?: string;
  /** With replicas: the replica holding the proxy's stream. */
  readonly replicaId?: string;
}

export interface IncompleteParticipant {
  /** What the row is about: a discovered endpoint, an issued certificate, or a connected proxy. */
  readonly kind: "endpoint" | "certificate" | "proxy";
  readonly service: ServiceKey;
  readonly ip?: string;
  readonly port?: number;
  readonly sources?: readonly string[];
  readonly proxyId?: string;
  readonly serial?: string;
  readonly pod?: string;
  readonly replicaId?: string;
  readonly missing: readonly Leg[];
}

export interface ParticipantsReport {
  readonly participants: readonly Participant[];
  readonly incomplete: readonly IncompleteParticipant[];
}

/**
 * Which service (and account) changes can change a proxy's view: match them
 * against a change's `services` and `identities`; `all` in permissive mode.
 * Read-only: proxies of one service and account share one (view-parts.ts).
 */
export interface ProxyDependencies {
  readonly all: boolean;
  readonly services: ReadonlySet<ServiceKey>;
}
