/**
 * The controller's own objects in an install: its config, the MeshConfig
 * ConfigMap, ServiceAccount, Service, Deployment and PodDisruptionBudget.
 * config/kubernetes/*.yaml says why each setting is what it is; a test keeps
 * those files equal to what these functions build with the default values.
 */
import type { InstallValues } from "./values.js";
import type { Manifest } from "./manifest.js";

/** Container ports; the controller config, the Service and the probes must agree. */
export const CONTROLLER_PORTS = { grpc: 15128, repo: 6060, webhook: 9443, admin: 15000, metrics: 15010 } as const;

export const CONTROLLER_NAME = "meshfed-controller";
const APP = { "app.kubernetes.io/name": CONTROLLER_NAME } as const;

/** Cluster-wide names carry the mesh name, so two meshes in one cluster never share one. */
export function webhookConfigurationName(v: InstallValues): string {
  return `${v.meshName}-sidecar-injector`;
}

function controllerYaml(v: InstallValues): string {
  const p = CONTROLLER_PORTS;
  return [
    "dataDir: /var/lib/meshfed",
    "# CA, certificate registry and join tokens in Secrets of this namespace:",
    "# they outlive the pod (the data directory is an emptyDir).",
    "store: kubernetes",
    "driver: pipy",
    "admin:",
    `  address: 0.0.0.0:${p.admin}`,
    "# Prometheus scrapes here without the admin token (the pod's prometheus.io annotations).",
    "metrics:",
    `  address: 0.0.0.0:${p.metrics}`,
    "grpc:",
    `  address: 0.0.0.0:${p.grpc}`,
    "repo:",
    `  address: 0.0.0.0:${p.repo}`,
    "providers:",
    "  kubernetes:",
    "    inCluster: true",
    `    meshName: ${v.meshName}`,
    "    injector:",
    `      enabled: ${String(v.injector.enabled)}`,
    `      address: 0.0.0.0:${p.webhook}`,
    "      path: /mutate-pods",
    `      service: { name: ${CONTROLLER_NAME}, namespace: ${v.namespace} }`,
    `      webhookConfiguration: ${webhookConfigurationName(v)}`,
    "",
  ].join("\n");
}

export function controllerConfig(v: InstallValues): Manifest {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "meshfed-controller-config", namespace: v.namespace, labels: {} },
    data: { "controller.yaml": controllerYaml(v) },
  };
}

/** MeshConfig as a ConfigMap (docs/kubernetes.md "MeshConfig"). */
export function meshConfigMap(v: InstallValues): Manifest {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "meshfed-config", namespace: v.namespace, labels: {} },
    data: { "mesh.permissive": String(v.mesh.permissive) },
  };
}

export function serviceAccount(v: InstallValues): Manifest {
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: CONTROLLER_NAME, namespace: v.namespace, labels: { ...APP } } };
}

export function service(v: InstallValues): Manifest {
  const p = CONTROLLER_PORTS;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: CONTROLLER_NAME, namespace: v.namespace, labels: { ...APP } },
    spec: {
      selector: { ...APP },
      ports: [
        { name: "grpc", port: p.grpc, targetPort: "grpc", protocol: "TCP", appProtocol: "grpc" },
        { name: "repo", port: p.repo, targetPort: "repo", protocol: "TCP" },
        { name: "webhook", port: p.webhook, targetPort: "webhook", protocol: "TCP" },
        { name: "admin", port: p.admin, targetPort: "admin", protocol: "TCP" },
      ],
    },
  };
}

export function deployment(v: InstallValues): Manifest {
  const p = CONTROLLER_PORTS;
  const r = v.controller.resources;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: CONTROLLER_NAME, namespace: v.namespace, labels: { ...APP } },
    spec: {
      replicas: v.controller.replicas,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      selector: { matchLabels: { ...APP } },
      template: {
        metadata: {
          labels: { ...APP, "app.kubernetes.io/part-of": "meshfed", "meshfed.io/sidecar-injection": "disabled" },
          annotations: {
            "meshfed.io/sidecar-injection": "disabled",
            "prometheus.io/scrape": "true",
            "prometheus.io/port": String(p.metrics),
            "prometheus.io/path": "/metrics",
          },
        },
        spec: {
          serviceAccountName: CONTROLLER_NAME,
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { ...APP } } } },
              ],
            },
          },
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "controller",
              image: v.controller.image,
              args: ["controller", "--config", "/etc/meshfed/controller.yaml"],
              ports: (["grpc", "repo", "webhook", "admin", "metrics"] as const).map((name) => ({ name, containerPort: p[name], protocol: "TCP" })),
              livenessProbe: { httpGet: { path: "/healthz", port: "admin" }, periodSeconds: 10, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: "/readyz", port: "admin" }, periodSeconds: 5, failureThreshold: 2 },
              startupProbe: { httpGet: { path: "/healthz", port: "admin" }, periodSeconds: 2, failureThreshold: 30 },
              resources: { requests: { cpu: r.requests.cpu, memory: r.requests.memory }, limits: { memory: r.limits.memory } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              volumeMounts: [
                { name: "config", mountPath: "/etc/meshfed", readOnly: true },
                { name: "data", mountPath: "/var/lib/meshfed" },
              ],
            },
          ],
          volumes: [
            { name: "config", configMap: { name: "meshfed-controller-config" } },
            { name: "data", emptyDir: {} },
          ],
        },
      },
    },
  };
}

export function podDisruptionBudget(v: InstallValues): Manifest {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: CONTROLLER_NAME, namespace: v.namespace, labels: {} },
    spec: { minAvailable: v.pdb.minAvailable, selector: { matchLabels: { ...APP } } },
  };
}
