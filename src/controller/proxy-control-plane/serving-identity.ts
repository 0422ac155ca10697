import type { experimental } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { systemClock, type Clock } from "../../common/clock.js";
import { errorCode } from "../../common/errors.js";
import type { CertificateManager } from "../certificates/types.js";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export const SERVING_CERT_VALIDITY_MS = 7 * 24 * 3_600_000;
const RETRY_MS = 60_000;

/**
 * The controller's serving certificate for the agent port, as a grpc-js
 * CertificateProvider: it is renewed at two thirds of its life and handed to
 * the live server without a restart, and the CA bundle it trusts for client
 * certificates comes from the certificate manager.
 */
export class ServingIdentity implements CertificateProvider {
  readonly #certificates: Pick<CertificateManager, "controllerCertificate" | "caBundle">;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  #identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;

  constructor(certificates: Pick<CertificateManager, "controllerCertificate" | "caBundle">, logger: Logger, clock: Clock = systemClock) {
    this.#certificates = certificates;
    this.#logger = logger;
    this.#clock = clock;
  }

  async start(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    signal.addEventListener("abort", () => clearTimeout(this.#timer), { once: true });
    await this.#renew(signal);
  }

  /**
   * The roots changed (CA rotation): client certificates are checked against
   * the new bundle from now on, and the serving certificate is fetched again
   * (the manager re-issues it once the new root signs).
   */
  reload(): void {
    const signal = this.#signal;
    if (signal === undefined || signal.aborted) return;
    const caCertificate = Buffer.from(this.#certificates.caBundle());
    for (const fn of this.#caListeners) fn({ caCertificate });
    clearTimeout(this.#timer);
    void this.#renew(signal);
  }

  async #renew(signal: AbortSignal): Promise<void> {
    let delay = RETRY_MS;
    try {
      const cert = await this.#certificates.controllerCertificate(SERVING_CERT_VALIDITY_MS);
      this.#identity = { certificate: Buffer.from(cert.certificatePem), privateKey: Buffer.from(cert.privateKeyPem) };
      for (const fn of this.#identityListeners) fn(this.#identity);
      delay = Math.max(RETRY_MS, cert.renewAt.getTime() - this.#clock.now().getTime());
    } catch (err) {
      // Without a first certificate the server cannot start: let start() fail.
      if (!this.#identity) throw err;
      this.#logger.error({ err, code: errorCode(err) }, "renewing the controller's serving certificate failed; retrying");
    }
    if (signal.aborted) return;
    // A reload may have raced a scheduled renewal: keep one timer.
    clearTimeout(this.#timer);
    // setTimeout holds at most ~24.8 days; renewals are far sooner than that.
    this.#timer = setTimeout(() => void this.#renew(signal), Math.min(delay, 2 ** 31 - 1));
    this.#timer.unref();
  }

  // grpc-js registers its own watcher only after adding these listeners, so
  // the current values are delivered on the next microtask, not synchronously.
  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    queueMicrotask(() => listener({ caCertificate: Buffer.from(this.#certificates.caBundle()) }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    const identity = this.#identity;
    if (identity) queueMicrotask(() => listener(identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }
}
