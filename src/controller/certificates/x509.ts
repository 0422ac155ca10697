/**
 * The one door to @peculiar/x509. Its DI container (tsyringe) needs the
 * Reflect metadata polyfill loaded before the library evaluates, so every
 * module of this component imports x509 from here, never directly.
 *
 * We pass Node's WebCrypto explicitly to each call instead of setting the
 * library's global provider: importing this component must not change
 * process-wide state another component (or a test) relies on.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createECDH, createHash, randomFillSync, webcrypto, type ECDH } from "node:crypto";
import { readChildren, readTlv } from "./der.js";

export { x509 };

// The project compiles without the DOM lib; name Node's WebCrypto types here.
export type Crypto = webcrypto.Crypto;
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type KeyAlgorithm = webcrypto.KeyAlgorithm;

export const crypto: Crypto = webcrypto;

export type Curve = "P-256" | "P-384";

export function signingAlgorithm(curve: Curve): webcrypto.EcdsaParams {
  return { name: "ECDSA", hash: curve === "P-384" ? "SHA-384" : "SHA-256" };
}

export async function generateKeyPair(curve: Curve = "P-256"): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, true, ["sign", "verify"]);
}

// DER around a P-256 key, as OpenSSL 3 writes it (SubjectPublicKeyInfo, and
// PKCS#8 PrivateKeyInfo holding an RFC 5915 ECPrivateKey with the public key
// and no inner parameters); test/unit/certificates-leaf-key.test.ts holds
// them equal to node:crypto's own export.
const P256_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");
const P256_PKCS8_PREFIX = Buffer.from("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420", "hex");
const P256_PKCS8_PUBLIC = Buffer.from("a144034200", "hex");

/**
 * A P-256 key for a certificate the controller issues with its own key
 * (service certificates). OpenSSL 3's key objects make generation and every
 * DER or PEM export cost several times the key generation itself (measured:
 * issue 17, docs/benchmarks.md); ECDH generation gives the raw scalar and
 * point, and the two fixed-shape encodings are written here. The PEM has the
 * layout exportPrivateKeyPem gives (64-character lines, no trailing newline).
 */
export function generateLeafKey(): { spki: Uint8Array; privateKeyPem: string } {
  // One ECDH object makes every key: generateKeys() replaces its pair with a
  // fresh one, and constructing the object was a tenth of the issuance's CPU
  // (issue 17 profile). Nothing else reads it, and JS runs this synchronously.
  leafKeyMaker ??= createECDH("prime256v1");
  const ecdh = leafKeyMaker;
  const point = ecdh.generateKeys(); // uncompressed: 04 || x || y
  const scalar = ecdh.getPrivateKey();
  // getPrivateKey drops leading zero octets; the ECPrivateKey field is fixed at 32.
  const d = scalar.length === 32 ? scalar : Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
  const pkcs8 = Buffer.concat([P256_PKCS8_PREFIX, d, P256_PKCS8_PUBLIC, point]);
  const base64 = pkcs8.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return {
    spki: new Uint8Array(Buffer.concat([P256_SPKI_PREFIX, point])),
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----`,
  };
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

export async function importPrivateKeyPem(pem: string, curve: Curve): Promise<CryptoKey> {
  const [der] = x509.PemConverter.decode(pem);
  if (der === undefined) throw new Error("no PEM block in private key");
  // Not extractable: once loaded, the CA key only ever signs.
  return crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: curve }, false, ["sign"]);
}

/**
 * A 128-bit serial (RFC 5280 allows up to 20 octets; CA/B asks for at least
 * 64 random bits). The first octet is forced into 0x40..0x7f: the DER INTEGER
 * stays positive, never needs a leading 0x00, and the hex form is always 32
 * lower-case characters, so the serial we record is exactly what OpenSSL or
 * Node print for the certificate (modulo case). 126 bits remain random.
 */
export function randomSerial(): string {
  if (serialPoolOffset + SERIAL_BYTES > serialPool.length) {
    randomFillSync(serialPool);
    serialPoolOffset = 0;
  }
  const bytes = Buffer.from(serialPool.subarray(serialPoolOffset, serialPoolOffset + SERIAL_BYTES));
  serialPoolOffset += SERIAL_BYTES;
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}

const SERIAL_BYTES = 16;
/**
 * Serials are drawn from the CSPRNG 256 at a time: one call per serial cost
 * ~8 µs, a tenth of a service certificate (issue 17 profile). Every serial
 * still has its own 126 random bits from the system CSPRNG. Their point is
 * that nobody outside can predict the next one (chosen-prefix collisions);
 * whoever can read the pool in this process's memory can read the CA key
 * beside it anyway.
 */
const serialPool = Buffer.alloc(SERIAL_BYTES * 256);
let serialPoolOffset = serialPool.length;
let leafKeyMaker: ECDH | undefined;

/** X.509 times carry whole seconds; truncating first keeps records and certificates equal. */
export function toSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/**
 * RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. Computed
 * here rather than by the library, which goes through async WebCrypto and
 * costs more than signing the certificate itself.
 */
export function keyIdentifier(spki: Uint8Array): string {
  const bitString = readChildren(spki, readTlv(spki, 0))[1];
  if (bitString === undefined || bitString.tag !== 0x03) throw new Error("not a SubjectPublicKeyInfo");
  // Skip the BIT STRING's leading "unused bits" octet.
  return createHash("sha1").update(spki.subarray(bitString.contentStart + 1, bitString.end)).digest("hex");
}
