/**
 * Mesh-wide settings that operators change at run time, and how the sources
 * of them are layered. Pure: the watcher (mesh-config.ts) feeds it.
 *
 * Sources, highest first, **setting by setting**:
 *   1. the MeshConfig custom resource (config.openservicemesh.io, osm-edge's
 *      shape, mesh-config-crd.ts): the fields it sets;
 *   2. the MeshConfig ConfigMap (`meshfed-config`): the keys it sets;
 *   3. the controller config file (or its defaults).
 * Why per setting and not "the CRD object replaces the ConfigMap": osm-edge's
 * MeshConfig has no field for the proxy certificate lifetime or the service
 * certificate jitter, so a whole-object rule would make those two impossible
 * to change at run time once a MeshConfig object exists. A setting given by
 * both is taken from the MeshConfig object and the ConfigMap's key is reported
 * as overridden (never silently).
 *
 * Bad values are refused per source (the source keeps its last good layer);
 * a combination that is wrong only together (jitter not below validity) is
 * refused after layering, and the last good settings stay.
 */
import { parseDuration } from "../../../common/duration.js";
import { errorMessage } from "../../../common/errors.js";

export interface MeshSettings {
  readonly permissive: boolean;
  /** Absent in defaults = true. */
  readonly outboundPassthrough?: boolean;
  readonly proxyValidityMs: number;
  readonly serviceValidityMs: number;
  readonly serviceJitterMs: number;
}

export type MeshSettingName = keyof MeshSettings;

/** The settings one source gives; an absent field is left to the next source. */
export type MeshSettingsLayer = { -readonly [K in MeshSettingName]?: MeshSettings[K] };

/** Where a setting in force came from (logs, status, docs). */
export type MeshSettingSource = "meshconfig" | "configmap" | "config-file";

export const MESH_SETTING_NAMES: readonly MeshSettingName[] = ["permissive", "outboundPassthrough", "proxyValidityMs", "serviceValidityMs", "serviceJitterMs"];

/** ConfigMap key of each setting (also the name used in messages). */
export const MESH_SETTING_KEYS: Readonly<Record<MeshSettingName, string>> = {
  permissive: "mesh.permissive",
  outboundPassthrough: "mesh.outboundPassthrough",
  proxyValidityMs: "certificates.proxyValidity",
  serviceValidityMs: "certificates.serviceValidity",
  serviceJitterMs: "certificates.serviceJitter",
};

export const MESH_CONFIG_KEYS = ["mesh.permissive", "mesh.outboundPassthrough", "certificates.proxyValidity", "certificates.serviceValidity", "certificates.serviceJitter"] as const;

/** Shortest certificate lifetime accepted: below it renewal would run all the time. */
export const MIN_VALIDITY_MS = 60_000;

export type LayerResult = { ok: true; layer: MeshSettingsLayer } | { ok: false; problems: string[] };

/** A duration setting: Go-style text, at least `minMs`. Problems are pushed with `where` in front. */
export function durationValue(text: string, where: string, minMs: number, problems: string[]): number | undefined {
  try {
    const ms = parseDuration(text);
    if (!Number.isFinite(ms)) problems.push(`${where}: ${text} is too long`);
    else if (ms < minMs) problems.push(`${where}: ${text} is too short`);
    else return ms;
  } catch (err) {
    problems.push(`${where}: ${errorMessage(err)}`);
  }
  return undefined;
}

/** The ConfigMap's `data`: every key optional, every problem listed (an unknown key is one). */
export function parseMeshConfigMapData(data: Readonly<Record<string, string>>): LayerResult {
  const problems: string[] = [];
  const known = new Set<string>(MESH_CONFIG_KEYS);
  for (const key of Object.keys(data).sort()) if (!known.has(key)) problems.push(`unknown key "${key}" (known: ${MESH_CONFIG_KEYS.join(", ")})`);
  const layer: MeshSettingsLayer = {};
  const text = (key: string): string | undefined => (Object.hasOwn(data, key) ? data[key] : undefined);
  for (const name of MESH_SETTING_NAMES) {
    const key = MESH_SETTING_KEYS[name];
    const value = text(key);
    if (value === undefined) continue;
    if (name === "permissive" || name === "outboundPassthrough") {
      const v = value.trim().toLowerCase();
      if (v === "true" || v === "false") layer[name] = v === "true";
      else problems.push(`${key}: "${value}" is not true or false`);
    } else {
      const ms = durationValue(value, key, name === "serviceJitterMs" ? 0 : MIN_VALIDITY_MS, problems);
      if (ms !== undefined) layer[name] = ms;
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, layer };
}

export interface Layered {
  readonly settings: MeshSettings;
  readonly sources: Readonly<Record<MeshSettingName, MeshSettingSource>>;
}

/** Layers `layers` (highest first) over `defaults`. */
export function layerMeshSettings(defaults: MeshSettings, layers: readonly { readonly source: MeshSettingSource; readonly layer: MeshSettingsLayer | undefined }[]): Layered {
  const settings: Record<string, unknown> = { ...defaults, outboundPassthrough: defaults.outboundPassthrough ?? true };
  const sources = {} as Record<MeshSettingName, MeshSettingSource>;
  for (const name of MESH_SETTING_NAMES) {
    sources[name] = "config-file";
    for (const { source, layer } of layers) {
      const v = layer?.[name];
      if (v === undefined) continue;
      settings[name] = v;
      sources[name] = source;
      break;
    }
  }
  return { settings: settings as unknown as MeshSettings, sources };
}

/** Problems that only the combination has; empty when the settings can be used. */
export function combinationProblems({ settings, sources }: Layered): string[] {
  if (settings.serviceJitterMs < settings.serviceValidityMs) return [];
  return [`certificates.serviceJitter (${settings.serviceJitterMs} ms, from the ${sources.serviceJitterMs}) must be less than certificates.serviceValidity (${settings.serviceValidityMs} ms, from the ${sources.serviceValidityMs})`];
}

/** The ConfigMap's data over `defaults`, as one result; pure. Every problem is listed. */
export function parseMeshConfigData(data: Readonly<Record<string, string>>, defaults: MeshSettings): { ok: true; settings: MeshSettings } | { ok: false; problems: string[] } {
  const parsed = parseMeshConfigMapData(data);
  if (!parsed.ok) return parsed;
  const layered = layerMeshSettings(defaults, [{ source: "configmap", layer: parsed.layer }]);
  const problems = combinationProblems(layered);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings: layered.settings };
}
