// One source of truth (issue 19 item 1): the kustomize base in
// config/kubernetes is exactly what `meshfed install` applies with the default
// values; install's values change what they name and nothing else; bad
// --set and values files are named errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { controllerConfigSchema } from "../../src/controller/config/schema.js";
import { CLUSTER_NAMESPACES, webhookScopeProblems, type WebhookScopeView } from "../../src/controller/injector/webhook-scope.js";
import { MANAGED_BY_LABEL, MESH_NAME_LABEL, buildManifests, installKinds, manifestsYaml } from "../../src/cli/install/manifests.js";
import type { Manifest } from "../../src/cli/install/manifest.js";
import { INSTALL_ERRORS, parseSet, resolveValues, valueKeys } from "../../src/cli/install/values.js";
import { meshfedVersion } from "../../src/common/version.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../config/kubernetes");

function kustomize(dir: string): Manifest[] {
  const k = parseAllDocuments(readFileSync(join(dir, "kustomization.yaml"), "utf8"))[0]!.toJS() as { resources: string[] };
  return k.resources.flatMap((r) => {
    const path = join(dir, r);
    if (statSync(path).isDirectory()) return kustomize(path);
    return parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJS() as Manifest | null).filter((o): o is Manifest => o !== null);
  });
}

const id = (o: Manifest): string => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

test("config/kubernetes is equal, object for object, to what install applies with the default values", () => {
  assert.ok(existsSync(join(ROOT, "kustomization.yaml")));
  const files = new Map(kustomize(ROOT).map((o) => [id(o), o]));
  const built = new Map(buildManifests(resolveValues()).map((o) => [id(o), JSON.parse(JSON.stringify(o)) as Manifest]));
  assert.deepEqual([...files.keys()].sort(), [...built.keys()].sort(), "the same objects");
  for (const [name, o] of built) assert.deepEqual(files.get(name), o, `${name} equal`);
});

test("every object carries the labels uninstall selects by, and the YAML output reads back as the same objects", () => {
  const values = resolveValues({ set: ["meshName=blue", "namespace=blue-system"] });
  const objects = buildManifests(values);
  for (const o of objects) {
    assert.equal(o.metadata.labels[MANAGED_BY_LABEL], "meshfed", id(o));
    assert.equal(o.metadata.labels[MESH_NAME_LABEL], "blue", id(o));
  }
  const docs = parseAllDocuments(manifestsYaml(objects)).map((d) => d.toJS() as unknown);
  assert.deepEqual(docs, JSON.parse(JSON.stringify(objects)));
});

test("mesh name and namespace reach every reference: config, webhook, RBAC subjects, cluster-wide names", () => {
  const values = resolveValues({ set: ["meshName=blue", "namespace=blue-system"] });
  const objects = buildManifests(values);
  const namespaced = objects.filter((o) => o.metadata.namespace !== undefined);
  assert.ok(namespaced.length > 0);
  for (const o of namespaced) assert.equal(o.metadata.namespace, "blue-system", id(o));
  const clusterWide = objects.filter((o) => o.metadata.namespace === undefined && o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace");
  for (const o of clusterWide) assert.match(o.metadata.name, /^blue-/, `${id(o)} named after the mesh`);
  const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "meshfed-controller-config") as Manifest & { data: Record<string, string> };
  const config = controllerConfigSchema.parse(parseAllDocuments(configMap.data["controller.yaml"]!)[0]!.toJS());
  const kube = config.providers.kubernetes!;
  assert.equal(kube.meshName, "blue");
  assert.equal(kube.injector?.service?.namespace, "blue-system");
  assert.equal(kube.injector?.webhookConfiguration, "blue-sidecar-injector");
  assert.equal(config.store, "kubernetes");
  const webhook = objects.find((o) => o.kind === "MutatingWebhookConfiguration") as Manifest & { webhooks: WebhookScopeView[] };
  assert.equal(webhook.metadata.name, "blue-sidecar-injector");
  assert.deepEqual(webhookScopeProblems(webhook.webhooks, [...CLUSTER_NAMESPACES, "blue-system"], "blue"), [], "the webhook never gates the cluster's or the controller's namespace");
  const role = objects.find((o) => o.kind === "ClusterRole") as Manifest & { rules: Array<{ resourceNames?: string[] }> };
  assert.ok(role.rules.some((r) => r.resourceNames?.includes("blue-sidecar-injector")));
  for (const b of objects.filter((o) => o.kind.endsWith("Binding")) as Array<Manifest & { subjects: Array<{ namespace: string }> }>) {
    assert.deepEqual(b.subjects.map((s) => s.namespace), ["blue-system"], id(b));
  }
});

test("--set changes only what it names: replicas only the Deployment, injector.enabled=false drops the webhook", () => {
  const base = new Map(buildManifests(resolveValues()).map((o) => [id(o), o]));
  const three = buildManifests(resolveValues({ set: ["controller.replicas=3"] }));
  const changed = three.filter((o) => JSON.stringify(o) !== JSON.stringify(base.get(id(o))));
  assert.deepEqual(changed.map(id), ["Deployment meshfed-system/meshfed-controller"]);
  assert.equal((changed[0] as unknown as { spec: { replicas: number } }).spec.replicas, 3);

  const off = buildManifests(resolveValues({ set: ["injector.enabled=false"] }));
  assert.equal(off.find((o) => o.kind === "MutatingWebhookConfiguration"), undefined);
  assert.ok(installKinds(resolveValues({ set: ["injector.enabled=false"] })).some((k) => k.kind === "MutatingWebhookConfiguration"), "uninstall and pruning still look for it");
  assert.equal(buildManifests(resolveValues())[0]!.kind, "Namespace", "the namespace first");
  assert.equal(buildManifests(resolveValues()).at(-1)!.kind, "MutatingWebhookConfiguration", "the webhook last");
});

test("values: typed by their defaults, files then --set, unknown keys named with the valid ones", () => {
  assert.equal(valueKeys().get("controller.replicas"), 2);
  assert.equal(valueKeys().get("controller.image"), `meshfed/meshfed:${meshfedVersion()}`);
  assert.deepEqual(parseSet("controller.replicas=3"), { path: ["controller", "replicas"], value: 3 });
  assert.deepEqual(parseSet("mesh.permissive=true"), { path: ["mesh", "permissive"], value: true });
  assert.deepEqual(parseSet("controller.image=reg.example/meshfed:dev=1"), { path: ["controller", "image"], value: "reg.example/meshfed:dev=1" });

  const v = resolveValues({ files: [{ name: "a.yaml", values: { controller: { replicas: 4, image: "a" } } }, { name: "b.yaml", values: { controller: { image: "b" } } }], set: ["controller.replicas=5"] });
  assert.equal(v.controller.image, "b");
  assert.equal(v.controller.replicas, 5);
  assert.equal(v.controller.resources.requests.cpu, "100m", "defaults fill what no file names");

  let message = "";
  try {
    resolveValues({ set: ["controller.replica=3"] });
  } catch (err) {
    assert.equal((err as { code?: string }).code, INSTALL_ERRORS.unknownValue);
    message = (err as Error).message;
  }
  assert.match(message, /unknown value "controller\.replica"/);
  assert.match(message, /valid keys: meshName, namespace, controller\.image, controller\.replicas/);
  assert.equal(code(() => resolveValues({ files: [{ name: "v.yaml", values: { controller: { replica: 3 } } }] })), INSTALL_ERRORS.unknownValue);
  assert.equal(code(() => resolveValues({ set: ["controller.replicas=three"] })), INSTALL_ERRORS.invalidValue);
  assert.equal(code(() => resolveValues({ set: ["mesh.permissive=yes"] })), INSTALL_ERRORS.invalidValue);
  assert.equal(code(() => resolveValues({ set: ["controller.replicas"] })), INSTALL_ERRORS.invalidValue);
  assert.equal(code(() => resolveValues({ set: ["meshName=Not_A_Label"] })), INSTALL_ERRORS.invalidValue);
  assert.equal(code(() => resolveValues({ files: [{ name: "v.yaml", values: { controller: { replicas: "3" } } }] })), INSTALL_ERRORS.invalidValue);
  // A budget that could never be met would block every node drain.
  assert.equal(code(() => resolveValues({ set: ["controller.replicas=1"] })), INSTALL_ERRORS.invalidValue);
  assert.equal(resolveValues({ set: ["controller.replicas=1", "pdb.minAvailable=0"] }).controller.replicas, 1);
});
