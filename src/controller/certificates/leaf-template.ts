/**
 * End-entity certificates without the generic ASN.1 encoder (issue 17): the
 * TBSCertificate of a proxy, service or controller certificate has one fixed
 * shape, so it is written directly (der-writer.ts) and signed with
 * node:crypto. Per CA, everything that never changes (issuer Name, signature
 * algorithm, the four shared extensions) is encoded once.
 *
 * The output is byte-for-byte the TBSCertificate @peculiar/x509 builds for
 * the same inputs (ca.ts keeps that path as `issueWithLibrary`; the property
 * test test/unit/certificates/leaf-template.test.ts holds the two equal).
 * Inputs outside the shape the library would encode the same way (a
 * non-printable common name, non-ASCII names, an odd serial) are not
 * handled here: `build` returns undefined and the caller uses the library.
 */
import { createHash, KeyObject, sign } from "node:crypto";
import { readChildren, readTlv } from "./der.js";
import { bitString, octetString, oid, sequence, tlv, unsignedInteger, x509Time, TAG } from "./der-writer.js";
import type { Curve, CryptoKey } from "./x509.js";

export interface LeafParams {
  readonly serial: string;
  readonly commonName: string;
  readonly uri: string;
  readonly dns: string;
  /** More DNS SANs (the webhook's Service names, which the API server checks). */
  readonly extraDns?: readonly string[];
  /** More URI SANs, after `uri` (a proxy's account). */
  readonly extraUris?: readonly string[];
  /** DER SubjectPublicKeyInfo of the certified key. */
  readonly spki: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A signed leaf as its users need it: no parsed object (parsing is the slow part). */
export interface IssuedLeaf {
  readonly der: Buffer;
  readonly pem: string;
  /** As the certificate states them: whole seconds. */
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const VERSION_3 = tlv(0xa0, tlv(TAG.integer, Buffer.from([2])));
const SIGNATURE_ALGORITHM: Record<Curve, { oid: Buffer; hash: string }> = {
  "P-256": { oid: sequence(oid("1.2.840.10045.4.3.2")), hash: "sha256" },
  "P-384": { oid: sequence(oid("1.2.840.10045.4.3.3")), hash: "sha384" },
};
const COMMON_NAME = oid("2.5.4.3");
const SUBJECT_ALT_NAME = oid("2.5.29.17");
const SUBJECT_KEY_IDENTIFIER = oid("2.5.29.14");
// GeneralName context tags (RFC 5280 §4.2.1.6), primitive IA5String content.
const SAN_DNS = 0x82;
const SAN_URI = 0x86;
/** The library's rule for PrintableString (its Name.isPrintableString). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
/** IA5 as the library writes SAN text: we take only visible ASCII. */
const VISIBLE_ASCII = /^[\x20-\x7e]*$/;
const HEX_SERIAL = /^(?:[0-9a-fA-F]{2})+$/;

export class LeafTemplate {
  readonly #issuer: Buffer;
  readonly #algorithm: { oid: Buffer; hash: string };
  readonly #sharedExtensions: Buffer;
  readonly #key: KeyObject;

  /**
   * @param caCertificateDer the CA certificate: its subject Name is copied as
   *   is into every leaf's issuer, so chain building matches byte for byte
   * @param sharedExtensions the DER of the extensions every leaf carries, in order
   */
  constructor(caCertificateDer: Uint8Array, curve: Curve, key: CryptoKey, sharedExtensions: readonly Uint8Array[]) {
    const certificate = readTlv(caCertificateDer, 0);
    const tbs = readChildren(caCertificateDer, certificate)[0];
    // version [0], serial, signature, issuer, validity, subject
    const subject = tbs === undefined ? undefined : readChildren(caCertificateDer, tbs)[5];
    if (subject === undefined || subject.tag !== TAG.sequence) throw new Error("the CA certificate has no subject Name");
    this.#issuer = Buffer.from(caCertificateDer.subarray(subject.start, subject.end));
    this.#algorithm = SIGNATURE_ALGORITHM[curve];
    this.#sharedExtensions = Buffer.concat(sharedExtensions);
    this.#key = KeyObject.from(key);
  }

  /** The TBSCertificate, or undefined when `params` is outside the fixed shape. */
  tbs(params: LeafParams): Buffer | undefined {
    const { commonName, uri, dns } = params;
    const uris = [uri, ...(params.extraUris ?? [])];
    const dnsNames = [dns, ...(params.extraDns ?? [])];
    if (!PRINTABLE.test(commonName) || !HEX_SERIAL.test(params.serial) || /^0+$/.test(params.serial)) return undefined;
    if (![...uris, ...dnsNames].every((name) => VISIBLE_ASCII.test(name))) return undefined;
    const notBefore = x509Time(params.notBefore);
    const notAfter = x509Time(params.notAfter);
    if (notBefore === undefined || notAfter === undefined) return undefined;
    const spki = Buffer.from(params.spki.buffer, params.spki.byteOffset, params.spki.byteLength);
    let keyId: Buffer;
    try {
      const outer = readTlv(spki, 0);
      if (outer.tag !== TAG.sequence || outer.end !== spki.length) return undefined;
      keyId = keyIdentifierBytes(spki);
    } catch {
      return undefined;
    }
    const names = sequence(
      ...uris.map((name) => tlv(SAN_URI, Buffer.from(name, "latin1"))),
      ...dnsNames.map((name) => tlv(SAN_DNS, Buffer.from(name, "latin1"))),
    );
    return sequence(
      VERSION_3,
      unsignedInteger(Buffer.from(params.serial, "hex")),
      this.#algorithm.oid,
      this.#issuer,
      sequence(notBefore, notAfter),
      sequence(tlv(TAG.set, sequence(COMMON_NAME, tlv(TAG.printableString, Buffer.from(commonName, "latin1"))))),
      spki,
      tlv(0xa3, sequence(
        this.#sharedExtensions,
        sequence(SUBJECT_ALT_NAME, octetString(names)),
        sequence(SUBJECT_KEY_IDENTIFIER, octetString(octetString(keyId))),
      )),
    );
  }

  /** Signs a TBSCertificate from `tbs` into a certificate. */
  sign(tbs: Buffer, params: LeafParams): IssuedLeaf {
    const signature = sign(this.#algorithm.hash, tbs, { key: this.#key, dsaEncoding: "der" });
    const der = sequence(tbs, this.#algorithm.oid, bitString(signature));
    return { der, pem: pemCertificate(der), notBefore: wholeSecond(params.notBefore), notAfter: wholeSecond(params.notAfter) };
  }
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1), as x509.ts's keyIdentifier. */
function keyIdentifierBytes(spki: Buffer): Buffer {
  const bits = readChildren(spki, readTlv(spki, 0))[1];
  if (bits === undefined || bits.tag !== TAG.bitString) throw new Error("not a SubjectPublicKeyInfo");
  return createHash("sha1").update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
}

function wholeSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** The library's PEM layout (64-character lines, no trailing newline), so callers see no difference. */
export function pemCertificate(der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----`;
}
