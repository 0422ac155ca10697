/**
 * CSR validation for proxy certificates. A CSR is untrusted input from an
 * agent holding only a join token, so we accept exactly one shape: one PEM
 * block, a self-signature that verifies, an allowed key, a subject that is
 * empty or the expected CN, and no request beyond the identity the controller
 * chose. Nothing but the public key is ever used; the certificate is built
 * from the identity (see ca.ts), so these checks exist to refuse a confused or
 * malicious requester loudly rather than to sanitise what we copy.
 */
import { createHash, createPublicKey } from "node:crypto";
import { CERT_ERROR, certError, type CertificateErrorCode } from "./errors.js";
import { acceptAgentCsr, agentCsrKeySha256, readAgentCsr } from "./csr-fast.js";
import { readChildren, readTlv } from "./der.js";
import type { CertificateNames } from "./identity.js";
import { crypto, x509 } from "./x509.js";

export const MAX_CSR_PEM_BYTES = 16 * 1024;

/** Key types a CSR may carry. "rsa" means a 2048..8192-bit modulus. */
export type CsrKeyType = "ec-p256" | "ec-p384" | "rsa";
export const DEFAULT_CSR_KEY_TYPES: readonly CsrKeyType[] = ["ec-p256"];

const OID = {
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  extensionRequest: "1.2.840.113549.1.9.14",
  challengePassword: "1.2.840.113549.1.9.7",
  unstructuredName: "1.2.840.113549.1.9.2",
} as const;

// Attributes OpenSSL adds when prompted; we ignore their values.
const IGNORED_ATTRIBUTES: ReadonlySet<string> = new Set([OID.challengePassword, OID.unstructuredName]);
const ALLOWED_EKUS: ReadonlySet<string> = new Set([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
const STRONG_HASHES: ReadonlySet<string> = new Set(["SHA-256", "SHA-384", "SHA-512"]);
// GeneralName context tags (RFC 5280 §4.2.1.6): [2] dNSName and [6] URI, both primitive.
const SAN_DNS = 0x82;
const SAN_URI = 0x86;
// Resource limits for the ASN.1 parser on untrusted input; a real CSR is a few dozen nodes.
const PARSE_OPTIONS = { berOptions: { maxDepth: 24, maxNodes: 1000 } };
const PEM = /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END (NEW )?CERTIFICATE REQUEST-----\s*$/;

export interface CsrPolicy {
  readonly keyTypes: readonly CsrKeyType[];
}

function fail(code: CertificateErrorCode, message: string, cause?: unknown): never {
  throw certError(code, message, cause === undefined ? {} : { cause });
}

/**
 * Returns the CSR's public key (DER SubjectPublicKeyInfo) once every check
 * passes; throws a MeshfedError with a MESHFED_CSR_* code otherwise. The
 * agents' own shape is accepted by the fast path (csr-fast.ts); everything
 * else, and every refusal, goes through the library path below.
 */
export async function validateCsr(csrPem: string, expected: CertificateNames, policy: CsrPolicy): Promise<Uint8Array> {
  const der = decodePem(csrPem);
  if (policy.keyTypes.includes("ec-p256")) {
    const csr = readAgentCsr(der);
    const spki = csr === undefined ? undefined : acceptAgentCsr(csr, expected);
    if (spki !== undefined) return spki;
  }
  return validateParsed(parse(der), expected, policy);
}

/**
 * The library path alone: the reference the fast path is tested against
 * (test/unit/certificates-csr-fast.test.ts), and the path for every CSR
 * outside the fast shape.
 */
export async function validateCsrWithLibrary(csrPem: string, expected: CertificateNames, policy: CsrPolicy): Promise<Uint8Array> {
  return validateParsed(parse(decodePem(csrPem)), expected, policy);
}

async function validateParsed(csr: x509.Pkcs10CertificateRequest, expected: CertificateNames, policy: CsrPolicy): Promise<Uint8Array> {
  checkKey(csr.publicKey, policy);
  await checkSignature(csr);
  checkSubject(csr, expected);
  checkAttributes(csr);
  for (const ext of csr.extensions) checkExtension(ext, expected);
  return new Uint8Array(csr.publicKey.rawData);
}

/**
 * sha256 (hex) of the CSR's public key, or undefined when the CSR does not
 * parse. It recognises a retried enrollment by the same key; it proves
 * nothing by itself (a public key is public): the self-signature checked by
 * validateCsr before anything is issued does.
 */
export function csrKeyFingerprint(csrPem: string): string | undefined {
  try {
    const der = decodePem(csrPem);
    const csr = readAgentCsr(der);
    return csr === undefined ? libraryFingerprint(der) : agentCsrKeySha256(csr);
  } catch {
    return undefined;
  }
}

/** csrKeyFingerprint through the library alone (the reference in tests). */
export function csrKeyFingerprintWithLibrary(csrPem: string): string | undefined {
  try {
    return libraryFingerprint(decodePem(csrPem));
  } catch {
    return undefined;
  }
}

function libraryFingerprint(der: Buffer): string {
  return createHash("sha256").update(new Uint8Array(parse(der).publicKey.rawData)).digest("hex");
}

/** The DER inside the one PEM block, checked to be one SEQUENCE and nothing after it. */
function decodePem(text: string): Buffer {
  if (typeof text !== "string") fail(CERT_ERROR.csrMalformed, "the CSR must be PEM text");
  if (Buffer.byteLength(text, "utf8") > MAX_CSR_PEM_BYTES) {
    fail(CERT_ERROR.csrTooLarge, `the CSR exceeds ${MAX_CSR_PEM_BYTES} bytes`);
  }
  const match = PEM.exec(text.trim());
  if (match === null || (match[1] ?? "") !== (match[3] ?? "")) {
    fail(CERT_ERROR.csrMalformed, "the CSR is not exactly one PEM CERTIFICATE REQUEST block");
  }
  const body = (match[2] ?? "").replace(/\s+/g, "");
  const der = Buffer.from(body, "base64");
  if (der.toString("base64") !== body) fail(CERT_ERROR.csrMalformed, "the CSR's PEM body is not valid base64");
  let whole = false;
  try {
    // The library accepts trailing bytes after the SEQUENCE; we do not.
    const outer = readTlv(der, 0);
    whole = outer.tag === 0x30 && outer.end === der.length;
  } catch (err) {
    fail(CERT_ERROR.csrMalformed, `the CSR is not a DER PKCS#10 request: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (!whole) fail(CERT_ERROR.csrMalformed, "the CSR is not a DER PKCS#10 request: not a single DER SEQUENCE");
  return der;
}

function parse(der: Buffer): x509.Pkcs10CertificateRequest {
  try {
    const csr = new x509.Pkcs10CertificateRequest(der, PARSE_OPTIONS);
    // Force lazy decoding now, so that a broken part is "malformed", not a later crash.
    void csr.subjectName.toJSON();
    void csr.publicKey.algorithm;
    void csr.extensions;
    return csr;
  } catch (err) {
    return fail(CERT_ERROR.csrMalformed, `the CSR is not a DER PKCS#10 request: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function checkKey(publicKey: x509.PublicKey, policy: CsrPolicy): void {
  let type: string | undefined;
  let detail: string;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey.rawData), format: "der", type: "spki" });
    type = key.asymmetricKeyType;
    const d = key.asymmetricKeyDetails ?? {};
    detail = `${type ?? "unknown"}${d.namedCurve ? ` ${d.namedCurve}` : ""}${d.modulusLength ? ` ${d.modulusLength} bits` : ""}`;
    const allowed = policy.keyTypes;
    if (type === "ec" && d.namedCurve === "prime256v1" && allowed.includes("ec-p256")) return;
    if (type === "ec" && d.namedCurve === "secp384r1" && allowed.includes("ec-p384")) return;
    if (type === "rsa" && allowed.includes("rsa") && (d.modulusLength ?? 0) >= 2048 && (d.modulusLength ?? 0) <= 8192) return;
  } catch (err) {
    return fail(CERT_ERROR.csrKeyType, "the CSR's public key cannot be read", err);
  }
  fail(CERT_ERROR.csrKeyType, `the CSR's key (${detail}) is not allowed; allowed: ${policy.keyTypes.join(", ")}`);
}

async function checkSignature(csr: x509.Pkcs10CertificateRequest): Promise<void> {
  let hash: string | undefined;
  try {
    // Typed with DOM names this project does not load; the shape is WebCrypto's.
    hash = (csr.signatureAlgorithm as unknown as { hash?: { name?: string } }).hash?.name;
  } catch {
    hash = undefined; // an algorithm identifier the library does not know
  }
  if (hash === undefined || !STRONG_HASHES.has(hash)) {
    fail(CERT_ERROR.csrBadSignature, `the CSR is signed with a weak or unknown algorithm (${hash ?? "unknown"})`);
  }
  let ok: boolean;
  try {
    ok = await csr.verify(crypto);
  } catch (err) {
    return fail(CERT_ERROR.csrBadSignature, "the CSR's signature cannot be checked", err);
  }
  if (!ok) fail(CERT_ERROR.csrBadSignature, "the CSR's signature does not verify with its own public key");
}

function checkSubject(csr: x509.Pkcs10CertificateRequest, expected: CertificateNames): void {
  const rdns = csr.subjectName.toJSON();
  if (rdns.length === 0) return;
  const only = rdns.length === 1 ? rdns[0] : undefined;
  const keys = only === undefined ? [] : Object.keys(only);
  const cn = only?.CN;
  if (keys.length === 1 && cn?.length === 1 && cn[0] === expected.dns) return;
  fail(CERT_ERROR.csrSubject, `the CSR's subject "${csr.subject}" must be empty or CN=${expected.dns}`);
}

function checkAttributes(csr: x509.Pkcs10CertificateRequest): void {
  for (const attribute of csr.attributes) {
    if (attribute.type === OID.extensionRequest || IGNORED_ATTRIBUTES.has(attribute.type)) continue;
    fail(CERT_ERROR.csrUnexpectedExtension, `the CSR carries an unexpected attribute ${attribute.type}`);
  }
}

function checkExtension(ext: x509.Extension, expected: CertificateNames): void {
  switch (ext.type) {
    case OID.subjectAltName:
      return checkSans(new Uint8Array(ext.value), expected);
    case OID.basicConstraints:
      if (ext instanceof x509.BasicConstraintsExtension && !ext.ca) return;
      return fail(CERT_ERROR.csrCaRequested, "the CSR asks for basicConstraints CA:true");
    case OID.keyUsage:
      if (ext instanceof x509.KeyUsagesExtension && (ext.usages & CA_USAGES) === 0) return;
      return fail(CERT_ERROR.csrCaRequested, "the CSR asks for keyCertSign or cRLSign key usage");
    case OID.extKeyUsage:
      if (ext instanceof x509.ExtendedKeyUsageExtension && ext.usages.every((u) => typeof u === "string" && ALLOWED_EKUS.has(u))) return;
      return fail(CERT_ERROR.csrUnexpectedExtension, "the CSR asks for an extended key usage other than serverAuth/clientAuth");
    case OID.subjectKeyIdentifier:
      return;
    default:
      return fail(CERT_ERROR.csrUnexpectedExtension, `the CSR asks for extension ${ext.type}, which is not allowed`);
  }
}

/** Reads GeneralNames from DER: the library drops name forms it cannot represent. */
function checkSans(value: Uint8Array, expected: CertificateNames): void {
  let names: Array<{ tag: number; text: string }>;
  try {
    const seq = readTlv(value, 0);
    if (seq.tag !== 0x30 || seq.end !== value.length) throw new Error("not a SEQUENCE");
    names = readChildren(value, seq).map((n) => ({ tag: n.tag, text: Buffer.from(value.subarray(n.contentStart, n.end)).toString("latin1") }));
  } catch (err) {
    return fail(CERT_ERROR.csrMalformed, "the CSR's subjectAltName extension is not valid DER", err);
  }
  for (const name of names) {
    if (name.tag === SAN_URI && name.text === expected.uri) continue;
    if (name.tag === SAN_DNS && name.text === expected.dns) continue;
    const shown = name.tag === SAN_URI ? `URI:${name.text}` : name.tag === SAN_DNS ? `DNS:${name.text}` : `a name of tag 0x${name.tag.toString(16)}`;
    fail(CERT_ERROR.csrExtraSan, `the CSR asks for ${shown}; only URI:${expected.uri} and DNS:${expected.dns} are allowed`);
  }
}
