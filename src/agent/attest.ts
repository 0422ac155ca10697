/**
 * The agent's half of enrollment by attestation (docs/azure.md "Joining
 * without a token"): a nonce from the controller, the IMDS attested document
 * over it, both sent in Enroll instead of a join token. Each attempt asks for
 * a new nonce: a nonce is spent by the controller whatever the outcome.
 */
import { MeshfedError } from "../common/errors.js";
import { callAttestationNonce, type EnrollRequestOptions } from "./enroll.js";
import type { ConnectFailure } from "./connect-failure.js";
import { classifyRpcError } from "./grpc-errors.js";
import { fetchAttestedDocument } from "./imds.js";

type Rpc = Pick<EnrollRequestOptions, "address" | "caPem" | "timeoutMs" | "signal" | "keepalive">;

export async function attestAzure(rpc: Rpc, imdsUrl: string | undefined): Promise<{ nonce: string; encoding: string; signature: string }> {
  const { nonce } = await callAttestationNonce(rpc);
  const doc = await fetchAttestedDocument({ nonce, signal: rpc.signal, ...(imdsUrl === undefined ? {} : { baseUrl: imdsUrl }) });
  return { nonce, encoding: doc.encoding, signature: doc.signature };
}

/**
 * Failures the attestation path names itself, retried at the normal pace:
 * IMDS unreachable, and the controller's transient MESHFED_ATTEST_* refusals
 * (an inventory that has not seen a scale-out yet, a stale document, a
 * follower replica). Anything else goes through the usual classification.
 */
export function attestationFailure(err: unknown): ConnectFailure | undefined {
  if (err instanceof MeshfedError && err.code === "MESHFED_AGENT_IMDS_UNAVAILABLE") return { class: "network", code: err.code, detail: err.message, action: "retry" };
  const f = classifyRpcError(err);
  if (!f.permanent && f.code.startsWith("MESHFED_ATTEST_")) return { class: "refused", code: f.code, detail: f.details, action: "retry" };
  return undefined;
}
