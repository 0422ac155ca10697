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
import { createHash, webcrypto } from "node:crypto";
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
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return Buffer.from(bytes).toString("hex");
}

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
