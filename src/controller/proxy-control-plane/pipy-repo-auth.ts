/**
 * Who is polling the Pipy repo: the verified client certificate, checked
 * against the registry the same way the gRPC Connect path does (server.ts).
 * The TLS layer has already verified the chain against the mesh CA; this adds
 * the registry (unknown, revoked, expired) and the proxy id in the URL.
 */
import type { PeerCertificate } from "node:tls";
import type { CertificateManager } from "../certificates/types.js";
import { authenticateProxyPeer, type PeerRefusal, type ProxyPeer } from "./peer-auth.js";

export type RepoAuthCode = PeerRefusal | "MESHFED_REPO_PROXY_MISMATCH";

export type RepoPeer = ProxyPeer;

export type RepoAuth =
  | { readonly ok: true; readonly peer: RepoPeer }
  | { readonly ok: false; readonly status: 401 | 403; readonly code: RepoAuthCode; readonly message: string };

/** A revoked certificate is forbidden; every other refusal says "authenticate properly". */
const STATUS: Record<PeerRefusal, 401 | 403> = {
  MESHFED_NO_CLIENT_CERT: 401,
  MESHFED_CERT_UNKNOWN: 401,
  MESHFED_CERT_REVOKED: 403,
  MESHFED_CERT_EXPIRED: 401,
};

/**
 * Checked on every request, not once per connection: a revocation then takes
 * effect on the next 5 s poll even on a keep-alive connection.
 */
export function authenticateRepoPeer(
  cert: PeerCertificate | undefined,
  urlProxyId: string,
  certificates: Pick<CertificateManager, "certificate">,
): RepoAuth {
  const auth = authenticateProxyPeer(cert, certificates, "the repo");
  if (!auth.ok) return { ok: false, status: STATUS[auth.code], code: auth.code, message: auth.message };
  if (auth.peer.proxyId !== urlProxyId.toLowerCase()) {
    return { ok: false, status: 403, code: "MESHFED_REPO_PROXY_MISMATCH", message: `the URL names proxy ${urlProxyId} but the client certificate belongs to proxy ${auth.peer.proxyId}` };
  }
  return auth;
}
