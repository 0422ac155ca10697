// Issue 16 item 2: when the installer re-enrolls an agent. Only a proxy
// certificate that no root of the controller's bundle signed counts as
// "enrolled with another CA"; during a root rotation the bundle holds both
// roots, so agents that did or did not renew yet are left alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { signedByBundle } from "../../src/installer/re-enroll.js";
import { caMismatchOf } from "../../src/agent/ca-mismatch.js";
import { crypto, p256, x509, type KeyPair } from "../helpers/certificates.js";

x509.cryptoProvider.set(crypto);
const ALG = { name: "ECDSA", hash: "SHA-256" };

async function root(name: string): Promise<{ pem: string; keys: KeyPair; cert: x509.X509Certificate }> {
  const keys = await p256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`, keys, signingAlgorithm: ALG, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return { pem: cert.toString("pem"), keys, cert };
}

async function leaf(issuer: Awaited<ReturnType<typeof root>>): Promise<string> {
  const keys = await p256();
  const cert = await x509.X509CertificateGenerator.create({
    subject: "CN=proxy", issuer: issuer.cert.subject, publicKey: keys.publicKey, signingKey: issuer.keys.privateKey, signingAlgorithm: ALG,
    serialNumber: "0a1b", notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
  });
  return cert.toString("pem");
}

test("re-enroll decision: signed by a root of the bundle (alone or during a rotation) keeps the enrollment; another CA's or garbage re-enrolls", async () => {
  const [a, b, sameName] = [await root("meshfed root"), await root("meshfed root 2"), await root("meshfed root")];
  const proxy = await leaf(a);
  assert.equal(signedByBundle(proxy, a.pem), true);
  assert.equal(signedByBundle(proxy, `${b.pem}\n${a.pem}`), true, "rotation: both roots in the bundle");
  assert.equal(signedByBundle(proxy, b.pem), false, "a rebuilt controller's CA");
  assert.equal(signedByBundle(proxy, sameName.pem), false, "same subject, another key");
  assert.equal(signedByBundle("not a certificate", a.pem), false);
  assert.equal(signedByBundle(proxy, ""), false);
});

test("CA mismatch: the TLS texts grpc-js reports for an untrusted server, and the unknown-ca alert, are named; network failures are not", () => {
  const now = new Date();
  for (const text of [
    "14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate in certificate chain",
    "No connection established. Last error: Error: unable to get local issuer certificate",
    "Error: unable to verify the first certificate",
  ]) {
    const m = caMismatchOf(text, "10.0.0.1:15128", "/opt/ca.pem", now);
    assert.equal(m?.code, "MESHFED_AGENT_CA_MISMATCH", text);
    assert.match(m.message, /presents a certificate that does not chain/);
  }
  assert.match(caMismatchOf("Error: 4C0B0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca", "c:1", "f", now)?.message ?? "", /does not trust this agent's proxy certificate/);
  for (const text of ["14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:15128", "4 DEADLINE_EXCEEDED: Deadline exceeded", "certificate has expired"]) {
    assert.equal(caMismatchOf(text, "c:1", "f", now), undefined, text);
  }
});
