/**
 * Root CA rotation with two replicas on one real etcd (docs/ha.md): steps
 * are the leader's; the other replica refuses them naming the leader, yet
 * follows each step through the store's watch: it reloads the roots, pushes
 * the new bundle to the agents connected to it and asks them to renew.
 * Skipped without an etcd binary (failed under CI=true).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import type { CaRotationStatus } from "../../src/controller/certificates/index.js";
import { etcdAvailable, startEtcd } from "../helpers/etcd-process.js";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startReplica, type Replica } from "../helpers/replicas.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging it.
failOnLeaks();

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function roots(bundlePem: string): string[] {
  return (bundlePem.match(PEM_BLOCK) ?? []).map((b) => new X509Certificate(b).serialNumber.toLowerCase());
}

async function post(replica: Replica, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${replica.adminUrl}/api/v1/ca/rotation`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: res.status, body: await res.json() };
}

test("the leader rotates; the follower refuses steps naming the leader, reloads the roots and moves its own agents along", { timeout: scaled(180_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const [a, b] = await Promise.all([startReplica(etcd, "replica-a"), startReplica(etcd, "replica-b")]);
  const leaderId = await waitFor(async () => {
    const ids = await Promise.all([a, b].map(async (r) => (await r.api<{ leaderId: string | null }>("/api/v1/replica")).leaderId));
    return ids[0] !== null && ids[0] === ids[1] ? ids[0] : undefined;
  }, { what: "one leader both replicas know", timeoutMs: 60_000 });
  const [leader, follower] = leaderId === "replica-a" ? [a, b] : [b, a];

  // An agent connected to the follower.
  const ca = await follower.api<string>("/api/v1/ca");
  const { token } = await follower.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const enrolled = await enroll(follower.grpcAddress, ca, token);
  const stream = new TestStream(follower.grpcAddress, ca, enrolled.keyPem, enrolled.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(enrolled.response.proxyId, ["127.0.0.7"], []);
  await stream.next((m) => m.message === "config", 10_000);

  const refused = await post(follower, { action: "introduce" });
  assert.equal(refused.status, 409);
  const error = (refused.body as { error: { code: string; message: string } }).error;
  assert.equal(error.code, "MESHFED_NOT_LEADER");
  assert.match(error.message, new RegExp(`ask replica ${leaderId}`));

  let from = stream.messages.length;
  const introduced = await post(leader, { action: "introduce" });
  assert.equal(introduced.status, 200, JSON.stringify(introduced.body));
  const next = (introduced.body as CaRotationStatus).roots.find((r) => r.role === "next")!.serial;
  // The follower reloads from the watch: its API and its agent's stream carry both roots.
  await waitFor(async () => roots(await follower.api<string>("/api/v1/ca")).includes(next), { what: "follower bundle with the new root", timeoutMs: 60_000 });
  const pushed = await stream.next((m) => m.message === "caBundle" && roots(m.caBundle!.pem).includes(next), 10_000, from);
  assert.equal(roots(pushed.caBundle!.pem).length, 2);

  from = stream.messages.length;
  assert.equal((await post(leader, { action: "reissue" })).status, 200);
  await stream.next((m) => m.message === "renewProxyCertificate", 10_000, from);
  const followerStatus = await follower.api<CaRotationStatus>("/api/v1/ca/rotation");
  assert.equal(followerStatus.phase, "reissuing");
  assert.equal(followerStatus.roots.find((r) => r.signing)?.serial, next, "the follower signs with the new root too");
});
