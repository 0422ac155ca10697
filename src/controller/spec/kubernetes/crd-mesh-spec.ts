/**
 * The mesh spec read from SMI custom resources. DESIGN.md §2 (spec/kubernetes).
 *
 * Watched versions (one per kind; the API server converts stored objects to
 * it, the CRDs in config/kubernetes/crds use conversion None, all shapes being
 * compatible):
 *   TrafficSplit   split.smi-spec.io/v1alpha4   (v1alpha2/3 objects read the same; v1alpha4 has `matches`)
 *   TrafficTarget  access.smi-spec.io/v1alpha3
 *   HTTPRouteGroup specs.smi-spec.io/v1alpha4
 *   TCPRoute       specs.smi-spec.io/v1alpha4   (has `matches.ports`)
 *   Egress, IngressBackend, UpstreamTrafficSetting, Retry
 *                  policy.openservicemesh.io/v1alpha1 (osm-edge's policy kinds)
 *
 * The policy kinds are optional: a cluster set up for SMI only has no
 * policy.openservicemesh.io CRDs (or a ClusterRole without that group), and
 * that must not cost it its SMI policies. Their informers run in their own
 * group; start() waits for each to list, or to fail with 404 (CRD not
 * installed) or 401/403 (RBAC), whichever comes first. A missing one keeps
 * retrying with backoff (installing the CRD later just works), status() is
 * "degraded" and names it (lastError, counts.policyResourcesMissing). Any
 * other error keeps start() waiting, as for the SMI kinds.
 *
 * Each object goes through the same validation and normalisation as a file
 * manifest (smi-parse.ts normaliseSmiObject, then smi-validate.ts
 * resolveMeshSpec for references and duplicates). Bad input policy: an
 * invalid object is skipped and reported (errors(), status().lastError, log,
 * meshfed_provider_errors_total), the valid ones apply, as with the file
 * store. "First wins" between conflicting objects (two TrafficSplits of one
 * root service) means the OLDER one (creationTimestamp, then namespace/name),
 * so a newly created conflicting object can never displace a working one.
 *
 * `change` carries the whole snapshot and fires only when the normalised
 * content changed: a status or label edit, a relist or a restart emits
 * nothing.
 *
 * States: "starting" -> "synced" | "degraded" (invalid objects, or an
 * informer restarting) -> "stopped" when the signal aborts.
 */
import { SnapshotMeshSpec } from "../snapshot-spec.js";
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from "@kubernetes/client-node";
import { MeshfedError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import { formatPath } from "../../../common/yaml-position.js";
import type { BackoffOptions } from "../../kube/backoff.js";
import { InformerGroup } from "../../kube/informer-group.js";
import { SupervisedInformer, type InformerEventType, type InformerState } from "../../kube/supervised-informer.js";
import type { ProviderStatus } from "../../source-status.js";
import { KUBE_ERROR_CODES } from "../../kube/errors.js";
import { normaliseSmiObject, type PolicyKind, type SmiKind, type SmiNormaliseResult, type SmiValue } from "../smi-parse.js";
import { resolveMeshSpec } from "../smi-validate.js";
import { compareStrings } from "../../../common/compare.js";

export interface SmiCustomResource {
  readonly kind: SmiKind | PolicyKind;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

/** The four SMI resources and the version of each that is watched. */
export const SMI_CUSTOM_RESOURCES: readonly (SmiCustomResource & { readonly kind: SmiKind })[] = [
  { kind: "TrafficSplit", group: "split.smi-spec.io", version: "v1alpha4", plural: "trafficsplits" },
  { kind: "TrafficTarget", group: "access.smi-spec.io", version: "v1alpha3", plural: "traffictargets" },
  { kind: "HTTPRouteGroup", group: "specs.smi-spec.io", version: "v1alpha4", plural: "httproutegroups" },
  { kind: "TCPRoute", group: "specs.smi-spec.io", version: "v1alpha4", plural: "tcproutes" },
];

/** osm-edge's policy kinds, watched when their CRDs are installed. */
export const POLICY_CUSTOM_RESOURCES: readonly (SmiCustomResource & { readonly kind: PolicyKind })[] = [
  { kind: "Egress", group: "policy.openservicemesh.io", version: "v1alpha1", plural: "egresses" },
  { kind: "IngressBackend", group: "policy.openservicemesh.io", version: "v1alpha1", plural: "ingressbackends" },
  { kind: "UpstreamTrafficSetting", group: "policy.openservicemesh.io", version: "v1alpha1", plural: "upstreamtrafficsettings" },
  { kind: "Retry", group: "policy.openservicemesh.io", version: "v1alpha1", plural: "retries" },
];

const ALL_RESOURCES = [...SMI_CUSTOM_RESOURCES, ...POLICY_CUSTOM_RESOURCES];

/** Errors that mean "this cluster does not offer the policy kinds" rather than "try again". */
const ABSENT = new Set<string>([KUBE_ERROR_CODES.notFound, KUBE_ERROR_CODES.forbidden]);

export interface KubernetesMeshSpecOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  readonly backoff?: BackoffOptions;
  readonly watchTimeoutSeconds?: number;
  /** The mesh's trust domain, for UpstreamTrafficSetting hosts (`<svc>.<ns>.svc.<trustDomain>`). Default cluster.local. */
  readonly trustDomain?: string;
}

const SPEC_ID = "smi-kubernetes";

interface Entry {
  readonly raw: KubernetesObject;
  readonly resourceVersion: string | undefined;
  /** Normalised once per resourceVersion. */
  result?: SmiNormaliseResult;
}

export class KubernetesMeshSpec extends SnapshotMeshSpec {
  readonly id = SPEC_ID;
  readonly #o: KubernetesMeshSpecOptions;
  readonly #log: Logger;
  readonly #group: InformerGroup;
  readonly #policyGroup: InformerGroup;
  /** Policy resource plural -> whether its informer listed ("ok"), failed as absent, or neither yet. */
  readonly #policyState = new Map<string, "pending" | "ok" | "absent">();
  #policySettled: (() => void) | undefined;
  /** resource plural -> namespace/name -> object. */
  readonly #objects = new Map<string, Map<string, Entry>>();
  #synced = false;
  #queued = false;
  #lastSync: string | null = null;

  constructor(options: KubernetesMeshSpecOptions) {
    super();
    this.#o = options;
    this.#log = options.logger.child({ component: "spec/kubernetes" });
    const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    const informer = (r: SmiCustomResource, onState: (state: InformerState, err?: MeshfedError) => void): SupervisedInformer<KubernetesObject> => {
      this.#objects.set(r.plural, new Map());
      return new SupervisedInformer<KubernetesObject>({
        name: `${r.plural}.${r.group}/${r.version}`,
        kubeConfig: options.kubeConfig,
        path: `/apis/${r.group}/${r.version}/${r.plural}`,
        list: async () => (await api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural })) as KubernetesListObject<KubernetesObject>,
        logger: this.#log,
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
        onEvent: (type, obj) => this.#onEvent(r, type, obj),
        onState,
      });
    };
    this.#group = new InformerGroup("the smi-kubernetes spec", SMI_CUSTOM_RESOURCES.map((r) => informer(r, (state, err) => this.#onState(state, err))));
    this.#policyGroup = new InformerGroup("the smi-kubernetes spec (policy kinds)", POLICY_CUSTOM_RESOURCES.map((r) => {
      this.#policyState.set(r.plural, "pending");
      return informer(r, (state, err) => {
        this.#onState(state, err);
        this.#onPolicyState(r, state, err);
      });
    }));
  }

  async start(signal: AbortSignal): Promise<void> {
    const settled = new Promise<void>((resolve) => (this.#policySettled = resolve));
    // The SMI group's start() reports an abort before the first sync; the
    // policy group's would say the same again.
    const policies = this.#policyGroup.start(signal).catch(() => undefined);
    await this.#group.start(signal);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([policies, settled, aborted]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    }
    if (signal.aborted) throw new MeshfedError(KUBE_ERROR_CODES.stopped, "the smi-kubernetes spec: stopped before the first sync of the policy kinds");
    this.#synced = true;
    this.#recompute(false);
  }

  #onPolicyState(r: SmiCustomResource, state: InformerState, err?: MeshfedError): void {
    const before = this.#policyState.get(r.plural);
    if (state === "watching") this.#policyState.set(r.plural, "ok");
    else if (state === "backoff" && err !== undefined && ABSENT.has(err.code)) {
      if (before !== "absent") this.#log.warn({ code: err.code, resource: `${r.plural}.${r.group}` }, `${r.kind} objects are not read: ${err.message}; the SMI kinds are unaffected`);
      this.#policyState.set(r.plural, "absent");
    }
    if ([...this.#policyState.values()].every((s) => s !== "pending")) this.#policySettled?.();
  }

  /** Resolves once every informer stopped after the signal aborted. */
  stopped(): Promise<void> {
    return Promise.all([this.#group.stopped(), this.#policyGroup.stopped()]).then(() => undefined);
  }

  status(): ProviderStatus {
    const rank = { stopped: 3, degraded: 2, starting: 1, synced: 0 } as const;
    const smi = this.#group.state();
    const policy = this.#policyGroup.state();
    // A policy informer still "starting" after start() resolved is one whose
    // CRD is absent between two retries: that is degraded, not starting.
    const policyState = policy === "starting" && this.#synced ? "degraded" : policy;
    const group = rank[policyState] > rank[smi] ? policyState : smi;
    const informerError = this.#group.lastProviderError() ?? this.#policyGroup.lastProviderError();
    const state = group === "synced" && !this.#synced ? "starting" : group === "synced" && this.skipped.length > 0 ? "degraded" : group;
    return {
      id: this.id,
      kind: "spec",
      state,
      lastSync: this.#lastSync,
      lastError: informerError ?? this.skipped[0] ?? null,
      counts: {
        ...this.specCounts(),
        restarts: this.#group.restarts() + this.#policyGroup.restarts(),
        policyResourcesMissing: [...this.#policyState.values()].filter((s) => s === "absent").length,
      },
    };
  }

  #onState(state: InformerState, err?: MeshfedError): void {
    if (state === "backoff" && err !== undefined) this.#o.metrics?.providerErrors.inc({ provider: SPEC_ID, code: err.code });
  }

  #onEvent(r: SmiCustomResource, type: InformerEventType, obj: KubernetesObject): void {
    const name = obj.metadata?.name;
    if (name === undefined) return;
    const key = `${obj.metadata?.namespace ?? ""}/${name}`;
    const objects = this.#objects.get(r.plural)!;
    if (type === "delete") objects.delete(key);
    else objects.set(key, { raw: userPart(r, obj), resourceVersion: obj.metadata?.resourceVersion });
    if (!this.#synced || this.#queued) return;
    this.#queued = true;
    // One recomputation for a burst (a relist delivers its callbacks in one loop).
    queueMicrotask(() => {
      this.#queued = false;
      this.#recompute(true);
    });
  }

  #recompute(emit: boolean): void {
    const valid: (SmiValue & { readonly created: string })[] = [];
    const errors: MeshfedError[] = [];
    const options = this.#o.trustDomain === undefined ? {} : { trustDomain: this.#o.trustDomain };
    for (const r of ALL_RESOURCES) {
      for (const [key, entry] of this.#objects.get(r.plural)!) {
        entry.result ??= normaliseSmiObject(entry.raw, `kube://${r.plural}.${r.group}/${key.replace(/^\//, "")}`, options);
        const result = entry.result;
        if (result.ok) valid.push({ ...result.value, created: creationOf(entry.raw) });
        else errors.push(...objectErrors(r.kind, result));
      }
    }
    // Oldest first, so "first wins" keeps the object that was there first.
    valid.sort((a, b) => compareStrings(a.created, b.created) || compareStrings(`${a.object.namespace}/${a.object.name}`, `${b.object.namespace}/${b.object.name}`));
    const { snapshot, errors: crossErrors } = resolveMeshSpec(valid.map(({ kind, object }) => ({ kind, object }) as SmiValue));
    this.#recordErrors([...errors, ...crossErrors]);
    this.#lastSync = new Date().toISOString();
    this.#o.metrics?.providerSyncs.inc({ provider: SPEC_ID });
    const changed = this.replaceSpec(snapshot);
    if (changed || !emit) {
      // The same per-kind counts as status(); `errors` is what was skipped as invalid.
      this.#log.info({ ...this.specCounts(), changed }, "SMI custom resources loaded");
    }
    if (emit && changed) this.emitChange();
  }

  #recordErrors(errors: readonly MeshfedError[]): void {
    const previous = new Map(this.skipped.map((e) => [`${e.code}\0${e.message}`, e]));
    const at = new Date().toISOString();
    this.skipped = errors.map((e) => {
      const known = previous.get(`${e.code}\0${e.message}`);
      if (known !== undefined) return known;
      // New problem: count and log it once, not on every recomputation.
      this.#o.metrics?.providerErrors.inc({ provider: SPEC_ID, code: e.code });
      this.#log.warn({ code: e.code, kind: e.details.kind, namespace: e.details.namespace, name: e.details.name, path: e.details.path }, `SMI object skipped: ${e.message}`);
      return { code: e.code, message: e.message, at };
    });
  }
}

function objectErrors(kind: SmiKind | PolicyKind, result: Extract<SmiNormaliseResult, { ok: false }>): MeshfedError[] {
  return result.issues.map((issue) => {
    const path = formatPath(issue.keyOf === undefined ? issue.path : [...issue.path, issue.keyOf]);
    return new MeshfedError(issue.code, `${kind} ${result.namespace}/${result.name}: ${issue.message}${path === "(document)" ? "" : ` at ${path}`}`, {
      details: { kind, namespace: result.namespace, name: result.name, path },
    });
  });
}

/**
 * What the user wrote: apiVersion, kind, metadata, spec. `status` and other
 * server-owned top-level fields are not input and must not trip the strict
 * manifest schema.
 */
function userPart(r: SmiCustomResource, obj: KubernetesObject): KubernetesObject {
  const spec = (obj as { spec?: unknown }).spec;
  return { apiVersion: `${r.group}/${r.version}`, kind: r.kind, metadata: obj.metadata ?? {}, ...(spec === undefined ? {} : { spec }) };
}

function creationOf(obj: KubernetesObject): string {
  const t: unknown = obj.metadata?.creationTimestamp;
  if (t instanceof Date) return t.toISOString();
  return typeof t === "string" ? t : "";
}
