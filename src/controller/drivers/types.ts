/**
 * Sidecar drivers: DESIGN.md §2 (SidecarDriver). A driver turns one proxy's
 * ProxyView into the files that proxy runs. It is pure and deterministic
 * (stable key order, no clock, no randomness), so an unchanged view gives an
 * unchanged hash and the control plane pushes nothing. The transport never
 * knows which driver produced a config.
 *
 * `patchPod` is the Kubernetes injector's half of this border (DESIGN.md §3
 * flow 5): the driver knows what its sidecar container, its traffic
 * interception and its volumes look like; the injector knows when to inject
 * and delivers the bootstrap Secret. A driver without a sidecar image (json)
 * leaves it out, and the injector refuses to start with such a driver.
 */
import type { ProxyView } from "../catalog/types.js";

/**
 * One file of a proxy's config. Its content is never modified once rendered.
 * A driver that returns the *same frozen object* in every proxy's config (a
 * constant script) lets the transport encode it once and share the bytes
 * (proxy-control-plane/config-message.ts): freeze only files that are
 * identical for every proxy.
 */
export interface ConfigFile {
  /** Starts with "/"; the entry file comes first in `files`. */
  readonly path: string;
  readonly content: Uint8Array;
}

export interface ProxyConfig {
  readonly driver: string;
  readonly files: readonly ConfigFile[];
  /** sha256 over every file's path and content, hex. */
  readonly hash: string;
}

export interface SidecarDriver {
  readonly name: string;
  render(view: ProxyView): ProxyConfig;
  /**
   * The catalog was updated (called before the transports re-render): a
   * driver that keeps rendered parts between renders may drop the ones the
   * update made stale.
   */
  catalogChanged?(): void;
  /** The JSON patch that adds this driver's sidecar to a pod; absent when the driver has no sidecar. */
  patchPod?(pod: PodView, bootstrap: PodBootstrap): JsonPatchOp[];
  /**
   * Files a pod's sidecar gets besides render(): facts of the pod that
   * patchPod made (Pipy: where its admin and scrape ports are). The repo
   * that serves pods adds them to every version; an agent adds its own.
   */
  podFiles?(): readonly ConfigFile[];
  /**
   * The pod annotations that point Prometheus at the sidecar's metrics
   * (`prometheus.io/scrape`, `port`, `path`); the injector decides whether a
   * pod gets them. Absent: the driver's sidecar serves no scrape port.
   */
  scrapeAnnotations?(): Readonly<Record<string, string>>;
}

/** The sidecar container's name, whatever the driver: the injector's "already injected" check relies on it. */
export const SIDECAR_CONTAINER = "meshfed-proxy";

/** One RFC 6902 operation, as an AdmissionReview response carries them (patchType "JSONPatch"). */
export interface JsonPatchOp {
  readonly op: "add" | "replace" | "remove" | "test";
  readonly path: string;
  readonly value?: unknown;
}

export type ProbePort = number | string;

export interface ProbeView {
  readonly httpGet?: { readonly port: ProbePort } | null;
  readonly tcpSocket?: { readonly port: ProbePort } | null;
  readonly grpc?: { readonly port: number } | null;
}

export interface ContainerView {
  readonly name: string;
  readonly ports?: ReadonlyArray<{ readonly containerPort: number; readonly name?: string | null; readonly protocol?: string | null }> | null;
  readonly livenessProbe?: ProbeView | null;
  readonly readinessProbe?: ProbeView | null;
  readonly startupProbe?: ProbeView | null;
}

/** The parts of a Pod a driver reads to patch it (validated by the injector at the edge). */
export interface PodView {
  readonly metadata: { readonly annotations?: Readonly<Record<string, string>> | null };
  readonly spec: {
    readonly containers: readonly ContainerView[];
    readonly initContainers?: readonly ContainerView[] | null;
    readonly volumes?: readonly unknown[] | null;
  };
}

/** What the injector hands the driver for one pod. */
export interface PodBootstrap {
  /** The proxy's UUID: its repo path and certificate identity. */
  readonly proxyId: string;
  /** Secret in the pod's namespace with proxy.crt, proxy.key and ca.pem. */
  readonly secretName: string;
  /** Base URL of the controller's HTTPS repo, e.g. https://meshfed-controller.meshfed-system.svc:6060 */
  readonly repoUrl: string;
  readonly sidecarImage: string;
  /** An image with sh and iptables for the interception init container. */
  readonly initImage: string;
  /** Container ports never redirected to the sidecar (on top of the probe ports). */
  readonly excludeInboundPorts: readonly number[];
  /** Outbound capture exclusions and include lists (injector config merged with the pod's annotations); absent = none. */
  readonly outbound?: OutboundCaptureLists;
}

export interface OutboundCaptureLists {
  readonly controllerAddresses: readonly string[];
  readonly excludeOutboundIPRanges: readonly string[];
  readonly excludeOutboundPorts: readonly number[];
  readonly includeOutboundIPRanges: readonly string[];
  readonly includeOutboundPorts: readonly number[];
}
