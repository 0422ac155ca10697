import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseAllDocuments } from "yaml";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { FileMeshSpec } from "../../src/controller/spec/files/file-mesh-spec.js";
import { KubernetesMeshSpec } from "../../src/controller/spec/kubernetes/crd-mesh-spec.js";
import type { MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { kubeHarness, recorder, type KubeHarness } from "../fakes/kube-api-harness.js";
import type { KubeObject, ResourceName } from "../fakes/kube-api-server.js";
import { waitFor } from "../helpers/wait.js";

const EXAMPLES = join(process.cwd(), "config", "smi");

const RESOURCE_OF: Record<string, ResourceName> = {
  TrafficSplit: "trafficsplits.split.smi-spec.io",
  TrafficTarget: "traffictargets.access.smi-spec.io",
  HTTPRouteGroup: "httproutegroups.specs.smi-spec.io",
  TCPRoute: "tcproutes.specs.smi-spec.io",
};

function put(api: KubeHarness["api"], obj: KubeObject): KubeObject {
  return api.apply(RESOURCE_OF[obj.kind!]!, obj);
}

async function exampleObjects(): Promise<KubeObject[]> {
  const out: KubeObject[] = [];
  for (const name of (await readdir(EXAMPLES)).filter((n) => n.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(EXAMPLES, name), "utf8"))) {
      const obj = doc.toJS() as KubeObject | null;
      if (obj !== null) out.push(obj);
    }
  }
  return out;
}

function split(name: string, service: string, backends: [string, number][], extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: "split.smi-spec.io/v1alpha4",
    kind: "TrafficSplit",
    metadata: { name, namespace: "bookstore" },
    spec: { service, backends: backends.map(([s, weight]) => ({ service: s, weight })) },
    ...extra,
  };
}

async function started(t: Parameters<typeof kubeHarness>[0], seed: (api: KubeHarness["api"]) => void | Promise<void>) {
  const h = await kubeHarness(t);
  await seed(h.api);
  const metrics = new ControllerMetrics();
  const spec = new KubernetesMeshSpec({ kubeConfig: h.kubeConfig, logger: silentLogger(), metrics, backoff: { initialMs: 20, maxMs: 80 } });
  await spec.start(h.ac.signal);
  t.after(() => spec.stopped());
  const changes = recorder<MeshSpecSnapshot>((fn) => spec.on("change", fn));
  return { ...h, spec, metrics, changes };
}

const withoutOrigin = (s: MeshSpecSnapshot) => JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === "origin" ? undefined : v))) as unknown;

test("the example SMI manifests as custom resources give the same spec as the file store", async (t) => {
  const objects = await exampleObjects();
  const { spec } = await started(t, (api) => objects.forEach((o) => put(api, o)));
  const files = new FileMeshSpec({ dir: EXAMPLES, logger: silentLogger() });
  const ac = new AbortController();
  t.after(() => ac.abort());
  await files.start(ac.signal);
  assert.deepEqual(withoutOrigin(spec.snapshot()), withoutOrigin(files.snapshot()));
  assert.ok(spec.trafficTargets().length > 0 && spec.httpRouteGroups().length > 0 && spec.tcpRoutes().length > 0 && spec.trafficSplits().length > 0);
  assert.match(spec.trafficTargets()[0]!.origin, /^kube:\/\/traffictargets\.access\.smi-spec\.io\/bookstore\//);
  const st = spec.status();
  assert.equal(st.id, "smi-kubernetes");
  assert.equal(st.kind, "spec");
  assert.equal(st.state, "synced");
  assert.equal(st.lastError, null);
  assert.equal(st.counts.errors, 0);
});

test("an invalid object is skipped and reported; valid ones still apply; fixing it clears the report", async (t) => {
  const { api, spec, metrics, changes } = await started(t, (api) => {
    put(api, split("good", "bookstore", [["bookstore-v1", 90], ["bookstore-v2", 10]]));
    put(api, split("bad", "bookwarehouse", [["bookwarehouse-v1", -5]]));
    put(api, { apiVersion: "specs.smi-spec.io/v1alpha4", kind: "HTTPRouteGroup", metadata: { name: "regex", namespace: "bookstore" }, spec: { matches: [{ name: "m", pathRegex: "([" }] } });
  });
  assert.deepEqual(spec.trafficSplits().map((s) => s.name), ["good"]);
  assert.deepEqual(spec.httpRouteGroups(), []);
  const codes = spec.errors().map((e) => e.code).sort();
  assert.deepEqual(codes, ["MESHFED_SMI_INVALID_REGEX", "MESHFED_SMI_INVALID_WEIGHT"]);
  assert.match(spec.errors().find((e) => e.code === "MESHFED_SMI_INVALID_WEIGHT")!.message, /^TrafficSplit bookstore\/bad: weight -5 .* at spec\.backends\[0\]\.weight$/);
  const st = spec.status();
  assert.equal(st.state, "degraded");
  assert.equal(st.counts.errors, 2);
  assert.ok(st.lastError !== null);
  const errs = await metrics.providerErrors.get();
  assert.equal(errs.values.find((v) => v.labels.code === "MESHFED_SMI_INVALID_WEIGHT")?.value, 1);

  put(api, split("bad", "bookwarehouse", [["bookwarehouse-v1", 5]]));
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  assert.deepEqual(changes.values[0]!.trafficSplits.map((s) => s.name), ["bad", "good"]);
  assert.deepEqual(spec.errors().map((e) => e.code), ["MESHFED_SMI_INVALID_REGEX"]);
  api.remove("httproutegroups.specs.smi-spec.io", "bookstore", "regex");
  await waitFor(() => spec.errors().length === 0, { what: "spec.errors().length === 0", timeoutMs: 5000 });
  await sleep(30);
  assert.equal(changes.values.length, 1, "removing an object that was skipped changes nothing");
  assert.equal(spec.status().state, "synced");
  // Counted once, although the spec was recomputed several times since.
  const again = await metrics.providerErrors.get();
  assert.equal(again.values.find((v) => v.labels.code === "MESHFED_SMI_INVALID_REGEX")?.value, 1);
});

test("references across objects: a TrafficTarget waits for its HTTPRouteGroup", async (t) => {
  const target: KubeObject = {
    apiVersion: "access.smi-spec.io/v1alpha3",
    kind: "TrafficTarget",
    metadata: { name: "buyer-to-store", namespace: "bookstore" },
    spec: {
      destination: { kind: "ServiceAccount", name: "bookstore", namespace: "bookstore" },
      sources: [{ kind: "ServiceAccount", name: "bookbuyer", namespace: "bookbuyer" }],
      rules: [{ kind: "HTTPRouteGroup", name: "routes", matches: ["all"] }],
    },
  };
  const { api, spec, changes } = await started(t, (api) => {
    put(api, target);
  });
  assert.deepEqual(spec.trafficTargets(), []);
  assert.deepEqual(spec.errors().map((e) => e.code), ["MESHFED_SMI_MISSING_ROUTE"]);
  put(api, { apiVersion: "specs.smi-spec.io/v1alpha4", kind: "HTTPRouteGroup", metadata: { name: "routes", namespace: "bookstore" }, spec: { matches: [{ name: "all", pathRegex: "/.*", methods: ["get"] }] } });
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  const snap = changes.values[0]!;
  assert.deepEqual(snap.trafficTargets.map((x) => x.name), ["buyer-to-store"]);
  assert.deepEqual(snap.httpRouteGroups[0]!.matches, [{ name: "all", pathRegex: "/.*", methods: ["GET"], headers: {} }]);
  assert.deepEqual(spec.errors(), []);
});

test("change fires only when the normalised content changes; older TrafficSplit wins a root conflict", async (t) => {
  const { api, spec, changes } = await started(t, (api) => {
    put(api, split("first", "bookstore", [["bookstore-v1", 1]]));
    put(api, split("second", "bookstore", [["bookstore-v2", 1]]));
  });
  assert.deepEqual(spec.trafficSplits().map((s) => s.name), ["first"]);
  assert.match(spec.errors()[0]!.message, /second.*already split by bookstore\/first/);
  // Metadata-only edits and a status written by someone else: no change.
  put(api, { ...split("first", "bookstore", [["bookstore-v1", 1]]), metadata: { name: "first", namespace: "bookstore", labels: { a: "b" } }, status: { observed: true } });
  // A version-2 object is read through the watched v1alpha4 (conversion None).
  put(api, { ...split("old-api", "bookwarehouse", [["bookwarehouse-v1", 1]]), apiVersion: "split.smi-spec.io/v1alpha2" });
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  await sleep(30);
  assert.equal(changes.values.length, 1);
  assert.deepEqual(changes.values[0]!.trafficSplits.map((s) => s.name), ["first", "old-api"]);
  // A relist after 410 replays everything: no change event.
  api.compact();
  api.expireWatches();
  await waitFor(() => api.openWatches() === 8, { what: "api.openWatches() === 8", timeoutMs: 5000 });
  await sleep(50);
  assert.equal(changes.values.length, 1);
});

test("a missing CRD (404 on list) is reported as MESHFED_KUBE_NOT_FOUND and retried until it appears", async (t) => {
  const h = await kubeHarness(t);
  h.api.failNext({ verb: "list", resource: "tcproutes.specs.smi-spec.io", status: 404, times: 2 });
  const spec = new KubernetesMeshSpec({ kubeConfig: h.kubeConfig, logger: silentLogger(), backoff: { initialMs: 30, maxMs: 60 } });
  const starting = spec.start(h.ac.signal);
  await waitFor(() => spec.status().lastError !== null, { what: "spec.status().lastError !== null", timeoutMs: 5000 });
  assert.equal(spec.status().lastError?.code, "MESHFED_KUBE_NOT_FOUND");
  assert.match(spec.status().lastError!.message, /tcproutes\.specs\.smi-spec\.io\/v1alpha4.*CRD/);
  await starting;
  assert.equal(spec.status().state, "synced");
  assert.equal(spec.status().counts.restarts, 2);
  t.after(() => spec.stopped());
});
