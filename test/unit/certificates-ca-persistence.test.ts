import { test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { CA_CERT_KEY, CA_KEY_KEY, createCertificateManager } from "../../src/controller/certificates/index.js";
import { captureLogger, Clock, tempFileStore, MemoryStore, x509 } from "../helpers/certificates.js";

test("the root CA is created once, persisted, and reused by the next manager", async (t) => {
  const { dir, store } = await tempFileStore(t);
  const clock = new Clock();
  const first = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  const pem = first.caBundle();

  const keyMode = (await stat(join(dir, "ca", "key.pem"))).mode & 0o777;
  assert.equal(keyMode, 0o600, "the CA key is readable by the owner only");

  clock.advance(3_600_000);
  const second = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  assert.equal(second.caBundle(), pem, "same certificate after a restart");

  // Same key too: a certificate issued by the second instance verifies with the first CA.
  const svc = await second.serviceCertificate({ namespace: "shop", name: "cart" });
  assert.ok(new X509Certificate(svc.certificatePem).verify(new X509Certificate(pem).publicKey));
});

test("the root CA has the expected shape", async () => {
  const clock = new Clock();
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), now: clock.now, trustDomain: "mesh.example" });
  const ca = new X509Certificate(manager.caBundle());
  assert.equal(ca.ca, true);
  assert.match(ca.subject, /CN=meshfed root CA/);
  assert.match(ca.subject, /O=mesh\.example/);
  assert.equal(ca.checkIssued(ca), true, "self-signed");
  assert.ok(ca.verify(ca.publicKey));
  assert.equal(ca.publicKey.asymmetricKeyType, "ec");
  assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  const years = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / (365.25 * 86_400_000);
  assert.ok(years > 9.9 && years < 10.1, `~10 years, got ${years}`);
  const parsed = new x509.X509Certificate(manager.caBundle());
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  assert.equal(bc?.ca, true);
  assert.equal(bc?.critical, true);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.equal(ku?.critical, true);
  assert.match(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "", /^[0-9a-f]{40}$/);
});

test("a CA key stored without its certificate (interrupted first start) is reused", async () => {
  const store = new MemoryStore();
  const first = await createCertificateManager({ store, logger: silentLogger() });
  const keyBefore = store.data.get(CA_KEY_KEY)?.value;
  store.data.delete(CA_CERT_KEY);
  const { logger, lines } = captureLogger();
  const second = await createCertificateManager({ store, logger });
  assert.deepEqual(store.data.get(CA_KEY_KEY)?.value, keyBefore, "key untouched");
  assert.notEqual(second.caBundle(), first.caBundle(), "a new self-signed certificate");
  const a = new X509Certificate(first.caBundle()).publicKey.export({ format: "der", type: "spki" });
  const b = new X509Certificate(second.caBundle()).publicKey.export({ format: "der", type: "spki" });
  assert.deepEqual(a, b, "over the same key");
  assert.ok(lines.some((l) => String(l.msg).includes("without its certificate")));
});

test("a CA certificate whose key is gone is fatal, never silently re-keyed", async () => {
  const store = new MemoryStore();
  await createCertificateManager({ store, logger: silentLogger() });
  const cert = store.data.get(CA_CERT_KEY)?.value;
  store.data.delete(CA_KEY_KEY);
  await assert.rejects(createCertificateManager({ store, logger: silentLogger() }), { code: "MESHFED_CA_KEY_MISSING" });
  assert.deepEqual(store.data.get(CA_CERT_KEY)?.value, cert);
  assert.equal(store.data.has(CA_KEY_KEY), false);
});

test("a CA key that does not match the CA certificate is refused", async () => {
  const a = new MemoryStore();
  const b = new MemoryStore();
  await createCertificateManager({ store: a, logger: silentLogger() });
  await createCertificateManager({ store: b, logger: silentLogger() });
  a.data.set(CA_KEY_KEY, b.data.get(CA_KEY_KEY)!);
  await assert.rejects(createCertificateManager({ store: a, logger: silentLogger() }), { code: "MESHFED_CA_KEY_MISMATCH" });
});

test("a corrupt CA certificate is fatal and left in place", async () => {
  const store = new MemoryStore();
  await createCertificateManager({ store, logger: silentLogger() });
  await store.put(CA_CERT_KEY, "not a certificate");
  await assert.rejects(createCertificateManager({ store, logger: silentLogger() }), { code: "MESHFED_CA_CORRUPT" });
  assert.equal(Buffer.from((await store.get(CA_CERT_KEY))!).toString(), "not a certificate");
});
