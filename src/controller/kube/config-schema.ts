/**
 * The `providers.kubernetes` block of the controller config, as a zod schema.
 * Kept free of client-node so that the config loader (and every CLI command
 * that parses the config) does not pay for importing the Kubernetes client.
 * docs/kubernetes.md documents every field.
 */
import { ipv4Cidr } from "../../common/capture-rules.js";
import { z } from "zod";
import { durationSchema, hostPortSchema } from "../../common/config-schema.js";

const duration = durationSchema;

// A Kubernetes label value: at most 63 characters, alphanumeric at both ends.
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const DEFAULT_MESH_NAME = "meshfed";
export const DEFAULT_MESH_CONFIG_NAME = "meshfed-config";
/** osm-edge's MeshConfig object name (config.openservicemesh.io). */
export const DEFAULT_MESH_CONFIG_OBJECT_NAME = "osm-mesh-config";
/** Where the MeshConfig ConfigMap lives when neither the config nor the context names a namespace. */
export const DEFAULT_CONTROLLER_NAMESPACE = "meshfed-system";
export const DEFAULT_INJECTOR_PATH = "/mutate-pods";
export const DEFAULT_WEBHOOK_CONFIGURATION = "meshfed-sidecar-injector";
export const DEFAULT_CONTROLLER_SERVICE = "meshfed-controller";

const hostPort = hostPortSchema("0.0.0.0:9443");

/** The sidecar injector (docs/kubernetes.md "Sidecar injection"). */
/** An IPv4 address or CIDR range (IPv6 is not captured yet). */
const ipv4Range = z.string().refine((v) => {
  try {
    ipv4Cidr(v);
    return true;
  } catch {
    return false;
  }
}, { message: "expected an IPv4 address or CIDR range, e.g. 10.0.0.0/8 (IPv6 is not captured yet)" });

export const injectorConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Where the HTTPS admission webhook listens. */
  address: hostPort.default("0.0.0.0:9443"),
  /** The path the MutatingWebhookConfiguration calls. */
  path: z.string().regex(/^\/[-a-z0-9/]*$/, "must be an absolute path such as /mutate-pods").default(DEFAULT_INJECTOR_PATH),
  /** The controller's Service: its DNS names go into the webhook certificate, and the default repo URL uses it. */
  service: z.strictObject({
    name: z.string().regex(DNS_LABEL, "must be a Service name (DNS label)").default(DEFAULT_CONTROLLER_SERVICE),
    /** Default: the MeshConfig namespace rule (context namespace, else meshfed-system). */
    namespace: z.string().regex(DNS_LABEL, "must be a namespace name (DNS label)").optional(),
  }).prefault({}),
  /** The MutatingWebhookConfiguration whose caBundle the controller sets at start. */
  webhookConfiguration: z.string().regex(DNS_SUBDOMAIN, "must be an object name (DNS subdomain)").default(DEFAULT_WEBHOOK_CONFIGURATION),
  patchCaBundle: z.boolean().default(true),
  /** What sidecars poll; default https://<service>.<namespace>.svc:<port of repo.address>. */
  repoUrl: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
  sidecarImage: z.string().min(1).default("flomesh/pipy:1.5.18"),
  /** Any image with sh and iptables (the init container sets the redirect rules). */
  initImage: z.string().min(1).default("openservicemesh/init:v1.2.0"),
  /** Container ports never redirected to the sidecar (probe ports are always left out). */
  excludeInboundPorts: z.array(z.number().int().min(1).max(65535)).default([]),
  /**
   * Outbound capture in pods (docs/dataplane.md "Capture in pods"); pods add
   * to these with meshfed.io/outbound-*-list annotations. Destinations never
   * redirected to the sidecar:
   */
  excludeOutboundIPRanges: z.array(ipv4Range).default([]),
  excludeOutboundPorts: z.array(z.number().int().min(1).max(65535)).default([]),
  /** When either is non-empty, only TCP to these ranges or ports is redirected. */
  includeOutboundIPRanges: z.array(ipv4Range).default([]),
  includeOutboundPorts: z.array(z.number().int().min(1).max(65535)).default([]),
  /** The controller Service's ClusterIP(s), never redirected (only needed when apps themselves call the controller: the sidecar's uid is never redirected). */
  controllerAddresses: z.array(ipv4Range).default([]),
  /**
   * How old an injection must be before a missing pod counts as deleted and
   * its bootstrap Secret and certificate are reaped (the pod appears in the
   * cache a moment after admission).
   */
  orphanGracePeriod: duration.default(300_000),
  /** How often the leader sweeps for them; a deleted pod's private key stays in its Secret until then. */
  orphanSweepInterval: duration.default(60_000),
});

export const kubernetesProviderConfigSchema = z.strictObject({
  /** Path of a kubeconfig file; relative paths are resolved by the config loader. */
  kubeconfig: z.string().min(1).optional(),
  /** A context of that kubeconfig (default: its current-context). */
  context: z.string().min(1).optional(),
  /** true: service-account config only; false: never; "auto": when KUBERNETES_SERVICE_HOST is set and no kubeconfig is named. */
  inCluster: z.union([z.boolean(), z.literal("auto")]).default("auto"),
  /** Namespaces labelled `meshfed.io/monitored-by=<meshName>` are meshed. */
  meshName: z.string().min(1).regex(LABEL_VALUE, "must be a Kubernetes label value (63 characters, alphanumeric at both ends)").default(DEFAULT_MESH_NAME),
  /** Restart backoff of the informers after an error. */
  backoff: z.strictObject({
    initial: duration.default(500),
    max: duration.default(30_000),
  }).prefault({}),
  /** Read SMI policies from the CRDs in config/kubernetes/crds (spec id "smi-kubernetes"). */
  smi: z.boolean().default(true),
  /**
   * Hot-reloaded mesh settings from osm-edge's MeshConfig object over a
   * ConfigMap, both in one namespace (see docs/kubernetes.md, "MeshConfig").
   */
  meshConfig: z.strictObject({
    enabled: z.boolean().default(true),
    /** Default: the kubeconfig context's namespace (in a pod: its own namespace), else meshfed-system. */
    namespace: z.string().regex(DNS_LABEL, "must be a namespace name (DNS label)").optional(),
    /** The ConfigMap. */
    name: z.string().regex(DNS_SUBDOMAIN, "must be a ConfigMap name (DNS subdomain)").default(DEFAULT_MESH_CONFIG_NAME),
    /** The MeshConfig custom resource (config.openservicemesh.io); its fields win over the ConfigMap's keys. */
    customResource: z.strictObject({
      enabled: z.boolean().default(true),
      name: z.string().regex(DNS_SUBDOMAIN, "must be a MeshConfig name (DNS subdomain)").default(DEFAULT_MESH_CONFIG_OBJECT_NAME),
    }).prefault({}),
  }).prefault({}),
  injector: injectorConfigSchema.prefault({}),
});

export type InjectorConfig = z.output<typeof injectorConfigSchema>;

export type KubernetesProviderConfig = z.output<typeof kubernetesProviderConfigSchema>;
export type KubernetesProviderConfigInput = z.input<typeof kubernetesProviderConfigSchema>;

