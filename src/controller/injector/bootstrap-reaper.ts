/**
 * Cleans up after deleted pods (docs/kubernetes.md "Sidecar injection"): for
 * every bootstrap record whose pod is gone, delete the bootstrap Secret (it
 * holds the proxy's private key), revoke the proxy certificate, then forget
 * the record. Run by the leader only (docs/ha.md), every minute.
 *
 * A pod is gone when the Kubernetes provider has synced, the pod's namespace
 * is meshed (so the provider's pod cache covers it) and no pod carries the
 * proxy id annotation. A record younger than the grace period is left alone:
 * the pod is admitted before it exists, and the informer delivers it a moment
 * later. The same rule reaps pods that were admitted but never created (a
 * later webhook or quota refused them). Namespaces that are no longer meshed
 * are not touched: their pods are invisible to the cache, not deleted.
 *
 * Order matters for crash safety: Secret first, then the certificate, then
 * the record, so an interrupted sweep is simply repeated by the next one
 * (a Secret already deleted is a 404 and counts as done).
 */
import type { Logger } from "../../common/logger.js";
import { errorCode } from "../../common/errors.js";
import type { CertificateManager } from "../certificates/types.js";
import type { BootstrapRecords } from "./bootstrap-records.js";
import type { InjectorKubeApi } from "./kube-api.js";

/** The Kubernetes provider's pod cache, as far as the reaper reads it. */
export interface PodPresence {
  /** False until every informer has listed once: before that, absence means nothing. */
  synced(): boolean;
  isMeshed(namespace: string): boolean;
  hasProxy(proxyId: string): boolean;
}

export interface BootstrapReaperOptions {
  readonly records: BootstrapRecords;
  readonly pods: PodPresence;
  readonly api: Pick<InjectorKubeApi, "deleteSecret">;
  readonly certificates: Pick<CertificateManager, "revoke" | "certificate">;
  readonly graceMs: number;
  readonly now: () => number;
  readonly logger: Logger;
}

export interface SweepResult {
  readonly reaped: number;
  readonly failed: number;
}

export const REAPED_REVOCATION_REASON = "pod deleted";

export class BootstrapReaper {
  readonly #o: BootstrapReaperOptions;

  constructor(options: BootstrapReaperOptions) {
    this.#o = options;
  }

  async sweep(): Promise<SweepResult> {
    const { records, pods, graceMs, now, logger } = this.#o;
    if (!pods.synced()) return { reaped: 0, failed: 0 };
    let reaped = 0;
    let failed = 0;
    for (const record of await records.all()) {
      if (now() - Date.parse(record.createdAt) < graceMs) continue;
      if (!pods.isMeshed(record.namespace) || pods.hasProxy(record.proxyId)) continue;
      try {
        await this.#reap(record.proxyId, record.namespace, record.secretName, [record.serial, ...(record.previousSerials ?? [])]);
        reaped++;
      } catch (err) {
        failed++;
        logger.error({ err, code: errorCode(err), proxyId: record.proxyId, secret: `${record.namespace}/${record.secretName}` }, "could not clean up after a deleted pod; the next sweep retries");
      }
    }
    return { reaped, failed };
  }

  /** `serials`: the Secret's certificate and those it replaced during a CA rotation (sidecar-renewal.ts). */
  async #reap(proxyId: string, namespace: string, secretName: string, serials: readonly string[]): Promise<void> {
    await this.#o.api.deleteSecret(namespace, secretName);
    // The certificate may be gone from the registry (a restored store); the Secret and record still go.
    for (const serial of serials) {
      const record = this.#o.certificates.certificate(serial);
      if (record !== undefined && record.state !== "revoked") await this.#o.certificates.revoke(serial, REAPED_REVOCATION_REASON);
    }
    await this.#o.records.remove(proxyId);
    this.#o.logger.info({ proxyId, secret: `${namespace}/${secretName}`, serial: serials[0] }, "pod gone: bootstrap Secret deleted and proxy certificate revoked");
  }
}
