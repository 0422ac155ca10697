/**
 * The proxy's own key pair and the CSR that asks the controller for its
 * ProxyCertificate (DESIGN.md §3 flow 3). The key is generated here and never
 * leaves the host. The CSR has an empty subject and no SANs: the controller
 * decides the identity (proxy UUID, service, SPIFFE URI) from the join token
 * and accepts only an empty subject or exactly the CN it would choose, which
 * the agent cannot know before enrolling.
 *
 * The CSR is written as DER here rather than by an X.509 library: with an
 * empty subject and no attributes its shape is fixed (RFC 2986), and the
 * library was most of the agent's module memory (x509.ts).
 * test/unit/agent-csr.test.ts checks the bytes against @peculiar/x509's and
 * OpenSSL's reading of them.
 */
import { KeyObject, createPrivateKey, createPublicKey, sign } from "node:crypto";
import { crypto, pemBlocks, toPem, type CryptoKeyPair } from "./x509.js";

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

export async function generateProxyKey(): Promise<{ keys: CryptoKeyPair; pem: string }> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const pem = toPem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)), "PRIVATE KEY");
  return { keys, pem };
}

/** Re-imports a stored PKCS#8 key; the public half is derived from the private key. */
export async function importProxyKey(pem: string): Promise<CryptoKeyPair> {
  const block = pemBlocks(pem)[0];
  if (block === undefined) throw new Error("no PEM block in the proxy key file");
  const key = createPrivateKey({ key: block.der, format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const privateKey = await crypto.subtle.importKey("pkcs8", block.der, EC_P256, true, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", spki, EC_P256, true, ["verify"]);
  return { privateKey, publicKey };
}

/** DER length octets (definite form). */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const SEQUENCE = 0x30;
const BIT_STRING = 0x03;
/** version INTEGER 0 (v1). */
const VERSION_1 = Buffer.from([0x02, 0x01, 0x00]);
/** subject Name: an empty RDNSequence. */
const EMPTY_NAME = Buffer.from([0x30, 0x00]);
/** attributes [0] IMPLICIT SET OF Attribute: none, but present (RFC 2986 makes it mandatory). */
const NO_ATTRIBUTES = Buffer.from([0xa0, 0x00]);
/** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent (RFC 5758). */
const ECDSA_WITH_SHA256 = Buffer.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);

export async function buildCsr(keys: CryptoKeyPair): Promise<string> {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const info = der(SEQUENCE, VERSION_1, EMPTY_NAME, spki, NO_ATTRIBUTES);
  // ECDSA-Sig-Value (DER SEQUENCE of r, s), which is what node:crypto gives for EC keys.
  const signature = sign("sha256", info, { key: KeyObject.from(keys.privateKey), dsaEncoding: "der" });
  const csr = der(SEQUENCE, info, ECDSA_WITH_SHA256, der(BIT_STRING, Buffer.from([0x00]), signature));
  return toPem(csr, "CERTIFICATE REQUEST");
}
