/**
 * The certificate manager (DESIGN.md §2, CertificateManager): composes the
 * CA, the CSR validator, the registry and the service-certificate cache.
 * Built by `createCertificateManager`, which loads or creates the CA and
 * loads the registry before it resolves.
 */
import { randomInt } from "node:crypto";
import { errorCode, MeshfedError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { ControllerMetrics } from "../../common/metrics.js";
import { parseServiceKey, serviceKey, type ServiceRef } from "../../common/service.js";
import type { StateStore } from "../store/types.js";
import { CaRoots } from "./ca-roots.js";
import { DEFAULT_CSR_KEY_TYPES, validateCsr, type CsrKeyType } from "./csr.js";
import { CERT_ERROR, certError } from "./errors.js";
import { accountUri, controllerNames, proxyNames, validateTrustDomain } from "./identity.js";
import { checkOutageBudget } from "./outage-budget.js";
import { CertificateRegistry, normalizeSerial } from "./registry.js";
import { DEFAULT_RENEW_BEFORE, validateLifetimeConfig, type RenewBefore } from "./renewal.js";
import { CaRotation, type CaRotationStatus } from "./rotation.js";
import type { RotationStep } from "./rotation-state.js";
import { ServiceCertificates } from "./service-certs.js";
import type {
  CaChange, CertificateManager, CertificateRecord, CertificateWithKey, IssuedCertificate, ProxyIdentity,
} from "./types.js";
import { crypto, exportPrivateKeyPem, generateKeyPair, randomSerial, toSecond, x509, type Curve } from "./x509.js";

const HOUR = 3_600_000;
/** The pseudo service the controller's own certificates are recorded under. */
const CONTROLLER_SERVICE = "meshfed/controller";
const CONTROLLER_CERT_KEY = "controller/serving.json";
const WEBHOOK_CERT_KEY = "controller/webhook.json";
const DAY = 24 * HOUR;

export interface CertificateManagerOptions {
  readonly store: StateStore;
  /** The manager logs through `logger.child({ component: "certificates" })`. */
  readonly logger: Logger;
  /** SPIFFE trust domain; default "cluster.local". */
  readonly trustDomain?: string;
  /** Proxy certificate lifetime in ms; default 365 days. */
  readonly proxyValidity?: number;
  /** Nominal service certificate lifetime in ms; default 24 h. */
  readonly serviceValidity?: number;
  /** Half-width in ms of the uniform jitter added to each service lifetime; default 1 h. */
  readonly serviceJitter?: number;
  /** Service certificate renewal rule; default `{ fraction: 1/3 }` (renew after 2/3 of the lifetime). */
  readonly renewBefore?: RenewBefore;
  /**
   * When set (ms), every lifetime given here or later through setLifetimes
   * must let agents serve this long without the controller (outage-budget.ts).
   */
  readonly outageBudget?: number;
  /** Root CA lifetime in ms when one is created; default 10 years. */
  readonly caValidity?: number;
  /** Curve of a newly created root CA; default "P-256". */
  readonly caCurve?: Curve;
  /** Key types accepted in proxy CSRs; default ["ec-p256"]. */
  readonly csrKeyTypes?: readonly CsrKeyType[];
  /** Injected clock (tests); default `() => new Date()`. */
  readonly now?: () => Date;
  /** Jitter source returning [0, 1); default crypto.randomInt-based. */
  readonly random?: () => number;
  readonly metrics?: ControllerMetrics;
  /**
   * With a shared store (docs/ha.md): follow other replicas' registry changes
   * until this aborts. Without it the registry sees only this process's writes.
   */
  readonly signal?: AbortSignal;
}

export async function createCertificateManager(options: CertificateManagerOptions): Promise<CaCertificateManager> {
  const logger = options.logger.child({ component: "certificates" });
  const trustDomain = validateTrustDomain(options.trustDomain ?? "cluster.local");
  const now = options.now ?? (() => new Date());
  const proxyValidity = options.proxyValidity ?? 365 * DAY;
  if (!Number.isFinite(proxyValidity) || proxyValidity < 60_000) {
    throw certError(CERT_ERROR.config, `proxy validity ${proxyValidity} ms must be at least one minute`);
  }
  const csrKeyTypes = options.csrKeyTypes ?? DEFAULT_CSR_KEY_TYPES;
  if (csrKeyTypes.length === 0) throw certError(CERT_ERROR.config, "csrKeyTypes must allow at least one key type");
  const lifetime = validateLifetimeConfig({
    validity: options.serviceValidity ?? DAY,
    jitter: options.serviceJitter ?? HOUR,
    renewBefore: options.renewBefore ?? DEFAULT_RENEW_BEFORE,
  });
  if (options.outageBudget !== undefined) checkOutageBudget(options.outageBudget, lifetime, proxyValidity);
  const roots = await CaRoots.load({
    store: options.store, trustDomain, validity: options.caValidity ?? 3652 * DAY, curve: options.caCurve ?? "P-256", now, logger,
  }, options.signal);
  const ca = roots.signer;
  if (ca.notAfter.getTime() < now().getTime() + proxyValidity) {
    logger.warn({ caNotAfter: ca.notAfter.toISOString() }, "the root CA expires before a new proxy certificate would; proxy certificates are cut at the CA's notAfter");
  }
  const registry = await CertificateRegistry.load(options.store, logger, options.signal);
  const services = new ServiceCertificates({
    store: options.store, roots, registry, trustDomain, lifetime, now,
    random: options.random ?? (() => randomInt(2 ** 32) / 2 ** 32),
    logger, metrics: options.metrics,
  });
  // A service certificate revoked on another replica must not be handed out here either.
  registry.on((record) => {
    if (record.kind === "service" && record.state === "revoked") services.evict(record.serial);
  });
  // Cached certificates carry the bundle and signer of their time.
  roots.on(() => services.evictAll());
  return new CaCertificateManager({
    store: options.store, roots, registry, services, trustDomain, proxyValidity, csrKeyTypes, now, logger, metrics: options.metrics, outageBudget: options.outageBudget,
  });
}

interface ManagerParts {
  readonly store: StateStore;
  /** The trusted roots and the signing one; they change with a CA rotation. */
  readonly roots: CaRoots;
  readonly registry: CertificateRegistry;
  readonly services: ServiceCertificates;
  readonly trustDomain: string;
  proxyValidity: number;
  readonly csrKeyTypes: readonly CsrKeyType[];
  readonly now: () => Date;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics | undefined;
  readonly outageBudget: number | undefined;
}

export class CaCertificateManager implements CertificateManager {
  readonly #p: ManagerParts;
  readonly #rotation: CaRotation;

  /** Use createCertificateManager: the CA and registry must be loaded first. */
  constructor(parts: ManagerParts) {
    this.#p = parts;
    this.#rotation = new CaRotation({
      roots: parts.roots, logger: parts.logger, now: parts.now,
      certificates: () => this.certificates(),
      revoke: (serial, reason) => this.revoke(serial, reason),
      reissueHeld: () => this.#reissueHeld(),
    });
  }

  /**
   * Hot reload of certificate lifetimes (MeshConfig): applies to certificates
   * issued from now on; a bad combination, or one that breaks the outage
   * budget, is refused and nothing changes.
   */
  setLifetimes(lifetimes: { proxyValidity: number; serviceValidity: number; serviceJitter: number; renewBefore?: RenewBefore }): void {
    if (!Number.isFinite(lifetimes.proxyValidity) || lifetimes.proxyValidity < 60_000) {
      throw certError(CERT_ERROR.config, `proxy validity ${lifetimes.proxyValidity} ms must be at least one minute`);
    }
    const lifetime = validateLifetimeConfig({ validity: lifetimes.serviceValidity, jitter: lifetimes.serviceJitter, renewBefore: lifetimes.renewBefore ?? DEFAULT_RENEW_BEFORE });
    if (this.#p.outageBudget !== undefined) checkOutageBudget(this.#p.outageBudget, lifetime, lifetimes.proxyValidity);
    this.#p.services.setLifetime(lifetime);
    this.#p.proxyValidity = lifetimes.proxyValidity;
  }

  get trustDomain(): string {
    return this.#p.trustDomain;
  }

  async issueProxyCertificate(csrPem: string, identity: ProxyIdentity): Promise<IssuedCertificate> {
    const { roots, registry, metrics, logger } = this.#p;
    const ca = roots.signer;
    const stop = metrics?.certificateIssueSeconds.startTimer({ kind: "proxy" });
    let names;
    let spki;
    try {
      names = proxyNames(identity, this.#p.trustDomain);
      spki = await validateCsr(csrPem, names, { keyTypes: this.#p.csrKeyTypes });
    } catch (err) {
      const code = errorCode(err);
      metrics?.certificateRejections.inc({ code });
      logger.warn({ code, err, proxyId: identity?.proxyId }, "proxy certificate request refused");
      throw err;
    }
    const serial = randomSerial();
    const notBefore = toSecond(this.#p.now());
    const account = identity.serviceAccount;
    const certificate = await ca.issue({
      serial, commonName: names.dns, uri: names.uri, dns: names.dns, spki,
      // The proxy URI stays first: the Connect path reads the first URI SAN.
      ...(account === undefined ? {} : { extraUris: [accountUri(identity.service.namespace, account, this.#p.trustDomain)] }),
      notBefore, notAfter: new Date(notBefore.getTime() + this.#p.proxyValidity),
    });
    const record: CertificateRecord = {
      serial, kind: "proxy", identity: names.uri, service: serviceKey(identity.service), proxyId: identity.proxyId,
      notBefore: certificate.notBefore.toISOString(), notAfter: certificate.notAfter.toISOString(), state: "unclaimed", ca: ca.serial,
      ...(account === undefined ? {} : { serviceAccount: account }),
    };
    await registry.add(record);
    stop?.();
    metrics?.certificatesIssued.inc({ kind: "proxy" });
    logger.info({ serial, proxyId: identity.proxyId, service: record.service, state: record.state }, "proxy certificate issued");
    return { record, certificatePem: certificate.pem, caBundlePem: roots.bundlePem };
  }

  /**
   * unclaimed → claimed. Idempotent on a claimed certificate (a proxy may
   * reconnect); refused on revoked, expired or unknown serials.
   */
  async claim(serial: string): Promise<CertificateRecord> {
    const key = this.#known(serial);
    const record = await this.#p.registry.update(key, (current) => {
      const view = this.#view(current);
      if (view === undefined) throw this.#unknown(serial);
      if (view.state === "revoked") throw certError(CERT_ERROR.certRevoked, `certificate ${key} was revoked (${view.revocationReason ?? "no reason"})`, { details: { serial: key } });
      if (view.state === "expired") throw certError(CERT_ERROR.certExpired, `certificate ${key} expired at ${view.notAfter}`, { details: { serial: key } });
      if (current === undefined || current.state === "claimed") return current ?? view;
      return { ...current, state: "claimed", claimedAt: this.#p.now().toISOString() };
    });
    this.#p.logger.info({ serial: key, state: record.state, proxyId: record.proxyId }, "certificate claimed");
    return record;
  }

  /** any → revoked; idempotent (the first revocation's time and reason are kept). */
  async revoke(serial: string, reason: string): Promise<CertificateRecord> {
    const key = this.#known(serial);
    const why = typeof reason === "string" && reason.trim() !== "" ? reason.trim().slice(0, 256) : "unspecified";
    const record = await this.#p.registry.update(key, (current) => {
      if (current === undefined) throw this.#unknown(serial);
      if (current.state === "revoked") return current;
      return { ...current, state: "revoked", revokedAt: this.#p.now().toISOString(), revocationReason: why };
    });
    if (record.kind === "service") this.#p.services.evict(key);
    this.#p.logger.info({ serial: key, state: record.state, reason: record.revocationReason, proxyId: record.proxyId }, "certificate revoked");
    return record;
  }

  /** Resolves once every service certificate issuance under way (and its store writes) has ended. */
  settled(): Promise<void> {
    return this.#p.services.settled();
  }

  async serviceCertificate(service: ServiceRef): Promise<CertificateWithKey> {
    return this.#p.services.get(service);
  }

  certificates(): readonly CertificateRecord[] {
    const out: CertificateRecord[] = [];
    for (const record of this.#p.registry.all()) out.push(this.#view(record) ?? record);
    return out.sort((a, b) => (a.notBefore < b.notBefore ? -1 : a.notBefore > b.notBefore ? 1 : a.serial < b.serial ? -1 : 1));
  }

  certificate(serial: string): CertificateRecord | undefined {
    const key = normalizeSerial(serial);
    return key === undefined ? undefined : this.#view(this.#p.registry.get(key));
  }

  caBundle(): string {
    return this.#p.roots.bundlePem;
  }

  // ---- root CA rotation (rotation.ts) -------------------------------------

  caRotation(): CaRotationStatus {
    return this.#rotation.status();
  }

  /** One rotation step. Leader-only in HA: the caller (admin route) checks leadership. */
  rotateCa(step: RotationStep, options: { force?: boolean } = {}): Promise<CaRotationStatus> {
    return this.#rotation.step(step, options);
  }

  /** Finishes an interrupted reissue sweep, if a rotation is in that phase. Leader-only. */
  resumeCaRotation(): Promise<void> {
    return this.#rotation.resume();
  }

  onCaChange(fn: (change: CaChange) => void): () => void {
    return this.#p.roots.on(fn);
  }

  needsRenewal(serial: string): boolean {
    const record = this.certificate(serial);
    return this.#p.roots.phase === "reissuing" && record !== undefined && this.#rotation.rootOf(record) !== this.#p.roots.signer.serial;
  }

  async supersedeRenewed(record: CertificateRecord): Promise<void> {
    const signer = this.#p.roots.signer.serial;
    // Only a renewed certificate's first connection scans the registry: never on ordinary reconnects.
    if (this.#p.roots.phase !== "reissuing" || record.state !== "unclaimed") return;
    if (record.kind !== "proxy" || record.proxyId === undefined || this.#rotation.rootOf(record) !== signer) return;
    for (const r of this.certificates()) {
      if (r.kind !== "proxy" || r.proxyId !== record.proxyId || r.serial === record.serial || (r.state !== "claimed" && r.state !== "unclaimed")) continue;
      if (this.#rotation.rootOf(r) === signer) continue;
      await this.revoke(r.serial, `superseded: the proxy renewed its certificate under root CA ${signer}`);
    }
  }

  /**
   * The reissue sweep: every service certificate still live under another
   * root is replaced at once (pods polling the repo and agents both fetch
   * them) and the old one revoked. Serving certificates wait for retire
   * (rotation.ts says why). Safe to repeat.
   */
  async #reissueHeld(): Promise<void> {
    const { roots, services, logger } = this.#p;
    const signer = roots.signer.serial;
    services.evictAll();
    const outgoing = this.certificates().filter((r) => (r.state === "claimed" || r.state === "unclaimed") && r.kind === "service" && this.#rotation.rootOf(r) !== signer);
    const reason = `superseded: re-issued under root CA ${signer}`;
    for (const r of outgoing) {
      try {
        await services.get(parseServiceKey(r.service));
        await this.revoke(r.serial, reason);
      } catch (err) {
        logger.error({ err, code: errorCode(err), serial: r.serial, service: r.service }, "re-issuing a certificate under the new root failed; the sweep repeats on the leader");
      }
    }
    logger.info({ replaced: outgoing.length, signer }, "CA rotation: held certificates re-issued under the signing root");
  }

  async controllerCertificate(validityMs: number): Promise<CertificateWithKey> {
    return this.#servingCertificate(CONTROLLER_CERT_KEY, [], validityMs);
  }

  /**
   * The admission webhook's serving certificate: the controller's identity
   * plus the webhook Service's DNS names, which the API server checks against
   * the caBundle and the host it dials. Stored apart from the agent port's
   * certificate; a change of names issues a new one.
   */
  async webhookCertificate(dnsNames: readonly string[], validityMs: number): Promise<CertificateWithKey> {
    if (dnsNames.length === 0) throw certError(CERT_ERROR.config, "the webhook certificate needs at least one DNS name");
    return this.#servingCertificate(WEBHOOK_CERT_KEY, dnsNames, validityMs);
  }

  async #servingCertificate(storeKey: string, extraDns: readonly string[], validityMs: number): Promise<CertificateWithKey> {
    // Reused across restarts until its renewal point, so a restart neither
    // re-keys the controller nor adds a registry row.
    const stored = await this.#storedControllerCertificate(storeKey, extraDns);
    if (stored) return stored;
    const { roots, registry, logger, metrics, store } = this.#p;
    // The established root, not the signer: see rotation.ts on serving certificates.
    const ca = roots.root;
    const names = controllerNames(this.#p.trustDomain);
    const keys = await generateKeyPair("P-256");
    const serial = randomSerial();
    const notBefore = toSecond(this.#p.now());
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
    const certificate = await ca.issue({
      serial, commonName: names.dns, uri: names.uri, dns: names.dns, extraDns, spki, notBefore, notAfter: new Date(notBefore.getTime() + validityMs),
    });
    await registry.add({
      serial, kind: "controller", identity: names.uri, service: CONTROLLER_SERVICE,
      notBefore: certificate.notBefore.toISOString(), notAfter: certificate.notAfter.toISOString(), state: "claimed", claimedAt: notBefore.toISOString(), ca: ca.serial,
    });
    metrics?.certificatesIssued.inc({ kind: "controller" });
    logger.info({ serial, notAfter: certificate.notAfter.toISOString(), dnsNames: extraDns }, "controller serving certificate issued");
    const certificatePem = certificate.pem;
    const privateKeyPem = await exportPrivateKeyPem(keys.privateKey);
    // Replicas starting (or renewing) together race for the key: the first
    // write stays; a loser serves with its own certificate, valid and on
    // record, and picks the stored one up at its next start.
    const value = JSON.stringify({ certificatePem, privateKeyPem });
    const previous = await store.get(storeKey);
    const kept = previous === undefined ? await store.create(storeKey, value, { secret: true }) : await store.compareAndPut(storeKey, previous, value, { secret: true });
    if (!kept) logger.info({ serial, key: storeKey }, "another replica stored its serving certificate first; serving with this one meanwhile");
    return this.#controllerCertificate(serial, certificate, certificatePem, privateKeyPem);
  }

  #controllerCertificate(serial: string, certificate: { readonly notBefore: Date; readonly notAfter: Date }, certificatePem: string, privateKeyPem: string): CertificateWithKey {
    const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
    return {
      serial, service: parseServiceKey(CONTROLLER_SERVICE), certificatePem, privateKeyPem, caBundlePem: this.#p.roots.bundlePem,
      notBefore: certificate.notBefore, notAfter: certificate.notAfter,
      renewAt: new Date(certificate.notBefore.getTime() + (lifetime * 2) / 3),
    };
  }

  async #storedControllerCertificate(storeKey: string, extraDns: readonly string[]): Promise<CertificateWithKey | undefined> {
    const bytes = await this.#p.store.get(storeKey);
    if (!bytes) return undefined;
    try {
      const { certificatePem, privateKeyPem } = JSON.parse(Buffer.from(bytes).toString("utf8")) as { certificatePem: string; privateKeyPem: string };
      const certificate = new x509.X509Certificate(certificatePem);
      const serial = normalizeSerial(certificate.serialNumber);
      const record = serial === undefined ? undefined : this.certificate(serial);
      const cert = this.#controllerCertificate(serial ?? "", certificate, certificatePem, privateKeyPem);
      const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
      const dns = new Set(san?.names.items.filter((n) => n.type === "dns").map((n) => n.value) ?? []);
      if (extraDns.some((name) => !dns.has(name))) return undefined;
      if (record?.kind !== "controller" || record.state !== "claimed" || !(await this.#p.roots.root.signed(certificate)) || this.#p.now() >= cert.renewAt) return undefined;
      return cert;
    } catch (err) {
      this.#p.logger.warn({ err, code: "MESHFED_CONTROLLER_CERT_CORRUPT" }, "stored controller certificate unreadable; issuing a new one");
      return undefined;
    }
  }

  on(event: "change", fn: (record: CertificateRecord) => void): () => void {
    if (event !== "change") throw new MeshfedError("MESHFED_BAD_EVENT", `unknown event "${String(event)}"`);
    // A throwing listener must not turn a persisted change into a failed call.
    return this.#p.registry.on((record) => {
      try {
        fn(record);
      } catch (err) {
        this.#p.logger.error({ err, serial: record.serial }, "certificate change listener failed");
      }
    });
  }

  /** `expired` is derived, never stored: unclaimed or claimed past notAfter. Revoked stays revoked. */
  #view(record: CertificateRecord | undefined): CertificateRecord | undefined {
    if (record === undefined || record.state === "revoked" || record.state === "expired") return record;
    return this.#p.now().getTime() >= Date.parse(record.notAfter) ? { ...record, state: "expired" } : record;
  }

  #known(serial: string): string {
    const key = normalizeSerial(serial);
    if (key === undefined) throw this.#unknown(serial);
    return key;
  }

  #unknown(serial: string): MeshfedError {
    return certError(CERT_ERROR.certUnknown, `no certificate with serial "${String(serial)}"`, { details: { serial: String(serial) } });
  }
}
