/**
 * The few fields meshfed reads from core Kubernetes objects, validated at the
 * edge (STYLE.md). Objects from a list arrive as client-node model instances,
 * objects from a watch as plain JSON; the field names are the same, so one
 * loose schema per kind reads both. Unknown fields are ignored.
 */
import { isIP } from "node:net";
import { z } from "zod";

const meta = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
  labels: z.record(z.string(), z.string()).nullish(),
  annotations: z.record(z.string(), z.string()).nullish(),
});

const namespaceSchema = z.looseObject({ metadata: meta });

const intOrString = z.union([z.number().int(), z.string()]);

const serviceSchema = z.looseObject({
  metadata: meta,
  spec: z.looseObject({
    type: z.string().nullish(),
    clusterIP: z.string().nullish(),
    clusterIPs: z.array(z.string()).nullish(),
    selector: z.record(z.string(), z.string()).nullish(),
    ports: z.array(z.looseObject({
      name: z.string().nullish(),
      port: z.number().int(),
      targetPort: intOrString.nullish(),
      protocol: z.string().nullish(),
      appProtocol: z.string().nullish(),
    })).nullish(),
  }).nullish(),
});

const sliceSchema = z.looseObject({
  metadata: meta,
  addressType: z.string(),
  endpoints: z.array(z.looseObject({
    addresses: z.array(z.string()),
    conditions: z.looseObject({ ready: z.boolean().nullish() }).nullish(),
    targetRef: z.looseObject({ kind: z.string().nullish(), name: z.string().nullish(), namespace: z.string().nullish() }).nullish(),
  })).nullish(),
  ports: z.array(z.looseObject({
    name: z.string().nullish(),
    port: z.number().int().nullish(),
    protocol: z.string().nullish(),
    appProtocol: z.string().nullish(),
  })).nullish(),
});

const podSchema = z.looseObject({
  metadata: meta,
  spec: z.looseObject({
    serviceAccountName: z.string().nullish(),
    containers: z.array(z.looseObject({
      ports: z.array(z.looseObject({ name: z.string().nullish(), containerPort: z.number().int(), protocol: z.string().nullish() })).nullish(),
    })).nullish(),
  }).nullish(),
  status: z.looseObject({
    podIP: z.string().nullish(),
    podIPs: z.array(z.looseObject({ ip: z.string() })).nullish(),
  }).nullish(),
});

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ServicePortInfo {
  readonly name: string;
  readonly port: number;
  /** A number, a container port name, or undefined (= `port`). */
  readonly targetPort: number | string | undefined;
  readonly protocol: string;
  /** spec.ports[].appProtocol, as written (mapped to a mesh protocol in app-protocol.ts). */
  readonly appProtocol?: string;
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  /** spec.selector; empty when the Service selects no pods (its endpoints are managed by hand). */
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePortInfo[];
  /** spec.clusterIPs (or spec.clusterIP); empty for a headless Service ("None") or before one is assigned. */
  readonly clusterIPs: readonly string[];
}

export interface SliceEndpointInfo {
  readonly addresses: readonly string[];
  /** Kubernetes: "ready" unset means ready (only an explicit false is not). */
  readonly ready: boolean;
  /** Name of the backing pod when targetRef is a Pod in the slice's namespace. */
  readonly pod: string | undefined;
}

export interface SlicePortInfo {
  readonly name: string;
  /** Undefined means "all ports" (only on hand-made slices): resolved through the Service. */
  readonly port: number | undefined;
  readonly protocol: string;
  /** Copied from the Service port by the EndpointSlice controller; may be absent on hand-made slices. */
  readonly appProtocol?: string;
}

export interface SliceInfo {
  readonly namespace: string;
  readonly name: string;
  /** From the `kubernetes.io/service-name` label; undefined when the slice belongs to no service. */
  readonly service: string | undefined;
  readonly addressType: string;
  readonly endpoints: readonly SliceEndpointInfo[];
  readonly ports: readonly SlicePortInfo[];
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The `meshfed.io/proxy-id` annotation the sidecar injector sets: which proxy fronts this pod. */
  readonly proxyId: string | undefined;
  readonly ips: readonly string[];
  /** containerPort by port name, for resolving named target ports. */
  readonly namedPorts: Readonly<Record<string, number>>;
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
/** The label that marks a namespace as meshed: `meshfed.io/monitored-by=<meshName>`. */
export const MONITORED_BY_LABEL = "meshfed.io/monitored-by";
/**
 * `meshfed.io/metrics=enabled` on a meshed namespace (or the same key as a pod
 * annotation, enabled|disabled): its pods are announced to Prometheus
 * (osm-edge: the `openservicemesh.io/metrics` annotation).
 */
export const METRICS_LABEL = "meshfed.io/metrics";
/** The pod annotation naming the injected proxy (set by the sidecar injector). */
export const PROXY_ID_ANNOTATION = "meshfed.io/proxy-id";

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

function fail(result: z.ZodSafeParseError<unknown>): { ok: false; message: string } {
  const issue = result.error.issues[0];
  return { ok: false, message: issue === undefined ? "invalid object" : `${issue.path.join(".") || "(object)"}: ${issue.message}` };
}

export function parseNamespace(obj: unknown): Parsed<NamespaceInfo> {
  const r = namespaceSchema.safeParse(obj);
  if (!r.success) return fail(r);
  return { ok: true, value: { name: r.data.metadata.name, labels: r.data.metadata.labels ?? {} } };
}

export function parseService(obj: unknown): Parsed<ServiceInfo> {
  const r = serviceSchema.safeParse(obj);
  if (!r.success) return fail(r);
  const m = r.data.metadata;
  return {
    ok: true,
    value: {
      namespace: m.namespace ?? "default",
      name: m.name,
      selector: r.data.spec?.selector ?? {},
      ports: (r.data.spec?.ports ?? []).map((p) => ({
        name: p.name ?? "", port: p.port, targetPort: p.targetPort ?? undefined, protocol: p.protocol ?? "TCP",
        ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
      })),
      clusterIPs: clusterIPs(r.data.spec?.clusterIPs ?? (r.data.spec?.clusterIP ? [r.data.spec.clusterIP] : [])),
    },
  };
}

/** Real addresses only: "None" (headless) and anything that is not an IP are left out. */
function clusterIPs(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => isIP(v) !== 0))];
}

export function parseEndpointSlice(obj: unknown): Parsed<SliceInfo> {
  const r = sliceSchema.safeParse(obj);
  if (!r.success) return fail(r);
  const m = r.data.metadata;
  const namespace = m.namespace ?? "default";
  return {
    ok: true,
    value: {
      namespace,
      name: m.name,
      service: m.labels?.[SERVICE_NAME_LABEL] || undefined,
      addressType: r.data.addressType,
      endpoints: (r.data.endpoints ?? []).map((e) => ({
        addresses: e.addresses,
        ready: e.conditions?.ready !== false,
        pod: e.targetRef?.kind === "Pod" && (e.targetRef.namespace ?? namespace) === namespace ? (e.targetRef.name ?? undefined) : undefined,
      })),
      ports: (r.data.ports ?? []).map((p) => ({ name: p.name ?? "", port: p.port ?? undefined, protocol: p.protocol ?? "TCP", ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
    },
  };
}

export function parsePod(obj: unknown): Parsed<PodInfo> {
  const r = podSchema.safeParse(obj);
  if (!r.success) return fail(r);
  const m = r.data.metadata;
  const namedPorts: Record<string, number> = {};
  for (const c of r.data.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name) namedPorts[p.name] = p.containerPort;
  }
  const ips = (r.data.status?.podIPs ?? []).map((x) => x.ip);
  const podIP = r.data.status?.podIP;
  if (ips.length === 0 && podIP) ips.push(podIP);
  return {
    ok: true,
    value: {
      namespace: m.namespace ?? "default",
      name: m.name,
      serviceAccount: r.data.spec?.serviceAccountName ?? "default",
      labels: m.labels ?? {},
      proxyId: m.annotations?.[PROXY_ID_ANNOTATION]?.toLowerCase(),
      ips: ips.filter((ip) => isIP(ip) !== 0).map((ip) => ip.toLowerCase()),
      namedPorts,
    },
  };
}

/** `namespace/name`, the key of namespaced objects in our maps. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
