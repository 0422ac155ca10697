/**
 * SMI policies from Kubernetes custom resources, and the MeshConfig watcher
 * (osm-edge's MeshConfig custom resource over the meshfed-config ConfigMap).
 * DESIGN.md §2 (spec/kubernetes); docs/kubernetes.md.
 */
import { contextNamespace, DEFAULT_CONTROLLER_NAMESPACE, type KubeDeps, type KubernetesProviderConfig } from "../../kube/index.js";
import { KubernetesMeshSpec } from "./crd-mesh-spec.js";
import { KubeMeshConfig, type MeshSettings } from "./mesh-config.js";

export { KubernetesMeshSpec, SMI_CUSTOM_RESOURCES, POLICY_CUSTOM_RESOURCES, type KubernetesMeshSpecOptions, type SmiCustomResource } from "./crd-mesh-spec.js";
export { KubeMeshConfig, parseMeshConfigData, MESH_CONFIG_KEYS, type MeshSettings, type MeshSettingSource, type MeshConfigChange, type KubeMeshConfigOptions } from "./mesh-config.js";
export { MESH_CONFIG_CUSTOM_RESOURCE, MESH_CONFIG_NOT_ENFORCED, parseMeshConfigObject, type FieldNote } from "./mesh-config-crd.js";

/** The SMI CRD store for `providers.kubernetes` (when `smi` is true). */
export function createKubernetesMeshSpec(config: KubernetesProviderConfig, deps: KubeDeps & { trustDomain?: string }): KubernetesMeshSpec {
  return new KubernetesMeshSpec({
    kubeConfig: deps.kubeConfig,
    ...(deps.trustDomain === undefined ? {} : { trustDomain: deps.trustDomain }),
    backoff: { initialMs: config.backoff.initial, maxMs: config.backoff.max },
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });
}

/**
 * The MeshConfig watcher for `providers.kubernetes.meshConfig` (when
 * `enabled`): the ConfigMap and, unless `customResource.enabled` is false,
 * the MeshConfig object. `defaults` are the controller config file's settings.
 */
export function createKubeMeshConfig(config: KubernetesProviderConfig, deps: KubeDeps & { readonly defaults: MeshSettings }): KubeMeshConfig {
  return new KubeMeshConfig({
    kubeConfig: deps.kubeConfig,
    namespace: config.meshConfig.namespace ?? contextNamespace(deps.kubeConfig) ?? DEFAULT_CONTROLLER_NAMESPACE,
    name: config.meshConfig.name,
    customResource: config.meshConfig.customResource.enabled ? { name: config.meshConfig.customResource.name } : false,
    defaults: deps.defaults,
    backoff: { initialMs: config.backoff.initial, maxMs: config.backoff.max },
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });
}
