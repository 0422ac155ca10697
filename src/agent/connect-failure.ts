/**
 * Why a connection to the controller failed, by class (issue 16, item 3):
 *
 *  - `tls`: a certificate problem. Retrying soon cannot fix it, and an
 *    operator must be told by name: our proxy certificate expired, was
 *    revoked, is not from the pinned CA, or its signature does not verify;
 *    or the controller's certificate is not trusted by our pinned bundle
 *    (another CA: MESHFED_AGENT_CA_MISMATCH), expired, or not a controller's.
 *  - `network`: refused, timed out, reset, unreachable, DNS. Retried with the
 *    normal backoff.
 *  - `refused`: the controller answered with its own permanent code (a
 *    token, service or Hello problem). Unchanged: the agent stops.
 *
 * grpc-js reports most TLS failures as UNAVAILABLE with at best OpenSSL's
 * message in `details` (never `error.cause`), and a server that drops our
 * certificate inside TLS as "Connection dropped". So the classification
 * uses, in order: the controller's meshfed code; a check of our own
 * certificate against the pinned bundle (validity dates, issuer, signature:
 * everything the controller's TLS stack checks, without asking it); and for
 * failures before any answer, a pre-flight handshake (tls-probe.ts) that
 * reads OpenSSL's verification code for the server and any alert for us.
 */
import { X509Certificate } from "node:crypto";
import type { RpcFailure } from "./grpc-errors.js";
import type { ProbeResult } from "./tls-probe.js";

export type FailureClass = "tls" | "network" | "refused";
/** retry: the normal backoff; slow: the certificate backoff (`backoff.tlsRetry`); stop: exit EXIT_PERMANENT. */
export type FailureAction = "retry" | "slow" | "stop";

export interface ConnectFailure {
  readonly class: FailureClass;
  readonly code: string;
  readonly detail: string;
  readonly action: FailureAction;
}

export const TLS_CODES = {
  certExpired: "MESHFED_AGENT_TLS_CERT_EXPIRED",
  certNotYetValid: "MESHFED_AGENT_TLS_CERT_NOT_YET_VALID",
  certUntrusted: "MESHFED_AGENT_TLS_CERT_UNTRUSTED",
  certBadSignature: "MESHFED_AGENT_TLS_CERT_BAD_SIGNATURE",
  certRefused: "MESHFED_AGENT_TLS_CERT_REFUSED",
  /** The controller's certificate does not chain to our pinned bundle: another CA (issue 16, item 2 uses the same code). */
  caMismatch: "MESHFED_AGENT_CA_MISMATCH",
  serverCertExpired: "MESHFED_AGENT_TLS_SERVER_CERT_EXPIRED",
  serverUntrusted: "MESHFED_AGENT_TLS_SERVER_UNTRUSTED",
  notController: "MESHFED_AGENT_TLS_NOT_CONTROLLER",
} as const;

export const NETWORK_CODES = {
  refused: "MESHFED_AGENT_NET_REFUSED",
  timeout: "MESHFED_AGENT_NET_TIMEOUT",
  reset: "MESHFED_AGENT_NET_RESET",
  dns: "MESHFED_AGENT_NET_DNS",
  unreachable: "MESHFED_AGENT_NET_UNREACHABLE",
  other: "MESHFED_AGENT_NET_UNAVAILABLE",
} as const;

/** OpenSSL's codes for "this chain does not lead to a root we hold". */
const CHAIN_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_SIGNATURE_FAILURE", "CERT_UNTRUSTED",
]);

const tls = (code: string, detail: string, action: FailureAction = "slow"): ConnectFailure => ({ class: "tls", code, detail, action });

/**
 * Checks our proxy certificate the way the controller's TLS stack will:
 * undefined when it is fine (or cannot be parsed, which is not our call here).
 */
export function checkOwnCertificate(certPem: string, caPem: string, now: Date): ConnectFailure | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return undefined;
  }
  if (now.getTime() > Date.parse(cert.validTo)) return tls(TLS_CODES.certExpired, `our proxy certificate ${cert.serialNumber.toLowerCase()} expired at ${new Date(cert.validTo).toISOString()}`, "stop");
  if (now.getTime() < Date.parse(cert.validFrom)) return tls(TLS_CODES.certNotYetValid, `our proxy certificate is valid only from ${new Date(cert.validFrom).toISOString()} (is this host's clock right?)`);
  const roots = bundle(caPem);
  const sameName = roots.filter((ca) => ca.subject === cert.issuer);
  if (sameName.length === 0) return tls(TLS_CODES.certUntrusted, `our proxy certificate was issued by "${oneLine(cert.issuer)}", which is not in the pinned CA bundle (another CA)`);
  if (!sameName.some((ca) => cert.verify(ca.publicKey))) {
    return tls(TLS_CODES.certBadSignature, `our proxy certificate names "${oneLine(cert.issuer)}" as issuer, but its signature does not verify with that CA's key`);
  }
  return undefined;
}

/**
 * The controller's own verdicts on our certificate: already named, so they
 * keep the controller's code (scripts and the installer match on it).
 */
function fromControllerCode(f: RpcFailure): ConnectFailure | undefined {
  return f.code === "MESHFED_CERT_REVOKED" || f.code === "MESHFED_CERT_EXPIRED" ? tls(f.code, f.details, "stop") : undefined;
}

export interface ClassifyInput {
  readonly failure: RpcFailure;
  /** True when the controller answered on this stream before it failed. */
  readonly answered: boolean;
  readonly caPem: string;
  /** Our proxy certificate (absent while enrolling). */
  readonly certPem?: string;
  readonly now: Date;
  /** A pre-flight handshake, asked for only when nothing else explains a failure before any answer. */
  readonly probe?: () => Promise<ProbeResult>;
}

export async function classifyConnectFailure(input: ClassifyInput): Promise<ConnectFailure> {
  const { failure: f } = input;
  const known = fromControllerCode(f);
  if (known) return known;
  const own = input.certPem === undefined ? undefined : checkOwnCertificate(input.certPem, input.caPem, input.now);
  // The controller could not verify our certificate (it sees no client certificate at all).
  if (f.code === "MESHFED_NO_CLIENT_CERT") return own ?? tls(TLS_CODES.certRefused, f.details);
  if (f.permanent) return { class: "refused", code: f.code, detail: f.details, action: "stop" };
  if (input.answered) return network(f);
  // Before any answer. An expired certificate is decisive whoever else is wrong.
  if (own?.code === TLS_CODES.certExpired) return own;
  const net = networkCode(f.details);
  if (net !== undefined && net !== NETWORK_CODES.reset && net !== NETWORK_CODES.other) return { class: "network", code: net, detail: f.details, action: "retry" };
  // Then the handshake itself: whether we trust the server is checked first, since
  // a bundle that does not trust the controller does not trust our certificate either.
  const probed = input.probe ? await input.probe() : undefined;
  switch (probed?.kind) {
    case "server-untrusted":
      if (probed.code === "CERT_HAS_EXPIRED") return tls(TLS_CODES.serverCertExpired, `the controller's certificate has expired (${probed.message})`);
      if (CHAIN_CODES.has(probed.code)) return tls(TLS_CODES.caMismatch, `the controller's certificate does not chain to the pinned CA bundle (${probed.code}): the controller has another CA`);
      return tls(TLS_CODES.serverUntrusted, `the controller's certificate is not trusted (${probed.code})`);
    case "not-controller":
      return tls(TLS_CODES.notController, probed.message);
    case "network":
      return { class: "network", code: networkCode(probed.code) ?? NETWORK_CODES.other, detail: probed.message, action: "retry" };
    case "client-refused":
      // The controller drops a certificate it cannot verify without a word: our own check names why.
      return own ?? tls(TLS_CODES.certRefused, `the controller refused our proxy certificate during the TLS handshake (${probed.alert})`);
    default:
      return own ?? network(f);
  }
}

function network(f: RpcFailure): ConnectFailure {
  return { class: "network", code: networkCode(f.details) ?? NETWORK_CODES.other, detail: f.details, action: "retry" };
}

/** The network cause named in an errno code or in grpc-js's details. */
export function networkCode(text: string): string | undefined {
  if (/ECONNREFUSED/.test(text)) return NETWORK_CODES.refused;
  if (/ETIMEDOUT|Deadline exceeded|deadline/i.test(text)) return NETWORK_CODES.timeout;
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed|DNS resolution failed/i.test(text)) return NETWORK_CODES.dns;
  if (/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN/.test(text)) return NETWORK_CODES.unreachable;
  if (/ECONNRESET|EPIPE|Connection dropped|reset|keepalive|GOAWAY/i.test(text)) return NETWORK_CODES.reset;
  return undefined;
}

function bundle(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)) {
    try {
      out.push(new X509Certificate(m[0]));
    } catch {
      // A broken block is skipped: the rest of the bundle still counts.
    }
  }
  return out;
}

function oneLine(dn: string): string {
  return dn.split("\n").join(", ");
}
