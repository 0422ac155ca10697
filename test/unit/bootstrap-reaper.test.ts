import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { BootstrapReaper, REAPED_REVOCATION_REASON, type PodPresence } from "../../src/controller/injector/bootstrap-reaper.js";
import { BOOTSTRAPS_PREFIX, BootstrapRecords } from "../../src/controller/injector/bootstrap-records.js";
import { generateSidecarKey } from "../../src/controller/injector/proxy-key.js";
import { MemoryStore } from "../helpers/certificates.js";

const GRACE = 60_000;
const T0 = Date.parse("2026-11-26T10:00:00Z");

/** Deletes recorded by name; `failing` makes the next deletes fail like an unreachable API server. */
class FakeSecrets {
  readonly deleted: string[] = [];
  failing = false;
  async deleteSecret(namespace: string, name: string): Promise<void> {
    if (this.failing) throw new Error("connect ECONNREFUSED");
    this.deleted.push(`${namespace}/${name}`);
  }
}

async function setup() {
  const store = new MemoryStore();
  let now = T0;
  const certificates = await createCertificateManager({ store, logger: silentLogger(), now: () => new Date(now) });
  const records = new BootstrapRecords(store, silentLogger());
  const api = new FakeSecrets();
  const pods = { synced: true, meshed: new Set(["shop"]), proxies: new Set<string>() };
  const presence: PodPresence = { synced: () => pods.synced, isMeshed: (ns) => pods.meshed.has(ns), hasProxy: (id) => pods.proxies.has(id) };
  const reaper = new BootstrapReaper({ records, pods: presence, api, certificates, graceMs: GRACE, now: () => now, logger: silentLogger() });
  /** What the injector does at admission: a sidecar certificate and its record. */
  const inject = async (namespace = "shop") => {
    const proxyId = randomUUID();
    const { csrPem } = await generateSidecarKey();
    const issued = await certificates.issueProxyCertificate(csrPem, { proxyId, kind: "sidecar", service: { namespace, name: "web" } });
    await records.add({ proxyId, namespace, secretName: `meshfed-proxy-${proxyId}`, serial: issued.record.serial, createdAt: new Date(now).toISOString() });
    return { proxyId, serial: issued.record.serial, secret: `${namespace}/meshfed-proxy-${proxyId}` };
  };
  return { store, certificates, records, api, pods, reaper, inject, advance: (ms: number) => { now += ms; } };
}

test("reaper: a deleted pod's Secret is deleted, its certificate revoked and its record forgotten; live and young ones stay", async () => {
  const s = await setup();
  const live = await s.inject();
  const gone = await s.inject();
  s.pods.proxies.add(live.proxyId);
  s.advance(GRACE + 1);
  const young = await s.inject(); // admitted a moment ago, not in the cache yet

  assert.deepEqual(await s.reaper.sweep(), { reaped: 1, failed: 0 });
  assert.deepEqual(s.api.deleted, [gone.secret]);
  assert.equal(s.certificates.certificate(gone.serial)?.state, "revoked");
  assert.equal(s.certificates.certificate(gone.serial)?.revocationReason, REAPED_REVOCATION_REASON);
  assert.equal(s.certificates.certificate(live.serial)?.state, "unclaimed");
  assert.equal(s.certificates.certificate(young.serial)?.state, "unclaimed");
  assert.deepEqual((await s.records.all()).map((r) => r.proxyId).sort(), [live.proxyId, young.proxyId].sort());

  // A second sweep finds nothing more to do.
  assert.deepEqual(await s.reaper.sweep(), { reaped: 0, failed: 0 });
  assert.equal(s.api.deleted.length, 1);
});

test("reaper: nothing is reaped before the pod cache has synced, nor in a namespace that is no longer meshed", async () => {
  const s = await setup();
  const inShop = await s.inject();
  const elsewhere = await s.inject("legacy");
  s.advance(GRACE + 1);
  s.pods.synced = false;
  assert.deepEqual(await s.reaper.sweep(), { reaped: 0, failed: 0 });
  s.pods.synced = true;
  assert.deepEqual(await s.reaper.sweep(), { reaped: 1, failed: 0 });
  assert.deepEqual(s.api.deleted, [inShop.secret]);
  assert.equal(s.certificates.certificate(elsewhere.serial)?.state, "unclaimed");
});

test("reaper: when the API server fails, the certificate and record are kept and the next sweep finishes the job", async () => {
  const s = await setup();
  const gone = await s.inject();
  s.advance(GRACE + 1);
  s.api.failing = true;
  assert.deepEqual(await s.reaper.sweep(), { reaped: 0, failed: 1 });
  assert.equal(s.certificates.certificate(gone.serial)?.state, "unclaimed");
  assert.equal((await s.records.all()).length, 1);
  s.api.failing = false;
  assert.deepEqual(await s.reaper.sweep(), { reaped: 1, failed: 0 });
  assert.equal(s.certificates.certificate(gone.serial)?.state, "revoked");
  assert.equal((await s.records.all()).length, 0);
});

test("reaper: an unreadable record is skipped and left for a human; the others are still reaped", async () => {
  const s = await setup();
  const gone = await s.inject();
  await s.store.put(`${BOOTSTRAPS_PREFIX}/not-a-record`, "{ this is not json");
  await s.store.put(`${BOOTSTRAPS_PREFIX}/${randomUUID()}`, JSON.stringify({ proxyId: randomUUID(), namespace: "shop", secretName: "x", serial: "ab", createdAt: new Date(T0).toISOString() }));
  s.advance(GRACE + 1);
  assert.deepEqual(await s.reaper.sweep(), { reaped: 1, failed: 0 });
  assert.deepEqual(s.api.deleted, [gone.secret]);
  assert.equal((await s.store.list(BOOTSTRAPS_PREFIX)).length, 2, "the unreadable records stay");
});
