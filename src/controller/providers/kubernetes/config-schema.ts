/**
 * The `providers.kubernetes` block of the controller config, as a zod schema.
 * Kept free of client-node so that the config loader (and every CLI command
 * that parses the config) does not pay for importing the Kubernetes client.
 * docs/kubernetes.md documents every field.
 */
import { z } from "zod";
import { durationSchema } from "../../../common/config-schema.js";

const duration = durationSchema;

// A Kubernetes label value: at most 63 characters, alphanumeric at both ends.
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const DEFAULT_MESH_NAME = "meshfed";
export const DEFAULT_MESH_CONFIG_NAME = "meshfed-config";
/** Where the MeshConfig ConfigMap lives when neither the config nor the context names a namespace. */
export const DEFAULT_CONTROLLER_NAMESPACE = "meshfed-system";

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
  /** Hot-reloaded mesh settings from a ConfigMap (see docs/kubernetes.md, "MeshConfig"). */
  meshConfig: z.strictObject({
    enabled: z.boolean().default(true),
    /** Default: the kubeconfig context's namespace (in a pod: its own namespace), else meshfed-system. */
    namespace: z.string().regex(DNS_LABEL, "must be a namespace name (DNS label)").optional(),
    name: z.string().regex(DNS_SUBDOMAIN, "must be a ConfigMap name (DNS subdomain)").default(DEFAULT_MESH_CONFIG_NAME),
  }).prefault({}),
});

export type KubernetesProviderConfig = z.output<typeof kubernetesProviderConfigSchema>;
export type KubernetesProviderConfigInput = z.input<typeof kubernetesProviderConfigSchema>;

