/**
 * Two "replicas" (two managers, two token sets) on one shared in-memory store
 * that watches like etcd: the atomicity rules of docs/ha.md without a
 * network. The same rules against a real etcd: test/integration/ha-etcd-*.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { JoinTokens } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { identity, makeCsr, MemoryStore } from "../helpers/certificates.js";

function stopSignal(t: TestContext): AbortSignal {
  const stop = new AbortController();
  t.after(() => stop.abort());
  return stop.signal;
}

async function twoManagers(t: TestContext, store = new MemoryStore()) {
  const signal = stopSignal(t);
  // Started together on an empty store: one CA key and certificate win.
  const [a, b] = await Promise.all([
    createCertificateManager({ store, logger: silentLogger(), signal }),
    createCertificateManager({ store, logger: silentLogger(), signal }),
  ]);
  return { store, a, b };
}

test("replicas started together on an empty store end up with one CA", async (t) => {
  const { a, b } = await twoManagers(t);
  assert.equal(a.caBundle(), b.caBundle());
});

test("a certificate issued on one replica is known to the other, and a revocation there is final", async (t) => {
  const { a, b } = await twoManagers(t);
  const { record } = await a.issueProxyCertificate(await makeCsr(), identity);
  assert.equal(b.certificate(record.serial)?.state, "unclaimed");
  // Claim on B racing a revocation on A: whatever the order, revoked wins.
  await Promise.all([b.claim(record.serial).catch(() => undefined), a.revoke(record.serial, "decommissioned")]);
  assert.equal(a.certificate(record.serial)?.state, "revoked");
  assert.equal(b.certificate(record.serial)?.state, "revoked");
  await assert.rejects(b.claim(record.serial), { code: "MESHFED_CERT_REVOKED" });
});

test("both replicas hand out the same service certificate", async (t) => {
  const { a, b } = await twoManagers(t);
  const service = { namespace: "shop", name: "web" };
  const [fromA, fromB] = await Promise.all([a.serviceCertificate(service), b.serviceCertificate(service)]);
  assert.equal(fromA.serial, fromB.serial);
  // A loser's certificate, if any, is on record as revoked, never live.
  const live = a.certificates().filter((c) => c.kind === "service" && c.state === "claimed");
  assert.deepEqual(live.map((c) => c.serial), [fromA.serial]);
});

test("a single-use token consumed concurrently on two replicas enrolls exactly once", async (t) => {
  const store = new MemoryStore();
  const signal = stopSignal(t);
  const onCorrupt = () => assert.fail("no record is corrupt");
  const a = await JoinTokens.load({ store }, onCorrupt, signal);
  const b = await JoinTokens.load({ store }, onCorrupt, signal);
  const { token, info } = await a.create({ service: { namespace: "shop", name: "web" }, ttlMs: 60_000, uses: 1 });
  assert.equal(b.list()[0]?.id, info.id, "the new token is listed on the other replica");
  const results = await Promise.allSettled([a.consume(token), b.consume(token), a.consume(token), b.consume(token)]);
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  for (const r of results) if (r.status === "rejected") assert.equal((r.reason as { code: string }).code, "MESHFED_TOKEN_USED_UP");
  assert.equal(a.list()[0]?.used, 1);
  assert.equal(b.list()[0]?.used, 1);
});

test("token garbage collection deletes long-expired tokens on every replica's list", async (t) => {
  const store = new MemoryStore();
  const signal = stopSignal(t);
  let now = Date.parse("2030-01-01T00:00:00Z");
  const clock = () => new Date(now);
  const a = await JoinTokens.load({ store, now: clock }, () => undefined, signal);
  const b = await JoinTokens.load({ store, now: clock }, () => undefined, signal);
  await a.create({ service: { namespace: "shop", name: "web" }, ttlMs: 60_000, uses: 1 });
  now += 60_000 + 3_600_000;
  assert.equal(await a.collectGarbage(7_200_000), 0, "kept while within retention");
  now += 3_600_001;
  assert.equal(await a.collectGarbage(7_200_000), 1);
  assert.deepEqual(b.list(), []);
  assert.equal((await store.list("tokens")).length, 0);
});
