// `meshfed install` / `meshfed uninstall` against the fake API server, through
// client-node's KubernetesObjectApi and server-side apply: create, an
// idempotent re-run, an upgrade that touches only what changed, conflicts
// with other field managers, pruning, two meshes side by side, uninstall
// removing what install made and nothing else, and the CLI's dry run
// contacting nothing.
import test from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { install, type InstallStep } from "../../src/cli/install/install.js";
import { uninstall } from "../../src/cli/install/uninstall.js";
import { INSTALL_OBJECTS, buildManifests, loadCrds } from "../../src/cli/install/manifests.js";
import type { Manifest } from "../../src/cli/install/manifest.js";
import { INSTALL_ERRORS, resolveValues } from "../../src/cli/install/values.js";
import { kubeHarness, type KubeHarness } from "../fakes/kube-api-harness.js";
import { waitFor } from "../helpers/wait.js";
import { RESOURCES, type KubeObject, type ResourceName } from "../fakes/kube-api-server.js";

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.js");

const BY_KIND = new Map<string, ResourceName>(Object.entries(RESOURCES).map(([name, r]) => [r.kind, name as ResourceName]));

/** Every object in the fake: `Kind namespace/name` -> resourceVersion. */
function snapshot(h: KubeHarness): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, r] of Object.entries(RESOURCES)) {
    for (const o of h.api.list(name as ResourceName)) out.set(`${r.kind} ${o.metadata.namespace === undefined ? "" : `${o.metadata.namespace}/`}${o.metadata.name}`, o.metadata.resourceVersion!);
  }
  return out;
}

function stored(h: KubeHarness, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
  return h.api.get(BY_KIND.get(kind)!, namespace, name);
}

function actions(steps: readonly InstallStep[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of steps) (out[s.action] ??= []).push(s.object);
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  const err = await p.then(() => undefined, (e: unknown) => e as Error);
  assert.ok(err !== undefined, `expected ${code}`);
  assert.equal((err as { code?: string }).code, code, err.message);
  return err;
}

test("install creates every object with the install's labels, CRDs byte-for-byte, and --wait returns only once the controller is available", async (t) => {
  const h = await kubeHarness(t);
  const values = resolveValues();
  let done = false;
  const running = install({ kubeConfig: h.kubeConfig, values, wait: { timeoutMs: 60_000, pollMs: 20 } }).finally(() => (done = true));
  await waitFor(() => stored(h, "Deployment", "meshfed-system", "meshfed-controller") !== undefined && stored(h, "MutatingWebhookConfiguration", undefined, "meshfed-sidecar-injector") !== undefined, { what: "all applied", timeoutMs: 30_000 });
  // Applied but not available: the install still waits (two polls at least).
  const polls = h.api.count("get", "deployments.apps");
  await waitFor(() => h.api.count("get", "deployments.apps") >= polls + 2, { what: "two more polls", timeoutMs: 30_000 });
  assert.equal(done, false, "install waits for the Deployment");
  h.api.markDeploymentAvailable("meshfed-system", "meshfed-controller");
  const steps = await running;

  const expected = buildManifests(values);
  assert.equal(steps.length, expected.length);
  assert.deepEqual(Object.keys(actions(steps)), ["created"]);
  for (const o of expected) {
    const s = stored(h, o.kind, o.metadata.namespace, o.metadata.name);
    assert.ok(s !== undefined, `${o.kind} ${o.metadata.name} exists`);
    assert.equal(s.metadata.labels?.["meshfed.io/mesh-name"], "meshfed");
    assert.equal(s.metadata.labels?.["app.kubernetes.io/managed-by"], "meshfed");
    assert.deepEqual(h.api.managers(BY_KIND.get(o.kind)!, o.metadata.namespace, o.metadata.name).meshfed?.operation, "Apply");
  }
  // x-kubernetes-* and every other schema field survive client-node's serializer.
  for (const crd of loadCrds()) {
    const s = stored(h, "CustomResourceDefinition", undefined, crd.metadata.name)!;
    assert.deepEqual(s.spec, crd.spec, `${crd.metadata.name} spec as in the file`);
  }
  assert.equal((stored(h, "Deployment", "meshfed-system", "meshfed-controller")!.spec as { replicas: number }).replicas, 2);
});

test("a re-run changes nothing; an upgrade of one option changes only its object; someone else's edit is a conflict until --force", async (t) => {
  const h = await kubeHarness(t);
  await install({ kubeConfig: h.kubeConfig, values: resolveValues() });
  // Someone else's label on the namespace (an Update by another manager) is theirs and stays.
  await fetchJson(h, "PATCH", "/api/v1/namespaces/meshfed-system?fieldManager=kubectl-label", [{ op: "add", path: "/metadata/labels/team", value: "platform" }]);
  const before = snapshot(h);
  const rv = h.api.resourceVersion;

  const again = await install({ kubeConfig: h.kubeConfig, values: resolveValues() });
  assert.deepEqual(Object.keys(actions(again)), ["unchanged"]);
  assert.deepEqual(snapshot(h), before, "same resourceVersions");
  assert.equal(h.api.resourceVersion, rv, "no write at all");
  assert.equal(stored(h, "Namespace", undefined, "meshfed-system")!.metadata.labels?.team, "platform");

  const up = await install({ kubeConfig: h.kubeConfig, values: resolveValues({ set: ["controller.replicas=3"] }) });
  assert.deepEqual(actions(up).configured, ["Deployment meshfed-system/meshfed-controller"]);
  const after = snapshot(h);
  for (const [k, v] of before) if (k !== "Deployment meshfed-system/meshfed-controller") assert.equal(after.get(k), v, `${k} untouched`);
  const d = stored(h, "Deployment", "meshfed-system", "meshfed-controller")!;
  assert.equal((d.spec as { replicas: number }).replicas, 3);
  assert.equal(d.metadata.generation, 2);

  // `kubectl scale` (an Update by another manager) now owns .spec.replicas.
  await fetchJson(h, "PATCH", "/apis/apps/v1/namespaces/meshfed-system/deployments/meshfed-controller?fieldManager=kubectl-scale", [{ op: "replace", path: "/spec/replicas", value: 5 }]);
  const rvScaled = h.api.resourceVersion;
  const err = await rejectsWith(install({ kubeConfig: h.kubeConfig, values: resolveValues({ set: ["controller.replicas=3"] }) }), INSTALL_ERRORS.conflict);
  assert.match(err.message, /kubectl-scale/);
  assert.match(err.message, /\.spec\.replicas/);
  assert.match(err.message, /--force/);
  assert.equal(h.api.resourceVersion, rvScaled, "nothing written");
  assert.equal((stored(h, "Deployment", "meshfed-system", "meshfed-controller")!.spec as { replicas: number }).replicas, 5);
  // The same value as theirs is no conflict; --force takes the field back.
  await install({ kubeConfig: h.kubeConfig, values: resolveValues({ set: ["controller.replicas=3"] }), force: true });
  assert.equal((stored(h, "Deployment", "meshfed-system", "meshfed-controller")!.spec as { replicas: number }).replicas, 3);
  assert.ok(h.api.managers("deployments.apps", "meshfed-system", "meshfed-controller").meshfed?.fields.includes(".spec.replicas"));
  assert.equal(h.api.managers("deployments.apps", "meshfed-system", "meshfed-controller")["kubectl-scale"], undefined);
});

test("an upgrade prunes what the new values no longer make (the webhook without the injector), and a wait that times out is named", async (t) => {
  const h = await kubeHarness(t);
  await install({ kubeConfig: h.kubeConfig, values: resolveValues() });
  const steps = await install({ kubeConfig: h.kubeConfig, values: resolveValues({ set: ["injector.enabled=false"] }) });
  assert.deepEqual(actions(steps).pruned, ["MutatingWebhookConfiguration meshfed-sidecar-injector"]);
  assert.deepEqual(actions(steps).configured, ["ConfigMap meshfed-system/meshfed-controller-config"]);
  assert.equal(stored(h, "MutatingWebhookConfiguration", undefined, "meshfed-sidecar-injector"), undefined);

  const err = await rejectsWith(install({ kubeConfig: h.kubeConfig, values: resolveValues(), wait: { timeoutMs: 200, pollMs: 20 } }), INSTALL_ERRORS.waitTimeout);
  assert.match(err.message, /Deployment meshfed-system\/meshfed-controller not available/);
});

test("uninstall deletes what install made, in reverse order, keeps CRDs and the namespace unless asked, and nothing else", async (t) => {
  const h = await kubeHarness(t);
  // Others' objects: unlabelled ones inside and outside the mesh's namespace, one labelled
  // for this mesh but not managed by meshfed, a cluster role and a CRD of someone else.
  h.api.apply("namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", labels: { "meshfed.io/monitored-by": "meshfed" } } });
  h.api.apply("configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop", labels: { "meshfed.io/mesh-name": "meshfed" } }, data: {} });
  h.api.apply("deployments.apps", { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "bookstore", namespace: "shop" }, spec: { replicas: 1 } });
  h.api.apply("clusterroles.rbac.authorization.k8s.io", { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "view-books", labels: { "app.kubernetes.io/managed-by": "helm" } }, rules: [] });
  h.api.apply("customresourcedefinitions.apiextensions.k8s.io", { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "books.example.com" }, spec: {} });
  const others = snapshot(h);
  await install({ kubeConfig: h.kubeConfig, values: resolveValues() });
  h.api.apply("configmaps", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "notes", namespace: "meshfed-system" }, data: {} });

  const deletesBefore = h.api.requests.filter((r) => r.verb === "delete").length;
  const r = await uninstall({ kubeConfig: h.kubeConfig, meshName: "meshfed" });
  const crds = loadCrds().map((c) => `CustomResourceDefinition ${c.metadata.name}`);
  assert.deepEqual(r.kept.map((k) => k.object).sort(), [...crds, "Namespace meshfed-system"].sort());
  const made = buildManifests(resolveValues()).filter((o) => o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace");
  assert.equal(r.deleted.length, made.length);
  const deletes = h.api.requests.filter((q) => q.verb === "delete").slice(deletesBefore).map((q) => q.resource);
  assert.equal(deletes[0], "mutatingwebhookconfigurations.admissionregistration.k8s.io", "the webhook first");
  assert.equal(deletes.at(-1), "serviceaccounts", "in reverse apply order");
  for (const o of made) assert.equal(stored(h, o.kind, o.metadata.namespace, o.metadata.name), undefined, `${o.kind} ${o.metadata.name} deleted`);
  const now = snapshot(h);
  for (const [k, v] of others) assert.equal(now.get(k), v, `${k} survives untouched`);
  assert.ok(now.has("ConfigMap meshfed-system/notes"), "an object install did not make, in its namespace, survives");
  for (const c of crds) assert.ok(now.has(c), `${c} kept`);

  const all = await uninstall({ kubeConfig: h.kubeConfig, meshName: "meshfed", deleteCrds: true, deleteNamespace: true });
  assert.deepEqual(all.deleted.sort(), [...crds, "Namespace meshfed-system"].sort());
  const end = snapshot(h);
  for (const [k, v] of others) assert.equal(end.get(k), v, `${k} survives`);
  assert.equal(stored(h, "ConfigMap", "meshfed-system", "notes"), undefined, "a deleted namespace takes its objects with it (--delete-namespace's warning)");
  assert.deepEqual(await uninstall({ kubeConfig: h.kubeConfig, meshName: "meshfed" }), { deleted: [], kept: [] }, "nothing left to find");
});

test("two meshes side by side: their own namespaces and cluster-wide names; uninstalling one leaves the other as it was; one never overwrites the other", async (t) => {
  const h = await kubeHarness(t);
  await install({ kubeConfig: h.kubeConfig, values: resolveValues() });
  await install({ kubeConfig: h.kubeConfig, values: resolveValues({ set: ["meshName=blue", "namespace=blue-system"] }) });
  assert.ok(stored(h, "ClusterRole", undefined, "blue-controller"));
  assert.ok(stored(h, "MutatingWebhookConfiguration", undefined, "blue-sidecar-injector"));
  // Shared CRDs aside (the last install's label), meshfed's objects are as they were.
  const isCrd = (k: string): boolean => k.startsWith("CustomResourceDefinition ");
  const meshfed = new Map([...snapshot(h)].filter(([k]) => !isCrd(k) && !k.includes("blue")));

  const rv = h.api.resourceVersion;
  const err = await rejectsWith(install({ kubeConfig: h.kubeConfig, values: resolveValues({ set: ["meshName=green"] }) }), INSTALL_ERRORS.otherMesh);
  assert.match(err.message, /belongs to mesh "meshfed"/);
  assert.equal(h.api.resourceVersion, rv, "refused before its first write");

  await uninstall({ kubeConfig: h.kubeConfig, meshName: "blue", deleteNamespace: true });
  assert.equal(stored(h, "ClusterRole", undefined, "blue-controller"), undefined);
  const now = snapshot(h);
  for (const [k, v] of meshfed) assert.equal(now.get(k), v, `${k} of mesh meshfed untouched`);
});

test("a custom resource applied right after its CRD waits until the kind is served, then applies; a kind never served is a named error", async (t) => {
  const h = await kubeHarness(t, { uninstalled: ["retries.policy.openservicemesh.io"] });
  const retry = (): Manifest => ({ apiVersion: "policy.openservicemesh.io/v1alpha1", kind: "Retry", metadata: { name: "r", namespace: "meshfed-system", labels: {} }, spec: { source: { kind: "ServiceAccount", name: "a", namespace: "meshfed-system" }, destinations: [{ kind: "Service", name: "b", namespace: "meshfed-system" }], retryPolicy: { retryOn: "5xx", numRetries: 1, perTryTimeout: "1s", retryBackoffBaseInterval: "1s" } } });
  const builders = [...INSTALL_OBJECTS.slice(0, 2), retry];
  const running = install({ kubeConfig: h.kubeConfig, values: resolveValues(), builders });
  // Discovery is asked once by the read before applying, then once per apply attempt:
  // the CRD is "established" after two failed attempts.
  await waitFor(() => h.api.requests.filter((r) => r.path === "/apis/policy.openservicemesh.io/v1alpha1").length >= 3, { what: "two apply attempts", timeoutMs: 30_000 });
  h.api.install("retries.policy.openservicemesh.io");
  const steps = await running;
  assert.deepEqual(steps.at(-1), { object: "Retry meshfed-system/r", action: "created" });
  assert.equal(h.api.get("retries.policy.openservicemesh.io", "meshfed-system", "r")?.metadata.labels?.["meshfed.io/mesh-name"], "meshfed");

  const h2 = await kubeHarness(t, { uninstalled: ["retries.policy.openservicemesh.io"] });
  const err = await rejectsWith(install({ kubeConfig: h2.kubeConfig, values: resolveValues(), builders, servedTimeoutMs: 300 }), INSTALL_ERRORS.api);
  assert.match(err.message, /Retry meshfed-system\/r/);
});

test("CLI: --dry-run prints the manifests and contacts nothing; a bad --set is a named error before any request; install and uninstall run", async (t) => {
  const h = await kubeHarness(t);
  const env = { ...process.env, KUBECONFIG: h.kubeconfig };
  const dry = await run(process.execPath, [CLI, "install", "--dry-run", "--set", "controller.replicas=3", "--mesh-name", "blue"], { env });
  const docs = parseAllDocuments(dry.stdout).map((d) => d.toJS() as KubeObject);
  assert.deepEqual(docs, JSON.parse(JSON.stringify(buildManifests(resolveValues({ set: ["controller.replicas=3", "meshName=blue"] })))));
  const json = await run(process.execPath, [CLI, "install", "--dry-run", "-o", "json"], { env });
  assert.equal((JSON.parse(json.stdout) as { items: unknown[] }).items.length, buildManifests(resolveValues()).length);
  assert.equal(h.api.requests.length, 0, "a dry run contacts nothing");

  const bad = await run(process.execPath, [CLI, "install", "--set", "controller.replica=3"], { env }).then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(bad !== undefined, "exits non-zero");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /MESHFED_INSTALL_UNKNOWN_VALUE: unknown value "controller\.replica".*valid keys: .*controller\.replicas/);
  assert.equal(h.api.requests.length, 0, "refused before any request");

  const out = await run(process.execPath, [CLI, "install", "--no-wait"], { env });
  assert.match(out.stdout, /^created +Namespace meshfed-system$/m);
  assert.match(out.stdout, /mesh meshfed applied in namespace meshfed-system/);
  const gone = await run(process.execPath, [CLI, "uninstall", "--mesh-name", "meshfed"], { env });
  assert.match(gone.stdout, /^deleted +MutatingWebhookConfiguration meshfed-sidecar-injector$/m);
  assert.match(gone.stdout, /^kept +Namespace meshfed-system \(--delete-namespace removes it\)$/m);
});

/** A raw request to the fake as another client (kubectl) would make it. */
async function fetchJson(h: KubeHarness, method: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${h.api.url}${path}`, {
    method,
    headers: { authorization: "Bearer fake-token", "content-type": "application/json-patch+json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${method} ${path}: ${await res.clone().text()}`);
  return res.json();
}
