/**
 * The CSR fast path (issue 17): the one CSR shape agents and the injector
 * send (EC P-256 key, ecdsa-with-SHA256, an empty subject or CN=<expected>,
 * no attributes or one extensionRequest holding only the expected SANs) is
 * read with the strict DER reader and its signature checked with node:crypto
 * over the CertificationRequestInfo bytes. Through @peculiar/x509 the same
 * CSR cost ~3.8 ms of CPU per enrollment (parsed twice by the generic ASN.1
 * schema, verified through WebCrypto; docs/benchmarks.md).
 *
 * This module only ever ACCEPTS. Anything outside that shape, or that fails a
 * check, returns undefined and the caller runs the library path (csr.ts),
 * which then accepts or refuses with its named MESHFED_CSR_* code. So a
 * refusal is always the library path's, and the fast path must never accept
 * what the library path refuses: test/unit/certificates-csr-fast.test.ts
 * holds the two equal over hand-made and randomly built CSRs.
 */
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { readChildren, readTlv, type Tlv } from "./der.js";
import type { CertificateNames } from "./identity.js";

/** SubjectPublicKeyInfo of an uncompressed P-256 point, up to the point (as x509.ts writes it). */
const P256_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");
const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 65;
/** AlgorithmIdentifier { ecdsa-with-SHA256 } with absent parameters (RFC 5758 §3.2). */
const ECDSA_SHA256 = Buffer.from("300a06082a8648ce3d040302", "hex");
/** version INTEGER 0 (v1, the only PKCS#10 version). */
const VERSION_0 = Buffer.from("020100", "hex");
const OID_COMMON_NAME = Buffer.from("0603550403", "hex");
const OID_EXTENSION_REQUEST = Buffer.from("06092a864886f70d01090e", "hex");
const OID_SUBJECT_ALT_NAME = Buffer.from("0603551d11", "hex");
const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const SAN_DNS = 0x82;
const SAN_URI = 0x86;
/** The P-256 field prime: a coordinate must be below it (DER decoding refuses one that is not reduced). */
const P256_P = Buffer.from("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", "hex");
/** Names the fast path compares are lower-case DNS names and SPIFFE URIs: visible ASCII only. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** The parts of a CSR in the fast shape; nothing here is checked against an identity yet. */
export interface AgentCsr {
  /** The CertificationRequestInfo, exactly as signed. */
  readonly info: Uint8Array;
  /** DER SubjectPublicKeyInfo (P-256, uncompressed point). */
  readonly spki: Uint8Array;
  /** The subject's CN, or undefined for an empty subject. */
  readonly commonName: string | undefined;
  /** The requested SANs (tag 0x82 dNSName or 0x86 URI), in order; empty without an extensionRequest. */
  readonly sans: ReadonlyArray<{ readonly tag: number; readonly text: string }>;
  /** The DER ECDSA-Sig-Value inside the signature BIT STRING. */
  readonly signature: Uint8Array;
}

function same(buf: Uint8Array, tlv: Tlv, expected: Uint8Array): boolean {
  return tlv.end - tlv.start === expected.length && Buffer.compare(buf.subarray(tlv.start, tlv.end), expected) === 0;
}

function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.end);
}

/**
 * True when the length octets are the shortest form (DER); der.ts also reads
 * BER's longer forms, which the fast path leaves to the library.
 */
function minimal(tlv: Tlv): boolean {
  const length = tlv.end - tlv.contentStart;
  const header = length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : 5;
  return tlv.contentStart - tlv.start === header;
}

/** Every child of `parent`, or undefined unless `parent` has tag `tag` and exactly `count` children, all with minimal lengths. */
function children(buf: Uint8Array, parent: Tlv, tag: number, count: number): Tlv[] | undefined {
  if (parent.tag !== tag || !minimal(parent)) return undefined;
  const out = readChildren(buf, parent);
  return out.length === count && out.every(minimal) ? out : undefined;
}

/** Visible-ASCII text of a primitive element, or undefined. */
function ascii(buf: Uint8Array, tlv: Tlv): string | undefined {
  const text = Buffer.from(content(buf, tlv)).toString("latin1");
  return VISIBLE_ASCII.test(text) ? text : undefined;
}

/** Empty subject → null; one RDN holding one CN as UTF8String or PrintableString → the name; else undefined. */
function readSubject(buf: Uint8Array, subject: Tlv): string | null | undefined {
  if (subject.tag !== 0x30) return undefined;
  if (subject.contentStart === subject.end) return null;
  const [rdn] = children(buf, subject, 0x30, 1) ?? [];
  const [atv] = rdn === undefined ? [] : children(buf, rdn, 0x31, 1) ?? [];
  const [type, value] = atv === undefined ? [] : children(buf, atv, 0x30, 2) ?? [];
  if (type === undefined || value === undefined || !same(buf, type, OID_COMMON_NAME)) return undefined;
  if (value.tag !== UTF8_STRING && value.tag !== PRINTABLE_STRING) return undefined;
  return ascii(buf, value);
}

/** No attributes → []; exactly one extensionRequest with exactly one non-critical SAN extension → its names; else undefined. */
function readAttributes(buf: Uint8Array, attributes: Tlv): Array<{ tag: number; text: string }> | undefined {
  if (attributes.tag !== 0xa0) return undefined;
  if (attributes.contentStart === attributes.end) return [];
  const [attribute] = children(buf, attributes, 0xa0, 1) ?? [];
  const [type, values] = attribute === undefined ? [] : children(buf, attribute, 0x30, 2) ?? [];
  if (type === undefined || values === undefined || !same(buf, type, OID_EXTENSION_REQUEST)) return undefined;
  const [extensions] = children(buf, values, 0x31, 1) ?? [];
  const [extension] = extensions === undefined ? [] : children(buf, extensions, 0x30, 1) ?? [];
  // extnID and extnValue only: a critical flag (even FALSE, which DER omits) leaves the shape.
  const [extnId, extnValue] = extension === undefined ? [] : children(buf, extension, 0x30, 2) ?? [];
  if (extnId === undefined || extnValue === undefined || !same(buf, extnId, OID_SUBJECT_ALT_NAME) || extnValue.tag !== 0x04) return undefined;
  const value = content(buf, extnValue);
  const generalNames = readTlv(value, 0);
  if (generalNames.tag !== 0x30 || generalNames.end !== value.length || !minimal(generalNames)) return undefined;
  const names: Array<{ tag: number; text: string }> = [];
  for (const name of readChildren(value, generalNames)) {
    const text = (name.tag === SAN_DNS || name.tag === SAN_URI) && minimal(name) ? ascii(value, name) : undefined;
    if (text === undefined) return undefined;
    names.push({ tag: name.tag, text });
  }
  return names.length > 0 ? names : undefined;
}

/**
 * The CSR's parts when `der` has the fast shape (one SEQUENCE filling the
 * buffer, every length in its shortest form); undefined otherwise, including
 * on any DER error.
 */
export function readAgentCsr(der: Uint8Array): AgentCsr | undefined {
  try {
    const outer = readTlv(der, 0);
    if (outer.end !== der.length) return undefined; // csr.ts refuses trailing bytes before; this never relies on it
    const [info, algorithm, signature] = children(der, outer, 0x30, 3) ?? [];
    if (info === undefined || algorithm === undefined || signature === undefined) return undefined;
    if (!same(der, algorithm, ECDSA_SHA256) || signature.tag !== 0x03 || der[signature.contentStart] !== 0x00) return undefined;
    const [version, subject, spki, attributes] = children(der, info, 0x30, 4) ?? [];
    if (version === undefined || subject === undefined || spki === undefined || attributes === undefined) return undefined;
    if (!same(der, version, VERSION_0)) return undefined;
    if (spki.end - spki.start !== P256_SPKI_LENGTH || Buffer.compare(der.subarray(spki.start, spki.start + P256_SPKI_PREFIX.length), P256_SPKI_PREFIX) !== 0) return undefined;
    if (der[spki.start + P256_SPKI_PREFIX.length] !== 0x04) return undefined; // uncompressed point
    const commonName = readSubject(der, subject);
    const sans = readAttributes(der, attributes);
    if (commonName === undefined || sans === undefined) return undefined;
    return {
      info: der.subarray(info.start, info.end),
      spki: der.subarray(spki.start, spki.end),
      commonName: commonName ?? undefined,
      sans,
      signature: der.subarray(signature.contentStart + 1, signature.end),
    };
  } catch {
    return undefined;
  }
}

/** sha256 (hex) of the key, as csr.ts's csrKeyFingerprint computes it from the library's parse. */
export function agentCsrKeySha256(csr: AgentCsr): string {
  return createHash("sha256").update(csr.spki).digest("hex");
}

/**
 * The SPKI when the CSR asks for nothing but `expected` and its signature
 * verifies with its own key; undefined means "let the library path decide",
 * never "refused".
 */
export function acceptAgentCsr(csr: AgentCsr, expected: CertificateNames): Uint8Array | undefined {
  if (csr.commonName !== undefined && csr.commonName !== expected.dns) return undefined;
  for (const name of csr.sans) {
    if (!(name.tag === SAN_URI ? name.text === expected.uri : name.text === expected.dns)) return undefined;
  }
  const spki = Buffer.from(csr.spki.buffer, csr.spki.byteOffset, csr.spki.byteLength);
  const x = spki.subarray(P256_SPKI_PREFIX.length + 1, P256_SPKI_PREFIX.length + 33);
  const y = spki.subarray(P256_SPKI_PREFIX.length + 33);
  if (Buffer.compare(x, P256_P) >= 0 || Buffer.compare(y, P256_P) >= 0) return undefined;
  let key: KeyObject;
  try {
    // From the coordinates rather than the DER: OpenSSL 3's generic decoder
    // cost 260-280 us per key against ~150 us (measured, issue 17), more than
    // the verify. OpenSSL checks the point is on the curve either way
    // (EC_KEY_check_key); the coordinates are below p (checked above), as
    // the DER decoder requires, so both imports take exactly the same keys.
    key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: x.toString("base64url"), y: y.toString("base64url") }, format: "jwk" });
    // OpenSSL takes only a DER ECDSA-Sig-Value with nothing after it.
    return verify("sha256", csr.info, { key, dsaEncoding: "der" }, csr.signature) ? csr.spki : undefined;
  } catch {
    return undefined;
  }
}
