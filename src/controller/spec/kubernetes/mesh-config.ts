/**
 * MeshConfig: mesh-wide settings that operators change at run time, from two
 * objects in the controller's namespace, both watched and hot-reloaded:
 *
 * - the **MeshConfig custom resource** of osm-edge (`kubectl get meshconfigs
 *   -n <ns>`; default name `osm-mesh-config`; mesh-config-crd.ts);
 * - the **ConfigMap** (default `meshfed-config`; keys below).
 *
 * Precedence, setting by setting (mesh-settings.ts says why): MeshConfig
 * object > ConfigMap > controller config file. A setting both objects give is
 * taken from the MeshConfig object; the ConfigMap key is reported as
 * overridden (status counts.overridden, a warning in the log).
 *
 * ConfigMap keys (each optional):
 *   mesh.permissive               "true" | "false"
 *   mesh.outboundPassthrough      "true" | "false": captured traffic to a
 *                                 destination outside the mesh passes through (osm-edge's enableEgress)
 *   certificates.proxyValidity    duration, e.g. "8760h"
 *   certificates.serviceValidity  duration, e.g. "24h"
 *   certificates.serviceJitter    duration, less than serviceValidity
 *
 * Bad input policy: an unknown key or a bad value rejects that object (for
 * the custom resource, with the field path); its last good settings stay (a
 * typo must not, say, turn permissive mode off and cut traffic), status
 * "degraded" with MESHFED_KUBE_MESHCONFIG_INVALID until it is fixed. Deleting
 * an object is deliberate: the MeshConfig object's settings fall back to the
 * ConfigMap's, the ConfigMap's to the file's.
 *
 * The MeshConfig CRD is optional, like the policy CRDs: without it (404) or
 * without RBAC for it (401/403), start() does not wait for it, status is
 * "degraded" with MESHFED_KUBE_NOT_FOUND (or _FORBIDDEN) and
 * counts.customResourceMissing 1, the ConfigMap alone applies, and the
 * informer keeps retrying, so installing the CRD later is picked up without a
 * restart. The ConfigMap's informer is required: start() waits for it.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from "@kubernetes/client-node";
import { z } from "zod";
import { Listeners } from "../../../common/emitter.js";
import { MeshfedError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import type { BackoffOptions } from "../../kube/backoff.js";
import { DEFAULT_MESH_CONFIG_OBJECT_NAME } from "../../kube/config-schema.js";
import { KUBE_ERROR_CODES } from "../../kube/errors.js";
import { InformerGroup } from "../../kube/informer-group.js";
import { SupervisedInformer, type InformerState } from "../../kube/supervised-informer.js";
import type { ProviderError, ProviderStatus } from "../../source-status.js";
import { MESH_CONFIG_CUSTOM_RESOURCE, parseMeshConfigObject, type FieldNote } from "./mesh-config-crd.js";
import {
  MESH_SETTING_KEYS, MESH_SETTING_NAMES, combinationProblems, layerMeshSettings, parseMeshConfigMapData,
  type MeshSettingName, type MeshSettingSource, type MeshSettings, type MeshSettingsLayer,
} from "./mesh-settings.js";

export { MESH_CONFIG_KEYS, parseMeshConfigData, type MeshSettings, type MeshSettingSource } from "./mesh-settings.js";

export interface MeshConfigChange {
  readonly settings: MeshSettings;
  readonly previous: MeshSettings;
  /** The MeshSettings fields that differ. */
  readonly changed: readonly (keyof MeshSettings)[];
}

export interface KubeMeshConfigOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** The ConfigMap. Default "meshfed-config". */
  readonly name?: string;
  /** The MeshConfig custom resource; `false`: not watched. Default { name: "osm-mesh-config" }. */
  readonly customResource?: { readonly name: string } | false;
  /** The settings of the controller config file: they apply where neither object gives a value. */
  readonly defaults: MeshSettings;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  readonly backoff?: BackoffOptions;
  readonly watchTimeoutSeconds?: number;
}

const ID = "meshconfig-kubernetes";

/** Errors that mean "this cluster does not offer the MeshConfig CRD to us" rather than "try again". */
const ABSENT = new Set<string>([KUBE_ERROR_CODES.notFound, KUBE_ERROR_CODES.forbidden]);

const dataSchema = z.record(z.string(), z.string()).nullish();

/** What one of the two objects contributes. */
interface SourceState {
  present: boolean;
  /** Last good settings of the object (kept while it is invalid); undefined when absent. */
  layer: MeshSettingsLayer | undefined;
  invalid: ProviderError | null;
}

export class KubeMeshConfig {
  readonly id = ID;
  readonly #o: KubeMeshConfigOptions;
  readonly #name: string;
  readonly #crName: string | undefined;
  readonly #log: Logger;
  readonly #listeners = new Listeners<MeshConfigChange>();
  readonly #group: InformerGroup;
  readonly #crGroup: InformerGroup | undefined;
  readonly #cm: SourceState = { present: false, layer: undefined, invalid: null };
  readonly #cr: SourceState = { present: false, layer: undefined, invalid: null };
  #crState: "pending" | "ok" | "absent" = "pending";
  #crSettled: (() => void) | undefined;
  #notes: readonly FieldNote[] = [];
  #combination: ProviderError | null = null;
  #current: MeshSettings;
  #sources: Readonly<Record<MeshSettingName, MeshSettingSource>>;
  #overridden: readonly string[] = [];
  #synced = false;
  #lastSync: string | null = null;

  constructor(options: KubeMeshConfigOptions) {
    this.#o = options;
    this.#name = options.name ?? "meshfed-config";
    this.#crName = options.customResource === false ? undefined : (options.customResource?.name ?? DEFAULT_MESH_CONFIG_OBJECT_NAME);
    const layered = layerMeshSettings(options.defaults, []);
    this.#current = layered.settings;
    this.#sources = layered.sources;
    this.#log = options.logger.child({ component: "meshconfig/kubernetes", namespace: options.namespace, configMap: this.#name, meshConfig: this.#crName ?? null });
    const ns = options.namespace;
    const common = {
      kubeConfig: options.kubeConfig,
      logger: this.#log,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
    };
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const cmSelector = `metadata.name=${this.#name}`;
    this.#group = new InformerGroup("the MeshConfig watcher", [
      new SupervisedInformer<KubernetesObject>({
        ...common,
        name: `configmaps/${ns}/${this.#name}`,
        path: `/api/v1/namespaces/${ns}/configmaps`,
        fieldSelector: cmSelector,
        list: () => core.listNamespacedConfigMap({ namespace: ns, fieldSelector: cmSelector }),
        onEvent: (type, obj) => this.#onConfigMap(type === "delete" ? undefined : obj),
        onState: (state, err) => this.#countError(state, err),
      }),
    ]);
    if (this.#crName !== undefined) {
      const r = MESH_CONFIG_CUSTOM_RESOURCE;
      const custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
      const crSelector = `metadata.name=${this.#crName}`;
      this.#crGroup = new InformerGroup("the MeshConfig watcher (custom resource)", [
        new SupervisedInformer<KubernetesObject>({
          ...common,
          name: `${r.plural}.${r.group}/${r.version} ${ns}/${this.#crName}`,
          path: `/apis/${r.group}/${r.version}/namespaces/${ns}/${r.plural}`,
          fieldSelector: crSelector,
          list: async () => (await custom.listNamespacedCustomObject({ group: r.group, version: r.version, namespace: ns, plural: r.plural, fieldSelector: crSelector })) as KubernetesListObject<KubernetesObject>,
          onEvent: (type, obj) => this.#onCustomResource(type === "delete" ? undefined : obj),
          onState: (state, err) => {
            this.#countError(state, err);
            this.#onCrState(state, err);
          },
        }),
      ]);
    }
  }

  /** Resolves once the ConfigMap was listed (present or not) and the MeshConfig object was listed or found not served. */
  async start(signal: AbortSignal): Promise<void> {
    const settled = new Promise<void>((resolve) => (this.#crSettled = resolve));
    if (this.#crGroup === undefined) this.#crSettled?.();
    // The ConfigMap group's start() reports an abort before the first sync; this one would say it again.
    const cr = this.#crGroup?.start(signal).catch(() => undefined);
    await this.#group.start(signal);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = () => resolve();
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([...(cr ? [cr] : []), settled, aborted]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    }
    if (signal.aborted) throw new MeshfedError(KUBE_ERROR_CODES.stopped, "the MeshConfig watcher: stopped before the first sync of the MeshConfig custom resource");
    this.#recompute();
    this.#synced = true;
    this.#lastSync = new Date().toISOString();
    this.#log.info({ configMapPresent: this.#cm.present, meshConfigPresent: this.#cr.present, customResource: this.#crState, sources: this.#sources, ...this.#current }, "mesh settings loaded");
  }

  stopped(): Promise<void> {
    return Promise.all([this.#group.stopped(), this.#crGroup?.stopped()]).then(() => undefined);
  }

  /** The settings in force now. */
  current(): MeshSettings {
    return this.#current;
  }

  /** Where each setting in force comes from. */
  sources(): Readonly<Record<MeshSettingName, MeshSettingSource>> {
    return this.#sources;
  }

  /** Fields of the MeshConfig object that are accepted and not acted on (MESHFED_MESHCONFIG_NOT_ENFORCED). */
  notes(): readonly FieldNote[] {
    return this.#notes;
  }

  /** Called after the settings changed (not for edits that change nothing). */
  on(_event: "change", fn: (change: MeshConfigChange) => void): () => void {
    return this.#listeners.add(fn);
  }

  status(): ProviderStatus {
    const rank = { stopped: 3, degraded: 2, starting: 1, synced: 0 } as const;
    const cm = this.#group.state();
    const crGroup = this.#crGroup?.state() ?? "synced";
    // Between two retries of an absent CRD the informer is "starting": that is degraded, not starting.
    const cr = crGroup === "starting" && this.#synced ? "degraded" : crGroup;
    const group = rank[cr] > rank[cm] ? cr : cm;
    const invalid = this.#cr.invalid ?? this.#cm.invalid ?? this.#combination;
    const state = group === "synced" && !this.#synced ? "starting" : group === "synced" && invalid !== null ? "degraded" : group;
    return {
      id: this.id,
      kind: "spec",
      state,
      lastSync: this.#lastSync,
      lastError: this.#group.lastProviderError() ?? this.#crGroup?.lastProviderError() ?? invalid,
      counts: {
        present: this.#cm.present ? 1 : 0,
        customResourcePresent: this.#cr.present ? 1 : 0,
        customResourceMissing: this.#crState === "absent" ? 1 : 0,
        overridden: this.#overridden.length,
        notEnforced: this.#notes.length,
        permissive: this.#current.permissive ? 1 : 0,
        restarts: this.#group.restarts() + (this.#crGroup?.restarts() ?? 0),
      },
    };
  }

  #countError(state: InformerState, err?: MeshfedError): void {
    if (state === "backoff" && err !== undefined) this.#o.metrics?.providerErrors.inc({ provider: ID, code: err.code });
  }

  #onCrState(state: InformerState, err?: MeshfedError): void {
    if (state === "watching") {
      if (this.#crState === "absent") this.#log.info("the MeshConfig custom resource is served now");
      this.#crState = "ok";
    } else if (state === "backoff" && err !== undefined && ABSENT.has(err.code)) {
      if (this.#crState !== "absent") this.#log.warn({ code: err.code }, `MeshConfig objects are not read: ${err.message}; the ConfigMap and the controller config apply`);
      this.#crState = "absent";
    }
    if (this.#crState !== "pending") this.#crSettled?.();
  }

  #onConfigMap(obj: KubernetesObject | undefined): void {
    const what = `ConfigMap ${this.#o.namespace}/${this.#name}`;
    if (obj === undefined) {
      this.#forget(this.#cm, `${what} deleted`);
    } else {
      const data = dataSchema.safeParse((obj as { data?: unknown }).data);
      const parsed = data.success ? parseMeshConfigMapData(data.data ?? {}) : { ok: false as const, problems: ["data: not a map of strings"] };
      this.#accept(this.#cm, what, parsed.ok ? parsed.layer : undefined, parsed.ok ? [] : parsed.problems);
    }
    this.#recompute();
  }

  #onCustomResource(obj: KubernetesObject | undefined): void {
    const what = `MeshConfig ${this.#o.namespace}/${this.#crName ?? ""}`;
    if (obj === undefined) {
      this.#forget(this.#cr, `${what} deleted`);
      this.#setNotes([]);
    } else {
      const parsed = parseMeshConfigObject(obj);
      this.#accept(this.#cr, what, parsed.ok ? parsed.layer : undefined, parsed.ok ? [] : parsed.problems);
      if (parsed.ok) this.#setNotes(parsed.notes);
    }
    this.#recompute();
  }

  #forget(source: SourceState, message: string): void {
    source.present = false;
    source.layer = undefined;
    source.invalid = null;
    this.#log.info(`${message}: its settings no longer apply`);
  }

  #accept(source: SourceState, what: string, layer: MeshSettingsLayer | undefined, problems: readonly string[]): void {
    source.present = true;
    if (layer !== undefined) {
      source.layer = layer;
      source.invalid = null;
      return;
    }
    const message = `${what} rejected, keeping its last good settings: ${problems.join("; ")}`;
    source.invalid = { code: KUBE_ERROR_CODES.meshConfigInvalid, message, at: new Date().toISOString() };
    this.#o.metrics?.providerErrors.inc({ provider: ID, code: KUBE_ERROR_CODES.meshConfigInvalid });
    this.#log.error({ code: KUBE_ERROR_CODES.meshConfigInvalid, problems }, message);
  }

  #setNotes(notes: readonly FieldNote[]): void {
    const key = (n: readonly FieldNote[]) => n.map((x) => x.path).join("\n");
    if (key(notes) !== key(this.#notes) && notes.length > 0) {
      this.#log.info({ code: notes[0]!.code, fields: notes.map((n) => n.path) }, `MeshConfig ${this.#o.namespace}/${this.#crName ?? ""}: ${notes.length} field(s) accepted for osm-edge compatibility and not enforced`);
    }
    this.#notes = notes;
  }

  #recompute(): void {
    const layered = layerMeshSettings(this.#o.defaults, [{ source: "meshconfig", layer: this.#cr.layer }, { source: "configmap", layer: this.#cm.layer }]);
    const problems = combinationProblems(layered);
    if (problems.length > 0) {
      const message = `MeshConfig settings refused together, keeping the last good settings: ${problems.join("; ")}`;
      if (this.#combination?.message !== message) {
        this.#o.metrics?.providerErrors.inc({ provider: ID, code: KUBE_ERROR_CODES.meshConfigInvalid });
        this.#log.error({ code: KUBE_ERROR_CODES.meshConfigInvalid, problems }, message);
      }
      this.#combination = { code: KUBE_ERROR_CODES.meshConfigInvalid, message, at: new Date().toISOString() };
      return;
    }
    this.#combination = null;
    const overridden = MESH_SETTING_NAMES.filter((n) => this.#cr.layer?.[n] !== undefined && this.#cm.layer?.[n] !== undefined).map((n) => MESH_SETTING_KEYS[n]);
    if (overridden.join() !== this.#overridden.join() && overridden.length > 0) {
      this.#log.warn({ keys: overridden }, `ConfigMap ${this.#o.namespace}/${this.#name}: key(s) overridden by MeshConfig ${this.#o.namespace}/${this.#crName ?? ""}`);
    }
    this.#overridden = overridden;
    const next = layered.settings;
    const previous = this.#current;
    const changed = (Object.keys(next) as (keyof MeshSettings)[]).filter((k) => next[k] !== previous[k]);
    this.#current = next;
    this.#sources = layered.sources;
    if (this.#synced) this.#lastSync = new Date().toISOString();
    if (changed.length === 0 || !this.#synced) return;
    this.#log.info({ changed, sources: layered.sources, ...next }, "mesh settings changed");
    this.#listeners.emit({ settings: next, previous, changed });
  }
}
