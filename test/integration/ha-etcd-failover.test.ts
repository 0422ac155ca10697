/**
 * Failures with replicas on a real etcd (docs/ha.md, "Failure behaviour"):
 * a SIGKILLed leader is replaced, a SIGKILLed replica's agent registrations
 * expire with its lease and its agent reconnects to another replica with the
 * certificate it has, and an etcd restart loses nothing. Skipped without an
 * etcd binary (failed under CI=true).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { etcdAvailable, startEtcd } from "../helpers/etcd-process.js";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { startReplica, startReplicaProcess } from "../helpers/replicas.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging CI for ten minutes.
failOnLeaks();

interface ReplicaStatus {
  replicaId: string;
  leader: boolean;
  leaderId: string | null;
}

interface Api {
  api<T = unknown>(path: string, body?: unknown): Promise<T>;
}

async function endpointsOf(ctl: Api, service: string): Promise<string[]> {
  const snapshot = await ctl.api<{ services: Array<{ namespace: string; name: string; endpoints: Array<{ ip: string; port: number }> }> }>("/api/v1/catalog");
  return (snapshot.services.find((s) => `${s.namespace}/${s.name}` === service)?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`).sort();
}

async function token(ctl: Api, service: string): Promise<string> {
  return (await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses: 1 })).token;
}

const LEASE_WAIT_MS = 15_000; // the 2 s test lease, keep-alive slack and slow CI machines

test("three replicas: a SIGKILLed leader is replaced by one of the others", { timeout: scaled(240_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const replicas = await Promise.all(["r1", "r2", "r3"].map((id) => startReplicaProcess(etcd, id)));
  const first = await waitFor(async () => {
    const s = await Promise.all(replicas.map((r) => r.api<ReplicaStatus>("/api/v1/replica")));
    const leaders = s.filter((x) => x.leader);
    return leaders.length === 1 && s.every((x) => x.leaderId === leaders[0]!.replicaId) ? leaders[0]!.replicaId : undefined;
  }, { what: "one leader among three", timeoutMs: LEASE_WAIT_MS });
  const killed = replicas.find((r, i) => ["r1", "r2", "r3"][i] === first)!;
  assert.equal(await killed.stop("SIGKILL"), "SIGKILL");

  const rest = replicas.filter((r) => r !== killed);
  const second = await waitFor(async () => {
    const s = await Promise.all(rest.map((r) => r.api<ReplicaStatus>("/api/v1/replica")));
    const leaders = s.filter((x) => x.leader);
    return leaders.length === 1 && s.every((x) => x.leaderId === leaders[0]!.replicaId) ? leaders[0]!.replicaId : undefined;
  }, { what: "a new leader after the kill", timeoutMs: LEASE_WAIT_MS });
  assert.notEqual(second, first);
});

test("a SIGKILLed replica's agent registrations expire, and its agent reconnects to another replica with the certificate it has", { timeout: scaled(240_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const [a, b] = await Promise.all([startReplicaProcess(etcd, "replica-a"), startReplicaProcess(etcd, "replica-b")]);
  const ca = await a.api<string>("/api/v1/ca");
  const { keyPem, response } = await enroll(a.grpcAddress, ca, await token(a, "shop/web"));
  const onA = new TestStream(a.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => onA.close());
  onA.hello(response.proxyId, ["127.0.0.9"], [{ ip: "127.0.0.9", port: 8080 }]);
  await onA.next((m) => m.message === "config", 10_000);
  await waitFor(async () => ((await endpointsOf(b, "shop/web")).join() === "127.0.0.9:8080" ? true : undefined), { what: "A's agent endpoint in B's catalog", timeoutMs: 60_000 });
  const certificatesBefore = await b.api<Array<{ serial: string }>>("/api/v1/certificates");

  await a.stop("SIGKILL");
  await onA.ended;
  // Nobody withdrew it: it goes when A's lease expires.
  await waitFor(async () => ((await endpointsOf(b, "shop/web")).length === 0 ? true : undefined), { what: "A's registration expired on B", timeoutMs: LEASE_WAIT_MS });

  // The agent's next controller address: same key, same certificate, no enrollment.
  const onB = new TestStream(b.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => onB.close());
  onB.hello(response.proxyId, ["127.0.0.9"], [{ ip: "127.0.0.9", port: 8080 }]);
  const config = await onB.next((m) => m.message === "config", 10_000);
  assert.ok(config.config!.version >= 1);
  assert.deepEqual(await endpointsOf(b, "shop/web"), ["127.0.0.9:8080"]);
  const certificatesAfter = await b.api<Array<{ serial: string; state: string }>>("/api/v1/certificates");
  const proxySerial = new X509Certificate(response.certificatePem).serialNumber.toLowerCase();
  assert.equal(certificatesAfter.find((c) => c.serial === proxySerial)?.state, "claimed");
  // The service certificate may already exist; no new proxy certificate was issued.
  assert.deepEqual(
    certificatesAfter.filter((c) => !certificatesBefore.some((x) => x.serial === c.serial)).map((c) => (c as { kind?: string }).kind).filter((k) => k === "proxy"),
    [],
  );
});

test("an etcd restart loses nothing: leases, watches and token consumption carry on", { timeout: scaled(240_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const [a, b] = await Promise.all([startReplica(etcd, "replica-a"), startReplica(etcd, "replica-b")]);
  const ca = await a.api<string>("/api/v1/ca");
  const first = await enroll(a.grpcAddress, ca, await token(a, "shop/web"));
  const onA = new TestStream(a.grpcAddress, ca, first.keyPem, first.response.certificatePem);
  t.after(() => onA.close());
  onA.hello(first.response.proxyId, ["127.0.0.10"], [{ ip: "127.0.0.10", port: 8080 }]);
  await onA.next((m) => m.message === "config", 10_000);
  await waitFor(async () => ((await endpointsOf(b, "shop/web")).join() === "127.0.0.10:8080" ? true : undefined), { what: "A's endpoint on B", timeoutMs: 60_000 });

  await etcd.restart(500);

  // A token made on A after the restart is consumed once, on B.
  const again = await waitFor(async () => token(a, "shop/api").catch(() => undefined), { what: "A writes again", timeoutMs: 60_000 });
  const second = await waitFor(async () => enroll(b.grpcAddress, ca, again).catch(() => undefined), { what: "B enrolls again", timeoutMs: 60_000 });
  await assert.rejects(enroll(a.grpcAddress, ca, again), { code: "MESHFED_TOKEN_USED_UP" });
  // B's announcement reaches A through the resumed watch; A's lease survived.
  const onB = new TestStream(b.grpcAddress, ca, second.keyPem, second.response.certificatePem);
  t.after(() => onB.close());
  onB.hello(second.response.proxyId, ["127.0.0.11"], [{ ip: "127.0.0.11", port: 8080 }]);
  await waitFor(async () => ((await endpointsOf(a, "shop/api")).join() === "127.0.0.11:8080" ? true : undefined), { what: "B's endpoint on A", timeoutMs: 60_000 });
  assert.deepEqual(await endpointsOf(b, "shop/web"), ["127.0.0.10:8080"]);
});
