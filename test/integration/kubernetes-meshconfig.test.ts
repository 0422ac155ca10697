// The MeshConfig watcher against the fake API server: the ConfigMap alone,
// then osm-edge's MeshConfig custom resource over it (written over HTTP, so
// the CRD's schema is enforced as the API server would).
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { kubernetesProviderConfigSchema } from "../../src/controller/kube/index.js";
import { createKubeMeshConfig } from "../../src/controller/spec/kubernetes/index.js";
import type { MeshConfigChange, MeshSettings } from "../../src/controller/spec/kubernetes/mesh-config.js";
import { loadCrdSchemas } from "../fakes/crd-schemas.js";
import { kubeHarness, recorder, type KubeHarness } from "../fakes/kube-api-harness.js";
import { configMap } from "../fakes/kube-api-objects.js";
import { FAKE_TOKEN, type ResourceName } from "../fakes/kube-api-server.js";
import { waitFor } from "../helpers/wait.js";

const DEFAULTS: MeshSettings = { permissive: false, outboundPassthrough: true, proxyValidityMs: 365 * 24 * 3_600_000, serviceValidityMs: 24 * 3_600_000, serviceJitterMs: 3_600_000 };

const MESH_CONFIGS: ResourceName = "meshconfigs.config.openservicemesh.io";

async function started(t: Parameters<typeof kubeHarness>[0], data?: Record<string, string>, options: { uninstalled?: boolean; setup?: (h: KubeHarness) => Promise<void> } = {}) {
  // The context's namespace is where the ConfigMap is looked for by default.
  const h = await kubeHarness(t, { namespace: "meshfed-system", crdSchemas: await loadCrdSchemas(), ...(options.uninstalled === true ? { uninstalled: [MESH_CONFIGS] } : {}) });
  await options.setup?.(h);
  if (data !== undefined) h.api.apply("configmaps", configMap("meshfed-system", "meshfed-config", data));
  h.api.apply("configmaps", configMap("meshfed-system", "unrelated", { "mesh.permissive": "true" }));
  const metrics = new ControllerMetrics();
  const config = kubernetesProviderConfigSchema.parse({ backoff: { initial: "20ms", max: "80ms" } });
  const mc = createKubeMeshConfig(config, { kubeConfig: h.kubeConfig, logger: silentLogger(), metrics, defaults: DEFAULTS });
  await mc.start(h.ac.signal);
  t.after(() => mc.stopped());
  const changes = recorder<MeshConfigChange>((fn) => mc.on("change", fn));
  return { ...h, h, mc, metrics, changes };
}

test("no ConfigMap: the config file's settings; the watch is narrowed to the one object", async (t) => {
  const { api, mc } = await started(t);
  assert.deepEqual(mc.current(), DEFAULTS);
  assert.equal(mc.status().state, "synced");
  assert.equal(mc.status().counts.present, 0);
  const w = api.requests.find((r) => r.verb === "watch" && r.resource === "configmaps");
  assert.equal(w?.path, "/api/v1/namespaces/meshfed-system/configmaps");
  assert.equal(w?.query.fieldSelector, "metadata.name=meshfed-config");
});

test("hot reload: edits apply and emit what changed; a bad edit keeps the last good settings; delete returns to defaults", async (t) => {
  const { api, mc, changes, metrics } = await started(t, { "certificates.serviceValidity": "12h" });
  assert.deepEqual(mc.current(), { ...DEFAULTS, serviceValidityMs: 12 * 3_600_000 });

  api.apply("configmaps", configMap("meshfed-system", "meshfed-config", { "certificates.serviceValidity": "12h", "mesh.permissive": "true" }));
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  assert.deepEqual(changes.values[0]!.changed, ["permissive"]);
  assert.equal(mc.current().permissive, true);

  // Unknown key and a bad duration: rejected whole, nothing changes, reported.
  api.apply("configmaps", configMap("meshfed-system", "meshfed-config", { "mesh.permisive": "false", "certificates.serviceValidity": "soon" }));
  await waitFor(() => mc.status().lastError !== null, { what: "mc.status().lastError !== null", timeoutMs: 5000 });
  assert.equal(mc.status().state, "degraded");
  assert.equal(mc.status().lastError?.code, "MESHFED_KUBE_MESHCONFIG_INVALID");
  assert.match(mc.status().lastError!.message, /unknown key "mesh\.permisive".*certificates\.serviceValidity/);
  assert.equal(mc.current().permissive, true);
  const errs = await metrics.providerErrors.get();
  assert.equal(errs.values.find((v) => v.labels.code === "MESHFED_KUBE_MESHCONFIG_INVALID")?.value, 1);

  // An edit that changes nothing emits nothing but clears the error.
  api.apply("configmaps", configMap("meshfed-system", "meshfed-config", { "certificates.serviceValidity": "12h", "mesh.permissive": "true" }));
  await waitFor(() => mc.status().lastError === null, { what: "mc.status().lastError === null", timeoutMs: 5000 });
  await sleep(30);
  assert.equal(changes.values.length, 1);

  api.remove("configmaps", "meshfed-system", "meshfed-config");
  await waitFor(() => changes.values.length === 2, { what: "changes.values.length === 2", timeoutMs: 5000 });
  assert.deepEqual(changes.values[1]!.changed, ["permissive", "serviceValidityMs"]);
  assert.deepEqual(mc.current(), DEFAULTS);
  assert.equal(mc.status().state, "synced");
});

test("survives a dropped watch: an edit made meanwhile still arrives", async (t) => {
  const { api, mc, changes } = await started(t, {});
  api.dropWatches("configmaps");
  api.apply("configmaps", configMap("meshfed-system", "meshfed-config", { "certificates.serviceJitter": "30m" }));
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  assert.equal(mc.current().serviceJitterMs, 30 * 60_000);
});

/** osm-edge's MeshConfig object with `spec`, at `version`. */
function meshConfig(spec: unknown, name = "osm-mesh-config", version = "v1alpha2") {
  return { apiVersion: `config.openservicemesh.io/${version}`, kind: "MeshConfig", metadata: { name, namespace: "meshfed-system" }, spec };
}

/** `kubectl apply` of a MeshConfig over HTTP (create, else replace), through the CRD's schema; the status code. */
async function write(h: KubeHarness, object: ReturnType<typeof meshConfig>): Promise<{ status: number; message: string }> {
  const [group, version] = object.apiVersion.split("/");
  const collection = `${h.api.url}/apis/${group}/${version}/namespaces/${object.metadata.namespace}/meshconfigs`;
  const send = (method: string, url: string) => fetch(url, { method, headers: { authorization: `Bearer ${FAKE_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(object) });
  let res = await send("POST", collection);
  if (res.status === 409) res = await send("PUT", `${collection}/${object.metadata.name}`);
  return { status: res.status, message: ((await res.json()) as { message?: string }).message ?? "" };
}

test("a MeshConfig object wins over the ConfigMap setting by setting; deleting it falls back to the ConfigMap", async (t) => {
  const { api, mc, changes, h } = await started(t, { "mesh.permissive": "true", "certificates.proxyValidity": "720h" }, {
    setup: async (h) => {
      const r = await write(h, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false, enableEgress: false }, certificate: { serviceCertValidityDuration: "12h", certKeyBitSize: 2048 }, sidecar: { logLevel: "error", sidecarImage: "flomesh/pipy:latest" } }));
      assert.equal(r.status, 201, r.message);
    },
  });
  // Present at start: the first settings already carry the object's values, no change event needed.
  assert.deepEqual(mc.current(), { ...DEFAULTS, permissive: false, outboundPassthrough: false, serviceValidityMs: 12 * 3_600_000, proxyValidityMs: 720 * 3_600_000 });
  assert.deepEqual(mc.sources(), { permissive: "meshconfig", outboundPassthrough: "meshconfig", serviceValidityMs: "meshconfig", proxyValidityMs: "configmap", serviceJitterMs: "config-file" });
  const st = mc.status();
  assert.equal(st.state, "synced");
  assert.deepEqual([st.counts.present, st.counts.customResourcePresent, st.counts.customResourceMissing, st.counts.overridden], [1, 1, 0, 1]);
  // Fields osm-edge defines and meshfed does not act on: noted, with their paths, never silent.
  assert.deepEqual(mc.notes().map((n) => [n.code, n.path]), [
    ["MESHFED_MESHCONFIG_NOT_ENFORCED", "spec.certificate.certKeyBitSize"],
    ["MESHFED_MESHCONFIG_NOT_ENFORCED", "spec.sidecar.logLevel"],
    ["MESHFED_MESHCONFIG_NOT_ENFORCED", "spec.sidecar.sidecarImage"],
  ]);
  assert.match(mc.notes()[2]!.message, /injector\.sidecarImage/);
  assert.equal(st.counts.notEnforced, 3);
  // Watched narrowly: the one object, in the controller's namespace, at osm-edge's storage version.
  const w = api.requests.find((r) => r.verb === "watch" && r.resource === MESH_CONFIGS);
  assert.equal(w?.path, "/apis/config.openservicemesh.io/v1alpha2/namespaces/meshfed-system/meshconfigs");
  assert.equal(w?.query.fieldSelector, "metadata.name=osm-mesh-config");

  // Another object of the kind, or one in another namespace, is not ours.
  assert.equal((await write(h, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: true } }, "other"))).status, 201);
  // An edit of the object applies; written at the deprecated v1alpha1, read at v1alpha2.
  assert.equal((await write(h, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false, enableEgress: true } }, "osm-mesh-config", "v1alpha1"))).status, 200);
  await waitFor(() => changes.values.length === 1, { what: "a change after the edit", timeoutMs: 5000 });
  assert.deepEqual(changes.values[0]!.changed, ["outboundPassthrough", "serviceValidityMs"]);
  assert.equal(mc.current().permissive, false);
  assert.deepEqual(mc.notes(), []);

  api.remove(MESH_CONFIGS, "meshfed-system", "osm-mesh-config");
  await waitFor(() => changes.values.length === 2, { what: "a change after the delete", timeoutMs: 5000 });
  assert.deepEqual(changes.values[1]!.changed, ["permissive"]);
  assert.deepEqual(mc.current(), { ...DEFAULTS, permissive: true, proxyValidityMs: 720 * 3_600_000 });
  assert.deepEqual([mc.status().counts.customResourcePresent, mc.status().counts.overridden], [0, 0]);
  assert.equal(mc.sources().permissive, "configmap");
});

test("a bad MeshConfig value is refused with its field path and the last good settings stay; the API server refuses a wrong type", async (t) => {
  const { mc, changes, metrics, h: harness } = await started(t, {});
  assert.equal((await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: true } }))).status, 201);
  await waitFor(() => changes.values.length === 1, { what: "the object applies", timeoutMs: 5000 });
  assert.equal(mc.current().permissive, true);

  // A wrong type never reaches the controller: the CRD's schema refuses it (422 naming the field).
  const wrongType = await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: "yes" } }));
  assert.equal(wrongType.status, 422);
  assert.match(wrongType.message, /spec\.traffic\.enablePermissiveTrafficPolicyMode: Invalid value: "string": must be of type boolean/);

  // A string that is not a duration passes the schema; meshfed names the field and keeps everything it had.
  assert.equal((await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false }, certificate: { serviceCertValidityDuration: "one day" } }))).status, 200);
  await waitFor(() => mc.status().lastError !== null, { what: "the refusal", timeoutMs: 5000 });
  const st = mc.status();
  assert.equal(st.state, "degraded");
  assert.equal(st.lastError?.code, "MESHFED_KUBE_MESHCONFIG_INVALID");
  assert.match(st.lastError.message, /^MeshConfig meshfed-system\/osm-mesh-config rejected, keeping its last good settings: spec\.certificate\.serviceCertValidityDuration: "one day" is not a duration/);
  assert.equal(mc.current().permissive, true, "the invalid object's valid field is not half-applied");
  const errs = await metrics.providerErrors.get();
  assert.equal(errs.values.find((v) => v.labels.code === "MESHFED_KUBE_MESHCONFIG_INVALID")?.value, 1);

  // Valid alone, wrong together with the config file's jitter (1h): refused as a combination, named by source.
  assert.equal((await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false }, certificate: { serviceCertValidityDuration: "30m" } }))).status, 200);
  await waitFor(() => /refused together/.test(mc.status().lastError?.message ?? ""), { what: "the combination refused", timeoutMs: 5000 });
  assert.match(mc.status().lastError!.message, /certificates\.serviceJitter \(3600000 ms, from the config-file\) must be less than certificates\.serviceValidity \(1800000 ms, from the meshconfig\)/);
  assert.equal(mc.current().permissive, true);

  // Fixed: applies, the error clears.
  assert.equal((await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false }, certificate: { serviceCertValidityDuration: "2h" } }))).status, 200);
  await waitFor(() => mc.status().lastError === null, { what: "the error cleared", timeoutMs: 5000 });
  assert.equal(mc.status().state, "synced");
  assert.deepEqual(mc.current(), { ...DEFAULTS, permissive: false, serviceValidityMs: 2 * 3_600_000 });
  assert.deepEqual(changes.values.at(-1)!.changed, ["permissive", "serviceValidityMs"]);
});

test("no MeshConfig CRD: the ConfigMap applies, status is degraded and names it; installing the CRD later is picked up without a restart", async (t) => {
  const { api, mc, changes, h: harness } = await started(t, { "mesh.permissive": "true" }, { uninstalled: true });
  assert.equal(mc.current().permissive, true, "the ConfigMap applies");
  const st = mc.status();
  assert.equal(st.state, "degraded");
  assert.equal(st.lastError?.code, "MESHFED_KUBE_NOT_FOUND");
  assert.match(st.lastError.message, /meshconfigs\.config\.openservicemesh\.io\/v1alpha2.*CRD/);
  assert.equal(st.counts.customResourceMissing, 1);
  assert.equal((await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false } }))).status, 404, "no CRD, no object");

  api.install(MESH_CONFIGS);
  assert.equal((await write(harness, meshConfig({ traffic: { enablePermissiveTrafficPolicyMode: false } }))).status, 201);
  await waitFor(() => changes.values.length === 1, { what: "the object read once the CRD is served", timeoutMs: 10_000 });
  assert.deepEqual(changes.values[0]!.changed, ["permissive"]);
  assert.equal(mc.current().permissive, false);
  await waitFor(() => mc.status().state === "synced", { what: "synced", timeoutMs: 5000 });
  assert.deepEqual([mc.status().counts.customResourceMissing, mc.status().lastError], [0, null]);
});

test("meshConfig.customResource.enabled false: the MeshConfig kind is never asked for", async (t) => {
  const h = await kubeHarness(t, { namespace: "meshfed-system", uninstalled: [MESH_CONFIGS] });
  const config = kubernetesProviderConfigSchema.parse({ backoff: { initial: "20ms", max: "80ms" }, meshConfig: { customResource: { enabled: false } } });
  const mc = createKubeMeshConfig(config, { kubeConfig: h.kubeConfig, logger: silentLogger(), defaults: DEFAULTS });
  await mc.start(h.ac.signal);
  t.after(() => mc.stopped());
  assert.equal(mc.status().state, "synced");
  assert.equal(h.api.requests.filter((r) => r.resource === MESH_CONFIGS).length, 0);
});
