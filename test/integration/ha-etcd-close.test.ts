/**
 * A replica on etcd that is told to stop exits by itself, whatever etcd is
 * doing: down, just restarted (its client still reconnecting), or up with the
 * leader still holding its election key. Real `meshfed controller`
 * processes: after a clean close the CLI exits because nothing is left open,
 * and only a close that leaves something running (or outlives its budget)
 * ends with the CLI's forced exit, code 1. The CI hang of
 * ha-etcd-failover.test.ts was such a leftover: a follower's election watch
 * retrying its closed etcd client for ever. Skipped without an etcd binary.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { etcdAvailable, startEtcd, type EtcdProcess } from "../helpers/etcd-process.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { startReplicaProcess, type ReplicaProcess } from "../helpers/replicas.js";
import { scaled, waitFor } from "../helpers/wait.js";

failOnLeaks();

interface ReplicaStatus {
  leader: boolean;
  leaderId: string | null;
}

/** A leader, then a follower that has seen it lead (so its campaign is waiting behind the leader's key). */
async function leaderAndFollower(etcd: EtcdProcess): Promise<{ leader: ReplicaProcess; follower: ReplicaProcess }> {
  const leader = await startReplicaProcess(etcd, "leader");
  await waitFor(async () => (await leader.api<ReplicaStatus>("/api/v1/replica")).leader, { what: "the first replica leads", timeoutMs: 60_000 });
  const follower = await startReplicaProcess(etcd, "follower");
  await waitFor(async () => {
    const s = await follower.api<ReplicaStatus>("/api/v1/replica");
    return !s.leader && s.leaderId === "leader";
  }, { what: "the second replica follows", timeoutMs: 60_000 });
  return { leader, follower };
}

/** The exit of a SIGTERMed replica: 0 when close() left nothing behind; the CLI forces 1 after its budget (10 s + 1 s). */
async function stopped(replica: ReplicaProcess, name: string): Promise<void> {
  const code = await replica.stop("SIGTERM");
  assert.equal(code, 0, `${name} did not exit by itself after close (code ${String(code)}):\n${replica.stderr().slice(-3_000)}`);
}

test("a follower stopped while the leader still holds its election key exits by itself; a stopped leader hands over at once", { timeout: scaled(180_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const { leader, follower } = await leaderAndFollower(etcd);
  await stopped(follower, "the follower");
  const next = await startReplicaProcess(etcd, "next");
  await waitFor(async () => (await next.api<ReplicaStatus>("/api/v1/replica")).leaderId === "leader", { what: "the third replica follows", timeoutMs: 60_000 });
  await stopped(leader, "the leader");
  // The leader revoked its lease: the next read of who leads (every second) finds "next" oldest, no TTL to wait out.
  const handedOver = Date.now();
  await waitFor(async () => (await next.api<ReplicaStatus>("/api/v1/replica")).leader, { what: "the third replica leads after the leader's stop", timeoutMs: 5_000 });
  t.diagnostic(`leadership handed over ${Date.now() - handedOver} ms after the leader exited`);
  await stopped(next, "the third replica");
});

test("replicas stopped while etcd is down exit by themselves", { timeout: scaled(180_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const { leader, follower } = await leaderAndFollower(etcd);
  await etcd.stop();
  await stopped(follower, "the follower");
  await stopped(leader, "the leader");
});

test("replicas stopped just after an etcd restart, their clients still reconnecting, exit by themselves", { timeout: scaled(180_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const { leader, follower } = await leaderAndFollower(etcd);
  await etcd.restart(500);
  await Promise.all([stopped(follower, "the follower"), stopped(leader, "the leader")]);
});
