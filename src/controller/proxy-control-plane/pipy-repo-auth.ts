/**
 * Who is polling the Pipy repo: the verified client certificate, checked
 * against the registry the same way the gRPC Connect path does (server.ts).
 * The TLS layer has already verified the chain against the mesh CA; this adds
 * the registry (unknown, revoked, expired) and the proxy id in the URL.
 */
import type { PeerCertificate } from "node:tls";
import type { ServiceRef } from "../../common/service.js";
import type { CertificateManager, CertificateRecord } from "../certificates/types.js";

const PROXY_URI = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/svc\/([^/]+)\/proxy\/([0-9a-f-]{36})$/;

export type RepoAuthCode =
  | "MESHFED_NO_CLIENT_CERT"
  | "MESHFED_CERT_UNKNOWN"
  | "MESHFED_CERT_REVOKED"
  | "MESHFED_CERT_EXPIRED"
  | "MESHFED_REPO_PROXY_MISMATCH";

export interface RepoPeer {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly record: CertificateRecord;
}

export type RepoAuth =
  | { readonly ok: true; readonly peer: RepoPeer }
  | { readonly ok: false; readonly status: 401 | 403; readonly code: RepoAuthCode; readonly message: string };

/**
 * Checked on every request, not once per connection: a revocation then takes
 * effect on the next 5 s poll even on a keep-alive connection. The cost is a
 * regex and a map lookup.
 */
export function authenticateRepoPeer(
  cert: PeerCertificate | undefined,
  urlProxyId: string,
  certificates: Pick<CertificateManager, "certificate">,
): RepoAuth {
  // getPeerCertificate() returns {} when there is none (cannot happen with rejectUnauthorized, checked anyway).
  if (cert === undefined || typeof cert.serialNumber !== "string" || cert.serialNumber === "") {
    return { ok: false, status: 401, code: "MESHFED_NO_CLIENT_CERT", message: "the repo needs a client certificate issued by this mesh's CA" };
  }
  const uri = /URI:([^,\s]+)/.exec(cert.subjectaltname ?? "")?.[1] ?? "";
  const m = PROXY_URI.exec(uri);
  const record = certificates.certificate(cert.serialNumber);
  if (!m || !record || record.kind !== "proxy" || record.identity !== uri) {
    return { ok: false, status: 401, code: "MESHFED_CERT_UNKNOWN", message: `certificate ${cert.serialNumber.toLowerCase()} is not a proxy certificate in this controller's registry` };
  }
  if (record.state === "revoked") {
    return { ok: false, status: 403, code: "MESHFED_CERT_REVOKED", message: `certificate ${record.serial} was revoked (${record.revocationReason ?? "no reason"})` };
  }
  if (record.state === "expired") {
    return { ok: false, status: 401, code: "MESHFED_CERT_EXPIRED", message: `certificate ${record.serial} expired at ${record.notAfter}` };
  }
  const proxyId = m[3]!;
  if (proxyId !== urlProxyId.toLowerCase()) {
    return { ok: false, status: 403, code: "MESHFED_REPO_PROXY_MISMATCH", message: `the URL names proxy ${urlProxyId} but the client certificate belongs to proxy ${proxyId}` };
  }
  return { ok: true, peer: { proxyId, service: { namespace: m[1]!, name: m[2]! }, record } };
}
