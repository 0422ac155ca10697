/**
 * RBAC and the sidecar webhook of an install. Least privilege: exactly the
 * verbs the code uses (config/kubernetes/rbac.yaml explains each rule and
 * test/unit/kubernetes-manifests.test.ts checks them against the code's own
 * lists); the webhook never gates the cluster's namespaces nor the
 * controller's (config/kubernetes/webhook.yaml).
 */
import { CLUSTER_NAMESPACES } from "../../controller/injector/webhook-scope.js";
import { DEFAULT_MESH_CONFIG_OBJECT_NAME } from "../../controller/kube/config-schema.js";
import { MONITORED_BY_LABEL } from "../../controller/kube/objects.js";
import { CONTROLLER_NAME, CONTROLLER_PORTS, webhookConfigurationName } from "./controller-objects.js";
import type { Manifest } from "./manifest.js";
import type { InstallValues } from "./values.js";

const RBAC = "rbac.authorization.k8s.io/v1";

/** Cluster-wide, so named after the mesh (two meshes, two roles). */
export function clusterRoleName(v: InstallValues): string {
  return `${v.meshName}-controller`;
}

function subjects(v: InstallValues): object[] {
  return [{ kind: "ServiceAccount", name: CONTROLLER_NAME, namespace: v.namespace }];
}

export function clusterRole(v: InstallValues): Manifest {
  const listWatch = ["list", "watch"];
  return {
    apiVersion: RBAC,
    kind: "ClusterRole",
    metadata: { name: clusterRoleName(v), labels: {} },
    rules: [
      { apiGroups: [""], resources: ["namespaces", "services", "pods"], verbs: listWatch },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: listWatch },
      { apiGroups: ["split.smi-spec.io"], resources: ["trafficsplits"], verbs: listWatch },
      { apiGroups: ["access.smi-spec.io"], resources: ["traffictargets"], verbs: listWatch },
      { apiGroups: ["specs.smi-spec.io"], resources: ["httproutegroups", "tcproutes"], verbs: listWatch },
      { apiGroups: ["policy.openservicemesh.io"], resources: ["egresses", "ingressbackends", "upstreamtrafficsettings", "retries"], verbs: listWatch },
      { apiGroups: [""], resources: ["namespaces"], verbs: ["get"] },
      { apiGroups: [""], resources: ["secrets"], verbs: ["create", "delete", "patch"] },
      { apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], resourceNames: [webhookConfigurationName(v)], verbs: ["get", "patch"] },
    ],
  };
}

export function clusterRoleBinding(v: InstallValues): Manifest {
  return {
    apiVersion: RBAC,
    kind: "ClusterRoleBinding",
    metadata: { name: clusterRoleName(v), labels: {} },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRoleName(v) },
    subjects: subjects(v),
  };
}

function role(v: InstallValues, name: string, rules: object[]): Manifest {
  return { apiVersion: RBAC, kind: "Role", metadata: { name, namespace: v.namespace, labels: {} }, rules };
}

function roleBinding(v: InstallValues, name: string): Manifest {
  return {
    apiVersion: RBAC,
    kind: "RoleBinding",
    metadata: { name, namespace: v.namespace, labels: {} },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: subjects(v),
  };
}

/** The MeshConfig ConfigMap and osm-edge's MeshConfig object, each by name only. */
export function meshConfigRole(v: InstallValues): Manifest {
  return role(v, "meshfed-meshconfig", [
    { apiGroups: [""], resources: ["configmaps"], resourceNames: ["meshfed-config"], verbs: ["list", "watch"] },
    { apiGroups: ["config.openservicemesh.io"], resources: ["meshconfigs"], resourceNames: [DEFAULT_MESH_CONFIG_OBJECT_NAME], verbs: ["list", "watch"] },
  ]);
}

export function meshConfigRoleBinding(v: InstallValues): Manifest {
  return roleBinding(v, "meshfed-meshconfig");
}

/** The state store's Secrets and the Leases of replicas and the leader. */
export function stateRole(v: InstallValues): Manifest {
  const rw = ["get", "list", "watch", "create", "update", "delete"];
  return role(v, "meshfed-state", [
    { apiGroups: [""], resources: ["secrets"], verbs: rw },
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: rw },
  ]);
}

export function stateRoleBinding(v: InstallValues): Manifest {
  return roleBinding(v, "meshfed-state");
}

/** Without the injector there is no webhook: one failing closed with nobody answering would block pods. */
export function sidecarWebhook(v: InstallValues): Manifest | undefined {
  if (!v.injector.enabled) return undefined;
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: webhookConfigurationName(v), labels: {} },
    webhooks: [
      {
        name: "sidecar.meshfed.io",
        admissionReviewVersions: ["v1"],
        sideEffects: "NoneOnDryRun",
        failurePolicy: "Fail",
        reinvocationPolicy: "Never",
        timeoutSeconds: 10,
        clientConfig: { service: { name: CONTROLLER_NAME, namespace: v.namespace, path: "/mutate-pods", port: CONTROLLER_PORTS.webhook } },
        rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }],
        namespaceSelector: {
          matchLabels: { [MONITORED_BY_LABEL]: v.meshName },
          matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: [...CLUSTER_NAMESPACES, v.namespace] }],
        },
        objectSelector: { matchExpressions: [{ key: "meshfed.io/sidecar-injection", operator: "NotIn", values: ["disabled"] }] },
      },
    ],
  };
}
