/**
 * Certificate manager: DESIGN.md §1 (ProxyCertificate, ServiceCertificate)
 * and §2 (Interfaces). The CA signs two kinds of certificates:
 *  - proxy certificates, one per proxy, long-lived, from a CSR whose key never
 *    leaves the proxy's host; states unclaimed → claimed → (revoked | expired);
 *  - service certificates, one per service, shared by its proxies, ~24 h with
 *    random jitter so that renewals across the mesh do not line up.
 *
 * Identities (docs/certificates.md):
 *  - proxy:   URI SAN spiffe://<td>/ns/<ns>/svc/<name>/proxy/<uuid>
 *             CN <uuid>.<kind>.<name>.<ns>.<td>
 *             plus URI SAN spiffe://<td>/ns/<ns>/sa/<sa> when its token names an account
 *  - service: one per identity (account): URI SAN spiffe://<td>/ns/<ns>/sa/<sa>,
 *             CN and DNS SAN <sa>.<ns>.svc.<td> (Pipy scripts see CN and DNS SANs only;
 *             the default account is the service's name, so the DNS name of a
 *             service with no declared account is what it was before accounts)
 *  - controller (its own serving certificate for agents):
 *             URI SAN spiffe://<td>/meshfed/controller, CN and DNS SAN meshfed-controller.<td>
 */
import type { ServiceRef } from "../../common/service.js";

export type ProxyKind = "agent" | "sidecar";
export type CertificateKind = "proxy" | "service" | "controller";
export type CertificateState = "unclaimed" | "claimed" | "revoked" | "expired";

export interface ProxyIdentity {
  /** A UUID chosen by the controller at enrolment. */
  readonly proxyId: string;
  readonly kind: ProxyKind;
  readonly service: ServiceRef;
  /**
   * The account the proxy runs as (a ServiceAccount name in the service's
   * namespace), from its join token; written as a second URI SAN
   * spiffe://<td>/ns/<ns>/sa/<sa>. Absent = the service's name.
   */
  readonly serviceAccount?: string;
}

/** One row of the registry; JSON field names are part of the admin API contract. */
export interface CertificateRecord {
  /** Lower-case hex, no separators. */
  readonly serial: string;
  readonly kind: CertificateKind;
  /** The SPIFFE URI of the certificate. */
  readonly identity: string;
  /** `namespace/name` of the service the certificate belongs to. */
  readonly service: string;
  /** Only for proxy certificates. */
  readonly proxyId?: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** The stored state; `expired` is derived at read time from notAfter. */
  readonly state: CertificateState;
  readonly claimedAt?: string;
  readonly revokedAt?: string;
  readonly revocationReason?: string;
  /**
   * Serial of the root CA that signed it. Absent on records written before
   * root rotation existed: those were signed by the first root (`ca/`).
   */
  readonly ca?: string;
  /**
   * Proxy certificates: the account from the join token (absent: none was
   * named, the service's name applies). Service certificates: the account the
   * certificate proves (absent on records issued per service, before accounts).
   */
  readonly serviceAccount?: string;
}

export interface IssuedCertificate {
  readonly record: CertificateRecord;
  readonly certificatePem: string;
  /** The CA bundle the proxy should trust (PEM, one or more roots). */
  readonly caBundlePem: string;
}

export interface CertificateWithKey {
  readonly serial: string;
  readonly service: ServiceRef;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly caBundlePem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** When the manager will hand out a fresh certificate instead of this one. */
  readonly renewAt: Date;
}

export interface CertificateManager {
  issueProxyCertificate(csrPem: string, identity: ProxyIdentity): Promise<IssuedCertificate>;
  claim(serial: string): Promise<CertificateRecord>;
  revoke(serial: string, reason: string): Promise<CertificateRecord>;
  /**
   * Cached per identity (`{ namespace, name: account }`); renewed once
   * `renewAt` has passed. Every proxy running as that account gets the same one.
   */
  serviceCertificate(identity: ServiceRef): Promise<CertificateWithKey>;
  /** The registry with states as of now (expired derived from the clock). */
  certificates(): readonly CertificateRecord[];
  certificate(serial: string): CertificateRecord | undefined;
  caBundle(): string;
  /**
   * A fresh serving certificate for the controller's agent endpoint. Agents
   * pin the CA and check the controller's SPIFFE ID, not a host name, so the
   * same certificate works behind any address. Recorded as kind "controller".
   */
  controllerCertificate(validityMs: number): Promise<CertificateWithKey>;
  /** Called after any registry change (issue, claim, revoke). */
  on(event: "change", fn: (record: CertificateRecord) => void): () => void;
  /**
   * Called when the trusted roots or the signing root change (a CA rotation
   * step, taken here or on another replica): `bundlePem` is what proxies must
   * trust from now on.
   */
  onCaChange(fn: (change: CaChange) => void): () => void;
  /** True while a rotation re-issues under a root other than the one that signed this certificate. */
  needsRenewal(serial: string): boolean;
  /**
   * A proxy connected for the first time (`record` as it was before the
   * claim) with a certificate from the signing root while a rotation
   * re-issues: its live certificates from the other root are revoked (it
   * proved it holds the new one).
   */
  supersedeRenewed(record: CertificateRecord): Promise<void>;
}

export interface CaChange {
  readonly phase: "none" | "introduced" | "reissuing" | "retired";
  readonly bundlePem: string;
  readonly signerChanged: boolean;
}
