/**
 * osm-edge's MeshConfig custom resource (`config.openservicemesh.io`, kind
 * MeshConfig, plural meshconfigs, short name meshconfig), read as a layer of
 * mesh settings (mesh-settings.ts). Pure.
 *
 * Fields meshfed acts on (osm-edge's meaning):
 *   spec.traffic.enablePermissiveTrafficPolicyMode   -> mesh.permissive
 *   spec.traffic.enableEgress                        -> mesh.outboundPassthrough
 *   spec.certificate.serviceCertValidityDuration     -> certificates.serviceValidity
 * Every other field osm-edge defines is accepted (the CRD keeps it, so an
 * object written for osm-edge applies unchanged) and reported as a note
 * MESHFED_MESHCONFIG_NOT_ENFORCED with its field path, never passed over
 * silently. A supported field with a bad value rejects the object with the
 * field path (the last good settings stay).
 */
import { MIN_VALIDITY_MS, durationValue, type MeshSettingName, type MeshSettingsLayer } from "./mesh-settings.js";

export const MESH_CONFIG_CUSTOM_RESOURCE = {
  kind: "MeshConfig",
  group: "config.openservicemesh.io",
  /** osm-edge's storage version; its CRD (and ours) also serves v1alpha1, converted by the API server (strategy None). */
  version: "v1alpha2",
  plural: "meshconfigs",
} as const;

export const MESH_CONFIG_NOT_ENFORCED = "MESHFED_MESHCONFIG_NOT_ENFORCED";

/** The fields meshfed acts on, by path under `spec`. */
export const MESH_CONFIG_FIELDS: readonly { readonly path: readonly [string, string]; readonly setting: MeshSettingName; readonly type: "boolean" | "duration" }[] = [
  { path: ["traffic", "enablePermissiveTrafficPolicyMode"], setting: "permissive", type: "boolean" },
  { path: ["traffic", "enableEgress"], setting: "outboundPassthrough", type: "boolean" },
  { path: ["certificate", "serviceCertValidityDuration"], setting: "serviceValidityMs", type: "duration" },
];

/** Where meshfed's own setting lives for a few osm-edge fields people look for. */
const HINTS: Readonly<Record<string, string>> = {
  "spec.sidecar.sidecarImage": "the controller config's providers.kubernetes.injector.sidecarImage sets it",
  "spec.sidecar.initContainerImage": "the controller config's providers.kubernetes.injector.initImage sets it",
  "spec.sidecar.logLevel": "the agent's and controller's logLevel set theirs",
  "spec.traffic.inboundPortExclusionList": "the controller config's providers.kubernetes.injector.excludeInboundPorts sets it",
  "spec.traffic.outboundPortExclusionList": "the controller config's providers.kubernetes.injector.excludeOutboundPorts sets it",
  "spec.traffic.outboundIPRangeExclusionList": "the controller config's providers.kubernetes.injector.excludeOutboundIPRanges sets it",
  "spec.traffic.outboundIPRangeInclusionList": "the controller config's providers.kubernetes.injector.includeOutboundIPRanges sets it",
  "spec.certificate.certKeyBitSize": "meshfed's keys are ECDSA P-256",
  "spec.observability.osmLogLevel": "the controller config's logLevel sets it",
};

export interface FieldNote {
  readonly code: typeof MESH_CONFIG_NOT_ENFORCED;
  /** e.g. spec.sidecar.logLevel */
  readonly path: string;
  readonly message: string;
}

export type MeshConfigObjectResult =
  | { readonly ok: true; readonly layer: MeshSettingsLayer; readonly notes: readonly FieldNote[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/** One MeshConfig object (as the API server returns it) -> its settings layer and notes, or every problem with its field path. */
export function parseMeshConfigObject(object: unknown): MeshConfigObjectResult {
  const spec = isRecord(object) ? object.spec : undefined;
  if (spec === undefined || spec === null) return { ok: true, layer: {}, notes: [] };
  if (!isRecord(spec)) return { ok: false, problems: [`spec: expected an object, got ${typeName(spec)}`] };
  const problems: string[] = [];
  const layer: MeshSettingsLayer = {};
  const used = new Set<string>();
  for (const f of MESH_CONFIG_FIELDS) {
    const where = `spec.${f.path.join(".")}`;
    used.add(where);
    const section = spec[f.path[0]];
    if (section === undefined || section === null) continue;
    if (!isRecord(section)) {
      problems.push(`spec.${f.path[0]}: expected an object, got ${typeName(section)}`);
      continue;
    }
    const value = section[f.path[1]];
    if (value === undefined || value === null) continue;
    if (f.type === "boolean") {
      if (typeof value === "boolean") setLayer(layer, f.setting, value);
      else problems.push(`${where}: expected true or false, got ${JSON.stringify(value)}`);
    } else if (typeof value !== "string") {
      problems.push(`${where}: expected a duration such as "24h", got ${JSON.stringify(value)}`);
    } else {
      const ms = durationValue(value, where, MIN_VALIDITY_MS, problems);
      if (ms !== undefined) setLayer(layer, f.setting, ms);
    }
  }
  if (problems.length > 0) return { ok: false, problems: [...new Set(problems)] };
  const notes: FieldNote[] = [];
  for (const path of setLeaves(spec, "spec")) {
    if (used.has(path)) continue;
    const hint = HINTS[path];
    notes.push({ code: MESH_CONFIG_NOT_ENFORCED, path, message: `${path} is accepted for osm-edge compatibility and not enforced${hint === undefined ? "" : ` (${hint})`}` });
  }
  return { ok: true, layer, notes };
}

function setLayer<K extends MeshSettingName>(layer: MeshSettingsLayer, setting: K, value: NonNullable<MeshSettingsLayer[K]>): void {
  layer[setting] = value;
}

/** Paths of every value that is set (objects are walked, arrays and scalars are leaves; null, [] and {} set nothing: osm-edge's default object has empty lists). */
function setLeaves(value: Record<string, unknown>, at: string): string[] {
  const out: string[] = [];
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    const path = `${at}.${key}`;
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
    if (isRecord(v)) out.push(...setLeaves(v, path));
    else out.push(path);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return Array.isArray(v) ? "an array" : v === null ? "null" : typeof v;
}
