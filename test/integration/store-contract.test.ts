/**
 * The StateStore contract (src/controller/store/types.ts) that every caller
 * relies on, checked on the file store, on Kubernetes Secrets (fake API
 * server) and on a real etcd (skipped without an etcd binary, failed under
 * CI=true), the shared stores with a second writer; plus the named errors of a bad
 * store setting and of an etcd that does not answer.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig, parseControllerConfig } from "../../src/controller/config/load.js";
import { EtcdStore } from "../../src/controller/store/etcd-store.js";
import { KubernetesStore } from "../../src/controller/store/kubernetes-store.js";
import { parseStoreLocation } from "../../src/controller/store/store-location.js";
import type { StateStore, StoreChange } from "../../src/controller/store/types.js";
import { freePort } from "../helpers/agent-process.js";
import { tempFileStore } from "../helpers/certificates.js";
import { etcdAvailable, startEtcd } from "../helpers/etcd-process.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging it.
failOnLeaks();

const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString("utf8"));

/** Waits until `seen` holds `count` changes (or the scaled 5 s passed: the caller's assertion then names what is missing), then returns them as [key, text]. */
async function changes(seen: StoreChange[], count: number, from = 0): Promise<Array<[string, string | undefined]>> {
  await waitFor(() => seen.length >= from + count, { what: `${count} store changes`, timeoutMs: 5_000, intervalMs: 20 }).catch(() => undefined);
  return seen.slice(from).map((c) => [c.key, text(c.value)]);
}

/** `other`: a second writer on the same shared store (another replica), whose writes `store`'s watch must report too. */
async function checkContract(t: TestContext, store: StateStore, other?: StateStore): Promise<void> {
  const stop = new AbortController();
  t.after(() => stop.abort());
  const seen: StoreChange[] = [];
  await store.watch("things", (c) => seen.push(c), stop.signal);

  assert.equal(await store.create("things/a", "1"), true);
  assert.equal(await store.create("things/a", "2"), false, "create refuses a present key");
  assert.equal(text(await store.get("things/a")), "1");
  assert.equal(await store.compareAndPut("things/a", Buffer.from("0"), "3"), false, "stale expectation refused");
  assert.equal(await store.compareAndPut("things/a", Buffer.from("1"), "3"), true);
  assert.equal(await store.compareAndPut("things/missing", Buffer.from(""), "x"), false, "an absent key never matches");
  await store.put("things/b", "4");
  await store.put("things/deeper/c", "5"); // not one level under things/
  await store.delete("things/b");
  assert.deepEqual((await store.list("things")).map((e) => [e.key, text(e.value)]), [["things/a", "3"]]);

  const expected = [["things/a", "1"], ["things/a", "3"], ["things/b", "4"], ["things/b", undefined]];
  assert.deepEqual(await changes(seen, expected.length), expected, "every change, in order, nothing from other levels");

  if (other !== undefined) {
    // Writes of two writers interleaved: the watch reports both, in the order the store applied them.
    const from = seen.length;
    assert.equal(await other.create("things/o", "1"), true);
    assert.equal(await store.create("things/o", "mine"), false, "the other writer's create is seen by create");
    await store.put("things/p", "2");
    assert.equal(await other.compareAndPut("things/o", Buffer.from("1"), "3"), true);
    assert.equal(await store.compareAndPut("things/o", Buffer.from("1"), "stale"), false, "a compare against a value the other writer replaced fails");
    assert.equal(await store.compareAndPut("things/o", Buffer.from("3"), "4"), true);
    await other.delete("things/p");
    await store.delete("things/o");
    const crossed = [["things/o", "1"], ["things/p", "2"], ["things/o", "3"], ["things/o", "4"], ["things/p", undefined], ["things/o", undefined]];
    assert.deepEqual(await changes(seen, crossed.length, from), crossed, "both writers' changes, in order");
  }

  const total = seen.length;
  stop.abort();
  await store.put("things/a", "after");
  await (other ?? store).put("things/q", "after");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seen.length, total, "nothing after the watch's signal aborted");
}

test("the file store keeps the StateStore contract", async (t) => {
  const { store } = await tempFileStore(t);
  assert.equal((store as StateStore).leased, undefined, "one process: nothing to lease");
  await checkContract(t, store);
});

test("the Kubernetes Secret store keeps the StateStore contract, its watch following another replica's writes (fake API server)", async (t) => {
  const { kubeConfig } = await kubeHarness(t);
  const open = (replicaId: string) => new KubernetesStore({ kubeConfig, namespace: "meshfed-system", replica: { replicaId, leaseTtlSeconds: 2 } });
  const [store, other] = [open("a"), open("b")];
  t.after(() => Promise.all([store.close(), other.close()]));
  await checkContract(t, store, other);

  await store.leased!.put("things/leased", "mine");
  assert.equal(text(await other.get("things/leased")), "mine");
  await store.close();
  assert.equal(await other.get("things/leased"), undefined, "graceful close deletes leased keys at once");
});

test("the etcd store keeps the StateStore contract, and its leased keys vanish when it closes", { timeout: scaled(120_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const open = () => EtcdStore.open({ endpoints: [etcd.endpoint], leaseTtlSeconds: 2, connectTimeoutMs: 5_000, logger: silentLogger() });
  const [store, other] = [await open(), await open()];
  etcd.beforeStop(() => Promise.all([store.close(), other.close()]));
  await checkContract(t, store, other);

  await store.leased.put("things/leased", "mine");
  assert.equal(text(await other.get("things/leased")), "mine");
  await store.close();
  assert.equal(await other.get("things/leased"), undefined);
});

test("a bad store setting is refused with a named error, from the file and from the flag", async () => {
  assert.throws(() => parseStoreLocation("etcd://"), { code: "MESHFED_STORE_BAD_URL" });
  assert.throws(() => parseStoreLocation("etcd://host-without-port"), { code: "MESHFED_STORE_BAD_URL" });
  assert.throws(() => parseStoreLocation("consul://127.0.0.1:8500"), { code: "MESHFED_STORE_BAD_URL" });
  assert.deepEqual(parseStoreLocation("etcd://10.0.0.1:2379,[::1]:2379"), { kind: "etcd", endpoints: ["10.0.0.1:2379", "[::1]:2379"] });
  assert.throws(() => parseControllerConfig("store: etcd://nope\n", "/tmp/c.yaml"), { code: "MESHFED_CONFIG_INVALID" });
  await assert.rejects(loadControllerConfig(undefined, { store: "etcd:/127.0.0.1:2379" }), { code: "MESHFED_STORE_BAD_URL" });
});

test("an etcd that does not answer fails the start with a named error within the connect timeout", async () => {
  const port = await freePort(); // nothing listens there
  await assert.rejects(
    EtcdStore.open({ endpoints: [`127.0.0.1:${port}`], leaseTtlSeconds: 2, connectTimeoutMs: 1_000, logger: silentLogger() }),
    (err: { code?: string; message: string }) => err.code === "MESHFED_STORE_UNREACHABLE" && err.message.includes(`127.0.0.1:${port}`),
  );
});
