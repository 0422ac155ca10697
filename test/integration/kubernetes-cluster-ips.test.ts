import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { KubernetesProvider } from "../../src/controller/providers/kubernetes/provider.js";
import { kubeHarness, recorder } from "../fakes/kube-api-harness.js";
import { meshedNamespace, service, slice } from "../fakes/kube-api-objects.js";
import { waitFor } from "../helpers/wait.js";

test("the Kubernetes provider reports Service ClusterIPs as virtual IPs; headless Services have none; a change is a change event", async (t) => {
  const h = await kubeHarness(t);
  h.api.apply("namespaces", meshedNamespace("shop"));
  h.api.apply("services", service("shop", "bookstore", undefined, "10.96.0.20"));
  h.api.apply("services", service("shop", "headless", undefined, "None"));
  h.api.apply("endpointslices.discovery.k8s.io", slice("shop", "bookstore-1", "bookstore", [{ addresses: ["10.1.0.2"] }]));
  const provider = new KubernetesProvider({ kubeConfig: h.kubeConfig, logger: silentLogger(), backoff: { initialMs: 20, maxMs: 100 } });
  await provider.start(h.ac.signal);
  t.after(() => provider.stopped());
  assert.deepEqual(provider.virtualIPs("shop/bookstore"), ["10.96.0.20"]);
  assert.equal(provider.virtualIPs("shop/headless"), undefined);
  assert.deepEqual([...provider.services()].find((s) => s.service.name === "bookstore")?.virtualIPs, ["10.96.0.20"]);

  const changes = recorder<readonly string[]>((fn) => provider.on("change", fn));
  h.api.apply("services", service("shop", "bookstore", undefined, "10.96.0.30"));
  await waitFor(() => provider.virtualIPs("shop/bookstore")?.[0] === "10.96.0.30", { what: "the new ClusterIP", timeoutMs: 5000 });
  assert.ok(changes.values.some((keys) => keys.includes("shop/bookstore")), "same endpoints, new ClusterIP: still a change");
});
