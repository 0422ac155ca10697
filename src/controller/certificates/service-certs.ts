/**
 * Service certificates (DESIGN.md §1 ServiceCertificate): one per identity
 * (a ServiceAccount `namespace/account`; by default an account named like
 * the service, so before accounts existed this was one per service), shared
 * by every proxy running as it, key generated here (P-256). Kept in memory
 * and in the store at `service-certificates/<namespace>.<account>`
 * (certificate and key in one secret value, so one atomic put; the
 * namespace is a DNS label, so the first dot separates). A restart hands out
 * the same certificate; one stored under the old per-service names
 * (spiffe://…/svc/<name>) keeps being handed out until its renewal point,
 * since its DNS name is the default account's.
 *
 * Concurrent calls for one service share one in-flight issuance. A cached
 * certificate is replaced on the first call at or after its renewAt (by the
 * stored one when another replica renewed it already); a revoked one is
 * dropped at once (evict) and replaced on the next call.
 */
import { z } from "zod";
import type { Logger } from "../../common/logger.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { serviceKey, type ServiceRef } from "../../common/service.js";
import type { StateStore } from "../store/types.js";
import type { CaRoots } from "./ca-roots.js";
import { CERT_ERROR, certError } from "./errors.js";
import { serviceNames } from "./identity.js";
import type { CertificateRegistry } from "./registry.js";
import { jitteredLifetime, renewAt, validateLifetimeConfig, type ServiceLifetimeConfig } from "./renewal.js";
import type { CertificateWithKey } from "./types.js";
import { generateLeafKey, randomSerial, toSecond, x509 } from "./x509.js";

export const SERVICE_CERT_PREFIX = "service-certificates";

const StoredSchema = z.object({ certificatePem: z.string(), privateKeyPem: z.string() });

export interface ServiceCertificatesOptions {
  readonly store: StateStore;
  /** Signs with `roots.signer`; hands out `roots.bundlePem`. */
  readonly roots: CaRoots;
  readonly registry: CertificateRegistry;
  readonly trustDomain: string;
  readonly lifetime: ServiceLifetimeConfig;
  readonly now: () => Date;
  readonly random: () => number;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics | undefined;
}

export class ServiceCertificates {
  #o: ServiceCertificatesOptions;
  readonly #cache = new Map<string, CertificateWithKey>();
  readonly #inflight = new Map<string, Promise<CertificateWithKey>>();

  constructor(options: ServiceCertificatesOptions) {
    this.#o = options;
  }

  /** New lifetimes apply to certificates issued from now on; current ones run their course. */
  setLifetime(lifetime: ServiceLifetimeConfig): void {
    this.#o = { ...this.#o, lifetime: validateLifetimeConfig(lifetime) };
  }

  async get(service: ServiceRef): Promise<CertificateWithKey> {
    const names = serviceNames(service, this.#o.trustDomain); // validates before any work
    const key = serviceKey(service);
    const cached = this.#cache.get(key);
    if (cached !== undefined && this.#o.now() < cached.renewAt) return cached;
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending;
    const ref = { namespace: service.namespace, name: service.name };
    const run = this.#obtain(ref, key, names).finally(() => {
      if (this.#inflight.get(key) === run) this.#inflight.delete(key);
    });
    this.#inflight.set(key, run);
    return run;
  }

  /**
   * Resolves once every issuance under way has ended, however it ended: the
   * controller's close waits for this before it closes the store, so no
   * registry or certificate write of ours runs into a closed store.
   */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()]);
  }

  /** Stops handing out a revoked certificate; the next call issues a new one. */
  evict(serial: string): void {
    for (const [key, cert] of this.#cache) if (cert.serial === serial) this.#cache.delete(key);
  }

  /** The signing root changed: every cached certificate is from the other root. */
  evictAll(): void {
    this.#cache.clear();
  }

  /**
   * The stored certificate when it is still good, else a new one. Replicas
   * share one certificate per service: a new one is written only if the
   * stored bytes are still those we judged (create-if-absent or
   * compare-and-put); the loser takes the winner's certificate.
   */
  async #obtain(service: ServiceRef, key: string, names: { uri: string; dns: string }): Promise<CertificateWithKey> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const bytes = await this.#o.store.get(this.#storeKey(service));
      const stored = bytes === undefined ? undefined : await this.#loadStored(service, key, bytes);
      const cert = stored ?? (await this.#issue(service, key, names, bytes));
      if (cert !== undefined) {
        this.#cache.set(key, cert);
        return cert;
      }
    }
    throw certError(CERT_ERROR.serviceCertCorrupt, `service ${key}: the stored certificate kept changing under three attempts to replace it`);
  }

  #storeKey(service: ServiceRef): string {
    return `${SERVICE_CERT_PREFIX}/${service.namespace}.${service.name}`;
  }

  /** The persisted certificate if it is still ours, still good and not yet due; else undefined. */
  async #loadStored(service: ServiceRef, key: string, bytes: Uint8Array): Promise<CertificateWithKey | undefined> {
    const storeKey = this.#storeKey(service);
    try {
      const stored = StoredSchema.parse(JSON.parse(Buffer.from(bytes).toString("utf8")));
      const certificate = new x509.X509Certificate(stored.certificatePem);
      const serial = certificate.serialNumber.toLowerCase();
      const cert = this.#withKey(service, serial, { pem: stored.certificatePem, notBefore: certificate.notBefore, notAfter: certificate.notAfter }, stored.privateKeyPem);
      const record = this.#o.registry.get(serial);
      // Issued by a previous CA, revoked, or due: replace (not an error).
      if (!(await this.#o.roots.signer.signed(certificate)) || record === undefined || record.state === "revoked" || this.#o.now() >= cert.renewAt) {
        return undefined;
      }
      return cert;
    } catch (err) {
      this.#o.logger.error(
        { err: certError(CERT_ERROR.serviceCertCorrupt, `${storeKey} is unreadable; issuing a new certificate`, { cause: err }), code: CERT_ERROR.serviceCertCorrupt, service: key },
        "stored service certificate unusable",
      );
      return undefined;
    }
  }

  /** Undefined when another replica replaced `previous` first. */
  async #issue(service: ServiceRef, key: string, names: { uri: string; dns: string }, previous: Uint8Array | undefined): Promise<CertificateWithKey | undefined> {
    const { roots, registry, store, metrics, lifetime } = this.#o;
    const ca = roots.signer;
    const stop = metrics?.certificateIssueSeconds.startTimer({ kind: "service" });
    const { spki, privateKeyPem } = generateLeafKey();
    const notBefore = toSecond(this.#o.now());
    const notAfter = toSecond(new Date(notBefore.getTime() + jitteredLifetime(lifetime, this.#o.random)));
    const serial = randomSerial();
    const certificate = await ca.issue({ serial, commonName: names.dns, uri: names.uri, dns: names.dns, spki, notBefore, notAfter });
    const cert = this.#withKey(service, serial, { pem: certificate.pem, notBefore: certificate.notBefore, notAfter: certificate.notAfter }, privateKeyPem);
    // Registry first: every certificate that leaves this process is on record.
    // Service certificates have no claim step: the controller generated the
    // key and hands it only to proxies of the service, so they start "claimed".
    await registry.add({
      serial, kind: "service", identity: names.uri, service: key, serviceAccount: service.name,
      notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(),
      state: "claimed", claimedAt: cert.notBefore.toISOString(), ca: ca.serial,
    });
    const text = JSON.stringify({ certificatePem: cert.certificatePem, privateKeyPem });
    const storeKey = this.#storeKey(service);
    const won = previous === undefined ? await store.create(storeKey, text, { secret: true }) : await store.compareAndPut(storeKey, previous, text, { secret: true });
    stop?.();
    if (!won) {
      // Never handed out; revoked so that the registry does not list a live
      // certificate nobody holds.
      await registry.update(serial, (current) => (current === undefined ? { serial, kind: "service", identity: names.uri, service: key, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), state: "revoked" } : { ...current, state: "revoked", revokedAt: this.#o.now().toISOString(), revocationReason: "superseded: another replica stored this service's certificate first" }));
      this.#o.logger.info({ serial, service: key }, "another replica issued this service certificate first; using theirs");
      return undefined;
    }
    metrics?.certificatesIssued.inc({ kind: "service" });
    this.#o.logger.info({ serial, service: key, notAfter: cert.notAfter.toISOString(), renewAt: cert.renewAt.toISOString() }, "service certificate issued");
    return cert;
  }

  #withKey(service: ServiceRef, serial: string, certificate: { pem: string; notBefore: Date; notAfter: Date }, privateKeyPem: string): CertificateWithKey {
    const { notBefore, notAfter } = certificate;
    return {
      serial, service, certificatePem: certificate.pem, privateKeyPem, caBundlePem: this.#o.roots.bundlePem,
      notBefore, notAfter, renewAt: renewAt(notBefore, notAfter, this.#o.lifetime.renewBefore),
    };
  }
}
