// The CRD store with osm-edge's policy kinds, against the fake API server:
// policies() fills from custom resources, edits fire change, invalid objects
// are skipped with a field path, and a cluster without the policy CRDs keeps
// its SMI policies (the store says what is missing, and picks the kinds up
// once their CRDs are installed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { KubernetesMeshSpec } from "../../src/controller/spec/kubernetes/crd-mesh-spec.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { kubeHarness, recorder, type KubeHarness } from "../fakes/kube-api-harness.js";
import type { KubeObject, ResourceName } from "../fakes/kube-api-server.js";
import { waitFor } from "../helpers/wait.js";

const API = "policy.openservicemesh.io/v1alpha1";
const POLICY_RESOURCES: ResourceName[] = [
  "egresses.policy.openservicemesh.io", "ingressbackends.policy.openservicemesh.io",
  "upstreamtrafficsettings.policy.openservicemesh.io", "retries.policy.openservicemesh.io",
];

const retry = (name: string, numRetries: number): KubeObject => ({
  apiVersion: API, kind: "Retry", metadata: { name, namespace: "bookbuyer" },
  spec: { source: { kind: "ServiceAccount", name: "bookbuyer", namespace: "bookbuyer" }, destinations: [{ kind: "Service", name: "bookstore", namespace: "bookstore" }], retryPolicy: { retryOn: "5xx,reset", numRetries, perTryTimeout: "500ms", retryBackoffBaseInterval: "25ms" } },
});
const setting = (name: string, host: string): KubeObject => ({
  apiVersion: API, kind: "UpstreamTrafficSetting", metadata: { name, namespace: "bookstore" },
  spec: { host, rateLimit: { local: { http: { requests: 100, unit: "second", burst: 10 } } } },
});
const split: KubeObject = {
  apiVersion: "split.smi-spec.io/v1alpha4", kind: "TrafficSplit", metadata: { name: "s", namespace: "bookstore" },
  spec: { service: "bookstore", backends: [{ service: "bookstore-v1", weight: 1 }] },
};

async function started(t: Parameters<typeof kubeHarness>[0], h: KubeHarness) {
  const spec = new KubernetesMeshSpec({ kubeConfig: h.kubeConfig, logger: silentLogger(), backoff: { initialMs: 20, maxMs: 80 } });
  await spec.start(h.ac.signal);
  t.after(() => spec.stopped());
  return { spec, changes: recorder<MeshSpecSnapshot>((fn) => spec.on("change", fn)) };
}

test("policy custom resources fill policies(); an edit fires change; an invalid one is skipped with its field path", async (t) => {
  const h = await kubeHarness(t);
  h.api.apply("retries.policy.openservicemesh.io", retry("buyer", 3));
  h.api.apply("upstreamtrafficsettings.policy.openservicemesh.io", setting("limits", "bookstore.bookstore.svc.cluster.local"));
  const { spec, changes } = await started(t, h);
  assert.deepEqual(spec.errors(), []);
  assert.equal(spec.status().state, "synced");
  assert.equal(spec.status().counts.policyResourcesMissing, 0);
  const p = spec.policies();
  assert.deepEqual(p.retries.map((r) => r.retryPolicy), [{ retryOn: ["5xx", "reset"], numRetries: 3, perTryTimeoutMs: 500, retryBackoffBaseIntervalMs: 25 }]);
  assert.equal(p.retries[0]!.origin, "kube://retries.policy.openservicemesh.io/bookbuyer/buyer");
  assert.deepEqual(p.upstreamTrafficSettings.map((u) => [u.service, u.rateLimit?.http?.amount]), [[{ namespace: "bookstore", name: "bookstore" }, 100]]);

  h.api.apply("retries.policy.openservicemesh.io", retry("buyer", 7));
  await waitFor(() => changes.values.length === 1, { what: "a change after the edit", timeoutMs: 5000 });
  assert.equal(changes.values[0]!.retries[0]!.retryPolicy.numRetries, 7);

  // A second setting for the same host: the older one stays, the new one is reported.
  h.api.apply("upstreamtrafficsettings.policy.openservicemesh.io", { ...setting("newer", "bookstore.bookstore.svc.cluster.local"), metadata: { name: "newer", namespace: "bookstore", creationTimestamp: "2999-01-01T00:00:00Z" } });
  h.api.apply("egresses.policy.openservicemesh.io", { apiVersion: API, kind: "Egress", metadata: { name: "bad", namespace: "bookbuyer" }, spec: { sources: [{ kind: "ServiceAccount", name: "bookbuyer", namespace: "bookbuyer" }], ipAddresses: ["10.0.0.300/8"], ports: [{ number: 80, protocol: "tcp" }] } });
  await waitFor(() => spec.errors().length === 2, { what: "both problems reported", timeoutMs: 5000 });
  assert.deepEqual(spec.errors().map((e) => e.code).sort(), ["MESHFED_POLICY_CONFLICT", "MESHFED_POLICY_INVALID_CIDR"]);
  assert.match(spec.errors().find((e) => e.code === "MESHFED_POLICY_INVALID_CIDR")!.message, /^Egress bookbuyer\/bad: .* at spec\.ipAddresses\[0\]$/);
  assert.deepEqual(spec.policies().upstreamTrafficSettings.map((u) => u.name), ["limits"]);
  assert.deepEqual(spec.policies().egresses, []);
  assert.equal(spec.status().state, "degraded");
});

test("an API server without the policy CRDs: the SMI kinds load, status names what is missing, installing a CRD later brings its objects", async (t) => {
  const h = await kubeHarness(t, { uninstalled: POLICY_RESOURCES });
  h.api.apply("trafficsplits.split.smi-spec.io", split);
  const { spec, changes } = await started(t, h);
  assert.deepEqual(spec.trafficSplits().map((s) => s.name), ["s"], "the SMI kinds are read");
  assert.deepEqual(spec.policies(), { egresses: [], ingressBackends: [], upstreamTrafficSettings: [], retries: [] });
  const st = spec.status();
  assert.equal(st.state, "degraded");
  assert.equal(st.counts.policyResourcesMissing, 4);
  assert.equal(st.lastError?.code, "MESHFED_KUBE_NOT_FOUND");
  assert.match(st.lastError.message, /policy\.openservicemesh\.io\/v1alpha1.*CRD/);

  h.api.apply("retries.policy.openservicemesh.io", retry("buyer", 2));
  h.api.install("retries.policy.openservicemesh.io");
  await waitFor(() => changes.values.length === 1, { what: "a change once the Retry CRD is served", timeoutMs: 5000 });
  assert.deepEqual(changes.values[0]!.retries.map((r) => r.name), ["buyer"]);
  assert.deepEqual(changes.values[0]!.trafficSplits.map((s) => s.name), ["s"]);
  await waitFor(() => spec.status().counts.policyResourcesMissing === 3, { what: "three still missing", timeoutMs: 5000 });

  for (const r of POLICY_RESOURCES) h.api.install(r);
  await waitFor(() => spec.status().state === "synced", { what: "synced once every CRD is served", timeoutMs: 5000 });
  assert.equal(spec.status().counts.policyResourcesMissing, 0);
  assert.equal(spec.status().lastError, null);
});

test("a transient failure of a policy list is retried before start() resolves, as for the SMI kinds", async (t) => {
  const h = await kubeHarness(t);
  h.api.apply("retries.policy.openservicemesh.io", retry("buyer", 1));
  h.api.failNext({ verb: "list", resource: "retries.policy.openservicemesh.io", status: 500, times: 2 });
  const { spec } = await started(t, h);
  // Started only once the Retry list succeeded: no window without the policy.
  assert.deepEqual(spec.policies().retries.map((r) => r.name), ["buyer"]);
  assert.equal(spec.status().counts.policyResourcesMissing, 0);
});
