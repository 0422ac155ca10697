/**
 * The proxy's own key pair and the CSR that asks the controller for its
 * ProxyCertificate (DESIGN.md §3 flow 3). The key is generated here and never
 * leaves the host. The CSR has an empty subject and no SANs: the controller
 * decides the identity (proxy UUID, service, SPIFFE URI) from the join token
 * and accepts only an empty subject or exactly the CN it would choose, which
 * the agent cannot know before enrolling.
 */
import { crypto, x509, type CryptoKeyPair } from "./x509.js";

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

export async function generateProxyKey(): Promise<{ keys: CryptoKeyPair; pem: string }> {
  const keys = await crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const pem = x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  return { keys, pem };
}

/** Re-imports a stored PKCS#8 key; the public half is derived from the private JWK. */
export async function importProxyKey(pem: string): Promise<CryptoKeyPair> {
  const [der] = x509.PemConverter.decode(pem);
  if (der === undefined) throw new Error("no PEM block in the proxy key file");
  const privateKey = await crypto.subtle.importKey("pkcs8", der, EC_P256, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const { d: _d, key_ops: _ops, ...publicJwk } = jwk;
  const publicKey = await crypto.subtle.importKey("jwk", { ...publicJwk, key_ops: ["verify"] }, EC_P256, true, ["verify"]);
  return { privateKey, publicKey };
}

export async function buildCsr(keys: CryptoKeyPair): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } }, crypto);
  return csr.toString("pem");
}
