import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { MeshfedError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { loadKubeConfig } from "../../src/controller/kube/index.js";
import { KubernetesProvider } from "../../src/controller/providers/kubernetes/provider.js";
import { kubeHarness, recorder, type KubeHarness } from "../fakes/kube-api-harness.js";
import { meshedNamespace, service, slice } from "../fakes/kube-api-objects.js";
import { waitFor } from "../helpers/wait.js";

const SLICES = "endpointslices.discovery.k8s.io" as const;

function seed(api: KubeHarness["api"]): void {
  api.apply("namespaces", meshedNamespace("shop"));
  for (const name of ["a", "b", "c"]) {
    api.apply("services", service("shop", name));
    api.apply(SLICES, slice("shop", `${name}-1`, name, [{ addresses: [`10.0.0.${name.charCodeAt(0) - 96}`] }]));
  }
}

async function started(t: Parameters<typeof kubeHarness>[0]) {
  const h = await kubeHarness(t);
  seed(h.api);
  const metrics = new ControllerMetrics();
  const provider = new KubernetesProvider({ kubeConfig: h.kubeConfig, logger: silentLogger(), metrics, backoff: { initialMs: 20, maxMs: 80 } });
  await provider.start(h.ac.signal);
  t.after(() => provider.stopped());
  const changes = recorder<readonly string[]>((fn) => provider.on("change", fn));
  return { ...h, provider, metrics, changes };
}

const ips = (p: KubernetesProvider, key: string) => p.endpoints(key)?.map((e) => e.ip);

test("a watch that dies mid-stream resumes from its resourceVersion: updates made meanwhile arrive once", async (t) => {
  const { api, provider, changes } = await started(t);
  const listsBefore = api.count("list", SLICES);
  assert.equal(api.dropWatches(SLICES), 1);
  // Made while the watch is down (the informer is in backoff or reconnecting).
  api.apply(SLICES, slice("shop", "a-1", "a", [{ addresses: ["10.0.0.11"] }]));
  api.remove(SLICES, "shop", "b-1");
  await waitFor(() => ips(provider, "shop/a")?.[0] === "10.0.0.11" && ips(provider, "shop/b")?.length === 0, { what: "ips(provider, \"shop/a\")?.[0] === \"10.0.0.11\" && ips(provider, \"shop/b\")?.length === 0", timeoutMs: 5000 });
  await waitFor(() => api.openWatches(SLICES) === 1, { what: "api.openWatches(SLICES) === 1", timeoutMs: 5000 });
  await sleep(50);
  // Each change reported exactly once, only for what changed.
  assert.deepEqual(changes.values.flat().sort(), ["shop/a", "shop/b"]);
  // Resumed, not relisted: the API server replayed the events after the resourceVersion.
  assert.equal(api.count("list", SLICES), listsBefore);
  assert.deepEqual(ips(provider, "shop/c"), ["10.0.0.3"]);
  assert.equal(provider.status().state, "synced");
});

for (const expiredAs of ["event", "http"] as const) {
  test(`410 Gone (${expiredAs === "event" ? "in-stream ERROR event" : "HTTP 410"}) makes the informer relist; only real differences are reported`, async (t) => {
    const { api, provider, changes } = await started(t);
    api.expiredAs = expiredAs;
    const listsBefore = api.count("list", SLICES);
    // Take the watch down, change things, then compact the log so that the
    // resume from the old resourceVersion is refused with 410.
    api.dropWatches(SLICES);
    api.apply(SLICES, slice("shop", "a-1", "a", [{ addresses: ["10.0.0.21"] }]));
    api.remove(SLICES, "shop", "b-1");
    api.apply(SLICES, slice("shop", "d-1", "d", [{ addresses: ["10.0.0.4"] }]));
    api.compact();
    await waitFor(() => api.count("list", SLICES) > listsBefore, { what: "relist", timeoutMs: 3000 });
    await waitFor(() => ips(provider, "shop/a")?.[0] === "10.0.0.21" && ips(provider, "shop/b")?.length === 0, { what: "ips(provider, \"shop/a\")?.[0] === \"10.0.0.21\" && ips(provider, \"shop/b\")?.length === 0", timeoutMs: 5000 });
    await waitFor(() => api.openWatches(SLICES) === 1, { what: "api.openWatches(SLICES) === 1", timeoutMs: 5000 });
    await sleep(50);
    // c did not change and is not reported; d has no Service, so no entry.
    assert.deepEqual([...new Set(changes.values.flat())].sort(), ["shop/a", "shop/b"]);
    assert.deepEqual(ips(provider, "shop/c"), ["10.0.0.3"]);
    assert.equal(provider.endpoints("shop/d"), undefined);
  });
}

test("an in-stream 410 on an open watch relists without losing or repeating changes", async (t) => {
  const { api, changes } = await started(t);
  api.apply(SLICES, slice("shop", "c-1", "c", [{ addresses: ["10.0.0.33"] }]));
  await waitFor(() => changes.values.length === 1, { what: "changes.values.length === 1", timeoutMs: 5000 });
  api.compact();
  assert.equal(api.expireWatches(SLICES), 1);
  await waitFor(() => api.openWatches(SLICES) === 1, { what: "api.openWatches(SLICES) === 1", timeoutMs: 5000 });
  api.apply(SLICES, slice("shop", "a-1", "a", [{ addresses: ["10.0.0.31"] }]));
  await waitFor(() => changes.values.length === 2, { what: "changes.values.length === 2", timeoutMs: 5000 });
  await sleep(50);
  assert.deepEqual(changes.values, [["shop/c"], ["shop/a"]]);
});

test("a BOOKMARK advances the resourceVersion: after compaction the watch resumes without relisting", async (t) => {
  const { api, provider } = await started(t);
  // Unrelated writes move the global resourceVersion on.
  for (let i = 0; i < 5; i++) api.apply("configmaps", { metadata: { name: `cm-${i}`, namespace: "shop" }, data: {} });
  assert.equal(api.bookmark(SLICES), 1);
  await sleep(30);
  api.compact();
  const lists = api.count("list", SLICES);
  api.closeWatches(SLICES); // a normal server-side close, as at timeoutSeconds
  await waitFor(() => api.openWatches(SLICES) === 1, { what: "api.openWatches(SLICES) === 1", timeoutMs: 5000 });
  assert.equal(api.count("list", SLICES), lists, "resumed from the bookmark, no 410, no relist");
  api.apply(SLICES, slice("shop", "a-1", "a", [{ addresses: ["10.0.0.41"] }]));
  await waitFor(() => ips(provider, "shop/a")?.[0] === "10.0.0.41", { what: "ips(provider, \"shop/a\")?.[0] === \"10.0.0.41\"", timeoutMs: 5000 });
});

test("a non-410 error stops client-node's informer; ours restarts it with backoff and reports it", async (t) => {
  const { api, provider, metrics, changes } = await started(t);
  // The reconnect after the drop gets a 500, then the next one a 500 too.
  api.failNext({ verb: "watch", resource: "services", status: 500, times: 2 });
  api.dropWatches("services");
  await waitFor(() => provider.status().counts.restarts! >= 1, { what: "provider.status().counts.restarts! >= 1", timeoutMs: 5000 });
  api.apply("services", service("shop", "e"));
  await waitFor(() => provider.endpoints("shop/e") !== undefined, { what: "service added after the restart", timeoutMs: 3000 });
  assert.deepEqual(changes.values, [["shop/e"]]);
  const st = provider.status();
  assert.equal(st.state, "synced");
  assert.equal(st.lastError, null);
  assert.ok(st.counts.restarts! >= 2);
  const errors = await metrics.providerErrors.get();
  assert.ok(errors.values.some((v) => v.labels.code === "MESHFED_KUBE_WATCH" && v.value >= 2));
});

test("a failed first list is retried: start() resolves after the restart; status shows the error meanwhile", async (t) => {
  const h = await kubeHarness(t);
  seed(h.api);
  h.api.failNext({ verb: "list", resource: "pods", status: 500, times: 3 });
  const provider = new KubernetesProvider({ kubeConfig: h.kubeConfig, logger: silentLogger(), backoff: { initialMs: 30, maxMs: 60 } });
  const seen: string[] = [];
  const poll = setInterval(() => seen.push(`${provider.status().state}:${provider.status().lastError?.code ?? ""}`), 5);
  t.after(() => clearInterval(poll));
  await provider.start(h.ac.signal);
  clearInterval(poll);
  assert.ok(seen.includes("degraded:MESHFED_KUBE_LIST"), seen.join(" "));
  assert.equal(provider.status().state, "synced");
  assert.equal(provider.status().counts.restarts, 3);
  assert.deepEqual(ips(provider, "shop/a"), ["10.0.0.1"]);
  t.after(() => provider.stopped());
});

test("a server that closes every watch at once does not make a tight reconnect loop", async (t) => {
  const { api } = await started(t);
  const before = api.count("watch", "pods");
  const deadline = Date.now() + 400;
  while (Date.now() < deadline) {
    api.closeWatches("pods");
    await sleep(2);
  }
  // Undamped, client-node reconnects within a millisecond or two: hundreds of watches.
  const opened = api.count("watch", "pods") - before;
  assert.ok(opened < 25, `${opened} watches in 400 ms`);
});

test("401 is reported as MESHFED_KUBE_FORBIDDEN; aborting before the first sync rejects start()", async (t) => {
  const h = await kubeHarness(t);
  const file = await h.api.writeKubeconfig(h.dir, { token: "wrong" });
  const provider = new KubernetesProvider({ kubeConfig: loadKubeConfig({ kubeconfig: file }), logger: silentLogger(), backoff: { initialMs: 10, maxMs: 20 } });
  const ac = new AbortController();
  const starting = provider.start(ac.signal);
  await waitFor(() => provider.status().lastError !== null, { what: "provider.status().lastError !== null", timeoutMs: 5000 });
  assert.equal(provider.status().lastError?.code, "MESHFED_KUBE_FORBIDDEN");
  assert.equal(provider.status().state, "degraded");
  ac.abort();
  await assert.rejects(starting, (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_KUBE_STOPPED" && /HTTP 401/.test(err.message));
  await provider.stopped();
  assert.equal(provider.status().state, "stopped");
});

test("an unreachable API server: MESHFED_KUBE_UNREACHABLE, retried until stopped, nothing left running", async (t) => {
  const h = await kubeHarness(t);
  const file = await h.api.writeKubeconfig(h.dir);
  await h.api.close(); // nothing listens on that port any more
  const provider = new KubernetesProvider({ kubeConfig: loadKubeConfig({ kubeconfig: file }), logger: silentLogger(), backoff: { initialMs: 10, maxMs: 20 } });
  const ac = new AbortController();
  const starting = provider.start(ac.signal);
  await waitFor(() => provider.status().counts.restarts! >= 4, { what: "provider.status().counts.restarts! >= 4", timeoutMs: 5000 });
  assert.equal(provider.status().lastError?.code, "MESHFED_KUBE_UNREACHABLE");
  ac.abort();
  await assert.rejects(starting, { code: "MESHFED_KUBE_STOPPED" });
  await provider.stopped();
});
