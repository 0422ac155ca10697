/**
 * Verifies a CMS SignedData (RFC 5652) the way Azure IMDS produces its
 * attested document: the content is encapsulated, the signer's certificate
 * travels in the SignedData, and intermediates may travel with it or come
 * from a configured file. Parsing is @peculiar/asn1-cms / asn1-x509; the
 * signature check is node:crypto; chain building is @peculiar/x509. No
 * ASN.1 is decoded by hand: the one byte changed below is the tag RFC 5652
 * §5.4 says to use when signed attributes are hashed.
 *
 * Why the signer's name is checked as well as its chain: Azure's roots are
 * public CAs that sign TLS certificates for anybody's domain; without the
 * name, any holder of such a certificate could sign documents of its own.
 */
import { createHash, createPublicKey, verify as verifySignature } from "node:crypto";
import { ContentInfo, SignedData, id_signedData, id_data, type SignerInfo } from "@peculiar/asn1-cms";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { fromBER, type BaseBlock } from "asn1js";
import { errorMessage } from "../../common/errors.js";
import { crypto, x509 } from "../certificates/x509.js";
import { ATTEST_ERRORS, attestError } from "./errors.js";

/** Digest algorithms by OID; SHA-1 is refused (collisions are practical). */
const DIGESTS: Readonly<Record<string, string>> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
/** Signature algorithms by OID: RSA PKCS#1 v1.5 (what IMDS uses) and ECDSA, with the hash they imply (if any). */
const SIGNATURES: Readonly<Record<string, { readonly hash?: string }>> = {
  "1.2.840.113549.1.1.1": {}, // rsaEncryption: the hash is the digest algorithm's
  "1.2.840.113549.1.1.11": { hash: "sha256" },
  "1.2.840.113549.1.1.12": { hash: "sha384" },
  "1.2.840.113549.1.1.13": { hash: "sha512" },
  "1.2.840.10045.4.3.2": { hash: "sha256" },
  "1.2.840.10045.4.3.3": { hash: "sha384" },
  "1.2.840.10045.4.3.4": { hash: "sha512" },
};
const MESSAGE_DIGEST = "1.2.840.113549.1.9.4";
const CONTENT_TYPE = "1.2.840.113549.1.9.3";
/** Largest signature field accepted: a real document is about 3 KiB of base64. */
export const MAX_SIGNATURE_CHARS = 64 * 1024;

export interface TrustAnchors {
  /** Self-signed certificates: where every chain must end. */
  readonly roots: readonly x509.X509Certificate[];
  /** Intermediates from the configured file, besides the ones the SignedData carries. */
  readonly intermediates: readonly x509.X509Certificate[];
  /** DNS names (SAN or CN) the signer's certificate must carry, e.g. metadata.azure.com. */
  readonly signerNames: readonly string[];
}

export interface VerifiedContent {
  readonly content: Buffer;
  readonly signer: x509.X509Certificate;
}

/** Parses and verifies `base64` (DER CMS SignedData); the encapsulated content on success. */
export async function verifySignedDocument(base64: string, anchors: TrustAnchors, now: Date): Promise<VerifiedContent> {
  const { signed, content, der } = parse(base64);
  const certificates = (signed.certificates ?? []).flatMap((c) => (c.certificate ? [c.certificate] : []));
  const signerInfo = signed.signerInfos[0];
  if (signed.signerInfos.length !== 1 || signerInfo === undefined) throw attestError(ATTEST_ERRORS.malformed, `the attested document has ${signed.signerInfos.length} signers; one expected`);
  const signerAsn = certificates.find((c) => isSigner(c, signerInfo));
  if (signerAsn === undefined) throw attestError(ATTEST_ERRORS.malformed, "the attested document does not carry its signer's certificate");
  const signer = new x509.X509Certificate(AsnConvert.serialize(signerAsn));
  checkSignature(signerInfo, content, signer, () => signedAttributesDer(der));
  const carried = certificates.filter((c) => c !== signerAsn).map((c) => new x509.X509Certificate(AsnConvert.serialize(c)));
  await checkChain(signer, [...carried, ...anchors.intermediates], anchors.roots, now);
  checkSignerName(signer, anchors.signerNames);
  return { content, signer };
}

function parse(base64: string): { signed: SignedData; content: Buffer; der: Buffer } {
  if (base64.length === 0 || base64.length > MAX_SIGNATURE_CHARS || !/^[A-Za-z0-9+/=\s]+$/.test(base64)) {
    throw attestError(ATTEST_ERRORS.malformed, `the attested document's signature is not base64 of at most ${MAX_SIGNATURE_CHARS} characters`);
  }
  try {
    const der = Buffer.from(base64, "base64");
    const info = AsnConvert.parse(der, ContentInfo);
    if (info.contentType !== id_signedData) throw new Error(`content type ${info.contentType} is not signed-data`);
    const signed = AsnConvert.parse(info.content, SignedData);
    if (signed.encapContentInfo.eContentType !== id_data) throw new Error(`encapsulated content type ${signed.encapContentInfo.eContentType} is not data`);
    const e = signed.encapContentInfo.eContent;
    const content = e?.single !== undefined ? Buffer.from(e.single.buffer) : e?.any !== undefined ? Buffer.from(AsnConvert.parse(e.any, OctetString).buffer) : undefined;
    if (content === undefined) throw new Error("the signed content is detached; IMDS encapsulates it");
    return { signed, content, der };
  } catch (err) {
    throw attestError(ATTEST_ERRORS.malformed, `the attested document is not a CMS SignedData: ${errorMessage(err)}`, err);
  }
}

function isSigner(cert: Certificate, info: SignerInfo): boolean {
  const sid = info.sid;
  if (sid.issuerAndSerialNumber !== undefined) {
    const tbs = cert.tbsCertificate;
    return Buffer.from(tbs.serialNumber).equals(Buffer.from(sid.issuerAndSerialNumber.serialNumber))
      && Buffer.from(AsnConvert.serialize(tbs.issuer)).equals(Buffer.from(AsnConvert.serialize(sid.issuerAndSerialNumber.issuer)));
  }
  if (sid.subjectKeyIdentifier !== undefined) {
    const ski = new x509.X509Certificate(AsnConvert.serialize(cert)).getExtension(x509.SubjectKeyIdentifierExtension);
    return ski !== null && ski.keyId.toLowerCase() === Buffer.from(sid.subjectKeyIdentifier.buffer).toString("hex");
  }
  return false;
}

function checkSignature(info: SignerInfo, content: Buffer, signer: x509.X509Certificate, attributesDer: () => Buffer | undefined): void {
  const digest = DIGESTS[info.digestAlgorithm.algorithm];
  const sig = SIGNATURES[info.signatureAlgorithm.algorithm];
  if (digest === undefined || sig === undefined) {
    throw attestError(ATTEST_ERRORS.badSignature, `digest ${info.digestAlgorithm.algorithm} / signature ${info.signatureAlgorithm.algorithm} is not an accepted algorithm (SHA-2 with RSA or ECDSA)`);
  }
  let signedBytes: Buffer = content;
  if (info.signedAttrs !== undefined) {
    // With signed attributes the signature covers them, and they carry the content's digest.
    const md = info.signedAttrs.find((a) => a.attrType === MESSAGE_DIGEST)?.attrValues[0];
    const ct = info.signedAttrs.find((a) => a.attrType === CONTENT_TYPE);
    const raw = attributesDer();
    if (md === undefined || ct === undefined || raw === undefined) throw attestError(ATTEST_ERRORS.badSignature, "the signed attributes lack the message digest or the content type");
    const expected = createHash(digest).update(content).digest();
    if (!Buffer.from(AsnConvert.parse(md, OctetString).buffer).equals(expected)) throw attestError(ATTEST_ERRORS.badSignature, "the signed message digest does not match the document");
    // RFC 5652 §5.4: the attributes are hashed with the SET OF tag, not the [0] IMPLICIT one they are sent with.
    signedBytes = Buffer.concat([Buffer.from([0x31]), raw.subarray(1)]);
  }
  let ok: boolean;
  try {
    const key = createPublicKey({ key: Buffer.from(signer.publicKey.rawData), format: "der", type: "spki" });
    ok = verifySignature(sig.hash ?? digest, signedBytes, key, Buffer.from(info.signature.buffer));
  } catch (err) {
    throw attestError(ATTEST_ERRORS.badSignature, `the signature cannot be checked: ${errorMessage(err)}`, err);
  }
  if (!ok) throw attestError(ATTEST_ERRORS.badSignature, "the attested document's signature does not verify with its signer's certificate");
}

/**
 * The signed attributes of the (one) SignerInfo exactly as they were sent:
 * the bytes the signature covers must be the sender's, not a re-encoding.
 * asn1-cms keeps no raw copy of a repeated field, so they are found in
 * asn1js's tree of the same DER: ContentInfo [0] → SignedData → last field
 * (signerInfos) → first SignerInfo → its [0] field.
 */
function signedAttributesDer(der: Buffer): Buffer | undefined {
  const children = (b: BaseBlock | undefined): BaseBlock[] => {
    const value = (b?.valueBlock as { value?: unknown } | undefined)?.value;
    return Array.isArray(value) ? (value as BaseBlock[]) : [];
  };
  const root = fromBER(new Uint8Array(der));
  if (root.offset === -1) return undefined;
  const signedData = children(children(root.result)[1])[0];
  const infos = children(signedData);
  const signerInfo = children(infos[infos.length - 1])[0];
  const attrs = children(signerInfo).find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0);
  return attrs === undefined ? undefined : Buffer.from(attrs.valueBeforeDecodeView);
}

/**
 * signer → intermediates → one of `roots`, each link's signature and
 * validity checked at `now`. The builder only proposes the path; every link
 * is verified here.
 */
async function checkChain(signer: x509.X509Certificate, intermediates: readonly x509.X509Certificate[], roots: readonly x509.X509Certificate[], now: Date): Promise<void> {
  const builder = new x509.X509ChainBuilder({ certificates: [...intermediates, ...roots] });
  let chain: x509.X509Certificate[];
  try {
    chain = [...(await builder.build(signer, crypto))];
  } catch (err) {
    throw attestError(ATTEST_ERRORS.unknownRoot, `no chain from the signer "${signer.subject}" to a configured root: ${errorMessage(err)}`, err);
  }
  const top = chain[chain.length - 1];
  const anchor = top === undefined ? undefined : roots.find((r) => Buffer.from(r.rawData).equals(Buffer.from(top.rawData)));
  if (anchor === undefined) throw attestError(ATTEST_ERRORS.unknownRoot, `the signer "${signer.subject}" chains to "${top?.issuer ?? "?"}", which is not a configured root`);
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1] ?? cert;
    if (!(await cert.verify({ publicKey: issuer, date: now }, crypto))) {
      throw attestError(ATTEST_ERRORS.unknownRoot, `certificate "${cert.subject}" of the signer's chain is not validly signed by "${issuer.subject}" or not valid at ${now.toISOString()}`);
    }
  }
}

function checkSignerName(signer: x509.X509Certificate, names: readonly string[]): void {
  const san = signer.getExtension(x509.SubjectAlternativeNameExtension);
  const dns = san?.names.items.filter((n) => n.type === "dns").map((n) => n.value.toLowerCase()) ?? [];
  const cn = signer.subjectName.getField("CN").map((v) => v.toLowerCase());
  const carried = dns.length > 0 ? dns : cn;
  if (!names.some((n) => carried.includes(n.toLowerCase()))) {
    throw attestError(ATTEST_ERRORS.signerName, `the signer's certificate names ${carried.join(", ") || "nothing"}, not ${names.join(" or ")}`);
  }
}
