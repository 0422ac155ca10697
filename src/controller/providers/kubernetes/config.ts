/**
 * The Kubernetes endpoint provider for `providers.kubernetes`, built from its
 * config. The shared client layer (KubeConfig loading, informers, errors, the
 * config schema) is controller/kube/.
 */
import type { KubeDeps, KubernetesProviderConfig } from "../../kube/index.js";
import { KubernetesProvider } from "./provider.js";

/** The endpoint provider for `providers.kubernetes`. */
export function createKubernetesProvider(config: KubernetesProviderConfig, deps: KubeDeps): KubernetesProvider {
  return new KubernetesProvider({
    kubeConfig: deps.kubeConfig,
    meshName: config.meshName,
    backoff: { initialMs: config.backoff.initial, maxMs: config.backoff.max },
    logger: deps.logger,
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });
}
