/**
 * The options of `meshfed install` (docs/operations.md "Install"): one zod
 * schema with every default, filled from values files (`-f`, in order) and
 * then `--set key=value` (dotted paths, in order), helm-style. Every leaf has
 * a default, so the parsed defaults list every valid key and give each one
 * its type: `--set controller.replicas=3` is a number because the default 2 is.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { MeshfedError, errorMessage } from "../../common/errors.js";
import { meshfedVersion } from "../../common/version.js";

export const INSTALL_ERRORS = {
  unknownValue: "MESHFED_INSTALL_UNKNOWN_VALUE",
  invalidValue: "MESHFED_INSTALL_INVALID_VALUE",
  valuesFile: "MESHFED_INSTALL_VALUES_FILE",
  conflict: "MESHFED_INSTALL_CONFLICT",
  otherMesh: "MESHFED_INSTALL_OTHER_MESH",
  api: "MESHFED_INSTALL_API",
  waitTimeout: "MESHFED_INSTALL_WAIT_TIMEOUT",
} as const;

const dnsLabel = z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a DNS label: lower-case letters, digits and '-'");
const quantity = z.string().regex(/^[0-9.]+[a-zA-Z]*$/, "a Kubernetes quantity such as 100m or 128Mi");

export const installValuesSchema = z
  .strictObject({
    /** The install's name (osm's --mesh-name): the label selecting meshed namespaces, and the prefix of cluster-wide object names. */
    meshName: dnsLabel.default("meshfed"),
    /** Where the controller runs; its Secrets hold the mesh's CA. */
    namespace: dnsLabel.default("meshfed-system"),
    controller: z
      .strictObject({
        image: z.string().min(1).default(`meshfed/meshfed:${meshfedVersion()}`),
        // Two: the webhook fails closed, one replica would block pod creation on every restart.
        replicas: z.number().int().min(1).max(20).default(2),
        resources: z
          .strictObject({
            requests: z.strictObject({ cpu: quantity.default("100m"), memory: quantity.default("128Mi") }).prefault({}),
            limits: z.strictObject({ memory: quantity.default("512Mi") }).prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    pdb: z.strictObject({ minAvailable: z.number().int().min(0).default(1) }).prefault({}),
    injector: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
    mesh: z.strictObject({ permissive: z.boolean().default(false) }).prefault({}),
  })
  .superRefine((v, ctx) => {
    // A budget that can never be met blocks every node drain for good.
    if (v.pdb.minAvailable >= v.controller.replicas) {
      ctx.addIssue({ code: "custom", path: ["pdb", "minAvailable"], message: `must be below controller.replicas (${v.controller.replicas}), or node drains would wait forever` });
    }
  });

export type InstallValues = z.output<typeof installValuesSchema>;

type Leaf = string | number | boolean;

/** Every valid dotted key with its default, in schema order. */
export function valueKeys(): ReadonlyMap<string, Leaf> {
  const out = new Map<string, Leaf>();
  const walk = (o: unknown, prefix: string): void => {
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
      if (typeof v === "object" && v !== null) walk(v, `${prefix}${k}.`);
      else out.set(`${prefix}${k}`, v as Leaf);
    }
  };
  walk(installValuesSchema.parse({}), "");
  return out;
}

function unknownKey(key: string, where: string): MeshfedError {
  const valid = [...valueKeys().keys()];
  return new MeshfedError(INSTALL_ERRORS.unknownValue, `unknown value "${key}" (${where}); valid keys: ${valid.join(", ")}`, { details: { key, valid } });
}

/** `key=value` typed by the key's default; unknown keys and values of the wrong type are named errors. */
export function parseSet(assignment: string): { path: string[]; value: Leaf } {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new MeshfedError(INSTALL_ERRORS.invalidValue, `--set ${assignment}: expected key=value`);
  const key = assignment.slice(0, eq).trim();
  const text = assignment.slice(eq + 1);
  const keys = valueKeys();
  if (!keys.has(key)) throw unknownKey(key, `--set ${assignment}`);
  const def = keys.get(key)!;
  let value: Leaf = text;
  if (typeof def === "number") {
    value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) throw new MeshfedError(INSTALL_ERRORS.invalidValue, `--set ${assignment}: ${key} is a number`);
  } else if (typeof def === "boolean") {
    if (text !== "true" && text !== "false") throw new MeshfedError(INSTALL_ERRORS.invalidValue, `--set ${assignment}: ${key} is true or false`);
    value = text === "true";
  }
  return { path: key.split("."), value };
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    into[k] = isMap(v) && isMap(cur) ? deepMerge({ ...cur }, v) : v;
  }
  return into;
}

export function readValuesFile(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"), { maxAliasCount: 100 });
  } catch (err) {
    throw new MeshfedError(INSTALL_ERRORS.valuesFile, `values file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (!isMap(doc)) throw new MeshfedError(INSTALL_ERRORS.valuesFile, `values file ${file}: expected a map of values`);
  return doc;
}

export interface ValueSources {
  /** Already-read values files, in order (later wins). */
  readonly files?: readonly { name: string; values: Record<string, unknown> }[];
  /** `--set` assignments, in order (later wins, and wins over files). */
  readonly set?: readonly string[];
}

/** The install's values: defaults, then files, then --set; validated as a whole. */
export function resolveValues(sources: ValueSources = {}): InstallValues {
  let merged: Record<string, unknown> = {};
  for (const f of sources.files ?? []) merged = deepMerge(merged, f.values);
  for (const assignment of sources.set ?? []) {
    const { path, value } = parseSet(assignment);
    let cur = merged;
    for (const k of path.slice(0, -1)) {
      if (!isMap(cur[k])) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
    cur[path[path.length - 1]!] = value;
  }
  const parsed = installValuesSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const at = issue.path.map(String).join(".");
  const where = (sources.files ?? []).map((f) => f.name).join(", ") || "--set";
  if (issue.code === "unrecognized_keys") throw unknownKey(`${at === "" ? "" : `${at}.`}${issue.keys.join(", ")}`, where);
  throw new MeshfedError(INSTALL_ERRORS.invalidValue, `${at === "" ? "values" : at}: ${issue.message}`, { details: { key: at } });
}
