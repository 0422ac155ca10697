/**
 * The sidecar injector's decision and side effects for one AdmissionRequest
 * (DESIGN.md §3 flow 5; docs/kubernetes.md "Sidecar injection"):
 *
 *   not a Pod CREATE, namespace not meshed, opted out, already injected,
 *   hostNetwork, or no mesh service -> allowed, no patch;
 *   otherwise: issue a proxy certificate (state unclaimed until the sidecar
 *   first polls the repo with it), create the bootstrap Secret in the pod's
 *   namespace, and answer with the driver's patch plus our annotations.
 *
 * A failure to issue or to create the Secret is a denial with the reason:
 * the webhook's failurePolicy is Fail, so the ReplicaSet retries rather than
 * starting a meshed pod without its proxy.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { errorCode, errorMessage } from "../../common/errors.js";
import type { CertificateManager } from "../certificates/types.js";
import { SIDECAR_CONTAINER, type JsonPatchOp, type PodBootstrap, type SidecarDriver } from "../drivers/types.js";
import { allow, deny, type AdmissionRequest, type AdmissionReviewResponse } from "./admission-review.js";
import type { BootstrapRecords } from "./bootstrap-records.js";
import { podCaptureLists } from "./capture-annotations.js";
import type { InjectorKubeApi } from "./kube-api.js";
import { MONITORED_BY_LABEL } from "../kube/objects.js";
import { podLabel, podSchema, PROXY_ID_ANNOTATION, SERVICE_ANNOTATION, skipReason, type AdmittedPod } from "./pod.js";
import { generateSidecarKey } from "./proxy-key.js";
import { metricsDecision, namespaceWantsMetrics, podMetricsChoice, type MetricsDecision } from "./metrics-annotations.js";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What the injector needs to know about namespaces and Services (the Kubernetes provider's caches). */
export interface MeshNamespaces {
  isMeshed(namespace: string): boolean;
  /** Whether the meshed namespace asks for metrics (`meshfed.io/metrics=enabled`); absent = never. */
  wantsMetrics?(namespace: string): boolean;
  servicesSelecting(namespace: string, labels: Readonly<Record<string, string>>): readonly string[];
}

export interface SidecarInjectorOptions {
  readonly driver: Required<Pick<SidecarDriver, "patchPod">> & Pick<SidecarDriver, "scrapeAnnotations">;
  readonly certificates: Pick<CertificateManager, "issueProxyCertificate">;
  readonly api: Pick<InjectorKubeApi, "createSecret" | "getNamespaceLabels">;
  /** Written before the Secret, so that whatever an admission leaves behind can be reaped. */
  readonly records: Pick<BootstrapRecords, "add">;
  readonly namespaces: MeshNamespaces;
  /** `meshfed.io/monitored-by=<meshName>` marks a meshed namespace. */
  readonly meshName: string;
  readonly bootstrap: Omit<PodBootstrap, "proxyId" | "secretName">;
  readonly logger: Logger;
  /** Proxy ids; default crypto.randomUUID. */
  readonly newProxyId?: () => string;
  readonly now?: () => Date;
  /** Never injected, whatever their labels (webhook-scope.ts): the cluster's and the controller's own. */
  readonly protectedNamespaces?: readonly string[];
}

const NO_OUTBOUND_LISTS = { controllerAddresses: [], excludeOutboundIPRanges: [], excludeOutboundPorts: [], includeOutboundIPRanges: [], includeOutboundPorts: [] } as const;

export function bootstrapSecretName(proxyId: string): string {
  return `meshfed-proxy-${proxyId}`;
}

export class SidecarInjector {
  readonly #o: SidecarInjectorOptions;
  readonly #log: Logger;

  constructor(options: SidecarInjectorOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "injector" });
  }

  async admit(request: AdmissionRequest): Promise<AdmissionReviewResponse> {
    const { uid } = request;
    const { group, kind } = request.kind;
    if (group !== "" || kind !== "Pod" || request.operation !== "CREATE") return allow(uid);
    const parsed = podSchema.safeParse(request.object);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return deny(uid, `request.object is not a valid Pod: ${issue ? `${issue.path.join(".") || "(object)"}: ${issue.message}` : "invalid"}`);
    }
    const pod = parsed.data as AdmittedPod;
    const namespace = request.namespace ?? pod.metadata.namespace;
    if (namespace === undefined || namespace === "") return deny(uid, "the request names no namespace for the pod");
    const label = podLabel(pod, namespace);
    if (this.#o.protectedNamespaces?.includes(namespace) === true) {
      this.#log.warn({ pod: label, namespace }, "no sidecar: the namespace is protected (the cluster's or the controller's own); exclude it in the webhook's namespaceSelector");
      return allow(uid, [], [`meshfed never injects into namespace ${namespace}`]);
    }
    let meshed: boolean;
    // The namespace's labels when the cache missed and the API was read; undefined when the cache answered.
    let labels: Readonly<Record<string, string>> | undefined;
    try {
      ({ meshed, labels } = await this.#meshed(namespace));
    } catch (err) {
      this.#log.error({ err, code: errorCode(err), pod: label }, "cannot tell whether the namespace is meshed");
      return deny(uid, `meshfed could not read namespace ${namespace}: ${errorMessage(err)}`, 500);
    }
    if (!meshed) return allow(uid);
    const skip = skipReason(pod, SIDECAR_CONTAINER);
    if (skip !== undefined) {
      this.#log.debug({ pod: label, reason: skip }, "no sidecar injected");
      return allow(uid);
    }
    const service = this.#serviceOf(pod, namespace);
    if ("error" in service) return deny(uid, service.error);
    if ("none" in service) {
      this.#log.warn({ pod: label }, service.none);
      return allow(uid, [], [service.none]);
    }
    let metrics: MetricsDecision;
    try {
      metrics = this.#metrics(pod, namespace, labels);
    } catch (err) {
      return deny(uid, errorMessage(err));
    }
    let capture;
    try {
      capture = podCaptureLists({ ...(this.#o.bootstrap.outbound ?? NO_OUTBOUND_LISTS), excludeInboundPorts: this.#o.bootstrap.excludeInboundPorts }, pod.metadata.annotations);
    } catch (err) {
      return deny(uid, errorMessage(err));
    }
    const proxyId = (this.#o.newProxyId ?? randomUUID)();
    const { excludeInboundPorts, ...outbound } = capture;
    const bootstrap: PodBootstrap = { ...this.#o.bootstrap, proxyId, secretName: bootstrapSecretName(proxyId), excludeInboundPorts, outbound };
    const warnings = [...service.warnings, ...(!metrics.annotate && metrics.warning !== undefined ? [metrics.warning] : [])];
    if (request.dryRun === true) {
      // sideEffects: NoneOnDryRun: the patch is shown, nothing is issued or created.
      warnings.push("dry run: no proxy certificate was issued and no bootstrap Secret was created");
    } else {
      try {
        await this.#bootstrap(namespace, service.name, bootstrap, label);
      } catch (err) {
        this.#log.error({ err, code: errorCode(err), pod: label, proxyId }, "sidecar injection failed");
        return deny(uid, `meshfed could not bootstrap the sidecar of ${label}: ${errorMessage(err)}`, 500);
      }
    }
    const scrape = metrics.annotate ? this.#o.driver.scrapeAnnotations?.() ?? {} : {};
    const patch = [...annotationPatch(pod, { [PROXY_ID_ANNOTATION]: proxyId, [SERVICE_ANNOTATION]: service.name, ...scrape }), ...this.#o.driver.patchPod(pod, bootstrap)];
    this.#log.info({ pod: label, proxyId, service: `${namespace}/${service.name}`, dryRun: request.dryRun === true }, "sidecar injected");
    return allow(uid, patch, warnings);
  }

  /**
   * The cache first; on a miss, the API. The API server calls this webhook
   * only for namespaces its namespaceSelector matches, so a miss is usually a
   * label the informer has not delivered yet (label the namespace, create a
   * Deployment at once): skipping the sidecar then would be silent and wrong.
   */
  async #meshed(namespace: string): Promise<{ meshed: boolean; labels?: Readonly<Record<string, string>> }> {
    if (this.#o.namespaces.isMeshed(namespace)) return { meshed: true };
    const labels = await this.#o.api.getNamespaceLabels(namespace);
    return { meshed: labels?.[MONITORED_BY_LABEL] === this.#o.meshName, ...(labels !== undefined ? { labels } : {}) };
  }

  /**
   * The pod's meshfed.io/metrics annotation, else its namespace's label: from
   * the labels just read when the cache missed, else from the cache (no extra
   * API call per pod).
   */
  #metrics(pod: AdmittedPod, namespace: string, labels: Readonly<Record<string, string>> | undefined): MetricsDecision {
    if (this.#o.driver.scrapeAnnotations === undefined) return { annotate: false };
    const wanted = podMetricsChoice(pod.metadata.annotations) ?? (labels !== undefined ? namespaceWantsMetrics(labels) : this.#o.namespaces.wantsMetrics?.(namespace) === true);
    return metricsDecision(pod.metadata.annotations, wanted);
  }

  /** The annotation, else the one Service selecting the pod (the first by name if several), else its service account. */
  #serviceOf(pod: AdmittedPod, namespace: string): { name: string; warnings: string[] } | { error: string } | { none: string } {
    const annotated = pod.metadata.annotations?.[SERVICE_ANNOTATION];
    if (annotated !== undefined) {
      return DNS_LABEL.test(annotated) ? { name: annotated, warnings: [] } : { error: `annotation ${SERVICE_ANNOTATION}="${annotated}" is not a Service name (DNS label)` };
    }
    const selecting = this.#o.namespaces.servicesSelecting(namespace, pod.metadata.labels ?? {});
    if (selecting.length === 1) return { name: selecting[0]!, warnings: [] };
    if (selecting.length > 1) {
      return { name: selecting[0]!, warnings: [`several Services select this pod (${selecting.join(", ")}); its proxy serves ${selecting[0]!}; set the ${SERVICE_ANNOTATION} annotation to choose`] };
    }
    const account = pod.spec.serviceAccountName;
    if (account && account !== "default") return { name: account, warnings: [] };
    return { none: `no sidecar: no Service selects this pod and it has neither a ${SERVICE_ANNOTATION} annotation nor its own service account` };
  }

  async #bootstrap(namespace: string, service: string, bootstrap: PodBootstrap, label: string): Promise<void> {
    const { csrPem, privateKeyPem } = await generateSidecarKey();
    const issued = await this.#o.certificates.issueProxyCertificate(csrPem, { proxyId: bootstrap.proxyId, kind: "sidecar", service: { namespace, name: service } });
    await this.#o.records.add({
      proxyId: bootstrap.proxyId, namespace, secretName: bootstrap.secretName, serial: issued.record.serial, createdAt: (this.#o.now?.() ?? new Date()).toISOString(),
    });
    await this.#o.api.createSecret({
      namespace,
      name: bootstrap.secretName,
      labels: { [PROXY_ID_ANNOTATION]: bootstrap.proxyId, "app.kubernetes.io/managed-by": "meshfed" },
      // The pod's final name is assigned after admission; generateName is what we know.
      annotations: { "meshfed.io/pod": label, [SERVICE_ANNOTATION]: service, "meshfed.io/serial": issued.record.serial },
      files: { "proxy.crt": issued.certificatePem, "proxy.key": privateKeyPem, "ca.pem": issued.caBundlePem },
    });
  }
}

/** Adds annotations, creating the map when the pod has none (a JSON patch cannot add into an absent object). */
function annotationPatch(pod: AdmittedPod, add: Readonly<Record<string, string>>): JsonPatchOp[] {
  if (pod.metadata.annotations === undefined || pod.metadata.annotations === null) return [{ op: "add", path: "/metadata/annotations", value: { ...add } }];
  return Object.entries(add).map(([k, v]) => ({ op: "add" as const, path: `/metadata/annotations/${k.replaceAll("~", "~0").replaceAll("/", "~1")}`, value: v }));
}
