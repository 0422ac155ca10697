// The kustomize base in config/kubernetes, parsed and cross-checked: every
// reference between manifests resolves, ports agree with the controller
// config they ship, and RBAC grants exactly what the code uses (the lists
// come from the code's own constants).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { parseHostPort } from "../../src/common/address.js";
import { controllerConfigSchema } from "../../src/controller/config/schema.js";
import { INJECTOR_API_USE } from "../../src/controller/injector/kube-api.js";
import { CLUSTER_NAMESPACES, selectorMatches, webhookScopeProblems, type LabelSelectorView } from "../../src/controller/injector/webhook-scope.js";
import { STORE_API_USE } from "../../src/controller/store/kubernetes-store.js";
import { LEASE_API_USE } from "../../src/controller/ha/lease-leadership.js";
import { PROVIDER_API_USE } from "../../src/controller/providers/kubernetes/provider.js";
import { POLICY_CUSTOM_RESOURCES, SMI_CUSTOM_RESOURCES } from "../../src/controller/spec/kubernetes/crd-mesh-spec.js";
import { MESH_CONFIG_CUSTOM_RESOURCE } from "../../src/controller/spec/kubernetes/mesh-config-crd.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../config/kubernetes");

interface Meta { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface Obj { apiVersion: string; kind: string; metadata: Meta }
interface ContainerPort { name: string; containerPort: number }
interface Container {
  args: string[];
  ports: ContainerPort[];
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  livenessProbe: { httpGet: unknown };
  readinessProbe: { httpGet: unknown };
  resources: { requests: { cpu?: string; memory?: string } };
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
}
interface Deployment extends Obj {
  spec: {
    replicas?: number;
    strategy?: { rollingUpdate?: { maxUnavailable?: number | string } };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        serviceAccountName: string;
        securityContext: { runAsNonRoot?: boolean };
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string }; emptyDir?: object }>;
      };
    };
  };
}
interface ConfigMap extends Obj { data: Record<string, string> }
interface Service extends Obj { spec: { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: number | string }> } }
interface Pdb extends Obj { spec: { minAvailable?: number; maxUnavailable?: number; selector: { matchLabels: Record<string, string> } } }
interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  sideEffects: string;
  failurePolicy?: string;
  namespaceSelector: { matchLabels: Record<string, string> } & LabelSelectorView;
  objectSelector?: LabelSelectorView;
  clientConfig: { caBundle?: string; service: { name: string; namespace: string; path: string; port: number } };
}
interface WebhookConfiguration extends Obj { webhooks: Webhook[] }
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
interface Role extends Obj { rules: Rule[] }
interface Binding extends Obj { roleRef: { kind: string; name: string }; subjects: Array<{ kind: string; name: string; namespace?: string }> }
interface Crd extends Obj { spec: { versions: Array<{ name: string; served: boolean }> } }

/** Walks the kustomization from `dir`, asserting each resource exists; returns every object. */
function load(dir: string, files: string[] = []): Obj[] {
  const kustomization = join(dir, "kustomization.yaml");
  assert.ok(existsSync(kustomization), `${kustomization} exists`);
  const k = parseAllDocuments(readFileSync(kustomization, "utf8"))[0]!.toJS() as { resources: string[] };
  const out: Obj[] = [];
  for (const r of k.resources) {
    const path = join(dir, r);
    assert.ok(existsSync(path), `kustomization resource ${r} in ${dir} exists`);
    if (statSync(path).isDirectory()) {
      out.push(...load(path, files));
      continue;
    }
    files.push(path);
    for (const doc of parseAllDocuments(readFileSync(path, "utf8"))) {
      assert.deepEqual(doc.errors, [], `${path} parses`);
      const o = doc.toJS() as Obj | null;
      if (o === null) continue;
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${path}: apiVersion, kind and metadata.name`);
      out.push(o);
    }
  }
  return out;
}

const objects = load(ROOT);
function find<T extends Obj>(kind: string, name: string, namespace?: string): T | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace)) as T | undefined;
}
function must<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} exists`);
  return value;
}

const deployments = objects.filter((o) => o.kind === "Deployment") as Deployment[];
assert.equal(deployments.length, 1, "one Deployment");
const deployment = deployments[0]!;
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0]!;
const configMapName = must(podSpec.volumes.find((v) => v.name === "config")?.configMap?.name, "the config volume");
const configYaml = must(find<ConfigMap>("ConfigMap", configMapName, "meshfed-system")?.data["controller.yaml"], "controller.yaml");
const config = controllerConfigSchema.parse(parseAllDocuments(configYaml)[0]!.toJS());
const kube = config.providers.kubernetes!;
const containerPort = (name: string | number): number | undefined => container.ports.find((p) => p.name === name)?.containerPort;

test("manifests: every namespaced object lives in a namespace the base creates", () => {
  const namespaces = new Set(objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name));
  for (const o of objects) if (o.metadata.namespace !== undefined) assert.ok(namespaces.has(o.metadata.namespace), `${o.kind}/${o.metadata.name}`);
});

test("manifests: the Deployment's service account, config and data volume, probes and hardening", () => {
  assert.ok(find("ServiceAccount", podSpec.serviceAccountName, deployment.metadata.namespace), "serviceAccountName exists");
  const configArg = must(container.args[container.args.indexOf("--config") + 1], "--config");
  const configMount = must(container.volumeMounts.find((m) => m.name === "config"), "the config mount");
  assert.equal(dirname(configArg), configMount.mountPath);
  assert.ok(configMount.readOnly);
  const data = must(container.volumeMounts.find((m) => m.mountPath === config.dataDir), "the dataDir mount");
  assert.ok(podSpec.volumes.find((v) => v.name === data.name)?.emptyDir, "dataDir is a writable emptyDir");
  assert.equal(containerPort("admin"), parseHostPort(config.admin.address).port);
  assert.equal(containerPort("grpc"), parseHostPort(config.grpc.address).port);
  assert.equal(containerPort("repo"), parseHostPort(config.repo.address!).port);
  assert.equal(containerPort("webhook"), parseHostPort(kube.injector.address).port);
  assert.equal(containerPort("metrics"), parseHostPort(config.metrics.address!).port);
  const annotations = deployment.spec.template.metadata.annotations;
  assert.equal(annotations["prometheus.io/scrape"], "true");
  assert.equal(Number(annotations["prometheus.io/port"]), containerPort("metrics"));
  assert.equal(annotations["prometheus.io/path"], "/metrics");
  assert.deepEqual(container.livenessProbe.httpGet, { path: "/healthz", port: "admin" });
  assert.deepEqual(container.readinessProbe.httpGet, { path: "/readyz", port: "admin" });
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
  assert.equal(podSpec.securityContext.runAsNonRoot, true);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.equal(deployment.spec.template.metadata.annotations["meshfed.io/sidecar-injection"], "disabled");
  assert.equal(kube.inCluster, true);
});

test("manifests: the Service selects the controller pods and its targetPorts are container ports", () => {
  const service = must(find<Service>("Service", kube.injector.service.name, kube.injector.service.namespace), "the injector's Service");
  const labels = deployment.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v, `selector ${k}`);
  for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(labels[k], v);
  for (const p of service.spec.ports) {
    const target = typeof p.targetPort === "string" ? containerPort(p.targetPort) : p.targetPort;
    assert.ok(container.ports.some((c) => c.containerPort === target), `Service port ${p.name} -> ${p.targetPort}`);
  }
  assert.deepEqual(service.spec.ports.map((p) => p.name).sort(), ["admin", "grpc", "repo", "webhook"]);
});

test("manifests: the webhook calls the injector's Service, port and path, for meshed namespaces", () => {
  const mwc = must(find<WebhookConfiguration>("MutatingWebhookConfiguration", kube.injector.webhookConfiguration), "the configuration the controller patches");
  const service = must(find<Service>("Service", kube.injector.service.name, kube.injector.service.namespace), "the injector's Service");
  for (const w of mwc.webhooks) {
    const ref = w.clientConfig.service;
    assert.equal(ref.name, service.metadata.name);
    assert.equal(ref.namespace, service.metadata.namespace);
    assert.equal(ref.path, kube.injector.path);
    const port = must(service.spec.ports.find((p) => p.port === ref.port), "the webhook's Service port");
    assert.equal(containerPort(port.targetPort), parseHostPort(kube.injector.address).port);
    assert.deepEqual(w.admissionReviewVersions, ["v1"]);
    assert.equal(w.sideEffects, "NoneOnDryRun");
    assert.equal(w.namespaceSelector.matchLabels["meshfed.io/monitored-by"], kube.meshName);
    assert.equal(w.clientConfig.caBundle, undefined, "the controller sets caBundle at start");
  }
});

test("manifests: two replicas on the shared store, a PodDisruptionBudget that keeps one, rollouts that never go below", () => {
  assert.ok((deployment.spec.replicas ?? 1) >= 2, "at least two controller replicas");
  assert.equal(config.store, "kubernetes", "replicas need the shared store (docs/ha.md)");
  assert.equal(deployment.spec.strategy?.rollingUpdate?.maxUnavailable, 0);
  const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget") as Pdb[];
  const labels = deployment.spec.template.metadata.labels;
  const pdb = must(pdbs.find((p) => p.metadata.namespace === deployment.metadata.namespace && Object.entries(p.spec.selector.matchLabels).every(([k, v]) => labels[k] === v)), "a PodDisruptionBudget selecting the controller pods");
  assert.ok(pdb.spec.minAvailable !== undefined && pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < deployment.spec.replicas!, "one replica kept, one evictable");
});

test("manifests: the webhook fails closed, is never called for the cluster's namespaces or the controller's, nor for the controller's pods", () => {
  const mwc = must(find<WebhookConfiguration>("MutatingWebhookConfiguration", kube.injector.webhookConfiguration), "the configuration the controller patches");
  const protectedNamespaces = [...CLUSTER_NAMESPACES, deployment.metadata.namespace!];
  // The same judgement the controller makes at start (it refuses to run otherwise).
  assert.deepEqual(webhookScopeProblems(mwc.webhooks, protectedNamespaces, kube.meshName), []);
  for (const w of mwc.webhooks) {
    assert.equal(w.failurePolicy, "Fail", "a meshed pod without its proxy is refused (docs/kubernetes.md)");
    assert.equal(selectorMatches(w.namespaceSelector, { "kubernetes.io/metadata.name": "bookstore", "meshfed.io/monitored-by": kube.meshName }), true, "meshed namespaces are called");
    assert.equal(selectorMatches(w.objectSelector, deployment.spec.template.metadata.labels), false, "the controller's pods never wait for the webhook");
    assert.equal(selectorMatches(w.objectSelector, { app: "bookstore" }), true, "ordinary pods are sent");
  }
});

interface Use { group: string; resource: string; verbs: readonly string[]; namespace?: string; resourceNames?: readonly string[] }

test("manifests: RBAC grants exactly what the code uses", () => {
  const used: Use[] = [
    ...PROVIDER_API_USE,
    ...[...SMI_CUSTOM_RESOURCES, ...POLICY_CUSTOM_RESOURCES].map((r) => ({ group: r.group, resource: r.plural, verbs: ["list", "watch"] })),
    { group: "", resource: "configmaps", verbs: ["list", "watch"], namespace: "meshfed-system", resourceNames: [kube.meshConfig.name] },
    { group: MESH_CONFIG_CUSTOM_RESOURCE.group, resource: MESH_CONFIG_CUSTOM_RESOURCE.plural, verbs: ["list", "watch"], namespace: "meshfed-system", resourceNames: [kube.meshConfig.customResource.name] },
    ...INJECTOR_API_USE.map((u) => (u.resource === "mutatingwebhookconfigurations" ? { ...u, resourceNames: [kube.injector.webhookConfiguration] } : u)),
    // store: kubernetes brings its Secrets and replica Leases, and leader election on a Lease (several replicas).
    ...(config.store === "kubernetes" ? [...STORE_API_USE, ...LEASE_API_USE].map((u) => ({ ...u, namespace: "meshfed-system" })) : []),
  ];
  const sa = podSpec.serviceAccountName;
  // Every rule bound to the controller's service account, with the namespace it applies in (undefined: cluster).
  const granted: Use[] = [];
  for (const b of objects.filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding") as Binding[]) {
    if (!b.subjects.some((s) => s.kind === "ServiceAccount" && s.name === sa && s.namespace === deployment.metadata.namespace)) continue;
    const role = must(find<Role>(b.roleRef.kind, b.roleRef.name, b.roleRef.kind === "Role" ? b.metadata.namespace : undefined), `${b.kind} ${b.metadata.name}'s ${b.roleRef.kind}`);
    for (const rule of role.rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          granted.push({ group, resource, verbs: rule.verbs, ...(b.kind === "RoleBinding" ? { namespace: b.metadata.namespace } : {}), ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}) });
        }
      }
    }
  }
  const key = (u: Use, verb: string) => `${u.group}/${u.resource} ${verb}${u.namespace ? ` in ${u.namespace}` : ""}${u.resourceNames ? ` [${[...u.resourceNames].sort().join(",")}]` : ""}`;
  const want = new Set(used.flatMap((u) => u.verbs.map((v) => key(u, v))));
  const have = new Set(granted.flatMap((u) => u.verbs.map((v) => key(u, v))));
  assert.deepEqual([...have].sort(), [...want].sort());
});

test("manifests: the CRDs serve every SMI, policy and MeshConfig version the code watches", () => {
  for (const r of [...SMI_CUSTOM_RESOURCES, ...POLICY_CUSTOM_RESOURCES, MESH_CONFIG_CUSTOM_RESOURCE]) {
    const crd = must(find<Crd>("CustomResourceDefinition", `${r.plural}.${r.group}`), `CRD ${r.plural}.${r.group}`);
    assert.ok(crd.spec.versions.some((v) => v.name === r.version && v.served), `${r.plural} serves ${r.version}`);
  }
});
