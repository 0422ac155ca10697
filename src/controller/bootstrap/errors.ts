/**
 * Named refusals of an enrollment by attestation (docs/azure.md "Joining
 * without a token", docs/security.md T1). Each is logged by the controller
 * with its code and sent to the agent as the gRPC status's first word and
 * `meshfed-code` trailer. `transient` ones are answered with a status the
 * agent retries (FAILED_PRECONDITION / UNAVAILABLE: a new nonce and document
 * may succeed, or the inventory may catch up with a scale-out); the others
 * are PERMISSION_DENIED and stop the agent.
 */
import * as grpc from "@grpc/grpc-js";
import { MeshfedError } from "../../common/errors.js";

export const ATTEST_ERRORS = {
  /** No `bootstrap.azureImds` in the controller config (no roots file): the feature is off. */
  disabled: "MESHFED_ATTEST_DISABLED",
  /** The roots file cannot be read or holds no certificate. */
  rootsUnreadable: "MESHFED_ATTEST_ROOTS_UNREADABLE",
  /** Not a base64 DER CMS SignedData of the expected shape, or its content is not the JSON document. */
  malformed: "MESHFED_ATTEST_MALFORMED",
  /** The CMS signature does not verify with the signer's certificate, or uses an algorithm we refuse. */
  badSignature: "MESHFED_ATTEST_BAD_SIGNATURE",
  /** The signer's certificate does not chain to a configured root (or a link is expired or badly signed). */
  unknownRoot: "MESHFED_ATTEST_UNKNOWN_ROOT",
  /** The signer's certificate chains to a root but is not issued to the IMDS signing name. */
  signerName: "MESHFED_ATTEST_SIGNER_NAME",
  /** The document's nonce is not the one sent, or not one this mesh issued. */
  nonceMismatch: "MESHFED_ATTEST_NONCE_MISMATCH",
  /** The nonce was already spent by an enrollment: a replayed document. */
  nonceReused: "MESHFED_ATTEST_NONCE_REUSED",
  /** The nonce's short lifetime is over (transient: ask for a new one). */
  nonceExpired: "MESHFED_ATTEST_NONCE_EXPIRED",
  /** The document's timeStamp is older than `maxAge`, already expired, or from the future. */
  stale: "MESHFED_ATTEST_STALE_DOCUMENT",
  /** The document's subscription is not the one the Azure provider reads. */
  subscription: "MESHFED_ATTEST_SUBSCRIPTION_NOT_CONFIGURED",
  /** The vmId is not a VM or scale-set instance the Azure provider currently sees (transient). */
  vmUnknown: "MESHFED_ATTEST_VM_NOT_IN_INVENTORY",
  /** The VM is in the inventory but not running (transient). */
  vmNotRunning: "MESHFED_ATTEST_VM_NOT_RUNNING",
  /** The VM (and its scale set) has no service tag and no rule maps it, or its tags are broken. */
  noService: "MESHFED_ATTEST_NO_SERVICE_TAG",
  /** This replica does not poll ARM (a follower) or has not read it yet (transient: retry, maybe on the leader). */
  inventoryUnavailable: "MESHFED_ATTEST_INVENTORY_UNAVAILABLE",
  /** Too many nonces outstanding (transient). */
  busy: "MESHFED_ATTEST_BUSY",
} as const;

const TRANSIENT: ReadonlyMap<string, grpc.status> = new Map([
  [ATTEST_ERRORS.nonceExpired, grpc.status.FAILED_PRECONDITION],
  [ATTEST_ERRORS.stale, grpc.status.FAILED_PRECONDITION],
  [ATTEST_ERRORS.vmUnknown, grpc.status.FAILED_PRECONDITION],
  [ATTEST_ERRORS.vmNotRunning, grpc.status.FAILED_PRECONDITION],
  [ATTEST_ERRORS.inventoryUnavailable, grpc.status.UNAVAILABLE],
  [ATTEST_ERRORS.busy, grpc.status.RESOURCE_EXHAUSTED],
]);

/** The gRPC status a refusal is answered with. */
export function attestStatus(code: string): grpc.status {
  return TRANSIENT.get(code) ?? (code.startsWith("MESHFED_ATTEST_") ? grpc.status.PERMISSION_DENIED : grpc.status.INTERNAL);
}

export function attestError(code: (typeof ATTEST_ERRORS)[keyof typeof ATTEST_ERRORS], message: string, cause?: unknown): MeshfedError {
  return new MeshfedError(code, message, cause === undefined ? {} : { cause });
}
