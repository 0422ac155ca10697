/**
 * Two controller replicas on one real etcd (docs/ha.md): one CA, one
 * certificate registry, one set of join tokens, one merged agents view, one
 * leader. Skipped without an etcd binary (failed under CI=true).
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { etcdAvailable, startEtcd } from "../helpers/etcd-process.js";
import { enroll, EnrollError, TestStream } from "../helpers/grpc-agent.js";
import { X509Certificate } from "node:crypto";
import { startReplica, type Replica } from "../helpers/replicas.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging it.
failOnLeaks();

interface ReplicaStatus {
  replicaId: string;
  leader: boolean;
  leaderId: string | null;
  store: string;
}

async function twoReplicas(t: TestContext): Promise<[Replica, Replica] | undefined> {
  if (!etcdAvailable(t)) return undefined;
  const etcd = await startEtcd(t);
  // Started together on an empty store: they must still end up with one CA.
  const [a, b] = await Promise.all([startReplica(etcd, "replica-a"), startReplica(etcd, "replica-b")]);
  return [a, b];
}

async function token(ctl: Replica, service: string, uses = 1): Promise<string> {
  return (await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses })).token;
}

async function endpointsOf(ctl: Replica, service: string): Promise<string[]> {
  const snapshot = await ctl.api<{ services: Array<{ namespace: string; name: string; endpoints: Array<{ ip: string; port: number }> }> }>("/api/v1/catalog");
  return (snapshot.services.find((s) => `${s.namespace}/${s.name}` === service)?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`).sort();
}

test("two replicas started together share one CA and elect exactly one leader", { timeout: scaled(120_000) }, async (t) => {
  const replicas = await twoReplicas(t);
  if (!replicas) return;
  const [a, b] = replicas;
  assert.equal(await a.api<string>("/api/v1/ca"), await b.api<string>("/api/v1/ca"));
  const status = await waitFor(async () => {
    const s = await Promise.all([a.api<ReplicaStatus>("/api/v1/replica"), b.api<ReplicaStatus>("/api/v1/replica")]);
    const leaders = s.filter((r) => r.leader);
    return leaders.length === 1 && s.every((r) => r.leaderId === leaders[0]!.replicaId) ? s : undefined;
  }, { what: "one leader", timeoutMs: 60_000 });
  assert.deepEqual(status.map((s) => s.replicaId), ["replica-a", "replica-b"]);
  assert.deepEqual(status.map((s) => s.store), ["etcd", "etcd"]);
  const leader = status.find((s) => s.leader)!.replicaId;
  assert.deepEqual(status.map((s) => s.leaderId), [leader, leader]);
  const metrics = await Promise.all([a.api<string>("/metrics"), b.api<string>("/metrics")]);
  assert.deepEqual(metrics.map((m) => /^meshfed_leader (\d)/m.exec(m)?.[1]).sort(), ["0", "1"]);
});

test("a token made on A enrolls on B exactly once; B's proxy certificate is accepted by A; endpoints announced at A appear in B's catalog", { timeout: scaled(120_000) }, async (t) => {
  const replicas = await twoReplicas(t);
  if (!replicas) return;
  const [a, b] = replicas;
  const ca = await a.api<string>("/api/v1/ca");
  const single = await token(a, "shop/web");
  const { keyPem, response } = await enroll(b.grpcAddress, ca, single);
  const serial = new X509Certificate(response.certificatePem).serialNumber.toLowerCase();
  // The token was spent on B: A refuses it too.
  await assert.rejects(enroll(a.grpcAddress, ca, single), (err: EnrollError) => err.code === "MESHFED_TOKEN_USED_UP");
  const listedOnA = await waitFor(async () => (await a.api<Array<{ used: number }>>("/api/v1/tokens")).find((x) => x.used === 1), { what: "the use visible on A", timeoutMs: 5_000 });
  assert.equal(listedOnA.used, 1);

  // Issued by B, presented to A.
  const stream = new TestStream(a.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => stream.close());
  stream.hello(response.proxyId, ["127.0.0.7"], [{ ip: "127.0.0.7", port: 8080 }]);
  await stream.next((m) => m.message === "config", 10_000);
  const onB = await waitFor(async () => (await b.api<Array<{ serial: string; state: string }>>("/api/v1/certificates")).find((c) => c.serial === serial && c.state === "claimed"), { what: "claim visible on B", timeoutMs: 5_000 });
  assert.equal(onB.state, "claimed");
  assert.deepEqual(await waitFor(async () => ((await endpointsOf(b, "shop/web")).length > 0 ? endpointsOf(b, "shop/web") : undefined), { what: "endpoint on B", timeoutMs: 5_000 }), ["127.0.0.7:8080"]);

  // Both replicas hand out the same service certificate.
  const svcOnA = await stream.next((m) => m.message === "serviceCertificate");
  const { keyPem: key2, response: second } = await enroll(b.grpcAddress, ca, await token(b, "shop/web"));
  const streamB = new TestStream(b.grpcAddress, ca, key2, second.certificatePem);
  t.after(() => streamB.close());
  streamB.hello(second.proxyId, ["127.0.0.8"], [{ ip: "127.0.0.8", port: 8080 }]);
  const svcOnB = await streamB.next((m) => m.message === "serviceCertificate", 10_000);
  assert.equal(svcOnB.serviceCertificate!.certificatePem, svcOnA.serviceCertificate!.certificatePem);
  assert.deepEqual(await waitFor(async () => ((await endpointsOf(a, "shop/web")).length === 2 ? endpointsOf(a, "shop/web") : undefined), { what: "both endpoints on A", timeoutMs: 5_000 }), ["127.0.0.7:8080", "127.0.0.8:8080"]);

  // Revoked on B, enforced on A: the stream there ends.
  await b.api("/api/v1/certificates/revoke", { serial, reason: "test" });
  const shutdown = await stream.next((m) => m.message === "shutdown", 10_000);
  assert.equal(shutdown.shutdown!.code, "MESHFED_CERT_REVOKED");
  await stream.ended;
  // Its endpoint leaves both catalogs.
  await waitFor(async () => ((await endpointsOf(b, "shop/web")).join() === "127.0.0.8:8080" ? true : undefined), { what: "revoked proxy's endpoint gone from B", timeoutMs: 5_000 });
});
