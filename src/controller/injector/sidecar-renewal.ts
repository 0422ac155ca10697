/**
 * Proxy certificates of injected sidecars during a root CA rotation (issue
 * 16 item 5; docs/certificates.md "Pods"). Agents renew over their stream;
 * a sidecar has no stream, only its bootstrap Secret. So while a rotation
 * re-issues, the leader gives every live sidecar certificate from the old
 * root a successor: a new key made here (the Secret already holds a
 * controller-made key, see proxy-key.ts), a certificate from the signing
 * root, and both written into the pod's Secret by a JSON patch (with the
 * bundle of both roots as ca.pem). The kubelet updates the mounted files in
 * place (the volume has no subPath).
 *
 * What it cannot do: make a running Pipy use them. Pipy reads --tls-cert,
 * --tls-key and --tls-trusted once, when it parses its command line
 * (flomesh-io/pipy 1.5.18 src/main-options.cpp load_certificate, kept in
 * MainOptions and handed to the fetcher, status reporter and admin link;
 * SIGHUP and the repo's `reload` re-download the codebase only). So the
 * old certificate stays valid and accepted by the repo (not revoked, its
 * root still trusted) until the sidecar container next starts and polls with
 * the new one, which supersedes it (pipy-repo.ts). Until then it is a
 * straggler: `retire` lists it and waits, and the operator restarts those
 * pods (or forces). A sidecar that had not started yet starts on the new
 * certificate directly.
 *
 * Safe to repeat: a record whose certificate is from the signing root is
 * skipped. A crash after the Secret was patched but before the record was
 * written issues one more certificate on the next run (the extra one stays
 * unclaimed and is from the new root, so it blocks nothing).
 */
import type { Logger } from "pino";
import { errorCode } from "../../common/errors.js";
import { parseServiceKey } from "../../common/service.js";
import type { CertificateManager } from "../certificates/types.js";
import type { BootstrapRecords } from "./bootstrap-records.js";
import type { InjectorKubeApi } from "./kube-api.js";
import { generateSidecarKey } from "./proxy-key.js";

export interface SidecarRenewalOptions {
  readonly records: Pick<BootstrapRecords, "all" | "add">;
  readonly certificates: Pick<CertificateManager, "certificate" | "needsRenewal" | "issueProxyCertificate" | "revoke">;
  readonly api: Pick<InjectorKubeApi, "patchSecret">;
  readonly logger: Logger;
}

export interface RenewalResult {
  readonly renewed: number;
  readonly failed: number;
}

export class SidecarRenewal {
  readonly #o: SidecarRenewalOptions;
  #running: Promise<RenewalResult> | undefined;

  constructor(options: SidecarRenewalOptions) {
    this.#o = options;
  }

  /** One pass over every bootstrap record; concurrent calls share the pass in progress. */
  renewAll(): Promise<RenewalResult> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<RenewalResult> {
    const { records, certificates, api, logger } = this.#o;
    let renewed = 0;
    let failed = 0;
    for (const record of await records.all()) {
      const current = certificates.certificate(record.serial);
      if (current === undefined || (current.state !== "claimed" && current.state !== "unclaimed") || !certificates.needsRenewal(record.serial)) continue;
      try {
        const { csrPem, privateKeyPem } = await generateSidecarKey();
        const issued = await certificates.issueProxyCertificate(csrPem, { proxyId: record.proxyId, kind: "sidecar", service: parseServiceKey(current.service) });
        const serial = issued.record.serial;
        const patched = await api.patchSecret(record.namespace, record.secretName,
          { "proxy.crt": issued.certificatePem, "proxy.key": privateKeyPem, "ca.pem": issued.caBundlePem },
          { "meshfed.io/serial": serial });
        if (!patched) {
          // The pod and its Secret are gone; the reaper revokes the old certificate.
          await certificates.revoke(serial, "its bootstrap Secret no longer exists");
          continue;
        }
        await records.add({ ...record, serial, previousSerials: [...(record.previousSerials ?? []), record.serial] });
        renewed++;
        logger.info({ proxyId: record.proxyId, secret: `${record.namespace}/${record.secretName}`, replaces: record.serial, serial },
          "sidecar proxy certificate renewed in its bootstrap Secret (CA rotation); the sidecar uses it from its next start");
      } catch (err) {
        failed++;
        logger.error({ err, code: errorCode(err), proxyId: record.proxyId }, "could not renew a sidecar's proxy certificate; the next pass retries");
      }
    }
    return { renewed, failed };
  }
}
