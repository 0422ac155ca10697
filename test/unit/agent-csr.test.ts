/**
 * The agent's CSR and certificate helpers on node:crypto alone (issue 17:
 * agent RSS without @peculiar/x509). The CSR must be what the library wrote
 * before: the same CertificationRequestInfo bytes for the same key (only the
 * ECDSA signature, randomised, differs), a signature that verifies for the
 * library and for OpenSSL, and the helpers must read certificates as the
 * library did.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildCsr, generateProxyKey, importProxyKey } from "../../src/agent/proxy-key.js";
import { certificateHasKey, certificateNotAfter, crypto, isCertificateBundle, parseCertificate, pemBlocks } from "../../src/agent/x509.js";
import { issueLeaf, makeCa, x509 } from "../helpers/agent-fake-controller.js";
import { tempDir } from "../helpers/temp-dir.js";

const run = promisify(execFile);

/** The first element (tag, length, content) of a DER SEQUENCE's content: the CertificationRequestInfo of a CSR. */
function firstElement(der: Buffer): Buffer {
  const outerLen = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  const inner = der.subarray(outerLen);
  const lenBytes = inner[1]! & 0x80 ? inner[1]! & 0x7f : 0;
  let len = lenBytes === 0 ? inner[1]! : 0;
  for (let i = 0; i < lenBytes; i++) len = len * 256 + inner[2 + i]!;
  return inner.subarray(0, 2 + lenBytes + len);
}

test("the CSR carries the same CertificationRequestInfo as @peculiar/x509's for the same key, and its signature verifies", async () => {
  for (let i = 0; i < 20; i++) {
    const { keys } = await generateProxyKey();
    const ours = await buildCsr(keys);
    const library = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } }, crypto);
    const oursDer = pemBlocks(ours)[0]!.der;
    assert.equal(pemBlocks(ours)[0]!.label, "CERTIFICATE REQUEST");
    assert.deepEqual(firstElement(oursDer), firstElement(Buffer.from(library.rawData)), `key ${i}: CertificationRequestInfo differs`);
    const parsed = new x509.Pkcs10CertificateRequest(ours);
    assert.equal(parsed.subject, "");
    assert.equal(parsed.extensions.length, 0);
    assert.deepEqual(JSON.stringify(parsed.signatureAlgorithm), JSON.stringify(new x509.Pkcs10CertificateRequest(library.rawData).signatureAlgorithm), "ecdsa-with-SHA256, as the library wrote it");
    assert.ok(await parsed.verify(crypto), `key ${i}: the library does not verify the signature`);
    const spki = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
    assert.deepEqual(Buffer.from(parsed.publicKey.rawData), spki);
  }
});

test("OpenSSL reads the CSR and verifies its self-signature", async () => {
  const dir = await tempDir("meshfed-agent-");
  const { keys } = await generateProxyKey();
  const file = join(dir, "csr.pem");
  await writeFile(file, await buildCsr(keys));
  const { stderr, stdout } = await run("openssl", ["req", "-in", file, "-noout", "-verify", "-subject"]);
  assert.match(`${stdout}${stderr}`, /verify OK/i);
});

test("a stored key imports back (ours and a PEM the library wrote) and signs for its public half", async () => {
  const { keys, pem } = await generateProxyKey();
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PRIVATE KEY-----\n$/);
  const libraryPem = x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  for (const text of [pem, libraryPem, `\n${libraryPem.replace(/\n/g, "\r\n")}\n`]) {
    const back = await importProxyKey(text);
    const data = Buffer.from("meshfed");
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, back.privateKey, data);
    assert.ok(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, keys.publicKey, sig, data));
    assert.deepEqual(Buffer.from(await crypto.subtle.exportKey("spki", back.publicKey)), Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey)));
  }
  await assert.rejects(importProxyKey("not a key"), /no PEM block/);
});

test("certificates read as the library read them: notAfter, the public key, bundles", async () => {
  const ca = await makeCa();
  const { keys } = await generateProxyKey();
  const other = await generateProxyKey();
  const leaf = await issueLeaf(ca, keys.publicKey, "spiffe://cluster.local/x", "0a");
  const leafPem = leaf.toString("pem");
  assert.equal(certificateNotAfter(leafPem), new Date(Math.floor(leaf.notAfter.getTime() / 1000) * 1000).toISOString());
  assert.equal(certificateNotAfter("garbage"), undefined);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const otherSpki = new Uint8Array(await crypto.subtle.exportKey("spki", other.keys.publicKey));
  assert.equal(certificateHasKey(parseCertificate(leafPem), spki), true);
  assert.equal(certificateHasKey(parseCertificate(leafPem), otherSpki), false);
  assert.equal(isCertificateBundle(`${leafPem}${ca.caPem}`), true);
  assert.equal(isCertificateBundle(ca.caPem), true);
  assert.equal(isCertificateBundle(""), false);
  assert.equal(isCertificateBundle(other.pem), false, "a key is not a certificate");
  assert.equal(isCertificateBundle(`${ca.caPem}${other.pem}`), false, "every block must be a certificate");
  assert.equal(isCertificateBundle("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), false);
});
