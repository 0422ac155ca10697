/**
 * The Pod as the injector reads it from an AdmissionReview, validated at the
 * edge (loose: unknown fields are ignored and never rewritten; the patch only
 * adds), and the injection decision that does not need the API.
 */
import { z } from "zod";
import type { PodView } from "../drivers/types.js";
import { PROXY_ID_ANNOTATION } from "../kube/objects.js";

/** Pod annotation: `disabled` opts a pod of a meshed namespace out of injection. */
export const INJECTION_ANNOTATION = "meshfed.io/sidecar-injection";
/** Pod annotation naming the mesh service the proxy serves (else the Service selecting the pod). */
export const SERVICE_ANNOTATION = "meshfed.io/service";
/** Set by the injector: the proxy's UUID (also what makes a pod "already injected"); the provider reads it back. */
export { PROXY_ID_ANNOTATION } from "../kube/objects.js";

const port = z.union([z.number().int(), z.string()]);
const probe = z.looseObject({
  httpGet: z.looseObject({ port }).nullish(),
  tcpSocket: z.looseObject({ port }).nullish(),
  grpc: z.looseObject({ port: z.number().int() }).nullish(),
}).nullish();
const container = z.looseObject({
  name: z.string().min(1),
  ports: z.array(z.looseObject({ containerPort: z.number().int().min(1).max(65535), name: z.string().nullish(), protocol: z.string().nullish() })).nullish(),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
});

export const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).nullish(),
    annotations: z.record(z.string(), z.string()).nullish(),
  }),
  spec: z.looseObject({
    containers: z.array(container).min(1),
    initContainers: z.array(container).nullish(),
    volumes: z.array(z.unknown()).nullish(),
    serviceAccountName: z.string().nullish(),
    hostNetwork: z.boolean().nullish(),
  }),
});

export type AdmittedPod = z.output<typeof podSchema> & PodView;

export type SkipReason = "opted-out" | "already-injected" | "host-network";

/** Why this pod gets no sidecar, whatever its namespace; undefined = inject. */
export function skipReason(pod: AdmittedPod, sidecarContainer: string): SkipReason | undefined {
  const annotations = pod.metadata.annotations ?? {};
  if (annotations[INJECTION_ANNOTATION]?.toLowerCase() === "disabled") return "opted-out";
  // Reinvocation or a pod created from an injected pod's spec: never two sidecars.
  if (annotations[PROXY_ID_ANNOTATION] !== undefined) return "already-injected";
  if ([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c.name === sidecarContainer)) return "already-injected";
  // iptables in the init container would rewrite the node's own rules.
  if (pod.spec.hostNetwork === true) return "host-network";
  return undefined;
}

/** For logs: the pod's name, or its generateName prefix (names are assigned after admission). */
export function podLabel(pod: AdmittedPod, namespace: string): string {
  return `${namespace}/${pod.metadata.name ?? `${pod.metadata.generateName ?? ""}*`}`;
}
