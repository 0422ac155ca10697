/**
 * A sidecar's key pair and CSR, made by the controller at injection. Unlike
 * an agent (whose key never leaves its host), a pod cannot take part in an
 * enrolment before it exists; the key travels once, in the bootstrap Secret
 * of the pod's namespace, as osm-edge does. RBAC on Secrets is what guards it.
 */
import { crypto, exportPrivateKeyPem, generateKeyPair, x509 } from "../certificates/x509.js";

export async function generateSidecarKey(): Promise<{ csrPem: string; privateKeyPem: string }> {
  const keys = await generateKeyPair("P-256");
  // Empty subject, no SANs: the certificate manager decides the identity.
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } }, crypto);
  return { csrPem: csr.toString("pem"), privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}
