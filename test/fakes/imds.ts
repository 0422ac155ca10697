/**
 * A fake Azure Instance Metadata Service: answers
 * `GET /metadata/attested/document?api-version=…&nonce=…` (header
 * `Metadata: true` required, as IMDS does) with
 * `{"encoding":"pkcs7","signature":"<base64 DER CMS SignedData>"}` over the
 * JSON IMDS signs (nonce, plan, timeStamp in "MM/DD/YY HH:MM:SS -0000",
 * vmId, licenseType, subscriptionId, sku). The signer is a test chain made
 * at setup: root → intermediate → signer "metadata.azure.com" (RSA, SHA-256,
 * as IMDS signs); the SignedData carries the signer and the intermediate,
 * with signed attributes (content type, message digest). Everything is built
 * with @peculiar/x509 and @peculiar/asn1-cms; `tamper` makes the refusals
 * the controller must name.
 */
import { createHash, createPrivateKey, sign, webcrypto } from "node:crypto";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { Attribute, CertificateChoices, CertificateSet, ContentInfo, EncapsulatedContent, EncapsulatedContentInfo, IssuerAndSerialNumber, SignedData, SignerIdentifier, SignerInfo, SignerInfos, DigestAlgorithmIdentifiers, id_data, id_signedData } from "@peculiar/asn1-cms";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate } from "@peculiar/asn1-x509";
import { fromBER, ObjectIdentifier, Set as Asn1Set } from "asn1js";
import { formatImdsTime } from "../../src/controller/bootstrap/azure-document.js";

const crypto = webcrypto;
const RSA = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } as const;

export interface SigningChain {
  readonly root: x509.X509Certificate;
  readonly intermediate: x509.X509Certificate;
  readonly signer: x509.X509Certificate;
  readonly signerKey: webcrypto.CryptoKey;
  readonly intermediateKey: webcrypto.CryptoKey;
  /** PEM of the root alone: the controller's roots file. */
  readonly rootsPem: string;
}

/** root → intermediate → signer (`signerName`, default metadata.azure.com). */
export async function signingChain(signerName = "metadata.azure.com"): Promise<SigningChain> {
  const keys = async () => (await crypto.subtle.generateKey(RSA, true, ["sign", "verify"]));
  const [rootKeys, interKeys, signerKeys] = await Promise.all([keys(), keys(), keys()]);
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(Date.now() + 86_400_000);
  const ca = (pathLength: number) => [new x509.BasicConstraintsExtension(true, pathLength, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)];
  const root = await x509.X509CertificateGenerator.createSelfSigned({ name: "CN=Test Azure Root", keys: rootKeys, notBefore, notAfter, signingAlgorithm: RSA, extensions: [...ca(1), await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey)] }, crypto);
  const intermediate = await x509.X509CertificateGenerator.create({
    subject: "CN=Test Azure Issuing CA", issuer: root.subject, publicKey: interKeys.publicKey, signingKey: rootKeys.privateKey, notBefore, notAfter, signingAlgorithm: RSA,
    extensions: [...ca(0), await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey), await x509.AuthorityKeyIdentifierExtension.create(root, false, crypto)],
  }, crypto);
  const signer = await x509.X509CertificateGenerator.create({
    subject: `CN=${signerName}`, issuer: intermediate.subject, publicKey: signerKeys.publicKey, signingKey: interKeys.privateKey, notBefore, notAfter, signingAlgorithm: RSA,
    extensions: [new x509.BasicConstraintsExtension(false), new x509.SubjectAlternativeNameExtension([{ type: "dns", value: signerName }]), await x509.AuthorityKeyIdentifierExtension.create(intermediate, false, crypto)],
  }, crypto);
  return { root, intermediate, signer, signerKey: signerKeys.privateKey, intermediateKey: interKeys.privateKey, rootsPem: root.toString("pem") };
}

/** The same root and intermediate, with a signer certificate issued for `name` instead. */
export async function withSignerName(chain: SigningChain, name: string): Promise<SigningChain> {
  const keys = (await crypto.subtle.generateKey(RSA, true, ["sign", "verify"]));
  const signer = await x509.X509CertificateGenerator.create({
    subject: `CN=${name}`, issuer: chain.intermediate.subject, publicKey: keys.publicKey, signingKey: chain.intermediateKey, signingAlgorithm: RSA,
    notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000),
    extensions: [new x509.BasicConstraintsExtension(false), new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]), await x509.AuthorityKeyIdentifierExtension.create(chain.intermediate, false, crypto)],
  }, crypto);
  return { ...chain, signer, signerKey: keys.privateKey };
}

export interface DocumentClaims {
  readonly nonce: string;
  readonly vmId: string;
  readonly subscriptionId: string;
  readonly createdOn: Date;
  readonly sku?: string;
}

export interface Tamper {
  /** Flip a byte of the signature. */
  readonly badSignature?: boolean;
  /** Leave the intermediate out of the SignedData. */
  readonly withoutIntermediate?: boolean;
}

/** The CMS SignedData IMDS would answer for `claims`, base64. */
export async function signAttestedDocument(chain: SigningChain, claims: DocumentClaims, tamper: Tamper = {}): Promise<string> {
  const expiresOn = new Date(claims.createdOn.getTime() + 6 * 3_600_000);
  const content = Buffer.from(JSON.stringify({
    nonce: claims.nonce, plan: { name: "", product: "", publisher: "" },
    timeStamp: { createdOn: formatImdsTime(claims.createdOn), expiresOn: formatImdsTime(expiresOn) },
    vmId: claims.vmId, licenseType: "", subscriptionId: claims.subscriptionId, sku: claims.sku ?? "22_04-lts-gen2",
  }));
  const sha256 = new AlgorithmIdentifier({ algorithm: "2.16.840.1.101.3.4.2.1" });
  const signerAsn = AsnConvert.parse(chain.signer.rawData, Certificate);
  const info = new SignerInfo({
    version: 1,
    sid: new SignerIdentifier({ issuerAndSerialNumber: new IssuerAndSerialNumber({ issuer: signerAsn.tbsCertificate.issuer, serialNumber: signerAsn.tbsCertificate.serialNumber }) }),
    digestAlgorithm: sha256,
    signedAttrs: [
      new Attribute({ attrType: "1.2.840.113549.1.9.3", attrValues: [new ObjectIdentifier({ value: id_data }).toBER()] }),
      new Attribute({ attrType: "1.2.840.113549.1.9.4", attrValues: [AsnConvert.serialize(new OctetString(createHash("sha256").update(content).digest()))] }),
    ],
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.1" }),
  });
  // The signature covers the attributes as a SET OF (RFC 5652 §5.4), in the order the SignerInfo sends them.
  const toSign = Buffer.from(new Asn1Set({ value: info.signedAttrs!.map((a) => fromBER(AsnConvert.serialize(a)).result) }).toBER());
  const key = createPrivateKey({ key: Buffer.from(await crypto.subtle.exportKey("pkcs8", chain.signerKey)), format: "der", type: "pkcs8" });
  const signature = sign("sha256", toSign, key);
  if (tamper.badSignature) signature.writeUInt8(signature.readUInt8(10) ^ 0xff, 10);
  info.signature = new OctetString(signature);
  const certs = [chain.signer, ...(tamper.withoutIntermediate ? [] : [chain.intermediate])].map((c) => new CertificateChoices({ certificate: AsnConvert.parse(c.rawData, Certificate) }));
  const signed = new SignedData({
    version: 1,
    digestAlgorithms: new DigestAlgorithmIdentifiers([sha256]),
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data, eContent: new EncapsulatedContent({ single: new OctetString(content) }) }),
    certificates: new CertificateSet(certs),
    signerInfos: new SignerInfos([info]),
  });
  return Buffer.from(AsnConvert.serialize(new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signed) }))).toString("base64");
}

export interface ImdsVm {
  vmId: string;
  subscriptionId: string;
  /** Moves createdOn (e.g. -3_600_000: an hour-old document). */
  ageMs?: number;
  /** Signs this nonce instead of the one asked for. */
  nonceOverride?: string;
  tamper?: Tamper;
  /** Signs with another chain (unknown root, wrong signer name). */
  chain?: SigningChain;
}

export interface ImdsRequest {
  readonly nonce: string | null;
  readonly metadata: string | undefined;
  readonly apiVersion: string | null;
}

export class FakeImds {
  readonly url: string;
  readonly requests: ImdsRequest[];
  readonly #server: Server;

  private constructor(server: Server, url: string, requests: ImdsRequest[]) {
    this.#server = server;
    this.url = url;
    this.requests = requests;
  }

  /** One VM's IMDS: `vm` is read at each request, so a test may change it between calls. */
  static async start(chain: SigningChain, vm: ImdsVm): Promise<FakeImds> {
    const requests: ImdsRequest[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://imds");
      const nonce = url.searchParams.get("nonce");
      requests.push({ nonce, metadata: req.headers.metadata as string | undefined, apiVersion: url.searchParams.get("api-version") });
      if (req.headers.metadata !== "true") {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: "Bad request. Required metadata header not specified" }));
        return;
      }
      if (url.pathname !== "/metadata/attested/document" || url.searchParams.get("api-version") === null) {
        res.writeHead(404).end();
        return;
      }
      const claims = { nonce: vm.nonceOverride ?? nonce ?? formatImdsTime(new Date()), vmId: vm.vmId, subscriptionId: vm.subscriptionId, createdOn: new Date(Date.now() + (vm.ageMs ?? 0)) };
      signAttestedDocument(vm.chain ?? chain, claims, vm.tamper).then(
        (signature) => res.writeHead(200, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify({ encoding: "pkcs7", signature })),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return new FakeImds(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
