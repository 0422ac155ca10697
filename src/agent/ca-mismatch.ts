/**
 * One kind of TLS failure named on its own (issue 16 item 2): the controller
 * and this agent do not share a CA. It happens when a controller is rebuilt
 * with a new data directory, when an agent dials another mesh's controller,
 * or after a root rotation the agent slept through. Retrying cannot fix it
 * (only a new CA bundle and enrollment can), yet grpc-js reports it as
 * UNAVAILABLE like a network outage. The agent keeps retrying (the
 * controller's side may be the one that is wrong and may be put right), but
 * says MESHFED_AGENT_CA_MISMATCH in its log, GET /status and a file the
 * installer reads (data-dir.ts trust-failure.json).
 *
 * grpc-js hands over only a details string such as "No connection
 * established. Last error: Error: self-signed certificate in certificate
 * chain"; the OpenSSL verification texts below are what it contains when the
 * server's chain does not verify against the pinned bundle, and "unknown ca"
 * is the alert a controller sends when it does not know our certificate's CA.
 */
export const CA_MISMATCH = "MESHFED_AGENT_CA_MISMATCH";

const SERVER_NOT_TRUSTED = /self[- ]signed certificate in certificate chain|self[- ]signed certificate|unable to get local issuer certificate|unable to get issuer certificate|unable to verify the first certificate|certificate signature failure/i;
const CLIENT_NOT_TRUSTED = /alert unknown ca|alert number 48\b/i;

export interface CaMismatch {
  readonly code: typeof CA_MISMATCH;
  readonly controller: string;
  readonly message: string;
  /** The TLS error as grpc-js reported it. */
  readonly tlsError: string;
  readonly since: string;
}

/** The mismatch described by a failed call's error text, or undefined when it is something else. */
export function caMismatchOf(errorText: string, controller: string, caFile: string, now: Date): CaMismatch | undefined {
  const server = SERVER_NOT_TRUSTED.exec(errorText);
  const client = server === null ? CLIENT_NOT_TRUSTED.exec(errorText) : null;
  if (server === null && client === null) return undefined;
  const message = server !== null
    ? `the controller at ${controller} presents a certificate that does not chain to the CA bundle this agent pins (${caFile} or the one received at enrollment): it belongs to another mesh or was rebuilt with a new CA; re-install the agent against it (meshfed agent install) or point the agent at the right controller`
    : `the controller at ${controller} does not trust this agent's proxy certificate (TLS alert "unknown ca"): the agent was enrolled with another CA; re-install the agent against this controller (meshfed agent install)`;
  return { code: CA_MISMATCH, controller, message, tlsError: (server ?? client)![0], since: now.toISOString() };
}
