/**
 * The Kubernetes endpoint provider: Services, EndpointSlices and pods of
 * meshed namespaces. Its client plumbing is the shared layer in
 * controller/kube/. DESIGN.md §2 (providers/kubernetes); docs/kubernetes.md.
 */
export { KubernetesProvider, PROVIDER_API_USE, type KubernetesProviderOptions, type KubernetesPod } from "./provider.js";
export { createKubernetesProvider } from "./config.js";
