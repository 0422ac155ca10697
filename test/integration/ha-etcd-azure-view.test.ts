/**
 * Azure polling with replicas on a real etcd (docs/ha.md, "What only the
 * leader does"): the leader polls ARM and publishes its view, the follower
 * serves that view without a single ARM call, takes polling over when the
 * leader dies without its catalog ever losing the endpoints, and refuses a
 * corrupt published view. Each replica talks to its own fake ARM (same
 * inventory), so the calls are counted per replica. Skipped without an etcd
 * binary (failed under CI=true).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Etcd3 } from "etcd3";
import { controllerAzureConfig } from "../fakes/arm/harness.js";
import { FakeArm } from "../fakes/arm/server.js";
import { etcdAvailable, startEtcd, type EtcdProcess } from "../helpers/etcd-process.js";
import { startReplicaProcess, type ReplicaProcess } from "../helpers/replicas.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging it.
failOnLeaks();

const LEASE_WAIT_MS = 15_000;
const WEB_TAGS = { "meshfed-service": "web", "meshfed-namespace": "shop", "meshfed-ports": "8080" };

interface SharedView {
  role: string;
  served: { replicaId: string; generation: number } | null;
  lastError: { code: string; message: string } | null;
  refused: number;
}

async function startArm(t: TestContext): Promise<FakeArm> {
  const arm = await FakeArm.start();
  t.after(() => arm.close());
  arm.inventory.addVm({ resourceGroup: "shop-rg", name: "web-1", power: "running", ip: "10.1.0.4", tags: WEB_TAGS });
  return arm;
}

/** A replica polling `arm` every second when it leads. */
function azureReplica(etcd: EtcdProcess, id: string, arm: FakeArm): Promise<ReplicaProcess> {
  return startReplicaProcess(etcd, id, {
    config: async (dir) => (await controllerAzureConfig(arm, dir, ["interval: 1s"])).lines.join("\n"),
    env: (dir) => ({ NODE_EXTRA_CA_CERTS: join(dir, "arm-ca.pem") }),
  });
}

async function webEndpoints(r: ReplicaProcess): Promise<string[]> {
  const snapshot = await r.api<{ services: Array<{ namespace: string; name: string; endpoints: Array<{ ip: string; port: number }> }> }>("/api/v1/catalog");
  return (snapshot.services.find((s) => s.namespace === "shop" && s.name === "web")?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`).sort();
}

async function sharedView(r: ReplicaProcess): Promise<SharedView> {
  const providers = await r.api<Array<{ id: string; sharedView?: SharedView }>>("/api/v1/providers");
  const view = providers.find((p) => p.id === "azure")?.sharedView;
  assert.ok(view, "the azure provider reports its shared view");
  return view;
}

async function leaderOf(r: ReplicaProcess): Promise<string | null> {
  return (await r.api<{ leaderId: string | null }>("/api/v1/replica")).leaderId;
}

/** Replica A, started first and leading, and replica B following it; each on its own fake ARM. Undefined: no etcd (skipped). */
async function leaderAndFollower(t: TestContext) {
  if (!etcdAvailable(t)) return undefined;
  const etcd = await startEtcd(t);
  const [armA, armB] = [await startArm(t), await startArm(t)];
  const a = await azureReplica(etcd, "replica-a", armA);
  await waitFor(async () => ((await leaderOf(a)) === "replica-a" ? true : undefined), { what: "A leads", timeoutMs: LEASE_WAIT_MS });
  const b = await azureReplica(etcd, "replica-b", armB);
  return { etcd, armA, armB, a, b };
}

test("only the leader polls ARM; the follower serves its view and, when the leader is killed, polls in its place without losing the endpoints", { timeout: scaled(240_000) }, async (t) => {
  const replicas = await leaderAndFollower(t);
  if (replicas === undefined) return;
  const { armA, armB, a, b } = replicas;

  assert.deepEqual(await webEndpoints(b), ["10.1.0.4:8080"], "B's catalog has A's Azure endpoints once B is ready");
  assert.equal((await sharedView(b)).role, "following");
  // A new VM reaches B through A's poll and the store.
  for (const arm of [armA, armB]) arm.inventory.addVm({ resourceGroup: "shop-rg", name: "web-2", power: "running", ip: "10.1.0.5", tags: WEB_TAGS });
  await waitFor(async () => ((await webEndpoints(b)).length === 2 ? true : undefined), { what: "web-2 on B", timeoutMs: 60_000 });
  const polledByA = armA.armRequests().length;
  assert.ok(polledByA > 0, "A polls ARM");
  assert.equal(armB.armRequests().length, 0, "B never called ARM");
  assert.equal(armB.tokenRequests.length, 0, "B never asked for a token");

  // Watch B's catalog through the takeover: the endpoints must never go.
  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push((await webEndpoints(b)).length);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  t.after(async () => {
    sampling = false;
    await sampler;
  });
  assert.equal(await a.stop("SIGKILL"), "SIGKILL");
  await waitFor(async () => ((await sharedView(b)).role === "leading" ? true : undefined), { what: "B leads", timeoutMs: LEASE_WAIT_MS });
  await waitFor(() => (armB.armRequests().length > 0 ? true : undefined), { what: "B polls ARM", timeoutMs: 60_000 });
  // B's own poll sees a VM gone: its removal grace (90 s) keeps it, as it would for A.
  armB.inventory.removeVm("shop-rg", "web-1");
  armB.inventory.addVm({ resourceGroup: "shop-rg", name: "web-3", power: "running", ip: "10.1.0.6", tags: WEB_TAGS });
  await waitFor(async () => ((await webEndpoints(b)).includes("10.1.0.6:8080") ? true : undefined), { what: "B's own poll in its catalog", timeoutMs: 60_000 });
  sampling = false;
  await sampler;
  assert.ok(samples.length >= 10, `sampled B's catalog ${samples.length} times`);
  assert.deepEqual(samples.filter((n) => n < 2), [], "B's catalog kept the Azure endpoints throughout the takeover");
  assert.equal(armA.armRequests().length >= polledByA, true);
});

test("a corrupt published view is refused: the follower keeps its last good view and the leader writes a good one over it", { timeout: scaled(240_000) }, async (t) => {
  const replicas = await leaderAndFollower(t);
  if (replicas === undefined) return;
  const { etcd, armB, b } = replicas;
  assert.deepEqual(await webEndpoints(b), ["10.1.0.4:8080"]);
  const before = (await sharedView(b)).served!.generation;

  const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
  t.after(() => client.close());
  await client.put("meshfed/provider-views/azure").value(JSON.stringify({ replicaId: "replica-a", generation: before + 1, publishedAt: new Date().toISOString(), services: [{ namespace: "shop", name: "web", endpoints: [{ ip: "10.9.9.9", port: "not-a-port", source: "x" }] }] }));

  await waitFor(async () => ((await sharedView(b)).refused >= 1 ? true : undefined), { what: "B refuses the record", timeoutMs: 60_000 });
  assert.deepEqual(await webEndpoints(b), ["10.1.0.4:8080"], "B keeps the last good view");
  // The leader repairs the record; B serves it again.
  const repaired = await waitFor(async () => {
    const view = await sharedView(b);
    return view.served !== null && view.served.generation !== before ? view : undefined;
  }, { what: "A's repaired record on B", timeoutMs: 60_000 });
  assert.equal(repaired.served!.replicaId, "replica-a");
  assert.deepEqual(await webEndpoints(b), ["10.1.0.4:8080"]);
  assert.equal(armB.armRequests().length, 0, "B never called ARM");
});
