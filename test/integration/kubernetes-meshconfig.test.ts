import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { kubernetesProviderConfigSchema } from "../../src/controller/kube/index.js";
import { createKubeMeshConfig } from "../../src/controller/spec/kubernetes/index.js";
import type { MeshConfigChange, MeshSettings } from "../../src/controller/spec/kubernetes/mesh-config.js";
import { kubeHarness, recorder } from "../fakes/kube-api-harness.js";
import { configMap } from "../fakes/kube-api-objects.js";
import { waitFor } from "../helpers/wait.js";

const DEFAULTS: MeshSettings = { permissive: false, outboundPassthrough: true, proxyValidityMs: 365 * 24 * 3_600_000, serviceValidityMs: 24 * 3_600_000, serviceJitterMs: 3_600_000 };

async function started(t: Parameters<typeof kubeHarness>[0], data?: Record<string, string>) {
  // The context's namespace is where the ConfigMap is looked for by default.
  const h = await kubeHarness(t, { namespace: "meshfed-system" });
  if (data !== undefined) h.api.apply("configmaps", configMap("meshfed-system", "meshfed-config", data));
  h.api.apply("configmaps", configMap("meshfed-system", "unrelated", { "mesh.permissive": "true" }));
  const metrics = new ControllerMetrics();
  const config = kubernetesProviderConfigSchema.parse({ backoff: { initial: "20ms", max: "80ms" } });
  const mc = createKubeMeshConfig(config, { kubeConfig: h.kubeConfig, logger: silentLogger(), metrics, defaults: DEFAULTS });
  await mc.start(h.ac.signal);
  t.after(() => mc.stopped());
  const changes = recorder<MeshConfigChange>((fn) => mc.on("change", fn));
  return { ...h, mc, metrics, changes };
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
