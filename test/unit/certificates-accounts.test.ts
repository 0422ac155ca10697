// Service certificates are per identity (ServiceAccount): their SPIFFE URI
// and the DNS name Pipy checks always name the same account; a certificate
// issued per service before accounts keeps working until it renews; a proxy
// certificate carries its token's account; join tokens store it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fc from "fast-check";
import { silentLogger } from "../../src/common/logger.js";
import { MeshfedError } from "../../src/common/errors.js";
import { CertificateAuthority } from "../../src/controller/certificates/ca.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { serviceNames } from "../../src/controller/certificates/identity.js";
import { crypto, exportPrivateKeyPem, generateKeyPair, randomSerial } from "../../src/controller/certificates/x509.js";
import { identityName } from "../../src/controller/drivers/pipy/pipy-config.js";
import { JoinTokens } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { Clock, identity as helperIdentity, makeCsr, MemoryStore } from "../helpers/certificates.js";

const HOUR = 3_600_000;
const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
const account = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join("."));

/** The account a SPIFFE URI names, and the one the DNS name names, read back independently. */
function accountsOf(cert: X509Certificate, trustDomain: string): { fromUri: string; fromDns: string; cn: string } {
  const sans = (cert.subjectAltName ?? "").split(", ");
  const uri = sans.filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
  const dns = sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4));
  assert.equal(uri.length, 1, "one URI SAN");
  assert.equal(dns.length, 1, "one DNS SAN");
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri[0]!);
  assert.ok(m, `a SPIFFE account URI: ${uri[0]}`);
  assert.equal(m[1], trustDomain);
  const suffix = `.${m[2]}.svc.${trustDomain}`;
  assert.ok(dns[0]!.endsWith(suffix), `${dns[0]} ends with ${suffix}`);
  return { fromUri: `${m[2]}/${m[3]}`, fromDns: `${m[2]}/${dns[0]!.slice(0, -suffix.length)}`, cn: cert.subject.replace(/^CN=/, "") };
}

test("property: every issued service certificate's SPIFFE URI and DNS identity name the same account", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), trustDomain: "mesh.example" });
  await fc.assert(
    fc.asyncProperty(label, account, async (namespace, name) => {
      const issued = await manager.serviceCertificate({ namespace, name });
      const cert = new X509Certificate(issued.certificatePem);
      const read = accountsOf(cert, "mesh.example");
      assert.equal(read.fromUri, `${namespace}/${name}`);
      assert.equal(read.fromDns, read.fromUri);
      assert.equal(read.cn, identityName({ namespace, name }, "mesh.example"), "CN = DNS SAN = what the Pipy config lists");
      assert.equal(manager.certificate(issued.serial)?.serviceAccount, name);
    }),
    { numRuns: 40 },
  );
});

test("property: distinct identities never share a DNS name (accounts may contain dots, namespaces may not)", () => {
  fc.assert(fc.property(label, account, label, account, (ns1, sa1, ns2, sa2) => {
    fc.pre(ns1 !== ns2 || sa1 !== sa2);
    assert.notEqual(serviceNames({ namespace: ns1, name: sa1 }, "cluster.local").dns, serviceNames({ namespace: ns2, name: sa2 }, "cluster.local").dns);
  }), { numRuns: 500 });
});

test("an account that is not a DNS-1123 subdomain is refused", () => {
  for (const bad of ["Web", "a/b", "-a", "a..b", ""]) {
    assert.throws(() => serviceNames({ namespace: "shop", name: bad }, "cluster.local"), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_INVALID_IDENTITY", bad);
  }
});

test("a service certificate issued per service before accounts keeps being handed out until its renewal point", async () => {
  const clock = new Clock();
  const store = new MemoryStore();
  await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  // What the controller stored before accounts: URI .../svc/cart, DNS cart.shop.svc.<td>.
  const ca = await CertificateAuthority.open({ store, trustDomain: "cluster.local", validity: 10 * 8760 * HOUR, curve: "P-256", now: clock.now, logger: silentLogger() }, undefined, true);
  const keys = await generateKeyPair("P-256");
  const serial = randomSerial();
  const notBefore = clock.now();
  const old = await ca.issue({
    serial, commonName: "cart.shop.svc.cluster.local", uri: "spiffe://cluster.local/ns/shop/svc/cart", dns: "cart.shop.svc.cluster.local",
    spki: new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)), notBefore, notAfter: new Date(notBefore.getTime() + 24 * HOUR),
  });
  await store.put(`certificates/${serial}`, JSON.stringify({
    serial, kind: "service", identity: "spiffe://cluster.local/ns/shop/svc/cart", service: "shop/cart",
    notBefore: old.notBefore.toISOString(), notAfter: old.notAfter.toISOString(), state: "claimed", claimedAt: old.notBefore.toISOString(), ca: ca.certificate.serialNumber.toLowerCase(),
  }));
  await store.put("service-certificates/shop.cart", JSON.stringify({ certificatePem: old.pem, privateKeyPem: await exportPrivateKeyPem(keys.privateKey) }), { secret: true });

  const manager = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  const served = await manager.serviceCertificate({ namespace: "shop", name: "cart" });
  assert.equal(served.serial, serial, "the old certificate still serves the default account (the service's name)");
  assert.equal(new X509Certificate(served.certificatePem).subject, `CN=${identityName({ namespace: "shop", name: "cart" }, "cluster.local")}`,
    "its DNS name is exactly what a peer's config lists for the account cart");
  clock.advance(served.renewAt.getTime() - clock.now().getTime());
  const renewed = await manager.serviceCertificate({ namespace: "shop", name: "cart" });
  assert.notEqual(renewed.serial, serial);
  assert.equal(new X509Certificate(renewed.certificatePem).subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/cart, DNS:cart.shop.svc.cluster.local",
    "renewed under the account's SPIFFE ID, same DNS name");
});

test("a proxy certificate carries its token's account as a second URI SAN, and the registry records it", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  // The helper's CSR is for this proxy (CN and URI of shop/bookstore).
  const identity = helperIdentity;
  const csr = await makeCsr();
  const withAccount = await manager.issueProxyCertificate(csr, { ...identity, serviceAccount: "checkout" });
  assert.equal(new X509Certificate(withAccount.certificatePem).subjectAltName,
    `URI:spiffe://cluster.local/ns/shop/svc/bookstore/proxy/${identity.proxyId}, URI:spiffe://cluster.local/ns/shop/sa/checkout, DNS:${identity.proxyId}.agent.bookstore.shop.cluster.local`);
  assert.equal(withAccount.record.serviceAccount, "checkout");
  const without = await manager.issueProxyCertificate(await makeCsr(), identity);
  assert.equal(without.record.serviceAccount, undefined, "no account named: nothing recorded, the service's name applies");
  await assert.rejects(manager.issueProxyCertificate(await makeCsr(), { ...identity, serviceAccount: "Check_Out" }), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_INVALID_IDENTITY");
});

test("join tokens store the account, list it, hand it to the enrollment, and refuse a bad one by name", async () => {
  const tokens = await JoinTokens.load({ store: new MemoryStore() }, () => undefined);
  const { token, info } = await tokens.create({ service: { namespace: "shop", name: "cart" }, ttlMs: HOUR, uses: 1, serviceAccount: "checkout" });
  assert.equal(info.serviceAccount, "checkout");
  assert.deepEqual(tokens.list().map((t) => t.serviceAccount), ["checkout"]);
  const consumed = await tokens.consume(token, { keySha256: "a".repeat(64), proxyId: "00000000-0000-4000-8000-000000000002" });
  assert.equal(consumed.serviceAccount, "checkout");
  const plain = await tokens.create({ service: { namespace: "shop", name: "cart" }, ttlMs: HOUR, uses: 1 });
  assert.equal(plain.info.serviceAccount, undefined);
  assert.equal((await tokens.consume(plain.token)).serviceAccount, undefined);
  await assert.rejects(tokens.create({ service: { namespace: "shop", name: "cart" }, ttlMs: HOUR, uses: 1, serviceAccount: "shop/checkout" }),
    (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_TOKEN_INVALID_SERVICE_ACCOUNT");
});
