/**
 * Kubernetes endpoint provider and the client plumbing (kubeconfig, supervised
 * informers) the SMI CRD store and MeshConfig watcher share.
 * DESIGN.md §2 (providers/kubernetes); docs/kubernetes.md.
 */
export { KubernetesProvider, PROVIDER_API_USE, type KubernetesProviderOptions, type KubernetesPod } from "./provider.js";
export {
  kubernetesProviderConfigSchema,
  loadKubeConfig,
  contextNamespace,
  createKubernetesProvider,
  MONITORED_BY_LABEL,
  DEFAULT_MESH_NAME,
  DEFAULT_MESH_CONFIG_NAME,
  DEFAULT_CONTROLLER_NAMESPACE,
  type KubernetesProviderConfig,
  type KubernetesProviderConfigInput,
  type KubeConfigSource,
  type KubernetesDeps,
} from "./config.js";
export { KUBE_ERROR_CODES } from "./errors.js";
export { SupervisedInformer, type SupervisedInformerOptions, type InformerState, type InformerEventType } from "./supervised-informer.js";
export { InformerGroup, type GroupState } from "./informer-group.js";
export type { BackoffOptions } from "./backoff.js";
