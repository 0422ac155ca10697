/**
 * The shared Kubernetes client layer: loading a KubeConfig, supervised
 * informers and groups of them, backoff, error mapping, the few fields read
 * from core objects, and the `providers.kubernetes` config schema. The
 * endpoint provider (providers/kubernetes), the CRD spec store and MeshConfig
 * (spec/kubernetes), the state store, leases and the injector all build on
 * it; none of them imports another's internals (test/unit/import-rules.test.ts).
 * docs/kubernetes.md.
 */
export { loadKubeConfig, contextNamespace, type KubeConfigSource, type LoadKubeConfigOptions, type KubeDeps } from "./kubeconfig.js";
export {
  kubernetesProviderConfigSchema,
  DEFAULT_MESH_NAME,
  DEFAULT_MESH_CONFIG_NAME,
  DEFAULT_MESH_CONFIG_OBJECT_NAME,
  DEFAULT_CONTROLLER_NAMESPACE,
  type KubernetesProviderConfig,
  type KubernetesProviderConfigInput,
} from "./config-schema.js";
export { MONITORED_BY_LABEL } from "./objects.js";
export { KUBE_ERROR_CODES } from "./errors.js";
export { SupervisedInformer, type SupervisedInformerOptions, type InformerState, type InformerEventType } from "./supervised-informer.js";
export { InformerGroup, type GroupState } from "./informer-group.js";
export type { BackoffOptions } from "./backoff.js";
