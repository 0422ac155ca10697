/**
 * Certificates: DESIGN.md §1 (ProxyCertificate, ServiceCertificate), §2
 * (CertificateManager), §4 (CA key 0600, registry). Formats and rules:
 * docs/certificates.md.
 */
export type * from "./types.js";
export { createCertificateManager, CaCertificateManager, type CertificateManagerOptions } from "./manager.js";
export { CERT_ERROR, type CertificateErrorCode } from "./errors.js";
export { MAX_CSR_PEM_BYTES, DEFAULT_CSR_KEY_TYPES, csrKeyFingerprint, type CsrKeyType } from "./csr.js";
export { DEFAULT_RENEW_BEFORE, renewAt, type RenewBefore } from "./renewal.js";
export { proxyNames, serviceNames, controllerNames, CONTROLLER_PATH, type CertificateNames } from "./identity.js";
export { CA_CERT_KEY, CA_KEY_KEY } from "./ca.js";
export { CA_ROTATION_KEY, type RotationPhase, type RotationStep } from "./rotation-state.js";
export type { CaRotationStatus, Straggler } from "./rotation.js";
export type { RootInfo, RootRole } from "./ca-roots.js";
export { REGISTRY_PREFIX } from "./registry.js";
export { SERVICE_CERT_PREFIX } from "./service-certs.js";
