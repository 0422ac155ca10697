// Root CA rotation inside the certificate manager (docs/certificates.md,
// "Rotating the root CA"): which roots every bundle carries and which root
// signs in each phase, what retire refuses, how replicas sharing a store
// follow a step, and what an interrupted step leaves behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { CA_CERT_KEY, CA_KEY_KEY, CA_ROTATION_KEY, createCertificateManager, type CaCertificateManager } from "../../src/controller/certificates/index.js";
import { identity, makeCsr, MemoryStore } from "../helpers/certificates.js";
import { waitFor } from "../helpers/wait.js";

const service = { namespace: "shop", name: "bookstore" };

function bundleSerials(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block).serialNumber.toLowerCase());
}

function issuerSerial(certPem: string, bundlePem: string): string | undefined {
  const cert = new X509Certificate(certPem);
  return bundleSerials(bundlePem).find((serial) => {
    const block = (bundlePem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).find((b) => new X509Certificate(b).serialNumber.toLowerCase() === serial)!;
    return cert.verify(new X509Certificate(block).publicKey);
  });
}

async function newManager(store: MemoryStore, signal?: AbortSignal): Promise<CaCertificateManager> {
  return createCertificateManager({ store, logger: silentLogger(), ...(signal ? { signal } : {}) });
}

test("each phase: the bundle's roots, the signing root, and what retire refuses and revokes", async () => {
  const store = new MemoryStore();
  const manager = await newManager(store);
  const [r1] = bundleSerials(manager.caBundle());
  assert.ok(r1);
  assert.equal(manager.caRotation().phase, "none");
  const straggler = await manager.issueProxyCertificate(await makeCsr(), identity);
  const oldService = await manager.serviceCertificate(service);
  const oldController = await manager.controllerCertificate(7 * 86_400_000);

  // introduce: both roots trusted, the old one still signs.
  let status = await manager.rotateCa("introduce");
  assert.equal(status.phase, "introduced");
  const r2 = status.roots.find((r) => r.role === "next")!.serial;
  assert.deepEqual(bundleSerials(manager.caBundle()), [r1, r2]);
  assert.deepEqual(status.roots.map((r) => [r.serial, r.role, r.signing]), [[r1, "current", true], [r2, "next", false]]);
  assert.equal(status.roots[0]!.liveCertificates.proxy, 1);
  assert.equal((await manager.rotateCa("introduce")).roots.find((r) => r.role === "next")!.serial, r2, "repeating a step is harmless");
  const during = await manager.issueProxyCertificate(await makeCsr(), identity);
  assert.equal(issuerSerial(during.certificatePem, manager.caBundle()), r1);
  assert.deepEqual(bundleSerials(during.caBundlePem), [r1, r2], "an enrolling proxy gets both roots");
  await assert.rejects(manager.rotateCa("retire"), { code: "MESHFED_CA_ROTATION_PHASE", message: /the next step is "reissue"/ });

  // reissue: the new root signs; held certificates move to it.
  status = await manager.rotateCa("reissue");
  assert.equal(status.phase, "reissuing");
  assert.deepEqual(status.roots.map((r) => [r.serial, r.role, r.signing]), [[r2, "current", true], [r1, "retiring", false]]);
  assert.deepEqual(bundleSerials(manager.caBundle()), [r2, r1]);
  const newService = await manager.serviceCertificate(service);
  assert.notEqual(newService.serial, oldService.serial);
  assert.equal(issuerSerial(newService.certificatePem, manager.caBundle()), r2);
  assert.equal(manager.certificate(oldService.serial)?.state, "revoked");
  // Serving certificates stay with the established root until retire: a client that missed the new bundle can still connect.
  assert.equal(manager.certificate(oldController.serial)?.state, "claimed");
  assert.equal((await manager.controllerCertificate(7 * 86_400_000)).serial, oldController.serial);
  assert.equal(manager.needsRenewal(straggler.record.serial), true);
  assert.equal(issuerSerial((await manager.issueProxyCertificate(await makeCsr(), identity)).certificatePem, manager.caBundle()), r2);

  // retire: refused while proxy certificates from r1 are live; forced, they are revoked and listed.
  await assert.rejects(manager.rotateCa("retire"), (err: Error & { code?: string }) => {
    assert.equal(err.code, "MESHFED_CA_ROTATION_STRAGGLERS");
    assert.match(err.message, new RegExp(`^2 live certificate\\(s\\) still chain to root ${r1}: `));
    for (const serial of [straggler.record.serial, during.record.serial]) assert.match(err.message, new RegExp(`proxy ${serial} \\(proxy ${identity.proxyId}\\)`));
    return true;
  });
  assert.equal(manager.caRotation().phase, "reissuing", "a refused retire changes nothing");
  status = await manager.rotateCa("retire", { force: true });
  assert.equal(status.phase, "retired");
  assert.deepEqual(status.stragglers.map((s) => s.serial).sort(), [straggler.record.serial, during.record.serial].sort());
  assert.equal(manager.certificate(straggler.record.serial)?.state, "revoked");
  assert.deepEqual(bundleSerials(manager.caBundle()), [r2]);
  assert.deepEqual(status.roots.map((r) => [r.serial, r.role]), [[r2, "current"]]);
  assert.equal(status.retired?.serial, r1);
  assert.equal(manager.certificate(oldController.serial)?.state, "revoked", "retire moves the serving certificates");
  assert.equal(issuerSerial((await manager.controllerCertificate(7 * 86_400_000)).certificatePem, manager.caBundle()), r2);
  assert.equal(store.data.has(CA_KEY_KEY), false, "the retired root's key is deleted");
  assert.equal(store.data.has(CA_CERT_KEY), true, "its certificate stays for the record");

  // A restart loads the new root from the state, not the first root's directory.
  const restarted = await newManager(store);
  assert.deepEqual(bundleSerials(restarted.caBundle()), [r2]);
  assert.equal(restarted.caRotation().phase, "retired");
  // And a second rotation starts from there.
  status = await restarted.rotateCa("introduce");
  assert.equal(status.roots.length, 2);
  assert.equal(status.roots[0]!.serial, r2);
});

test("a replica sharing the store follows a step: same roots, same signer, and its listeners hear of it", async (t) => {
  const store = new MemoryStore();
  const stop = new AbortController();
  t.after(() => stop.abort());
  const leader = await newManager(store, stop.signal);
  const follower = await newManager(store, stop.signal);
  const changes: string[] = [];
  follower.onCaChange((c) => changes.push(`${c.phase}:${c.signerChanged}`));
  await leader.rotateCa("introduce");
  await waitFor(() => follower.caBundle() === leader.caBundle(), { what: "follower bundle with both roots", timeoutMs: 5_000 });
  await leader.rotateCa("reissue");
  await waitFor(() => follower.caRotation().phase === "reissuing", { what: "follower in reissuing", timeoutMs: 5_000 });
  const issued = await follower.issueProxyCertificate(await makeCsr(), identity);
  assert.equal(issuerSerial(issued.certificatePem, follower.caBundle()), leader.caRotation().roots.find((r) => r.signing)!.serial, "the follower signs with the new root too");
  assert.deepEqual(changes, ["introduced:false", "reissuing:true"]);
});

test("a kill between creating the new root and writing the state leaves no rotation; an unreadable state is fatal", async () => {
  const store = new MemoryStore();
  const manager = await newManager(store);
  const first = (await manager.rotateCa("introduce")).roots.find((r) => r.role === "next")!.serial;
  // As if the process died before ca/rotation.json was written: the new root is an orphan.
  await store.delete(CA_ROTATION_KEY);
  const restarted = await newManager(store);
  assert.equal(restarted.caRotation().phase, "none");
  assert.equal(bundleSerials(restarted.caBundle()).length, 1);
  const again = (await restarted.rotateCa("introduce")).roots.find((r) => r.role === "next")!.serial;
  assert.notEqual(again, first);
  await assert.rejects(restarted.rotateCa("retire"), { code: "MESHFED_CA_ROTATION_PHASE" });

  await store.put(CA_ROTATION_KEY, "{ not json");
  await assert.rejects(newManager(store), { code: "MESHFED_CA_ROTATION_CORRUPT" });
  await store.put(CA_ROTATION_KEY, JSON.stringify({ phase: "reissuing", root: "ca", changedAt: new Date().toISOString() }));
  await assert.rejects(newManager(store), { code: "MESHFED_CA_ROTATION_CORRUPT", message: /name a next root/ });
});
