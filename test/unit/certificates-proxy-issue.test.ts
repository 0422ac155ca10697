import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { Clock, crypto, EXPECTED_CN, EXPECTED_URI, identity, makeCsr, MemoryStore, p256, x509 } from "../helpers/certificates.js";

test("an issued proxy certificate carries the identity's names and chains to the CA", async () => {
  const clock = new Clock();
  const metrics = new ControllerMetrics();
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), now: clock.now, metrics });
  const keys = await p256();
  const issued = await manager.issueProxyCertificate(await makeCsr({ keys }), identity);

  const cert = new X509Certificate(issued.certificatePem);
  const ca = new X509Certificate(issued.caBundlePem);
  assert.equal(issued.caBundlePem, manager.caBundle());
  assert.equal(cert.checkIssued(ca), true, "issuer name matches the CA subject");
  assert.equal(cert.verify(ca.publicKey), true, "signed by the CA key");
  assert.equal(cert.subject, `CN=${EXPECTED_CN}`);
  assert.equal(cert.subjectAltName, `URI:${EXPECTED_URI}, DNS:${EXPECTED_CN}`);
  assert.equal(cert.ca, false);
  assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  assert.equal(cert.checkHost(EXPECTED_CN), EXPECTED_CN);

  // The certificate is for the CSR's key.
  const spki = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
  assert.deepEqual(cert.publicKey.export({ format: "der", type: "spki" }), spki);

  // Serial: 128 bits, positive, lower-case hex, the same as node reads it.
  assert.match(issued.record.serial, /^[4-7][0-9a-f]{31}$/);
  assert.equal(cert.serialNumber.toLowerCase(), issued.record.serial);

  const parsed = new x509.X509Certificate(issued.certificatePem);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(ku?.critical, true);
  assert.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  const caSki = new x509.X509Certificate(manager.caBundle()).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  assert.equal(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caSki);

  // Validity: one year from the injected clock.
  assert.equal(issued.record.notBefore, clock.now().toISOString());
  assert.equal(Date.parse(issued.record.notAfter) - Date.parse(issued.record.notBefore), 365 * 86_400_000);
  assert.equal(new Date(cert.validTo).toISOString(), issued.record.notAfter);

  assert.deepEqual(
    { ...issued.record },
    {
      serial: issued.record.serial, kind: "proxy", identity: EXPECTED_URI, service: "shop/bookstore", proxyId: identity.proxyId,
      notBefore: issued.record.notBefore, notAfter: issued.record.notAfter, state: "unclaimed",
      // The issuing root, so that a CA rotation knows which certificates still chain to the old one.
      ca: ca.serialNumber.toLowerCase(),
    },
  );
  assert.equal((await metrics.certificatesIssued.get()).values.find((v) => v.labels.kind === "proxy")?.value, 1);
});

test("names come from the identity, never from the CSR", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const issued = await manager.issueProxyCertificate(await makeCsr({ name: "", extensions: [] }), { ...identity, kind: "sidecar" });
  const cert = new X509Certificate(issued.certificatePem);
  const cn = `${identity.proxyId}.sidecar.bookstore.shop.cluster.local`;
  assert.equal(cert.subject, `CN=${cn}`);
  assert.equal(cert.subjectAltName, `URI:${EXPECTED_URI}, DNS:${cn}`);
});

test("each issuance gets a distinct serial and its own registry record", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add((await manager.issueProxyCertificate(await makeCsr(), identity)).record.serial);
  assert.equal(seen.size, 20);
  assert.equal(manager.certificates().length, 20);
});
