/**
 * The proxies API and the participants across replicas on a real etcd
 * (docs/ha.md): a proxy connected to replica A is listed by B with A named as
 * the replica holding its stream, B's participants count it connected, and
 * it vanishes from B once A stops. Skipped without an etcd binary (failed
 * under CI=true).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { etcdAvailable, startEtcd } from "../helpers/etcd-process.js";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startReplica, type Replica } from "../helpers/replicas.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging it.
failOnLeaks();

interface ProxyRow {
  proxyId: string;
  service: string;
  serial: string;
  addresses: string[];
  endpoints: Array<{ ip: string; port: number }>;
  agentVersion: string;
  connectedAt: string;
  replicaId: string;
  local: boolean;
  config: unknown;
}

interface Participants {
  participants: Array<{ service: string; proxyId: string; serial: string; endpoints: Array<{ ip: string; port: number }>; replicaId?: string }>;
  incomplete: Array<{ kind: string; serial?: string; proxyId?: string; missing: string[] }>;
}

async function proxyRow(r: Replica, proxyId: string): Promise<ProxyRow | undefined> {
  return (await r.api<ProxyRow[]>("/api/v1/proxies")).find((p) => p.proxyId === proxyId);
}

test("a proxy connected to A is listed by B with A named, counted connected in B's participants, and gone from B when A stops", { timeout: scaled(120_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const [a, b] = await Promise.all([startReplica(etcd, "replica-a"), startReplica(etcd, "replica-b")]);
  const ca = await a.api<string>("/api/v1/ca");
  const token = (await a.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 })).token;
  const { keyPem, response } = await enroll(a.grpcAddress, ca, token);
  const serial = new X509Certificate(response.certificatePem).serialNumber.toLowerCase();
  const stream = new TestStream(a.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => stream.close());
  stream.hello(response.proxyId, ["127.0.0.9"], [{ ip: "127.0.0.9", port: 8080 }]);
  await stream.next((m) => m.message === "config", 10_000);

  const onA = await proxyRow(a, response.proxyId);
  assert.equal(onA?.replicaId, "replica-a");
  assert.equal(onA?.local, true);
  assert.ok(onA?.config, "the replica holding the stream shows the config it sent");
  const onB = await waitFor(() => proxyRow(b, response.proxyId), { what: "A's proxy listed by B", timeoutMs: 60_000 });
  assert.deepEqual(
    { replicaId: onB.replicaId, local: onB.local, service: onB.service, serial: onB.serial, addresses: onB.addresses, endpoints: onB.endpoints, agentVersion: onB.agentVersion, connectedAt: onB.connectedAt },
    { replicaId: "replica-a", local: false, service: "shop/web", serial, addresses: ["127.0.0.9"], endpoints: [{ ip: "127.0.0.9", port: 8080 }], agentVersion: "test", connectedAt: onA.connectedAt },
  );
  assert.equal(onB.config, null, "config versions stay with the replica holding the stream");

  const participants = await waitFor(async () => {
    const p = await b.api<Participants>("/api/v1/participants");
    return p.participants.some((x) => x.proxyId === response.proxyId) ? p : undefined;
  }, { what: "A's proxy a participant on B", timeoutMs: 60_000 });
  assert.deepEqual(participants.participants.find((x) => x.proxyId === response.proxyId), { service: "shop/web", identity: "shop/web", proxyId: response.proxyId, serial, endpoints: [{ ip: "127.0.0.9", port: 8080 }], replicaId: "replica-a" });
  assert.equal((await a.api<Participants>("/api/v1/participants")).participants.find((x) => x.proxyId === response.proxyId)?.replicaId, "replica-a", "A names itself");
  assert.deepEqual(participants.incomplete.filter((x) => x.serial === serial || x.proxyId === response.proxyId), [], "not also reported as unconnected");

  await a.close();
  await waitFor(async () => ((await proxyRow(b, response.proxyId)) === undefined ? true : undefined), { what: "gone from B's proxies", timeoutMs: 60_000 });
  // The proxy list follows the registry at once; the catalog drops the endpoints at its next update (after the coalesce period).
  const after = await waitFor(async () => {
    const p = await b.api<Participants>("/api/v1/participants");
    return p.incomplete.find((x) => x.serial === serial)?.missing.includes("discovered") ? p : undefined;
  }, { what: "A's endpoints withdrawn from B's catalog", timeoutMs: 30_000 });
  assert.deepEqual(after.participants, []);
  assert.deepEqual(after.incomplete.find((x) => x.serial === serial)?.missing, ["connected", "discovered"]);
});
