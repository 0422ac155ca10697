/**
 * The Kubernetes sidecar injector (DESIGN.md §2 injector, §3 flow 5;
 * docs/kubernetes.md "Sidecar injection"): a mutating admission webhook that
 * adds the driver's sidecar and a bootstrap Secret to pods of meshed
 * namespaces. Built by the composition root when
 * `providers.kubernetes.injector.enabled` is set.
 */
import type { Logger } from "pino";
import { errorCode, MeshfedError } from "../../common/errors.js";
import type { HostPort } from "../../common/address.js";
import type { CaCertificateManager } from "../certificates/index.js";
import type { SidecarDriver } from "../drivers/types.js";
import type { InjectorConfig } from "../kube/config-schema.js";
import { SERVING_CERT_VALIDITY_MS } from "../proxy-control-plane/serving-identity.js";
import { patchCaBundle } from "./ca-bundle.js";
import type { StateStore } from "../store/types.js";
import { BootstrapReaper, type PodPresence, type SweepResult } from "./bootstrap-reaper.js";
import { BootstrapRecords } from "./bootstrap-records.js";
import { INJECTOR_ERROR } from "./errors.js";
import { SidecarInjector, type MeshNamespaces } from "./injector.js";
import type { InjectorKubeApi } from "./kube-api.js";
import { WebhookServer } from "./webhook-server.js";
import { checkWebhookScope, CLUSTER_NAMESPACES } from "./webhook-scope.js";
import { SidecarRenewal, type RenewalResult } from "./sidecar-renewal.js";

export { SidecarInjector, bootstrapSecretName, type MeshNamespaces } from "./injector.js";
export { ClientNodeInjectorApi, INJECTOR_API_USE, type InjectorKubeApi } from "./kube-api.js";
export { ADMISSION_API_VERSION, parseAdmissionReview } from "./admission-review.js";
export { INJECTION_ANNOTATION, SERVICE_ANNOTATION, PROXY_ID_ANNOTATION } from "./pod.js";
export { INJECTOR_ERROR } from "./errors.js";
export type { PodPresence, SweepResult } from "./bootstrap-reaper.js";

export interface StartInjectorOptions {
  readonly config: InjectorConfig;
  readonly listen: HostPort;
  /** Namespace of the controller's Service (the injector config's, else the controller's own). */
  readonly namespace: string;
  /** Port of the controller's Pipy repo; the default repo URL points sidecars at it through the Service. */
  readonly repoPort: number;
  readonly driver: SidecarDriver;
  readonly certificates: Pick<CaCertificateManager, "webhookCertificate" | "issueProxyCertificate" | "caBundle" | "onCaChange" | "revoke" | "certificate" | "needsRenewal">;
  readonly api: InjectorKubeApi;
  readonly namespaces: MeshNamespaces;
  /** Where bootstrap records live (bootstrap-records.ts). */
  readonly store: StateStore;
  /** The pod cache the orphan reaper checks records against. */
  readonly pods: PodPresence;
  readonly now?: () => Date;
  readonly meshName: string;
  readonly logger: Logger;
}

export interface RunningInjector {
  readonly port: number;
  readonly repoUrl: string;
  /** One sweep for Secrets and certificates of deleted pods (the leader runs it periodically). */
  reapOrphans(): Promise<SweepResult>;
  /** During a CA rotation: renews old-root sidecar certificates into their bootstrap Secrets (leader only; sidecar-renewal.ts). */
  renewSidecarCertificates(): Promise<RenewalResult>;
  close(graceMs?: number): Promise<void>;
}

/** Refuses a webhook configuration that can block protected namespaces (webhook-scope.ts); warns for Ignore. */
async function checkScope(o: StartInjectorOptions, protectedNamespaces: readonly string[], log: Logger): Promise<void> {
  const name = o.config.webhookConfiguration;
  const view = await o.api.getWebhookConfiguration(name);
  if (view === undefined) {
    // With patchCaBundle the next step says so and stops; without, it may be managed elsewhere.
    if (!o.config.patchCaBundle) log.warn({ webhookConfiguration: name }, "webhook configuration not found; its namespace scope was not checked");
    return;
  }
  for (const p of checkWebhookScope(name, view.webhooks, protectedNamespaces, o.meshName)) {
    log.warn({ webhookConfiguration: name, webhook: p.webhook, namespaces: p.namespaces, code: "MESHFED_INJECTOR_WEBHOOK_SCOPE" },
      "the webhook (failurePolicy Ignore) can be called for protected namespaces; the injector leaves their pods alone, but exclude them in its namespaceSelector");
  }
}

function unionOfBundles(a: string, b: string): string {
  const blocks = [...`${a}\n${b}`.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => m[0]);
  return `${[...new Set(blocks)].join("\n")}\n`;
}

/** The names the API server may dial the webhook Service by (it uses <svc>.<ns>.svc). */
export function webhookDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`];
}

export async function startInjector(o: StartInjectorOptions): Promise<RunningInjector> {
  const { driver } = o;
  if (driver.patchPod === undefined) {
    throw new MeshfedError(INJECTOR_ERROR.config, `the "${driver.name}" driver has no sidecar to inject; use driver: pipy or disable providers.kubernetes.injector`);
  }
  const service = o.config.service.name;
  const repoUrl = o.config.repoUrl ?? `https://${service}.${o.namespace}.svc:${o.repoPort}`;
  const log = o.logger.child({ component: "injector" });
  const now = o.now ?? (() => new Date());
  const protectedNamespaces = [...new Set([...CLUSTER_NAMESPACES, o.namespace])];
  await checkScope(o, protectedNamespaces, log);
  const records = new BootstrapRecords(o.store, log);
  const reaper = new BootstrapReaper({
    records, pods: o.pods, api: o.api, certificates: o.certificates, graceMs: o.config.orphanGracePeriod, now: () => now().getTime(), logger: log,
  });
  const renewal = new SidecarRenewal({ records, certificates: o.certificates, api: o.api, logger: log });
  const injector = new SidecarInjector({
    driver: { patchPod: driver.patchPod.bind(driver) },
    certificates: o.certificates,
    api: o.api,
    namespaces: o.namespaces,
    records,
    now,
    protectedNamespaces,
    meshName: o.meshName,
    bootstrap: {
      repoUrl, sidecarImage: o.config.sidecarImage, initImage: o.config.initImage, excludeInboundPorts: o.config.excludeInboundPorts,
      outbound: {
        controllerAddresses: o.config.controllerAddresses,
        excludeOutboundIPRanges: o.config.excludeOutboundIPRanges,
        excludeOutboundPorts: o.config.excludeOutboundPorts,
        includeOutboundIPRanges: o.config.includeOutboundIPRanges,
        includeOutboundPorts: o.config.includeOutboundPorts,
      },
    },
    logger: o.logger,
  });
  const dnsNames = webhookDnsNames(service, o.namespace);
  const server = await WebhookServer.listen({
    listen: o.listen,
    path: o.config.path,
    certificate: () => o.certificates.webhookCertificate(dnsNames, SERVING_CERT_VALIDITY_MS),
    admit: (request) => injector.admit(request),
    logger: o.logger,
  });
  try {
    if (o.config.patchCaBundle) await patchCaBundle(o.api, o.config.webhookConfiguration, o.certificates.caBundle(), log);
  } catch (err) {
    server.destroy();
    throw err;
  }
  // CA rotation: the API server must trust a root before the webhook serves a certificate from it,
  // and may stop trusting the old one only once the webhook no longer does: the union of the old
  // and new bundles first, then the certificate, then the new bundle alone.
  let trusted = o.certificates.caBundle();
  const followRotation = async (bundlePem: string): Promise<void> => {
    const patch = (pem: string) => (o.config.patchCaBundle ? patchCaBundle(o.api, o.config.webhookConfiguration, pem, log) : Promise.resolve(0));
    try {
      await patch(unionOfBundles(trusted, bundlePem));
      await server.renewNow();
      await patch(bundlePem);
      trusted = bundlePem;
    } catch (err) {
      o.logger.error({ err, code: errorCode(err) }, "following the CA rotation failed for the webhook; restart the controller to retry");
    }
  };
  let rotation = Promise.resolve();
  const off = o.certificates.onCaChange((change) => {
    rotation = rotation.then(() => followRotation(change.bundlePem));
  });
  return {
    port: server.port, repoUrl,
    reapOrphans: () => reaper.sweep(),
    renewSidecarCertificates: () => renewal.renewAll(),
    close: async (graceMs) => {
      off();
      await rotation;
      await server.close(graceMs);
    },
  };
}
