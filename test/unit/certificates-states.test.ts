import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import type { CertificateRecord } from "../../src/controller/certificates/types.js";
import { Clock, identity, makeCsr, MemoryStore } from "../helpers/certificates.js";

const DAY = 86_400_000;

async function setup() {
  const clock = new Clock();
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), now: clock.now, proxyValidity: 30 * DAY });
  const changes: CertificateRecord[] = [];
  manager.on("change", (r) => changes.push(r));
  const { record } = await manager.issueProxyCertificate(await makeCsr(), identity);
  return { clock, manager, changes, serial: record.serial };
}

test("unclaimed → claimed → revoked, each change announced", async () => {
  const { clock, manager, changes, serial } = await setup();
  assert.equal(manager.certificate(serial)?.state, "unclaimed");

  clock.advance(1000);
  const claimed = await manager.claim(serial);
  assert.equal(claimed.state, "claimed");
  assert.equal(claimed.claimedAt, clock.now().toISOString());
  assert.equal(manager.certificate(serial)?.state, "claimed");

  const revoked = await manager.revoke(serial, "key compromise");
  assert.equal(revoked.state, "revoked");
  assert.equal(revoked.revocationReason, "key compromise");
  assert.equal(revoked.claimedAt, claimed.claimedAt);
  assert.deepEqual(changes.map((c) => c.state), ["unclaimed", "claimed", "revoked"]);
});

test("claiming twice is idempotent; claiming a revoked certificate is refused", async () => {
  const { manager, changes, serial } = await setup();
  const a = await manager.claim(serial);
  const b = await manager.claim(serial.toUpperCase()); // as Node's TLS prints it
  assert.deepEqual(b, a);
  await manager.revoke(serial, "decommissioned");
  const again = await manager.revoke(serial, "another reason");
  assert.equal(again.revocationReason, "decommissioned", "the first revocation is kept");
  await assert.rejects(manager.claim(serial), { code: "MESHFED_CERT_REVOKED" });
  assert.deepEqual(changes.map((c) => c.state), ["unclaimed", "claimed", "revoked"]);
});

test("expired is derived from the clock; an expired certificate cannot be claimed", async () => {
  const { clock, manager, serial } = await setup();
  clock.advance(30 * DAY - 1000);
  assert.equal(manager.certificate(serial)?.state, "unclaimed");
  clock.advance(1000);
  assert.equal(manager.certificate(serial)?.state, "expired");
  assert.equal(manager.certificates()[0]?.state, "expired");
  await assert.rejects(manager.claim(serial), { code: "MESHFED_CERT_EXPIRED" });
  // A revoked certificate stays "revoked" after its notAfter.
  await manager.revoke(serial, "cleanup");
  assert.equal(manager.certificate(serial)?.state, "revoked");
});

test("a claimed certificate turns expired too", async () => {
  const { clock, manager, serial } = await setup();
  await manager.claim(serial);
  clock.advance(31 * DAY);
  assert.equal(manager.certificate(serial)?.state, "expired");
  await assert.rejects(manager.claim(serial), { code: "MESHFED_CERT_EXPIRED" });
});

test("unknown serials are refused", async () => {
  const { manager } = await setup();
  await assert.rejects(manager.claim("deadbeef"), { code: "MESHFED_CERT_UNKNOWN" });
  await assert.rejects(manager.revoke("deadbeef", "x"), { code: "MESHFED_CERT_UNKNOWN" });
  await assert.rejects(manager.claim("../ca/key.pem"), { code: "MESHFED_CERT_UNKNOWN" });
  assert.equal(manager.certificate("nothex"), undefined);
});

test("a claim and a revoke racing on one certificate both land, in order", async () => {
  const { manager, serial } = await setup();
  const [claimed, revoked] = await Promise.all([manager.claim(serial), manager.revoke(serial, "race")]);
  assert.equal(claimed.state, "claimed");
  assert.equal(revoked.state, "revoked");
  assert.equal(revoked.claimedAt, claimed.claimedAt, "the revoke saw the claim");
  assert.equal(manager.certificate(serial)?.state, "revoked");
});

test("a throwing change listener does not fail the call", async () => {
  const { manager, serial } = await setup();
  manager.on("change", () => {
    throw new Error("listener bug");
  });
  assert.equal((await manager.claim(serial)).state, "claimed");
});
