/**
 * The root CA: created on first start, persisted through the StateStore,
 * reused on every restart (DESIGN.md §4: "restart loses nothing and re-keys
 * nothing").
 *
 * Storage: `<dir>/key.pem` (PKCS#8, secret: mode 0600 in the FileStore) and
 * `<dir>/certificate.pem`, where `<dir>` is `ca` for the first root and
 * `ca/roots/<id>` for roots introduced by a rotation (rotation-state.ts says
 * which directory holds the current root). The key is written first. A crash between the two
 * writes leaves a key without a certificate; as that certificate was never
 * handed to anyone, we self-sign a new one over the same key. The opposite —
 * a certificate without its key — means the key was lost: that is fatal,
 * because a silent re-key would make every issued certificate untrusted.
 */
import type { Logger } from "../../common/logger.js";
import type { StateStore } from "../store/types.js";
import { CERT_ERROR, certError } from "./errors.js";
import { LeafTemplate, type IssuedLeaf, type LeafParams } from "./leaf-template.js";
import {
  crypto, exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, keyIdentifier, randomSerial, signingAlgorithm, toSecond, x509, type CryptoKey, type CryptoKeyPair, type Curve,
} from "./x509.js";

export const CA_KEY_KEY = "ca/key.pem";
export const CA_CERT_KEY = "ca/certificate.pem";
export const CA_COMMON_NAME = "meshfed root CA";

/** Where one root lives in the store, and the common name it gets when created there. */
export interface RootLocation {
  readonly dir: string;
  readonly commonName: string;
}

export const FIRST_ROOT: RootLocation = { dir: "ca", commonName: CA_COMMON_NAME };

function keyKey(location: RootLocation): string {
  return `${location.dir}/key.pem`;
}

function certKey(location: RootLocation): string {
  return `${location.dir}/certificate.pem`;
}

export interface CaOptions {
  readonly store: StateStore;
  readonly trustDomain: string;
  readonly validity: number;
  readonly curve: Curve;
  readonly now: () => Date;
  readonly logger: Logger;
}

export type { IssuedLeaf, LeafParams } from "./leaf-template.js";

export class CertificateAuthority {
  readonly certificate: x509.X509Certificate;
  readonly pem: string;
  readonly #key: CryptoKey;
  readonly #curve: Curve;
  /** Extensions every end-entity certificate shares; built once (the library makes them slowly). */
  readonly #leafExtensions: readonly x509.Extension[];
  /** The same leaves without the library's encoder (leaf-template.ts). */
  readonly #template: LeafTemplate;

  /** The store directory the root was loaded from. */
  readonly dir: string;

  private constructor(certificate: x509.X509Certificate, key: CryptoKey, curve: Curve, keyId: string, dir: string) {
    this.certificate = certificate;
    this.dir = dir;
    this.pem = certificate.toString("pem");
    this.#key = key;
    this.#curve = curve;
    this.#leafExtensions = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.AuthorityKeyIdentifierExtension(keyId),
    ];
    this.#template = new LeafTemplate(new Uint8Array(certificate.rawData), curve, key, this.#leafExtensions.map((e) => new Uint8Array(e.rawData)));
  }

  /**
   * Loads the root at `location`, creating it when absent unless `mustExist`
   * (a root named by the rotation state was stored before the state named
   * it: its absence is data loss, not a first start).
   */
  static async open(options: CaOptions, location: RootLocation = FIRST_ROOT, mustExist = false): Promise<CertificateAuthority> {
    const { store, logger } = options;
    const [KEY, CERT] = [keyKey(location), certKey(location)];
    const [keyBytes, certBytes] = await Promise.all([store.get(KEY), store.get(CERT)]);
    if (certBytes !== undefined && keyBytes === undefined) {
      throw certError(CERT_ERROR.caKeyMissing, `the CA certificate ${CERT} is stored but its key ${KEY} is missing; restore the key (re-keying would untrust every issued certificate)`);
    }
    if (mustExist && (certBytes === undefined || keyBytes === undefined)) {
      throw certError(CERT_ERROR.caKeyMissing, `the root CA in ${location.dir} is named by ca/rotation.json but ${certBytes === undefined ? CERT : KEY} is missing; restore it from a backup`);
    }
    if (certBytes !== undefined && keyBytes !== undefined) {
      const ca = await CertificateAuthority.#load(Buffer.from(certBytes).toString("utf8"), Buffer.from(keyBytes).toString("utf8"), undefined, location);
      const org = ca.certificate.subjectName.getField("O")[0];
      if (org !== options.trustDomain) {
        logger.warn({ caTrustDomain: org, trustDomain: options.trustDomain }, "stored CA was created for another trust domain; reusing it");
      }
      logger.info({ serial: ca.serial, notAfter: ca.certificate.notAfter.toISOString(), dir: location.dir }, "root CA loaded");
      return ca;
    }
    let keys: CryptoKeyPair;
    if (keyBytes !== undefined) {
      keys = await CertificateAuthority.#recoverKeys(Buffer.from(keyBytes).toString("utf8"), KEY);
      logger.warn({ key: KEY }, "CA key found without its certificate (interrupted first start, or another replica is creating the CA); self-signing it");
    } else {
      keys = await generateKeyPair(options.curve);
      // Replicas starting together on an empty shared store: one key wins,
      // the others load it instead of keeping a CA nobody else trusts.
      if (!(await store.create(KEY, await exportPrivateKeyPem(keys.privateKey), { secret: true }))) {
        return CertificateAuthority.open(options, location, mustExist);
      }
    }
    const certificate = await CertificateAuthority.#selfSign(keys, options, location.commonName);
    // Likewise one certificate: a second self-signature over the same key
    // would be a second CA bundle for agents to pin.
    if (!(await store.create(CERT, certificate.toString("pem")))) {
      return CertificateAuthority.open(options, location, mustExist);
    }
    logger.info({ serial: certificate.serialNumber, notAfter: certificate.notAfter.toISOString(), dir: location.dir }, "root CA created");
    return CertificateAuthority.#load(certificate.toString("pem"), undefined, keys.privateKey, location);
  }

  static async #selfSign(keys: CryptoKeyPair, options: CaOptions, commonName: string): Promise<x509.X509Certificate> {
    const curve = curveOf(keys.publicKey.algorithm);
    const notBefore = toSecond(options.now());
    return x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }, { O: [options.trustDomain] }],
      notBefore,
      notAfter: new Date(notBefore.getTime() + options.validity),
      keys,
      signingAlgorithm: signingAlgorithm(curve),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    }, crypto);
  }

  /** WebCrypto cannot derive a public key from PKCS#8; rebuild it through JWK. */
  static async #recoverKeys(keyPem: string, KEY: string): Promise<CryptoKeyPair> {
    const [der] = x509.PemConverter.decode(keyPem);
    if (der === undefined) throw certError(CERT_ERROR.caCorrupt, `${KEY} holds no PEM block`);
    let lastError: unknown;
    for (const curve of ["P-256", "P-384"] as const) {
      try {
        const alg = { name: "ECDSA", namedCurve: curve };
        const privateKey = await crypto.subtle.importKey("pkcs8", der, alg, true, ["sign"]);
        const { d: _d, key_ops: _ops, ...pub } = await crypto.subtle.exportKey("jwk", privateKey);
        const publicKey = await crypto.subtle.importKey("jwk", pub, alg, true, ["verify"]);
        return { privateKey, publicKey };
      } catch (err) {
        lastError = err;
      }
    }
    throw certError(CERT_ERROR.caCorrupt, `${KEY} is not an EC P-256/P-384 PKCS#8 key`, { cause: lastError });
  }

  static async #load(certPem: string, keyPem: string | undefined, liveKey: CryptoKey | undefined, location: RootLocation): Promise<CertificateAuthority> {
    const [KEY, CERT] = [keyKey(location), certKey(location)];
    let certificate: x509.X509Certificate;
    let curve: Curve;
    let keyId: string;
    try {
      certificate = new x509.X509Certificate(certPem);
      curve = curveOf(certificate.publicKey.algorithm);
      const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
      keyId = ski?.keyId ?? keyIdentifier(new Uint8Array(certificate.publicKey.rawData));
    } catch (err) {
      throw certError(CERT_ERROR.caCorrupt, `${CERT} is not a readable EC CA certificate`, { cause: err });
    }
    let key = liveKey;
    if (key === undefined) {
      try {
        key = await importPrivateKeyPem(keyPem ?? "", curve);
      } catch (err) {
        throw certError(CERT_ERROR.caCorrupt, `${KEY} is not a readable ${curve} PKCS#8 key`, { cause: err });
      }
    }
    // A restored backup may pair the wrong files; signing with a key that the
    // certificate does not vouch for would produce certificates nobody trusts.
    const probe = crypto.getRandomValues(new Uint8Array(32));
    const alg = signingAlgorithm(curve);
    const signature = await crypto.subtle.sign(alg, key, probe);
    const publicKey = await crypto.subtle.importKey("spki", certificate.publicKey.rawData, { name: "ECDSA", namedCurve: curve }, false, ["verify"]);
    if (!(await crypto.subtle.verify(alg, publicKey, signature, probe))) {
      throw certError(CERT_ERROR.caKeyMismatch, `${KEY} does not belong to the certificate in ${CERT}`);
    }
    return new CertificateAuthority(certificate, key, curve, keyId, location.dir);
  }

  /** Lower-case hex, as the registry records it. */
  get serial(): string {
    return this.certificate.serialNumber.toLowerCase();
  }

  get notAfter(): Date {
    return this.certificate.notAfter;
  }

  /**
   * Signs an end-entity certificate usable for mTLS client and server sides:
   * through the template when the inputs fit its shape (always, for the
   * names this controller makes), else through the library.
   */
  async issue(params: LeafParams): Promise<IssuedLeaf> {
    const capped = this.#capped(params);
    const tbs = this.#template.tbs(capped);
    if (tbs !== undefined) return this.#template.sign(tbs, capped);
    const certificate = await this.issueWithLibrary(params);
    return { der: Buffer.from(certificate.rawData), pem: certificate.toString("pem"), notBefore: certificate.notBefore, notAfter: certificate.notAfter };
  }

  /** A certificate must not outlive the CA that vouches for it. */
  #capped(params: LeafParams): LeafParams {
    return params.notAfter > this.notAfter ? { ...params, notAfter: this.notAfter } : params;
  }

  /** The TBSCertificate the template would sign for `params`, or undefined when it would defer to the library (the property test compares the two). */
  templateTbs(params: LeafParams): Buffer | undefined {
    return this.#template.tbs(this.#capped(params));
  }

  /**
   * The same certificate through @peculiar/x509's generic encoder: the
   * reference the template is tested against, and the path for inputs
   * outside the template's shape.
   */
  async issueWithLibrary(params: LeafParams): Promise<x509.X509Certificate> {
    const notAfter = this.#capped(params).notAfter;
    return x509.X509CertificateGenerator.create({
      serialNumber: params.serial,
      subject: [{ CN: [params.commonName] }],
      // The Name object re-encodes the parsed CA subject as is, so issuer and
      // subject stay byte-identical for chain building.
      issuer: this.certificate.subjectName,
      notBefore: params.notBefore,
      notAfter,
      publicKey: params.spki,
      signingKey: this.#key,
      signingAlgorithm: signingAlgorithm(this.#curve),
      extensions: [
        ...this.#leafExtensions,
        new x509.SubjectAlternativeNameExtension([
          { type: "url", value: params.uri },
          ...(params.extraUris ?? []).map((value) => ({ type: "url" as const, value })),
          { type: "dns", value: params.dns },
          ...(params.extraDns ?? []).map((value) => ({ type: "dns" as const, value })),
        ]),
        new x509.SubjectKeyIdentifierExtension(keyIdentifier(params.spki)),
      ],
    }, crypto);
  }

  /** True when `certificate` carries this CA's signature. */
  async signed(certificate: x509.X509Certificate): Promise<boolean> {
    try {
      return await certificate.verify({ publicKey: this.certificate.publicKey, signatureOnly: true }, crypto);
    } catch {
      return false;
    }
  }
}

/** `unknown`: the library types algorithms with DOM names this project does not load. */
function curveOf(algorithm: unknown): Curve {
  const { name, namedCurve } = algorithm as { name?: string; namedCurve?: string };
  if (name !== "ECDSA" || (namedCurve !== "P-256" && namedCurve !== "P-384")) {
    throw new Error(`unsupported CA key algorithm ${String(name)} ${String(namedCurve)}`);
  }
  return namedCurve;
}
