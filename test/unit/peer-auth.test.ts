import { test } from "node:test";
import assert from "node:assert/strict";
import type { CertificateRecord } from "../../src/controller/certificates/types.js";
import { authenticateProxyPeer } from "../../src/controller/proxy-control-plane/peer-auth.js";
import { authenticateRepoPeer } from "../../src/controller/proxy-control-plane/pipy-repo-auth.js";

const PROXY = "0b9a3c1e-5d2f-4a6b-8c7d-9e0f1a2b3c4d";
const URI = `spiffe://cluster.local/ns/shop/svc/bookstore/proxy/${PROXY}`;
const base: CertificateRecord = {
  serial: "ab12", kind: "proxy", identity: URI, service: "shop/bookstore", proxyId: PROXY,
  notBefore: "2026-01-01T00:00:00Z", notAfter: "2036-01-01T00:00:00Z", state: "claimed",
};
const registry = (record: CertificateRecord | undefined) => ({ certificate: (serial: string) => (record && serial.toLowerCase() === record.serial ? record : undefined) });
const cert = { serialNumber: "AB12", subjectaltname: `URI:${URI}` };

test("one peer check for both transports: accepted, and each refusal with its code", () => {
  const ok = authenticateProxyPeer(cert, registry(base), "Connect");
  assert.ok(ok.ok);
  assert.deepEqual(ok.peer.service, { namespace: "shop", name: "bookstore" });
  assert.equal(ok.peer.proxyId, PROXY);
  const code = (c: Parameters<typeof authenticateProxyPeer>[0], r: CertificateRecord | undefined) => {
    const a = authenticateProxyPeer(c, registry(r), "Connect");
    return a.ok ? "ok" : a.code;
  };
  assert.equal(code(undefined, base), "MESHFED_NO_CLIENT_CERT");
  assert.equal(code({}, base), "MESHFED_NO_CLIENT_CERT");
  assert.equal(code(cert, undefined), "MESHFED_CERT_UNKNOWN");
  assert.equal(code(cert, { ...base, kind: "service" }), "MESHFED_CERT_UNKNOWN");
  // A registry record for another identity than the SAN claims: not this proxy's certificate.
  assert.equal(code(cert, { ...base, identity: URI.replace("bookstore", "payments") }), "MESHFED_CERT_UNKNOWN");
  assert.equal(code({ ...cert, subjectaltname: "URI:spiffe://cluster.local/ns/shop/sa/bookstore" }, base), "MESHFED_CERT_UNKNOWN");
  assert.equal(code(cert, { ...base, state: "revoked" }), "MESHFED_CERT_REVOKED");
  assert.equal(code(cert, { ...base, state: "expired" }), "MESHFED_CERT_EXPIRED");
});

test("the repo maps refusals to HTTP statuses and also checks the proxy id in its URL", () => {
  const peerCert = cert as unknown as import("node:tls").PeerCertificate;
  assert.ok(authenticateRepoPeer(peerCert, PROXY.toUpperCase(), registry(base)).ok);
  const refused = (record: CertificateRecord, url = PROXY) => {
    const a = authenticateRepoPeer(peerCert, url, registry(record));
    return a.ok ? "ok" : `${a.status} ${a.code}`;
  };
  assert.equal(refused({ ...base, state: "revoked" }), "403 MESHFED_CERT_REVOKED");
  assert.equal(refused({ ...base, state: "expired" }), "401 MESHFED_CERT_EXPIRED");
  assert.equal(refused({ ...base, kind: "service" }), "401 MESHFED_CERT_UNKNOWN");
  assert.equal(refused(base, "11111111-2222-3333-4444-555555555555"), "403 MESHFED_REPO_PROXY_MISMATCH");
});
