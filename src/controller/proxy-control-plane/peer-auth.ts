/**
 * Who is on the other end of an mTLS connection from a proxy: one check for
 * every endpoint proxies reach with their proxy certificate (the gRPC Connect
 * stream, server.ts; the Pipy repo, pipy-repo-auth.ts). The TLS layer has
 * already verified the chain against the mesh CA; this adds what only the
 * controller knows: the certificate is a proxy certificate in the registry,
 * for the identity its SAN names, and neither revoked nor expired. Each
 * transport maps a refusal to its own status (gRPC code, HTTP status).
 */
import type { ServiceRef } from "../../common/service.js";
import type { CertificateManager, CertificateRecord } from "../certificates/types.js";

/** The SPIFFE ID of a proxy certificate: `spiffe://<td>/ns/<ns>/svc/<service>/proxy/<uuid>`. */
const PROXY_URI = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/svc\/([^/]+)\/proxy\/([0-9a-f-]{36})$/;

export interface ProxyPeer {
  readonly proxyId: string;
  readonly service: ServiceRef;
  readonly record: CertificateRecord;
}

export type PeerRefusal = "MESHFED_NO_CLIENT_CERT" | "MESHFED_CERT_UNKNOWN" | "MESHFED_CERT_REVOKED" | "MESHFED_CERT_EXPIRED";

export type PeerAuth =
  | { readonly ok: true; readonly peer: ProxyPeer }
  | { readonly ok: false; readonly code: PeerRefusal; readonly message: string };

/** The parts of Node's PeerCertificate this reads (gRPC's auth context and tls.TLSSocket give both). */
export interface PeerCertificateFields {
  readonly serialNumber?: string;
  readonly subjectaltname?: string;
}

/**
 * Checked per call, never cached: a revocation then takes effect at the next
 * stream or poll. The cost is one regex and one map lookup.
 */
export function authenticateProxyPeer(cert: PeerCertificateFields | undefined, certificates: Pick<CertificateManager, "certificate">, what: string): PeerAuth {
  // getPeerCertificate() returns {} when there is none (cannot happen with rejectUnauthorized, checked anyway).
  if (cert === undefined || typeof cert.serialNumber !== "string" || cert.serialNumber === "") {
    return { ok: false, code: "MESHFED_NO_CLIENT_CERT", message: `${what} needs a client certificate issued by this mesh's CA` };
  }
  const uri = /URI:([^,\s]+)/.exec(cert.subjectaltname ?? "")?.[1] ?? "";
  const m = PROXY_URI.exec(uri);
  const record = certificates.certificate(cert.serialNumber);
  if (!m || !record || record.kind !== "proxy" || record.identity !== uri) {
    return { ok: false, code: "MESHFED_CERT_UNKNOWN", message: `certificate ${cert.serialNumber.toLowerCase()} is not a proxy certificate in this controller's registry` };
  }
  if (record.state === "revoked") {
    return { ok: false, code: "MESHFED_CERT_REVOKED", message: `certificate ${record.serial} was revoked (${record.revocationReason ?? "no reason"})` };
  }
  if (record.state === "expired") {
    return { ok: false, code: "MESHFED_CERT_EXPIRED", message: `certificate ${record.serial} expired at ${record.notAfter}` };
  }
  return { ok: true, peer: { proxyId: m[3]!, service: { namespace: m[1]!, name: m[2]! }, record } };
}
