import { test } from "node:test";
import assert from "node:assert/strict";
import type { webcrypto } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { createCertificateManager, type CsrKeyType } from "../../src/controller/certificates/index.js";
import type { ProxyIdentity } from "../../src/controller/certificates/types.js";
import { crypto, EXPECTED_CN, EXPECTED_URI, identity, makeCsr, MemoryStore, p256, x509 } from "../helpers/certificates.js";

const url = (value: string) => ({ type: "url" as const, value });
const dns = (value: string) => ({ type: "dns" as const, value });
const san = (...names: Array<{ type: "url" | "dns" | "ip" | "email"; value: string }>) => new x509.SubjectAlternativeNameExtension(names);

function pemOf(der: Uint8Array, label = "CERTIFICATE REQUEST"): string {
  return x509.PemConverter.encode(der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer, label);
}
function derOf(pem: string): Uint8Array {
  return new Uint8Array(x509.PemConverter.decode(pem)[0]!);
}
type KeyGenParams = webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | { name: "Ed25519" };
async function generate(algorithm: KeyGenParams): Promise<webcrypto.CryptoKeyPair> {
  return (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
}

interface Case {
  name: string;
  code: string;
  csr: () => Promise<string>;
  identity?: ProxyIdentity;
}

const cases: Case[] = [
  { name: "garbage text", code: "MESHFED_CSR_MALFORMED", csr: async () => "hello" },
  { name: "empty string", code: "MESHFED_CSR_MALFORMED", csr: async () => "" },
  { name: "PEM with a broken DER body", code: "MESHFED_CSR_MALFORMED", csr: async () => pemOf(new Uint8Array([0x30, 0x03, 0x02, 0x01])) },
  { name: "invalid base64 in the body", code: "MESHFED_CSR_MALFORMED", csr: async () => (await makeCsr()).replace(/\n([A-Za-z0-9+/]{10})/, "\n!!!!!!!!!!") },
  { name: "a certificate instead of a CSR", code: "MESHFED_CSR_MALFORMED", csr: async () => (await makeCsr()).replaceAll("CERTIFICATE REQUEST", "CERTIFICATE") },
  { name: "two CSR blocks", code: "MESHFED_CSR_MALFORMED", csr: async () => `${await makeCsr()}\n${await makeCsr()}` },
  { name: "trailing bytes after the DER", code: "MESHFED_CSR_MALFORMED", csr: async () => pemOf(new Uint8Array([...derOf(await makeCsr()), 0x05, 0x00])) },
  { name: "oversized PEM", code: "MESHFED_CSR_TOO_LARGE", csr: async () => (await makeCsr()) + " ".repeat(16 * 1024) },
  {
    name: "signed by another key", code: "MESHFED_CSR_BAD_SIGNATURE",
    csr: async () => { const a = await p256(); const b = await p256(); return makeCsr({ keys: { publicKey: a.publicKey, privateKey: b.privateKey } }); },
  },
  {
    name: "a tampered signature byte", code: "MESHFED_CSR_BAD_SIGNATURE",
    csr: async () => { const der = derOf(await makeCsr()); der[der.length - 1]! ^= 0x01; return pemOf(der); },
  },
  { name: "ECDSA with SHA-1", code: "MESHFED_CSR_BAD_SIGNATURE", csr: async () => makeCsr({ signingAlgorithm: { name: "ECDSA", hash: "SHA-1" } }) },
  {
    name: "RSA 1024", code: "MESHFED_CSR_KEY_TYPE",
    csr: async () => makeCsr({ keys: await generate({ name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }), signingAlgorithm: { name: "RSASSA-PKCS1-v1_5" } }),
  },
  { name: "EC P-521", code: "MESHFED_CSR_KEY_TYPE", csr: async () => makeCsr({ keys: await generate({ name: "ECDSA", namedCurve: "P-521" }), signingAlgorithm: { name: "ECDSA", hash: "SHA-512" } }) },
  { name: "EC P-384 (not allowed by default)", code: "MESHFED_CSR_KEY_TYPE", csr: async () => makeCsr({ keys: await generate({ name: "ECDSA", namedCurve: "P-384" }), signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } }) },
  { name: "Ed25519", code: "MESHFED_CSR_KEY_TYPE", csr: async () => makeCsr({ keys: await generate({ name: "Ed25519" }), signingAlgorithm: { name: "Ed25519" } }) },
  { name: "an extra DNS SAN", code: "MESHFED_CSR_EXTRA_SAN", csr: async () => makeCsr({ extensions: [san(url(EXPECTED_URI), dns(EXPECTED_CN), dns("admin.example.com"))] }) },
  { name: "another service's SPIFFE URI", code: "MESHFED_CSR_EXTRA_SAN", csr: async () => makeCsr({ extensions: [san(url("spiffe://cluster.local/ns/kube-system/svc/api"))] }) },
  { name: "an IP SAN", code: "MESHFED_CSR_EXTRA_SAN", csr: async () => makeCsr({ extensions: [san(url(EXPECTED_URI), { type: "ip", value: "10.0.0.1" })] }) },
  { name: "an email SAN", code: "MESHFED_CSR_EXTRA_SAN", csr: async () => makeCsr({ extensions: [san({ type: "email", value: "root@example.com" })] }) },
  {
    // otherName: the library drops it from its parsed list; the DER check must not.
    name: "an otherName SAN", code: "MESHFED_CSR_EXTRA_SAN",
    csr: async () => makeCsr({ extensions: [new x509.Extension("2.5.29.17", false, Buffer.from("300BA00906022A03A0030C0178", "hex"))] }),
  },
  { name: "basicConstraints CA:true", code: "MESHFED_CSR_CA_REQUESTED", csr: async () => makeCsr({ extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] }) },
  { name: "keyUsage keyCertSign", code: "MESHFED_CSR_CA_REQUESTED", csr: async () => makeCsr({ extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign)] }) },
  { name: "an unknown extension", code: "MESHFED_CSR_UNEXPECTED_EXTENSION", csr: async () => makeCsr({ extensions: [new x509.Extension("1.2.3.4", false, Buffer.from("0500", "hex"))] }) },
  { name: "extKeyUsage codeSigning", code: "MESHFED_CSR_UNEXPECTED_EXTENSION", csr: async () => makeCsr({ extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning])] }) },
  { name: "another CN", code: "MESHFED_CSR_SUBJECT", csr: async () => makeCsr({ name: "CN=admin" }) },
  { name: "an organisation in the subject", code: "MESHFED_CSR_SUBJECT", csr: async () => makeCsr({ name: `CN=${EXPECTED_CN}, O=system:masters` }) },
  { name: "an upper-case proxy UUID", code: "MESHFED_INVALID_IDENTITY", csr: () => makeCsr(), identity: { ...identity, proxyId: identity.proxyId.toUpperCase() } },
  { name: "a proxy id that is not a UUID", code: "MESHFED_INVALID_IDENTITY", csr: () => makeCsr(), identity: { ...identity, proxyId: "../../etc" } },
  { name: "an unknown proxy kind", code: "MESHFED_INVALID_IDENTITY", csr: () => makeCsr(), identity: { ...identity, kind: "gateway" as never } },
  { name: "an identity without a service", code: "MESHFED_INVALID_IDENTITY", csr: () => makeCsr(), identity: { ...identity, service: undefined as never } },
  { name: "a namespace that is not a DNS label", code: "MESHFED_INVALID_IDENTITY", csr: () => makeCsr(), identity: { ...identity, service: { namespace: "Shop_1", name: "bookstore" } } },
];

for (const c of cases) {
  test(`a CSR with ${c.name} is refused with ${c.code} and changes nothing`, async () => {
    const store = new MemoryStore();
    const metrics = new ControllerMetrics();
    const manager = await createCertificateManager({ store, logger: silentLogger(), metrics });
    const changes: unknown[] = [];
    manager.on("change", (r) => changes.push(r));
    const putsBefore = store.puts;
    const csr = await c.csr();
    await assert.rejects(manager.issueProxyCertificate(csr, c.identity ?? identity), (err: Error & { code?: string }) => {
      assert.equal(err.name, "MeshfedError");
      assert.equal(err.code, c.code, err.message);
      return true;
    });
    assert.deepEqual(manager.certificates(), []);
    assert.deepEqual(changes, []);
    assert.equal(store.puts, putsBefore, "nothing written");
    const counted = (await metrics.certificateRejections.get()).values.find((v) => v.labels.code === c.code);
    assert.equal(counted?.value, 1);
  });
}

const accepted: Array<{ name: string; csr: () => Promise<string>; keyTypes?: CsrKeyType[] }> = [
  { name: "an empty subject and no extensions", csr: () => makeCsr({ name: "", extensions: [] }) },
  { name: "the expected URI and DNS SANs", csr: () => makeCsr({ extensions: [san(url(EXPECTED_URI), dns(EXPECTED_CN))] }) },
  {
    name: "harmless extensions (CA:false, digitalSignature, clientAuth, SKI)",
    csr: async () => {
      const keys = await p256();
      return makeCsr({
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(false),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        ],
      });
    },
  },
  {
    name: "a P-384 key when allowed", keyTypes: ["ec-p256", "ec-p384"],
    csr: async () => makeCsr({ keys: await generate({ name: "ECDSA", namedCurve: "P-384" }), signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } }),
  },
  {
    name: "an RSA 2048 key when allowed", keyTypes: ["rsa"],
    csr: async () => makeCsr({ keys: await generate({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }), signingAlgorithm: { name: "RSASSA-PKCS1-v1_5" } }),
  },
];

for (const c of accepted) {
  test(`a CSR with ${c.name} is accepted`, async () => {
    const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), ...(c.keyTypes ? { csrKeyTypes: c.keyTypes } : {}) });
    const issued = await manager.issueProxyCertificate(await c.csr(), identity);
    assert.equal(issued.record.state, "unclaimed");
    assert.equal(manager.certificates().length, 1);
  });
}
