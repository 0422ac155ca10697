/**
 * The Enroll path for an agent that proves its VM instead of holding a join
 * token (issue 21, docs/azure.md "Joining without a token"), and the nonce
 * RPC it starts with. server.ts rate-limits both per peer before calling
 * here; the proof itself is checked in controller/bootstrap/.
 *
 * One VM, one live proxy: the proxy id is the vmId, and a new enrollment of
 * the same VM revokes every other live certificate of that proxy id (its
 * stream, if connected, is closed by the revocation), so a VM that re-runs
 * its bootstrap (re-imaged, data directory lost) rotates rather than adds.
 */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { errorCode, errorMessage, MeshfedError } from "../../common/errors.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import type { AttestationNonceRequest__Output, AttestationNonceResponse, EnrollRequest__Output, EnrollResponse } from "../../common/proto.js";
import { serviceKey } from "../../common/service.js";
import type { AzureImdsAttestation } from "../bootstrap/azure-imds.js";
import { ATTEST_ERRORS, attestStatus } from "../bootstrap/errors.js";
import type { CertificateManager } from "../certificates/types.js";
import { statusError } from "./status.js";

export const SUPERSEDED_BY_ATTESTATION = "superseded by a new attestation of the same VM";

export interface AttestedEnrollDeps {
  readonly attestation: AzureImdsAttestation | undefined;
  readonly certificates: CertificateManager;
  readonly log: Logger;
  readonly metrics: ControllerMetrics | undefined;
}

const DISABLED = "enrollment by attestation is off: this controller has no bootstrap.azureImds (roots file) or no providers.azure";

export async function attestationNonce(d: AttestedEnrollDeps, call: grpc.ServerUnaryCall<AttestationNonceRequest__Output, AttestationNonceResponse>, callback: grpc.sendUnaryData<AttestationNonceResponse>): Promise<void> {
  const peer = call.getPeer();
  const refuse = (code: string, message: string) => {
    d.log.warn({ peer, code }, "attestation nonce refused");
    callback(statusError(attestStatus(code), code, message));
  };
  if (d.attestation === undefined) return refuse(ATTEST_ERRORS.disabled, DISABLED);
  if (call.request.method !== "azure-imds") return refuse(ATTEST_ERRORS.malformed, `attestation method "${String(call.request.method).slice(0, 32)}" is not "azure-imds"`);
  try {
    const { nonce, expiresAt } = await d.attestation.issueNonce();
    callback(null, { nonce, expiresAt: expiresAt.toISOString() });
  } catch (err) {
    refuse(errorCode(err), errorMessage(err));
  }
}

export async function enrollAttested(d: AttestedEnrollDeps, call: grpc.ServerUnaryCall<EnrollRequest__Output, EnrollResponse>, callback: grpc.sendUnaryData<EnrollResponse>): Promise<void> {
  const peer = call.getPeer();
  const req = call.request;
  const doc = req.azureAttested!;
  const refuse = (code: string, message: string, status = attestStatus(code)) => {
    d.metrics?.enrollments.inc({ result: code });
    d.log.warn({ peer, code, reason: message, hostname: req.hostname.slice(0, 253) }, "enrollment by attestation refused");
    callback(statusError(status, code, message));
  };
  if (d.attestation === undefined) return refuse(ATTEST_ERRORS.disabled, DISABLED);
  let identity;
  try {
    identity = await d.attestation.verify({ nonce: doc.nonce, encoding: doc.encoding, signature: doc.signature });
  } catch (err) {
    return refuse(errorCode(err), errorMessage(err));
  }
  const { proxyId, service, serviceAccount } = identity;
  try {
    const issued = await d.certificates.issueProxyCertificate(req.csrPem, { proxyId, kind: "agent", service, ...(serviceAccount === undefined ? {} : { serviceAccount }) });
    const replaced: string[] = [];
    for (const r of d.certificates.certificates()) {
      if (r.kind !== "proxy" || r.proxyId !== proxyId || r.serial === issued.record.serial || (r.state !== "unclaimed" && r.state !== "claimed")) continue;
      await d.certificates.revoke(r.serial, SUPERSEDED_BY_ATTESTATION);
      replaced.push(r.serial);
    }
    d.metrics?.enrollments.inc({ result: "ok" });
    d.log.info({ peer, proxyId, vmId: identity.vmId, resource: identity.resourceId, service: serviceKey(service), serial: issued.record.serial, replaced, hostname: req.hostname.slice(0, 253) },
      replaced.length > 0 ? "proxy enrolled by Azure attestation; the VM's previous certificate revoked" : "proxy enrolled by Azure attestation");
    callback(null, {
      proxyId, serviceNamespace: service.namespace, serviceName: service.name, certificatePem: issued.certificatePem, caBundlePem: issued.caBundlePem,
      notAfter: issued.record.notAfter, serviceAccount: serviceAccount ?? service.name,
    });
  } catch (err) {
    const code = errorCode(err);
    // A malformed CSR after a good proof: the nonce is spent, the agent asks for another.
    refuse(code, errorMessage(err), err instanceof MeshfedError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL);
  }
}
