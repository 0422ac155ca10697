import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { createKubernetesProvider } from "../../src/controller/providers/kubernetes/config.js";
import { kubernetesProviderConfigSchema } from "../../src/controller/kube/index.js";
import { KubernetesProvider } from "../../src/controller/providers/kubernetes/provider.js";
import { kubeHarness, recorder, type KubeHarness } from "../fakes/kube-api-harness.js";
import { meshedNamespace, namespace, pod, service, slice } from "../fakes/kube-api-objects.js";
import { waitFor } from "../helpers/wait.js";

function seed(api: KubeHarness["api"]): void {
  api.apply("namespaces", meshedNamespace("bookstore"));
  api.apply("namespaces", namespace("kube-system"));
  api.apply("namespaces", meshedNamespace("other-mesh", "someone-else"));
  api.apply("services", service("bookstore", "bookstore"));
  api.apply("services", service("bookstore", "bookbuyer"));
  api.apply("services", service("kube-system", "dns", [{ name: "dns", port: 53, targetPort: 53 }]));
  api.apply("services", service("other-mesh", "x"));
  api.apply("endpointslices.discovery.k8s.io", slice("bookstore", "bookstore-abc", "bookstore", [
    { addresses: ["10.1.0.2"], pod: "bookstore-1" },
    { addresses: ["10.1.0.3"], ready: false, pod: "bookstore-2" },
    { addresses: ["10.1.0.4"], ready: null },
  ]));
  api.apply("endpointslices.discovery.k8s.io", slice("bookstore", "bookstore-v6", "bookstore", [{ addresses: ["FD00::5"] }], [{ name: "http", port: 8080 }], "IPv6"));
  api.apply("endpointslices.discovery.k8s.io", slice("kube-system", "dns-1", "dns", [{ addresses: ["10.9.0.1"] }], [{ name: "dns", port: 53 }]));
  api.apply("endpointslices.discovery.k8s.io", slice("other-mesh", "x-1", "x", [{ addresses: ["10.8.0.1"] }]));
  api.apply("pods", pod("bookstore", "bookstore-1", "10.1.0.2", [{ name: "http", containerPort: 8080 }], "bookstore"));
}

async function started(t: Parameters<typeof kubeHarness>[0], metrics = new ControllerMetrics()) {
  const h = await kubeHarness(t);
  seed(h.api);
  const provider = new KubernetesProvider({ kubeConfig: h.kubeConfig, logger: silentLogger(), metrics, backoff: { initialMs: 20, maxMs: 100 } });
  await provider.start(h.ac.signal);
  t.after(() => provider.stopped());
  return { ...h, provider, metrics };
}

test("initial sync: meshed namespaces only, ready endpoints, IPv4 and IPv6, provenance namespace/slice", async (t) => {
  const { provider } = await started(t);
  assert.deepEqual([...provider.services()].map((s) => `${s.service.namespace}/${s.service.name}`), ["bookstore/bookbuyer", "bookstore/bookstore"]);
  assert.deepEqual(provider.endpoints("bookstore/bookstore"), [
    // The port named "http" declares http; the pod behind the endpoint runs as its ServiceAccount.
    { ip: "10.1.0.2", port: 8080, source: "bookstore/bookstore-abc", protocol: "http", serviceAccount: "bookstore" },
    // ready unset counts as ready (EndpointSlice API); no targetRef: no account declared
    { ip: "10.1.0.4", port: 8080, source: "bookstore/bookstore-abc", protocol: "http" },
    { ip: "fd00::5", port: 8080, source: "bookstore/bookstore-v6", protocol: "http" },
  ]);
  assert.deepEqual(provider.endpoints("bookstore/bookbuyer"), []);
  assert.equal(provider.endpoints("kube-system/dns"), undefined);
  assert.equal(provider.endpoints("other-mesh/x"), undefined);
  assert.deepEqual(provider.namespaces(), ["bookstore"]);
  assert.deepEqual([...provider.pods()].map((p) => `${p.namespace}/${p.name} ${p.serviceAccount} ${p.ips.join(",")}`), ["bookstore/bookstore-1 bookstore 10.1.0.2"]);
  const st = provider.status();
  assert.equal(st.id, "kubernetes");
  assert.equal(st.kind, "endpoints");
  assert.equal(st.state, "synced");
  assert.equal(st.lastError, null);
  assert.ok(st.lastSync);
  assert.deepEqual(st.counts, { namespaces: 1, services: 2, endpoints: 3, endpointSlices: 2, pods: 1, unresolvedPorts: 0, restarts: 0 });
});

test("the informers list, then watch from the list's resourceVersion with bookmarks and a timeout", async (t) => {
  const { api } = await started(t);
  const watches = api.requests.filter((r) => r.verb === "watch");
  assert.deepEqual(new Set(watches.map((w) => w.resource)), new Set(["namespaces", "services", "endpointslices.discovery.k8s.io", "pods"]));
  for (const w of watches) {
    assert.match(w.query.resourceVersion ?? "", /^\d+$/);
    assert.equal(w.query.allowWatchBookmarks, "true");
    assert.ok(Number(w.query.timeoutSeconds) >= 300);
  }
});

test("add, update and delete of services and slices reach the view; events name only what changed", async (t) => {
  const { api, provider } = await started(t);
  const changes = recorder<readonly string[]>((fn) => provider.on("change", fn));

  api.apply("endpointslices.discovery.k8s.io", slice("bookstore", "bookbuyer-1", "bookbuyer", [{ addresses: ["10.1.1.1"] }]));
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  assert.deepEqual(changes.values[0], ["bookstore/bookbuyer"]);
  assert.deepEqual(provider.endpoints("bookstore/bookbuyer"), [{ ip: "10.1.1.1", port: 8080, source: "bookstore/bookbuyer-1", protocol: "http" }]);

  // Readiness flips: the endpoint leaves the view.
  api.apply("endpointslices.discovery.k8s.io", slice("bookstore", "bookbuyer-1", "bookbuyer", [{ addresses: ["10.1.1.1"], ready: false }]));
  await waitFor(() => changes.values.length === 2, { what: "changes.values.length === 2", timeoutMs: 5000 });
  assert.deepEqual(changes.values[1], ["bookstore/bookbuyer"]);
  assert.deepEqual(provider.endpoints("bookstore/bookbuyer"), []);

  // A change that does not touch endpoints (a label on the Service) emits nothing.
  api.apply("services", { ...service("bookstore", "bookstore"), metadata: { name: "bookstore", namespace: "bookstore", labels: { team: "books" } } });
  // New service, then its deletion.
  api.apply("services", service("bookstore", "bookthief"));
  await waitFor(() => changes.values.length === 3, { what: "changes.values.length === 3", timeoutMs: 5000 });
  assert.deepEqual(changes.values[2], ["bookstore/bookthief"]);
  api.remove("services", "bookstore", "bookthief");
  await waitFor(() => changes.values.length === 4, { what: "changes.values.length === 4", timeoutMs: 5000 });
  assert.deepEqual(changes.values[3], ["bookstore/bookthief"]);
  assert.equal(provider.endpoints("bookstore/bookthief"), undefined);

  // Deleting a slice.
  api.remove("endpointslices.discovery.k8s.io", "bookstore", "bookstore-v6");
  await waitFor(() => changes.values.length === 5, { what: "changes.values.length === 5", timeoutMs: 5000 });
  assert.deepEqual(changes.values[4], ["bookstore/bookstore"]);
  assert.deepEqual(provider.endpoints("bookstore/bookstore")?.map((e) => e.ip), ["10.1.0.2", "10.1.0.4"]);

  // Changes outside the mesh emit nothing.
  api.apply("endpointslices.discovery.k8s.io", slice("kube-system", "dns-2", "dns", [{ addresses: ["10.9.0.2"] }], [{ name: "dns", port: 53 }]));
  api.apply("services", service("bookstore", "last"));
  await waitFor(() => changes.values.length === 6, { what: "changes.values.length === 6", timeoutMs: 5000 });
  assert.deepEqual(changes.values[5], ["bookstore/last"]);
});

test("labelling a namespace adds its services; unlabelling removes them", async (t) => {
  const { api, provider } = await started(t);
  const changes = recorder<readonly string[]>((fn) => provider.on("change", fn));
  api.apply("namespaces", meshedNamespace("kube-system"));
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  assert.deepEqual(changes.values[0], ["kube-system/dns"]);
  assert.deepEqual(provider.endpoints("kube-system/dns"), [{ ip: "10.9.0.1", port: 53, source: "kube-system/dns-1" }], "a port named dns declares no protocol");
  assert.deepEqual(provider.namespaces(), ["bookstore", "kube-system"]);

  api.apply("namespaces", namespace("bookstore", { "meshfed.io/monitored-by": "another-mesh" }));
  await waitFor(() => changes.values.length === 2, { what: "changes.values.length === 2", timeoutMs: 5000 });
  assert.deepEqual(changes.values[1], ["bookstore/bookbuyer", "bookstore/bookstore"]);
  assert.deepEqual([...provider.services()].map((s) => `${s.service.namespace}/${s.service.name}`), ["kube-system/dns"]);

  api.remove("namespaces", undefined, "kube-system");
  await waitFor(() => changes.values.length === 3, { what: "changes.values.length === 3", timeoutMs: 5000 });
  assert.deepEqual([...provider.services()], []);
});

test("slice ports without a number resolve through the Service's targetPort, named ones through the pod", async (t) => {
  const { api, provider } = await started(t);
  const changes = recorder<readonly string[]>((fn) => provider.on("change", fn));
  api.apply("services", service("bookstore", "named", [{ name: "web", port: 80, targetPort: "web-port" }, { name: "admin", port: 9000, targetPort: 9001 }]));
  api.apply("pods", pod("bookstore", "named-1", "10.1.2.1", [{ name: "web-port", containerPort: 8081 }]));
  api.apply("endpointslices.discovery.k8s.io", slice("bookstore", "named-1", "named", [{ addresses: ["10.1.2.1"], pod: "named-1" }, { addresses: ["10.1.2.2"], pod: "named-2" }], [{ name: "web", port: null }, { name: "admin", port: null }]));
  await waitFor(() => provider.endpoints("bookstore/named")?.length === 3, { what: "provider.endpoints(\"bookstore/named\")?.length === 3", timeoutMs: 5000 });
  assert.deepEqual(provider.endpoints("bookstore/named"), [
    // Ports named web and admin declare no protocol; named-2 is not in the cache yet: no account.
    { ip: "10.1.2.1", port: 8081, source: "bookstore/named-1", serviceAccount: "default" },
    { ip: "10.1.2.1", port: 9001, source: "bookstore/named-1", serviceAccount: "default" },
    { ip: "10.1.2.2", port: 9001, source: "bookstore/named-1" },
  ]);
  assert.equal(provider.status().counts.unresolvedPorts, 1);
  // The missing pod appears: its named port now resolves.
  const before = changes.values.length;
  api.apply("pods", pod("bookstore", "named-2", "10.1.2.2", [{ name: "web-port", containerPort: 8082 }]));
  await waitFor(() => provider.endpoints("bookstore/named")?.length === 4, { what: "provider.endpoints(\"bookstore/named\")?.length === 4", timeoutMs: 5000 });
  assert.deepEqual(changes.values.at(-1), ["bookstore/named"]);
  assert.ok(changes.values.length > before);
  assert.equal(provider.status().counts.unresolvedPorts, 0);
});

test("the factory honours meshName: another mesh's namespaces are the meshed ones", async (t) => {
  const h = await kubeHarness(t);
  seed(h.api);
  const config = kubernetesProviderConfigSchema.parse({ meshName: "someone-else", backoff: { initial: "20ms", max: "100ms" } });
  const provider = createKubernetesProvider(config, { kubeConfig: h.kubeConfig, logger: silentLogger() });
  await provider.start(h.ac.signal);
  t.after(() => provider.stopped());
  assert.deepEqual([...provider.services()].map((s) => `${s.service.namespace}/${s.service.name}`), ["other-mesh/x"]);
  assert.deepEqual(provider.endpoints("other-mesh/x"), [{ ip: "10.8.0.1", port: 8080, source: "other-mesh/x-1", protocol: "http" }]);
});
