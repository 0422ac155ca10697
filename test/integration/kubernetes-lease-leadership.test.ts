/**
 * Leader election on a coordination.k8s.io/v1 Lease, against the fake API
 * server (resourceVersion conflicts on update, 404, 409 AlreadyExists).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { LeaseLeadership } from "../../src/controller/ha/lease-leadership.js";
import { kubeHarness, type KubeHarness } from "../fakes/kube-api-harness.js";
import { waitFor } from "../helpers/wait.js";

const NS = "meshfed-system";

interface LeaseObject {
  metadata: Record<string, unknown>;
  spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime?: string };
}
const leaseOf = (api: KubeHarness["api"]) => api.get("leases.coordination.k8s.io", NS, "meshfed-leader") as unknown as LeaseObject;

test("lease: one of three replicas leads; a graceful close hands over at once, a crashed leader after the lease", async (t) => {
  const { api, kubeConfig } = await kubeHarness(t, { namespace: NS });
  const start = (replicaId: string) => LeaseLeadership.start({ kubeConfig, namespace: NS, replicaId, ttlSeconds: 1, logger: silentLogger() });
  // Started together: all race to create the Lease; AlreadyExists sends the losers to read it.
  const replicas = await Promise.all(["a", "b", "c"].map(start));
  t.after(() => Promise.all(replicas.map((r) => r.close())));
  const leaders = () => replicas.filter((r) => r.isLeader());
  assert.equal(leaders().length, 1, "exactly one leader");
  const first = leaders()[0]!;
  for (const r of replicas) assert.equal(r.leaderId(), first.replicaId, `${r.replicaId} knows who leads`);
  const lease = leaseOf(api);
  assert.equal(lease.spec.holderIdentity, first.replicaId);
  assert.equal(lease.spec.leaseDurationSeconds, 1);

  // Graceful: the lease is released, the next round of another replica takes it.
  const handedAt = Date.now();
  await first.close();
  await waitFor(() => leaders().length === 1 && !first.isLeader(), { what: "a successor after a graceful close", timeoutMs: 3_000 });
  assert.ok(Date.now() - handedAt < 1_500, "no waiting for the lease to run out");
  const second = leaders()[0]!;
  assert.notEqual(second.replicaId, first.replicaId);

  // Crash: no release; the last replica takes over only once the lease has run out. The lease
  // runs from the crashed leader's last renewal (up to a third of the lease before the crash),
  // which the follower saw no earlier than it was written: so no takeover before renewTime + 1 s.
  await second.close({ release: false });
  const lastRenewal = new Date(leaseOf(api).spec.renewTime!).getTime();
  const last = replicas.find((r) => r !== first && r !== second)!;
  await waitFor(() => last.isLeader(), { what: "the last replica leads after the crashed leader's lease ran out", timeoutMs: 5_000 });
  assert.ok(Date.now() - lastRenewal >= 1_000, `not before the lease ran out (${Date.now() - lastRenewal} ms after the last renewal)`);
  assert.equal(leaseOf(api).spec.holderIdentity, last.replicaId);
});

test("lease: a lease freshly renewed by another holder is respected; the newcomer follows and names the holder", async (t) => {
  const { api, kubeConfig } = await kubeHarness(t, { namespace: NS });
  const a = await LeaseLeadership.start({ kubeConfig, namespace: NS, replicaId: "a", ttlSeconds: 30, logger: silentLogger() });
  t.after(() => a.close());
  assert.equal(a.isLeader(), true);
  // Another replica took the lease over (as after a's pause): a newcomer must follow it, not overwrite it.
  const lease = leaseOf(api);
  api.apply("leases.coordination.k8s.io", { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", renewTime: new Date().toISOString() } } as never);
  const b = await LeaseLeadership.start({ kubeConfig, namespace: NS, replicaId: "b", ttlSeconds: 30, logger: silentLogger() });
  t.after(() => b.close());
  assert.equal(b.isLeader(), false, "a fresh lease held by someone else is respected");
  assert.equal(b.leaderId(), "intruder");
});

test("lease: expiry is measured on the newcomer's clock: a renewTime that looks old (clock skew) is not taken at once", async (t) => {
  const { api, kubeConfig } = await kubeHarness(t, { namespace: NS });
  // The holder's clock is far behind ours: by renewTime alone its lease expired long ago.
  api.apply("leases.coordination.k8s.io", { metadata: { name: "meshfed-leader", namespace: NS }, spec: { holderIdentity: "skewed", leaseDurationSeconds: 1, renewTime: "2020-01-01T00:00:00.000000Z" } });
  const startedAt = Date.now();
  const b = await LeaseLeadership.start({ kubeConfig, namespace: NS, replicaId: "b", ttlSeconds: 1, logger: silentLogger() });
  t.after(() => b.close());
  assert.equal(b.isLeader(), false, "first seen now: it counts as renewed now");
  assert.equal(b.leaderId(), "skewed");
  // Not renewed any more: taken once a whole duration passed on b's clock.
  await waitFor(() => b.isLeader(), { what: "b leads after the lease ran out", timeoutMs: 3_000 });
  assert.ok(Date.now() - startedAt >= 1_000, "not before a whole duration");
});
