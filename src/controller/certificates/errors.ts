import { MeshfedError } from "../../common/errors.js";

/**
 * Every code this component raises. Scripts, the admin API and tests match on
 * these strings; messages may change, codes may not.
 */
export const CERT_ERROR = {
  /** Not one PEM "CERTIFICATE REQUEST" block holding one DER PKCS#10 structure. */
  csrMalformed: "MESHFED_CSR_MALFORMED",
  /** The PEM text exceeds MAX_CSR_PEM_BYTES. */
  csrTooLarge: "MESHFED_CSR_TOO_LARGE",
  /** The self-signature does not verify, or uses a weak or unknown algorithm. */
  csrBadSignature: "MESHFED_CSR_BAD_SIGNATURE",
  /** A key type or size outside the allowed list (default: EC P-256 only). */
  csrKeyType: "MESHFED_CSR_KEY_TYPE",
  /** A SAN other than the identity's SPIFFE URI or its DNS name. */
  csrExtraSan: "MESHFED_CSR_EXTRA_SAN",
  /** basicConstraints CA:true or a keyUsage of keyCertSign/cRLSign. */
  csrCaRequested: "MESHFED_CSR_CA_REQUESTED",
  /** An extension or attribute we do not know to be harmless. */
  csrUnexpectedExtension: "MESHFED_CSR_UNEXPECTED_EXTENSION",
  /** A subject other than empty or CN=<expected CN>. */
  csrSubject: "MESHFED_CSR_SUBJECT",
  /** Proxy UUID, kind, namespace or name not in the expected form. */
  invalidIdentity: "MESHFED_INVALID_IDENTITY",
  certUnknown: "MESHFED_CERT_UNKNOWN",
  certRevoked: "MESHFED_CERT_REVOKED",
  certExpired: "MESHFED_CERT_EXPIRED",
  /** A persisted registry record that fails its schema; logged and skipped. */
  recordCorrupt: "MESHFED_CERT_RECORD_CORRUPT",
  /** A persisted service certificate that cannot be used; logged and replaced. */
  serviceCertCorrupt: "MESHFED_SERVICE_CERT_CORRUPT",
  /** Options that cannot work together (jitter ≥ validity, bad trust domain, ...). */
  config: "MESHFED_CERT_CONFIG",
  /** The CA certificate is stored but unreadable: fatal, never overwritten. */
  caCorrupt: "MESHFED_CA_CORRUPT",
  /** The CA certificate is stored but its key is gone: fatal, never re-keyed silently. */
  caKeyMissing: "MESHFED_CA_KEY_MISSING",
  /** The stored CA key does not belong to the stored CA certificate. */
  caKeyMismatch: "MESHFED_CA_KEY_MISMATCH",
  /** ca/rotation.json is unreadable: fatal, it names the current root. */
  caRotationCorrupt: "MESHFED_CA_ROTATION_CORRUPT",
  /** A rotation step asked for in a phase it does not follow (e.g. retire before reissue). */
  caRotationPhase: "MESHFED_CA_ROTATION_PHASE",
  /** Retire refused: live certificates still chain to the root being retired. */
  caRotationStragglers: "MESHFED_CA_ROTATION_STRAGGLERS",
  /** Another writer changed ca/rotation.json during the step; read the status and retry. */
  caRotationConflict: "MESHFED_CA_ROTATION_CONFLICT",
  /** A proxy sent a renewal CSR that the controller did not ask for. */
  renewalNotRequested: "MESHFED_RENEWAL_NOT_REQUESTED",
} as const;

export type CertificateErrorCode = (typeof CERT_ERROR)[keyof typeof CERT_ERROR];

export function certError(
  code: CertificateErrorCode,
  message: string,
  options: { cause?: unknown; details?: Record<string, unknown> } = {},
): MeshfedError {
  return new MeshfedError(code, message, options);
}
