/**
 * What the Pipy driver adds to a pod (docs/kubernetes.md "Sidecar
 * injection", docs/dataplane.md "Capture in pods"): a bootstrap volume from
 * the proxy's Secret, an init container that installs the capture rules, and
 * the Pipy sidecar that polls the controller's HTTPS repo with its proxy
 * certificate (docs/pipy.md "Polling the controller's repo").
 *
 * The init container writes the same nat chains as the VM agent
 * (common/capture-rules.ts), with the sidecar's fixed uid 1500:
 * - Inbound, per declared container port P: PREROUTING REDIRECT P -> P +
 *   inboundPortOffset, where the sidecar listens (pod IP). Peers' sidecars
 *   dial P + offset directly with mTLS; the redirect makes a plain client
 *   that dials P meet the mTLS listener instead of reaching the process
 *   around the mesh. The sidecar's own forward to podIP:P is locally
 *   generated (OUTPUT, uid 1500), so it is not redirected back. Probe ports
 *   are left out: the kubelet probes from the node without a mesh certificate.
 * - Outbound: the app's TCP goes to the sidecar's transparent listener
 *   127.0.0.1:15002, except the sidecar's own (uid 1500), loopback, the
 *   configured controller addresses and the exclusions from the injector
 *   config and the pod's annotations.
 */
import { captureRestoreInput, DEFAULT_OUTBOUND_PORT, INBOUND_CHAIN, OUTPUT_CHAIN } from "../../../common/capture-rules.js";
import { SIDECAR_CONTAINER, type ContainerView, type JsonPatchOp, type OutboundCaptureLists, type PodBootstrap, type PodView, type ProbePort, type ProbeView } from "../types.js";

export const INIT_CONTAINER = "meshfed-init";
export const BOOTSTRAP_VOLUME = "meshfed-bootstrap";
export const BOOTSTRAP_MOUNT = "/etc/meshfed";
/** The sidecar's uid; the chain below never matches it, and it needs no privileges. */
export const SIDECAR_UID = 1500;
/** Pipy's own admin port inside the pod (metrics); its default 6060 would collide with many apps. */
export const SIDECAR_ADMIN_PORT = 15000;
/**
 * Where Prometheus scrapes the sidecar (osm-edge's port and path): on every
 * pod address, metrics only (codebase/scrape.js), never redirected to the
 * inbound listeners.
 */
export const SIDECAR_METRICS_PORT = 15010;
export const SIDECAR_METRICS_PATH = "/stats/prometheus";
export const METRICS_PORT_NAME = "meshfed-metrics";

/** /scrape.json for a pod's sidecar: the scrape address and the admin port it reads from (codebase/scrape.js). */
export function podScrapeSettings(): { readonly listen: string; readonly admin: string } {
  return { listen: `0.0.0.0:${SIDECAR_METRICS_PORT}`, admin: `127.0.0.1:${SIDECAR_ADMIN_PORT}` };
}

export interface PodPatchOptions {
  readonly inboundPortOffset: number;
}

/** Inbound ports to redirect: declared TCP container ports, minus probe ports, excluded ones and those past 65535. */
export function interceptedPorts(pod: PodView, bootstrap: PodBootstrap, options: PodPatchOptions): number[] {
  // The scrape port is the sidecar's own: an app port of that number could not be served anyway.
  const excluded = new Set<number>([...bootstrap.excludeInboundPorts, ...probePorts(pod.spec.containers), SIDECAR_METRICS_PORT]);
  const ports = new Set<number>();
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if ((p.protocol ?? "TCP") !== "TCP" || excluded.has(p.containerPort)) continue;
      if (p.containerPort + options.inboundPortOffset > 65535) continue;
      ports.add(p.containerPort);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** Ports the kubelet probes (httpGet, tcpSocket, grpc; named ports resolved in the same container). */
export function probePorts(containers: readonly ContainerView[]): number[] {
  const out = new Set<number>();
  for (const c of containers) {
    const named = new Map((c.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]));
    const resolve = (port: ProbePort | undefined): void => {
      if (typeof port === "number") out.add(port);
      else if (typeof port === "string") {
        const n = named.get(port) ?? (/^\d+$/.test(port) ? Number(port) : undefined);
        if (n !== undefined) out.add(n);
      }
    };
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe] as Array<ProbeView | null | undefined>) {
      resolve(probe?.httpGet?.port);
      resolve(probe?.tcpSocket?.port);
      resolve(probe?.grpc?.port);
    }
  }
  return [...out].sort((a, b) => a - b);
}

const NO_LISTS: OutboundCaptureLists = { controllerAddresses: [], excludeOutboundIPRanges: [], excludeOutboundPorts: [], includeOutboundIPRanges: [], includeOutboundPorts: [] };

/**
 * The init container's script. An init container may run again in the same
 * network namespace (a pod sandbox restart), so it first deletes every jump
 * into our chains, then writes both chains and one jump each in one
 * iptables-restore transaction (`:CHAIN` empties a chain that exists). The
 * rules go through printf, not a here-document: the root filesystem is
 * read-only and some shells write here-documents to a temp file.
 */
export function captureScript(ports: readonly number[], offset: number, lists: OutboundCaptureLists = NO_LISTS): string {
  const input = captureRestoreInput({
    proxyUid: SIDECAR_UID,
    outboundPort: DEFAULT_OUTBOUND_PORT,
    inboundOffset: offset,
    inboundPorts: ports,
    // interceptedPorts already left the excluded ones out.
    excludeInboundPorts: [],
    ...lists,
  }, { outboundActive: true, staleJumps: [] });
  const lines = [
    "set -e",
    `while iptables -t nat -D PREROUTING -p tcp -j ${INBOUND_CHAIN} 2>/dev/null; do :; done`,
    `while iptables -t nat -D OUTPUT -p tcp -j ${OUTPUT_CHAIN} 2>/dev/null; do :; done`,
    "printf '%s\\n' \\",
    ...input.trimEnd().split("\n").map((l) => `  '${l}' \\`),
    "  | iptables-restore --noflush",
  ];
  return `${lines.join("\n")}\n`;
}

export function pipyPodPatch(pod: PodView, bootstrap: PodBootstrap, options: PodPatchOptions): JsonPatchOp[] {
  const ports = interceptedPorts(pod, bootstrap, options);
  const init = {
    name: INIT_CONTAINER,
    image: bootstrap.initImage,
    command: ["sh", "-c", captureScript(ports, options.inboundPortOffset, bootstrap.outbound)],
    securityContext: {
      // iptables needs NET_ADMIN/NET_RAW in the pod's network namespace and root to use them.
      runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
    },
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
  };
  const base = `${bootstrap.repoUrl.replace(/\/+$/, "")}/repo/${bootstrap.proxyId}/`;
  const sidecar = {
    name: SIDECAR_CONTAINER,
    image: bootstrap.sidecarImage,
    command: ["pipy"],
    args: [
      base,
      `--tls-cert=${BOOTSTRAP_MOUNT}/proxy.crt`,
      `--tls-key=${BOOTSTRAP_MOUNT}/proxy.key`,
      // Without --tls-trusted Pipy verifies nothing about the repo's certificate.
      `--tls-trusted=${BOOTSTRAP_MOUNT}/ca.pem`,
      `--admin-port=${podScrapeSettings().admin}`,
    ],
    // Named, so that a PodMonitor or a scrape config can pick it by name.
    ports: [{ name: METRICS_PORT_NAME, containerPort: SIDECAR_METRICS_PORT, protocol: "TCP" }],
    volumeMounts: [{ name: BOOTSTRAP_VOLUME, mountPath: BOOTSTRAP_MOUNT, readOnly: true }],
    securityContext: {
      runAsUser: SIDECAR_UID, runAsGroup: SIDECAR_UID, runAsNonRoot: true, allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] },
    },
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
  };
  const volume = {
    name: BOOTSTRAP_VOLUME,
    // Readable by the sidecar's uid; only the sidecar mounts the volume.
    secret: { secretName: bootstrap.secretName, defaultMode: 0o444 },
  };
  return [
    ...appendTo("/spec/initContainers", pod.spec.initContainers, init),
    ...appendTo("/spec/containers", pod.spec.containers, sidecar),
    ...appendTo("/spec/volumes", pod.spec.volumes, volume),
  ];
}

/** JSON Patch cannot append to an absent array: create it with the element instead. */
function appendTo(path: string, current: readonly unknown[] | null | undefined, value: unknown): JsonPatchOp[] {
  return current === undefined || current === null ? [{ op: "add", path, value: [value] }] : [{ op: "add", path: `${path}/-`, value }];
}
