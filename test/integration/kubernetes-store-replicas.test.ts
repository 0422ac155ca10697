/**
 * Two replicas' Kubernetes stores on one fake API server (docs/ha.md
 * "Replicas on Kubernetes"): each watch follows the other's writes, through
 * broken streams and 410 Gone relists, without losing or repeating a
 * change; compare-and-put races have one winner; leased keys vanish for the
 * other replica after the TTL when their holder stops renewing, at once when
 * it closes.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { KubernetesStore } from "../../src/controller/store/kubernetes-store.js";
import { EXPIRY_CHECK_MS, REPLICA_LEASE_LABEL, ReplicaLeases, replicaLeaseName } from "../../src/controller/store/kubernetes-replica-leases.js";
import { silentLogger } from "../../src/common/logger.js";
import type { StoreChange } from "../../src/controller/store/types.js";
import { kubeHarness, type KubeHarness } from "../fakes/kube-api-harness.js";
import { waitFor } from "../helpers/wait.js";

const NS = "meshfed-system";
const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString("utf8"));

function replica(t: TestContext, h: KubeHarness, replicaId: string, leaseTtlSeconds = 2): KubernetesStore {
  const store = new KubernetesStore({ kubeConfig: h.kubeConfig, namespace: NS, replica: { replicaId, leaseTtlSeconds } });
  t.after(() => store.close());
  return store;
}

async function watched(t: TestContext, store: KubernetesStore, prefix: string): Promise<Array<[string, string | undefined]>> {
  const seen: Array<[string, string | undefined]> = [];
  const ac = new AbortController();
  t.after(() => ac.abort());
  await store.watch(prefix, (c: StoreChange) => seen.push([c.key, text(c.value)]), ac.signal);
  return seen;
}

test("kubernetes replicas: a write seen on the watch keeps the next write's resourceVersion current", async (t) => {
  const h = await kubeHarness(t);
  const [a, b] = [replica(t, h, "a"), replica(t, h, "b")];
  const seenByB = await watched(t, b, "k");
  await b.put("k/x", "from b");
  await a.get("k/x");
  await a.put("k/x", "from a");
  await waitFor(() => seenByB.length === 2, { what: "b sees a's write", timeoutMs: 5_000 });
  // b never read the key again: only its watch told it the new resourceVersion.
  await b.put("k/x", "b again");
  assert.equal(text(await a.get("k/x")), "b again");
});

test("kubernetes replicas: of two compare-and-puts on the same value exactly one wins, every round", async (t) => {
  const h = await kubeHarness(t);
  const [a, b] = [replica(t, h, "a"), replica(t, h, "b")];
  await a.put("counter/n", "0");
  for (let round = 0; round < 10; round++) {
    const expected = Buffer.from(String(round));
    await Promise.all([a.get("counter/n"), b.get("counter/n")]);
    const wins = await Promise.all([a.compareAndPut("counter/n", expected, `${round + 1}`), b.compareAndPut("counter/n", expected, `${round + 1}`)]);
    assert.equal(wins.filter(Boolean).length, 1, `round ${round}: one winner (${wins.join(",")})`);
  }
  assert.equal(text(await b.get("counter/n")), "10");
});

test("kubernetes replicas: a watch broken by the server resumes from its resourceVersion; nothing lost, nothing twice", async (t) => {
  const h = await kubeHarness(t);
  const [a, b] = [replica(t, h, "a"), replica(t, h, "b")];
  const seen = await watched(t, b, "k");
  await a.put("k/1", "one");
  await waitFor(() => seen.length === 1, { what: "first change", timeoutMs: 5_000 });
  const lists = h.api.count("list", "secrets");
  assert.equal(h.api.dropWatches("secrets"), 1, "b's watch cut mid-stream");
  await a.put("k/2", "two");
  await a.delete("k/1");
  await waitFor(() => seen.length === 3, { what: "changes made while the watch was down", timeoutMs: 5_000 });
  h.api.closeWatches("secrets"); // a normal server-side end: re-watched at once
  await a.put("k/3", "three");
  await waitFor(() => seen.length === 4, { what: "change after the clean end", timeoutMs: 5_000 });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(seen, [["k/1", "one"], ["k/2", "two"], ["k/1", undefined], ["k/3", "three"]]);
  assert.equal(h.api.count("list", "secrets"), lists, "resumed by watching from the last resourceVersion, no relist");
});

for (const expiredAs of ["event", "http"] as const) {
  test(`kubernetes replicas: 410 Gone (${expiredAs}) relists and reports exactly the differences`, async (t) => {
    const h = await kubeHarness(t);
    h.api.expiredAs = expiredAs;
    const [a, b] = [replica(t, h, "a"), replica(t, h, "b")];
    const seen = await watched(t, b, "k");
    await a.put("k/same", "unchanged");
    await a.put("k/changed", "old");
    await a.put("k/gone", "bye");
    await waitFor(() => seen.length === 3, { what: "initial changes", timeoutMs: 5_000 });
    seen.length = 0;
    const lists = h.api.count("list", "secrets");
    h.api.dropWatches("secrets");
    // While b is away: changes whose events the server then forgets.
    await a.put("k/changed", "new");
    await a.delete("k/gone");
    await a.put("k/added", "hello");
    await a.put("k/flash", "x");
    await a.delete("k/flash"); // created and deleted unseen: nothing to report
    h.api.compact();
    await waitFor(() => seen.length >= 3, { what: "the relist's differences", timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(h.api.count("list", "secrets") > lists, "b relisted");
    assert.deepEqual([...seen].sort(), [["k/added", "hello"], ["k/changed", "new"], ["k/gone", undefined]]);
    // b's resourceVersions followed the relist: blind writes of b neither conflict nor miss.
    await b.put("k/changed", "by b");
    await b.put("k/gone", "back");
    // And the watch goes on from the relist.
    await a.put("k/after", "1");
    await waitFor(() => seen.length === 6, { what: "changes after the relist", timeoutMs: 5_000 });
    assert.deepEqual(seen.slice(3), [["k/changed", "by b"], ["k/gone", "back"], ["k/after", "1"]]);
  });
}

test("kubernetes replicas: leased keys of a replica that stops renewing vanish for the other after the TTL, and are deleted", async (t) => {
  const h = await kubeHarness(t);
  // 2 s, the smallest ha.leaseTtl: renewals every 0.67 s leave room for a loaded test machine.
  const [a, b] = [replica(t, h, "a", 2), replica(t, h, "b", 2)];
  const seen = await watched(t, b, "reg");
  await a.leased!.put("reg/p1.a", "one");
  await a.put("reg/plain", "not leased");
  await waitFor(() => seen.length === 2, { what: "b sees a's keys", timeoutMs: 5_000 });
  assert.deepEqual((await b.list("reg")).map((e) => e.key), ["reg/p1.a", "reg/plain"]);
  // Renewed every third of the TTL: still there after more than a TTL.
  await new Promise((r) => setTimeout(r, 3_000));
  assert.equal(seen.length, 2, "a live replica's keys stay");
  assert.equal(text(await b.get("reg/p1.a")), "one");

  const crashedAt = Date.now();
  a.destroy(); // stops renewing, deletes nothing
  await waitFor(() => seen.length === 3, { what: "the expired key's deletion", timeoutMs: 8_000 });
  const after = Date.now() - crashedAt;
  assert.deepEqual(seen[2], ["reg/p1.a", undefined]);
  // The bound of docs/ha.md: between 2T/3 and T (+ watch delay + 0.25 s) after the crash; slack for a loaded machine above.
  assert.ok(after >= 1_300, `not before two thirds of the TTL (${after} ms; the last renewal was up to a third of it earlier)`);
  assert.ok(after < 5_000, `about the TTL and the check interval (${after} ms)`);
  assert.deepEqual((await b.list("reg")).map((e) => e.key), ["reg/plain"], "list hides it too");
  assert.equal(await b.get("reg/p1.a"), undefined);
  // b deleted what a left: its Lease and its leased Secret, not the plain key.
  await waitFor(() => h.api.get("leases.coordination.k8s.io", NS, replicaLeaseName("meshfed", "a")) === undefined, { what: "a's Lease deleted", timeoutMs: 5_000 });
  await waitFor(() => h.api.get("secrets", NS, b.secretName("reg/p1.a")) === undefined, { what: "a's leased Secret deleted", timeoutMs: 5_000 });
  assert.ok(h.api.get("secrets", NS, b.secretName("reg/plain")));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seen.length, 3, "the deletion reported once");
});

test("kubernetes replicas: a graceful close removes leased keys and the Lease at once", async (t) => {
  const h = await kubeHarness(t);
  const [a, b] = [replica(t, h, "a", 30), replica(t, h, "b", 30)];
  const seen = await watched(t, b, "reg");
  await a.leased!.put("reg/p1.a", "one");
  await a.leased!.put("reg/p2.a", "two");
  await waitFor(() => seen.length === 2, { what: "b sees a's keys", timeoutMs: 5_000 });
  const closedAt = Date.now();
  await a.close();
  await waitFor(() => seen.length === 4, { what: "both deletions", timeoutMs: 5_000 });
  assert.ok(Date.now() - closedAt < 10_000, "long before the 30 s TTL");
  assert.deepEqual(seen.slice(2).sort(), [["reg/p1.a", undefined], ["reg/p2.a", undefined]]);
  assert.equal(h.api.get("leases.coordination.k8s.io", NS, replicaLeaseName("meshfed", "a")), undefined);
});

test("kubernetes replicas: a replica whose Lease was deleted under it writes its keys again under a new one", async (t) => {
  const h = await kubeHarness(t);
  const [a, b] = [replica(t, h, "a", 2), replica(t, h, "b", 2)];
  const seen = await watched(t, b, "reg");
  await a.leased!.put("reg/p1.a", "one");
  await waitFor(() => seen.length === 1, { what: "b sees a's key", timeoutMs: 5_000 });
  const leaseName = replicaLeaseName("meshfed", "a");
  const uid = (h.api.get("leases.coordination.k8s.io", NS, leaseName)!.metadata as unknown as { uid: string }).uid;
  h.api.remove("leases.coordination.k8s.io", NS, leaseName); // as if a cleaner took it while a was cut off
  await waitFor(() => seen.length === 2, { what: "the key hidden with its Lease", timeoutMs: 5_000 });
  await waitFor(() => seen.length === 3, { what: "the key back under the new Lease", timeoutMs: 5_000 });
  assert.deepEqual(seen, [["reg/p1.a", "one"], ["reg/p1.a", undefined], ["reg/p1.a", "one"]]);
  const renewed = h.api.get("leases.coordination.k8s.io", NS, leaseName)!.metadata as unknown as { uid: string };
  assert.notEqual(renewed.uid, uid, "a new Lease");
  assert.equal(text(await b.get("reg/p1.a")), "one");
});

test("kubernetes replicas: a restarted replica with the same id makes its predecessor's keys stale at once", async (t) => {
  const h = await kubeHarness(t);
  const b = replica(t, h, "b", 30);
  const seen = await watched(t, b, "reg");
  const first = replica(t, h, "a", 30);
  await first.leased!.put("reg/old.a", "old");
  await waitFor(() => seen.length === 1, { what: "b sees the first incarnation's key", timeoutMs: 5_000 });
  first.destroy(); // crashed; its Lease would live 30 s more
  const second = replica(t, h, "a", 30);
  await second.leased!.put("reg/new.a", "new");
  await waitFor(() => seen.length === 3, { what: "old key gone, new key in", timeoutMs: 5_000 });
  assert.deepEqual([...seen.slice(1)].sort(), [["reg/new.a", "new"], ["reg/old.a", undefined]]);
  await waitFor(() => h.api.get("secrets", NS, b.secretName("reg/old.a")) === undefined, { what: "the stale Secret deleted", timeoutMs: 5_000 });
});

test("kubernetes replicas: liveness is judged on the reader's clock from when a renewal was seen, whatever the holder's clock says", async (t) => {
  const h = await kubeHarness(t);
  let now = 1_000_000;
  const changes: Array<[string, boolean]> = [];
  const leases = new ReplicaLeases({ kubeConfig: h.kubeConfig, namespace: NS, storeName: "meshfed", logger: silentLogger(), now: () => now, onChange: (id, expired) => changes.push([id, expired]) });
  const skewed = (renewTime: string) => ({
    metadata: { name: replicaLeaseName("meshfed", "x"), namespace: NS, labels: { [REPLICA_LEASE_LABEL]: "meshfed" } },
    spec: { holderIdentity: "x", leaseDurationSeconds: 1, renewTime },
  });
  // The holder's clock is an hour behind: its renewTime looks long expired.
  h.api.apply("leases.coordination.k8s.io", skewed("2020-01-01T00:00:00.000000Z"));
  await leases.start(h.ac.signal);
  assert.equal(leases.state("x")?.alive, true, "first seen just now: alive for a whole duration");
  now += 900;
  await new Promise((r) => setTimeout(r, 2 * EXPIRY_CHECK_MS));
  assert.equal(leases.state("x")?.alive, true, "not yet");
  now += 200;
  await waitFor(() => leases.state("x")?.alive === false, { what: "expired a duration after the last renewal seen", timeoutMs: 2_000 });
  assert.deepEqual(changes, [["x", false], ["x", true]]);
  h.api.apply("leases.coordination.k8s.io", skewed("2020-01-01T00:00:01.000000Z")); // renewed: later than before, still "old"
  await waitFor(() => leases.state("x")?.alive === true, { what: "alive again after a renewal", timeoutMs: 2_000 });
  assert.equal(await leases.deleteExpired("x"), false, "an alive Lease is never deleted");
});

test("kubernetes replicas: a Secret relabelled out of the store is reported deleted, and back in as a put (label-selected watch)", async (t) => {
  const h = await kubeHarness(t);
  const [a, b] = [replica(t, h, "a"), replica(t, h, "b")];
  const seen = await watched(t, b, "k");
  await a.put("k/x", "one");
  await waitFor(() => seen.length === 1, { what: "the put", timeoutMs: 5_000 });
  const secret = h.api.get("secrets", NS, a.secretName("k/x"))!;
  h.api.apply("secrets", { ...secret, metadata: { ...secret.metadata, labels: { other: "yes" } } });
  await waitFor(() => seen.length === 2, { what: "the Secret leaving the selection", timeoutMs: 5_000 });
  h.api.apply("secrets", secret);
  await waitFor(() => seen.length === 3, { what: "the Secret back in the selection", timeoutMs: 5_000 });
  assert.deepEqual(seen, [["k/x", "one"], ["k/x", undefined], ["k/x", "one"]]);
});
