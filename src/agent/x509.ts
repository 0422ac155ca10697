/**
 * The agent's certificate helpers, on node:crypto alone. The agent used
 * @peculiar/x509 for these (with reflect-metadata, tsyringe, asn1js and the
 * @peculiar/asn1-* schemas behind it); that stack cost ~3.4 MiB of heap and
 * ~8 MiB of RSS in every agent for a CSR at enrollment and a few parses
 * (issue 17: agent RSS). Node's X509Certificate parses and checks what the
 * agent needs; the one thing Node cannot build, the CSR, is a fixed DER
 * shape (proxy-key.ts).
 */
import { X509Certificate, webcrypto } from "node:crypto";

export const crypto: webcrypto.Crypto = webcrypto;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Every PEM block of `pem` with its label and DER bytes; text outside blocks is ignored. */
export function pemBlocks(pem: string): Array<{ label: string; der: Buffer }> {
  const out: Array<{ label: string; der: Buffer }> = [];
  for (const m of pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g)) {
    out.push({ label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ""), "base64") });
  }
  return out;
}

/** DER as PEM: base64 in 64-character lines, as OpenSSL writes it. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The first certificate of a PEM bundle; throws when there is none or it does not parse. */
export function parseCertificate(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

/** notAfter of a certificate as RFC 3339 (Node gives it as "Mmm dd hh:mm:ss yyyy GMT"). */
export function notAfterOf(cert: X509Certificate): string {
  return new Date(cert.validTo).toISOString();
}

/** notAfter of the first certificate in a PEM bundle, as RFC 3339; undefined when unreadable. */
export function certificateNotAfter(pem: string): string | undefined {
  try {
    return notAfterOf(parseCertificate(pem));
  } catch {
    return undefined;
  }
}

/** True when the certificate's SubjectPublicKeyInfo is exactly `spki` (DER). */
export function certificateHasKey(cert: X509Certificate, spki: Uint8Array): boolean {
  return Buffer.from(spki).equals(cert.publicKey.export({ type: "spki", format: "der" }));
}

/** True when `pem` holds at least one block and every block is an X.509 certificate. */
export function isCertificateBundle(pem: string): boolean {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0) return false;
  try {
    for (const b of blocks) new X509Certificate(b.der);
    return true;
  } catch {
    return false;
  }
}
