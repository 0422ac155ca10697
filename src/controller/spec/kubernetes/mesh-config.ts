/**
 * MeshConfig: mesh-wide settings that operators change at run time, read from
 * a ConfigMap (default `meshfed-config` in the controller's namespace) and
 * hot-reloaded.
 *
 * Why a ConfigMap and not a CRD: four scalar settings do not justify a new
 * API type, cluster-scoped CRD installation rights and a conversion story;
 * a ConfigMap works with `kubectl edit`, kustomize's configMapGenerator and
 * GitOps tools unchanged, and RBAC can be narrowed to this one object
 * (resourceNames + the metadata.name field selector we watch with). The
 * values are validated here with the same rules as the config file.
 *
 * Keys (each optional; the value given in the controller config file, or its
 * default, applies to a key that is absent):
 *   mesh.permissive               "true" | "false"
 *   mesh.outboundPassthrough      "true" | "false": captured traffic to a
 *                                 destination outside the mesh passes through (osm-edge's enableEgress)
 *   certificates.proxyValidity    duration, e.g. "8760h"
 *   certificates.serviceValidity  duration, e.g. "24h"
 *   certificates.serviceJitter    duration, less than serviceValidity
 *
 * Bad input policy: an unknown key or a bad value rejects the whole
 * ConfigMap; the last good settings stay (a typo must not, say, turn
 * permissive mode off and cut traffic), status "degraded" with
 * MESHFED_KUBE_MESHCONFIG_INVALID until it is fixed. Deleting the ConfigMap
 * is deliberate and returns to the file's settings.
 */
import { CoreV1Api, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { z } from "zod";
import { parseDuration } from "../../../common/duration.js";
import { Listeners } from "../../../common/emitter.js";
import { MeshfedError, errorMessage } from "../../../common/errors.js";
import type { Logger } from "../../../common/logger.js";
import type { ControllerMetrics } from "../../../common/metrics.js";
import type { BackoffOptions } from "../../kube/backoff.js";
import { KUBE_ERROR_CODES } from "../../kube/errors.js";
import { InformerGroup } from "../../kube/informer-group.js";
import { SupervisedInformer, type InformerState } from "../../kube/supervised-informer.js";
import type { ProviderError, ProviderStatus } from "../../source-status.js";

export interface MeshSettings {
  readonly permissive: boolean;
  /** Absent in defaults = true. */
  readonly outboundPassthrough?: boolean;
  readonly proxyValidityMs: number;
  readonly serviceValidityMs: number;
  readonly serviceJitterMs: number;
}

export const MESH_CONFIG_KEYS = ["mesh.permissive", "mesh.outboundPassthrough", "certificates.proxyValidity", "certificates.serviceValidity", "certificates.serviceJitter"] as const;

export interface MeshConfigChange {
  readonly settings: MeshSettings;
  readonly previous: MeshSettings;
  /** The MeshSettings fields that differ. */
  readonly changed: readonly (keyof MeshSettings)[];
}

export interface KubeMeshConfigOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** Default "meshfed-config". */
  readonly name?: string;
  /** The settings of the controller config file: they apply when the ConfigMap is absent or omits a key. */
  readonly defaults: MeshSettings;
  readonly logger: Logger;
  readonly metrics?: ControllerMetrics;
  readonly backoff?: BackoffOptions;
  readonly watchTimeoutSeconds?: number;
}

const ID = "meshconfig-kubernetes";

const dataSchema = z.record(z.string(), z.string()).nullish();

/** Validates ConfigMap data over `defaults`; pure. Every problem is listed. */
export function parseMeshConfigData(data: Readonly<Record<string, string>>, defaults: MeshSettings): { ok: true; settings: MeshSettings } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const known = new Set<string>(MESH_CONFIG_KEYS);
  for (const key of Object.keys(data).sort()) if (!known.has(key)) problems.push(`unknown key "${key}" (known: ${MESH_CONFIG_KEYS.join(", ")})`);
  const duration = (key: string, fallback: number, min: number): number => {
    const text = data[key];
    if (text === undefined) return fallback;
    try {
      const ms = parseDuration(text);
      if (ms < min) problems.push(`${key}: ${text} is too short`);
      return ms;
    } catch (err) {
      problems.push(`${key}: ${errorMessage(err)}`);
      return fallback;
    }
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = data[key]?.trim().toLowerCase();
    if (v === undefined) return fallback;
    if (v === "true" || v === "false") return v === "true";
    problems.push(`${key}: "${data[key]}" is not true or false`);
    return fallback;
  };
  const settings: MeshSettings = {
    permissive: flag("mesh.permissive", defaults.permissive),
    outboundPassthrough: flag("mesh.outboundPassthrough", defaults.outboundPassthrough ?? true),
    proxyValidityMs: duration("certificates.proxyValidity", defaults.proxyValidityMs, 60_000),
    serviceValidityMs: duration("certificates.serviceValidity", defaults.serviceValidityMs, 60_000),
    serviceJitterMs: duration("certificates.serviceJitter", defaults.serviceJitterMs, 0),
  };
  if (settings.serviceJitterMs >= settings.serviceValidityMs) {
    problems.push(`certificates.serviceJitter (${settings.serviceJitterMs} ms) must be less than certificates.serviceValidity (${settings.serviceValidityMs} ms)`);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings };
}

export class KubeMeshConfig {
  readonly id = ID;
  readonly #o: KubeMeshConfigOptions;
  readonly #name: string;
  readonly #log: Logger;
  readonly #listeners = new Listeners<MeshConfigChange>();
  readonly #group: InformerGroup;
  #current: MeshSettings;
  #present = false;
  #synced = false;
  #invalid: ProviderError | null = null;
  #lastSync: string | null = null;

  constructor(options: KubeMeshConfigOptions) {
    this.#o = options;
    this.#name = options.name ?? "meshfed-config";
    this.#current = options.defaults;
    this.#log = options.logger.child({ component: "meshconfig/kubernetes", namespace: options.namespace, configMap: this.#name });
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `metadata.name=${this.#name}`;
    this.#group = new InformerGroup("the MeshConfig watcher", [
      new SupervisedInformer<KubernetesObject>({
        name: `configmaps/${options.namespace}/${this.#name}`,
        kubeConfig: options.kubeConfig,
        path: `/api/v1/namespaces/${options.namespace}/configmaps`,
        fieldSelector,
        list: () => core.listNamespacedConfigMap({ namespace: options.namespace, fieldSelector }),
        logger: this.#log,
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
        onEvent: (type, obj) => this.#apply(type === "delete" ? undefined : obj),
        onState: (state: InformerState, err?: MeshfedError) => {
          if (state === "backoff" && err !== undefined) this.#o.metrics?.providerErrors.inc({ provider: ID, code: err.code });
        },
      }),
    ]);
  }

  /** Resolves once the ConfigMap was listed (present or not). */
  async start(signal: AbortSignal): Promise<void> {
    await this.#group.start(signal);
    this.#synced = true;
    this.#lastSync = new Date().toISOString();
    this.#log.info({ present: this.#present, ...this.#current }, "mesh settings loaded");
  }

  stopped(): Promise<void> {
    return this.#group.stopped();
  }

  /** The settings in force now. */
  current(): MeshSettings {
    return this.#current;
  }

  /** Called after the settings changed (not for edits that change nothing). */
  on(_event: "change", fn: (change: MeshConfigChange) => void): () => void {
    return this.#listeners.add(fn);
  }

  status(): ProviderStatus {
    const group = this.#group.state();
    const err = this.#group.lastProviderError();
    const state = group === "synced" && !this.#synced ? "starting" : group === "synced" && this.#invalid !== null ? "degraded" : group;
    return {
      id: this.id,
      kind: "spec",
      state,
      lastSync: this.#lastSync,
      lastError: err ?? this.#invalid,
      counts: { present: this.#present ? 1 : 0, permissive: this.#current.permissive ? 1 : 0, restarts: this.#group.restarts() },
    };
  }

  #apply(obj: KubernetesObject | undefined): void {
    let next: MeshSettings;
    if (obj === undefined) {
      this.#present = false;
      this.#invalid = null;
      next = this.#o.defaults;
      this.#log.info("MeshConfig ConfigMap deleted: back to the controller config's settings");
    } else {
      this.#present = true;
      const data = dataSchema.safeParse((obj as { data?: unknown }).data);
      const parsed = data.success ? parseMeshConfigData(data.data ?? {}, this.#o.defaults) : { ok: false as const, problems: ["data: not a map of strings"] };
      if (!parsed.ok) {
        const message = `ConfigMap ${this.#o.namespace}/${this.#name} rejected, keeping the last good settings: ${parsed.problems.join("; ")}`;
        this.#invalid = { code: KUBE_ERROR_CODES.meshConfigInvalid, message, at: new Date().toISOString() };
        this.#o.metrics?.providerErrors.inc({ provider: ID, code: KUBE_ERROR_CODES.meshConfigInvalid });
        this.#log.error({ code: KUBE_ERROR_CODES.meshConfigInvalid, problems: parsed.problems }, message);
        return;
      }
      this.#invalid = null;
      next = parsed.settings;
    }
    const previous = this.#current;
    const changed = (Object.keys(next) as (keyof MeshSettings)[]).filter((k) => next[k] !== previous[k]);
    this.#current = next;
    if (this.#synced) this.#lastSync = new Date().toISOString();
    if (changed.length === 0) return;
    this.#log.info({ changed, ...next }, "mesh settings changed");
    if (this.#synced) this.#listeners.emit({ settings: next, previous, changed });
  }
}
