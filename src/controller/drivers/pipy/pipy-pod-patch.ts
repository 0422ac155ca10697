/**
 * What the Pipy driver adds to a pod (docs/kubernetes.md "Sidecar
 * injection"): a bootstrap volume from the proxy's Secret, an init container
 * that redirects inbound traffic to the sidecar's listeners, and the Pipy
 * sidecar that polls the controller's HTTPS repo with its proxy certificate
 * (docs/pipy.md "Polling the controller's repo").
 *
 * Interception is inbound only and per declared container port P:
 * PREROUTING REDIRECT P -> P + inboundPortOffset, where the sidecar listens
 * (pod IP). Peers' sidecars dial P + offset directly with mTLS; the redirect
 * makes a plain client that dials P meet the mTLS listener instead of
 * reaching the process around the mesh. The sidecar's own forward to podIP:P
 * is locally generated (OUTPUT), so it is not redirected back. Probe ports are
 * left out: the kubelet probes from the node without a mesh certificate.
 * Outbound stays explicit (127.0.0.1:15001, docs/pipy.md) until the driver
 * has a transparent TCP outbound.
 */
import { SIDECAR_CONTAINER, type ContainerView, type JsonPatchOp, type PodBootstrap, type PodView, type ProbePort, type ProbeView } from "../types.js";

export const INIT_CONTAINER = "meshfed-init";
export const BOOTSTRAP_VOLUME = "meshfed-bootstrap";
export const BOOTSTRAP_MOUNT = "/etc/meshfed";
/** The sidecar's uid; the chain below never matches it, and it needs no privileges. */
export const SIDECAR_UID = 1500;
/** Pipy's own admin port inside the pod (metrics); its default 6060 would collide with many apps. */
export const SIDECAR_ADMIN_PORT = 15000;
const CHAIN = "MESHFED_INBOUND";

export interface PodPatchOptions {
  readonly inboundPortOffset: number;
}

/** Inbound ports to redirect: declared TCP container ports, minus probe ports, excluded ones and those past 65535. */
export function interceptedPorts(pod: PodView, bootstrap: PodBootstrap, options: PodPatchOptions): number[] {
  const excluded = new Set<number>([...bootstrap.excludeInboundPorts, ...probePorts(pod.spec.containers)]);
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

/** The init container's script; idempotent, since an init container may run again in the same network namespace. */
export function interceptionScript(ports: readonly number[], offset: number): string {
  const lines = [
    "set -e",
    `iptables -t nat -N ${CHAIN} 2>/dev/null || iptables -t nat -F ${CHAIN}`,
    `iptables -t nat -C PREROUTING -p tcp -j ${CHAIN} 2>/dev/null || iptables -t nat -A PREROUTING -p tcp -j ${CHAIN}`,
    ...ports.map((p) => `iptables -t nat -A ${CHAIN} -p tcp --dport ${p} -j REDIRECT --to-ports ${p + offset}`),
  ];
  return `${lines.join("\n")}\n`;
}

export function pipyPodPatch(pod: PodView, bootstrap: PodBootstrap, options: PodPatchOptions): JsonPatchOp[] {
  const ports = interceptedPorts(pod, bootstrap, options);
  const init = {
    name: INIT_CONTAINER,
    image: bootstrap.initImage,
    command: ["sh", "-c", interceptionScript(ports, options.inboundPortOffset)],
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
      `--admin-port=127.0.0.1:${SIDECAR_ADMIN_PORT}`,
    ],
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
