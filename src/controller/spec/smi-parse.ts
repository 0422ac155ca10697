/**
 * Parses SMI manifests (multi-document YAML) into the normalised objects of
 * spec/types.ts. Pure: `meshfed validate` calls it offline, the file store on
 * every reload. Every problem becomes a MeshfedError naming the file, line,
 * column, document number, kind and namespace/name; an object with any
 * problem is left out of `objects`, the others are returned.
 *
 * Cross-object checks (references, duplicates) live in smi-validate.ts.
 */
import { LineCounter, isScalar, parseAllDocuments, type Document } from "yaml";
import { MeshfedError } from "../../common/errors.js";
import { isDnsLabel } from "../../common/service.js";
import { isDnsSubdomain } from "./policy-values.js";
import { POLICY_ERROR_CODES, normalisePolicy, type PolicyParseOptions, type PolicyValue } from "./policy-parse.js";
import { POLICY_GROUP, POLICY_SCHEMAS, isPolicyKind } from "./policy-schema.js";
import { SCHEMAS, type HeaderMatches, type HttpRouteGroupManifest, type SmiKind, type TcpRouteManifest, type TrafficSplitManifest, type TrafficTargetManifest } from "./smi-schema.js";
import type { HTTPRouteGroup, HttpMatch, TCPRoute, TrafficSplit, TrafficTarget } from "./types.js";
import { documentToJS, issuesFromZod, type InputIssue } from "../../common/yaml-input.js";
import { formatPath, nodeAtPath, positionAtOffset, positionOf, type Position } from "../../common/yaml-position.js";

export type { SmiKind } from "./smi-schema.js";
export type { PolicyKind } from "./policy-schema.js";
export type { PolicyValue } from "./policy-parse.js";

export const SMI_ERROR_CODES = {
  yaml: "MESHFED_SMI_YAML",
  unknownKind: "MESHFED_SMI_UNKNOWN_KIND",
  invalid: "MESHFED_SMI_INVALID",
  invalidWeight: "MESHFED_SMI_INVALID_WEIGHT",
  invalidRegex: "MESHFED_SMI_INVALID_REGEX",
  missingRoute: "MESHFED_SMI_MISSING_ROUTE",
  duplicate: "MESHFED_SMI_DUPLICATE",
  read: "MESHFED_SMI_READ",
  dirNotFound: "MESHFED_SMI_DIR_NOT_FOUND",
} as const;

export interface SmiPosition extends Position {
  readonly file: string;
  /** 1-based index of the document in its file. */
  readonly document: number;
}

export type SmiObject = SmiValue & { readonly position: SmiPosition };

/**
 * A Kubernetes object that is not a mesh policy (a Service, a Deployment, a
 * ServiceAccount...): users keep them in the same manifest files as their SMI
 * objects, so they are passed over with a note, never an error.
 */
export interface SkippedObject {
  readonly apiVersion: string | undefined;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly position: SmiPosition;
}

export interface SmiParseResult {
  readonly objects: readonly SmiObject[];
  readonly errors: readonly MeshfedError[];
  /** Documents that are Kubernetes objects of other kinds, in file order. */
  readonly skipped: readonly SkippedObject[];
  /** Fields of valid objects that are accepted and not acted on (MESHFED_POLICY_NOT_ENFORCED), positioned like errors. */
  readonly notes: readonly MeshfedError[];
}

export const DEFAULT_NAMESPACE = "default";

// Kubernetes object names are DNS subdomains (dots allowed); namespaces and
// service names are DNS labels.
export { isDnsSubdomain } from "./policy-values.js";

const METHOD = /^([A-Z]+|\*)$/;

type Issue = InputIssue;

export function parseSmiManifests(text: string, file: string, options: PolicyParseOptions = {}): SmiParseResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const objects: SmiObject[] = [];
  const errors: MeshfedError[] = [];
  const skipped: SkippedObject[] = [];
  const notes: MeshfedError[] = [];
  let index = 0;
  for (const doc of docs) {
    index++;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = positionAtOffset(e.pos[0], lineCounter);
        errors.push(
          new MeshfedError(SMI_ERROR_CODES.yaml, `${file}:${pos.line}:${pos.column}: YAML syntax error in document ${index}: ${e.message}`, {
            details: { file, document: index, line: pos.line, column: pos.column },
          }),
        );
      }
      continue;
    }
    // An empty document (a leading `---`, a comment-only file) has no contents
    // or a null scalar.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    const result = parseDocumentObject(doc, file, index, lineCounter, options);
    if ("errors" in result) errors.push(...result.errors);
    else if ("skipped" in result) skipped.push(result.skipped);
    else {
      objects.push(result.object);
      notes.push(...result.notes);
    }
  }
  return { objects, errors, skipped, notes };
}

function parseDocumentObject(doc: Document.Parsed, file: string, document: number, lineCounter: LineCounter, options: PolicyParseOptions): { object: SmiObject; notes: MeshfedError[] } | { errors: MeshfedError[] } | { skipped: SkippedObject } {
  const start = positionOf(doc.contents, lineCounter);
  const expanded = documentToJS(doc, SMI_ERROR_CODES.yaml);
  if (!expanded.ok) {
    const { message, code } = expanded.issue;
    return { errors: [new MeshfedError(code, `${file}:${start.line}:${start.column}: document ${document}: ${message}`, { details: { file, document, line: start.line, column: start.column } })] };
  }
  const raw = expanded.value;
  const other = nonMeshObject(raw);
  // `kubectl get ... -o yaml` wraps objects in a List. Passing one over would
  // silently drop the policies inside it, so a List holding mesh objects is
  // an error that says how to write them instead.
  const listKind = isRecord(raw) && typeof raw.kind === "string" && raw.kind.endsWith("List") && Array.isArray(raw.items) ? raw.kind : undefined;
  const listed = listKind === undefined ? 0 : ((raw as { items: unknown[] }).items).filter((item) => isRecord(item) && nonMeshObject(item) === undefined).length;
  if (listed > 0) {
    return { errors: [new MeshfedError(SMI_ERROR_CODES.invalid, `${file}:${start.line}:${start.column}: document ${document}: a ${listKind} holding ${listed} mesh object(s); meshfed reads each object as its own YAML document (separate them with ---)`, {
      details: { file, document, line: start.line, column: start.column, kind: listKind },
    })] };
  }
  if (other !== undefined) return { skipped: { ...other, position: { file, document, ...start } } };
  const result = normaliseSmiObject(raw, `${file}#${document}`, options);
  const positioned = (issue: InputIssue, kind: string | undefined, namespace: string, name: string): MeshfedError => {
    const pos = positionOf(nodeAtPath(doc.contents, issue.path, issue.keyOf), lineCounter);
    const path = formatPath(issue.keyOf === undefined ? issue.path : [...issue.path, issue.keyOf]);
    const what = `${kind ?? "object"} ${namespace}/${name}`;
    return new MeshfedError(issue.code, `${file}:${pos.line}:${pos.column}: ${what} (document ${document}): ${issue.message}${path === "(document)" ? "" : ` at ${path}`}`, {
      details: { file, document, line: pos.line, column: pos.column, path, kind, namespace, name },
    });
  };
  if (result.ok) {
    const { object } = result.value;
    return {
      object: { ...result.value, position: { file, document, ...start } },
      notes: (result.notes ?? []).map((n) => positioned(n, result.value.kind, object.namespace, object.name)),
    };
  }
  const { kind, namespace, name } = result;
  return {
    errors: result.issues.map((issue) => positioned(issue, kind, namespace, name)),
  };
}

/** The SMI API groups and osm-edge's policy group; anything in them is a mesh object, checked in full. */
const SMI_GROUP = /(^|\.)smi-spec\.io$/;
const MESH_GROUPS = (group: string): boolean => SMI_GROUP.test(group) || group === POLICY_GROUP;

/**
 * The identity of a Kubernetes object that is not a mesh object, or
 * undefined when `raw` is one (or is no object at all: then it is checked,
 * and refused, as a mesh object, so a document without a kind is an error).
 * Mesh objects are the SMI kinds and anything in an SMI API group, so an
 * SMI kind or version meshfed does not support is still an error.
 */
export function nonMeshObject(raw: unknown): Omit<SkippedObject, "position"> | undefined {
  if (!isRecord(raw) || typeof raw.kind !== "string" || raw.kind in SCHEMAS || isPolicyKind(raw.kind)) return undefined;
  const apiVersion = typeof raw.apiVersion === "string" ? raw.apiVersion : undefined;
  const group = apiVersion?.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  if (MESH_GROUPS(group)) return undefined;
  const meta = isRecord(raw.metadata) ? raw.metadata : {};
  return {
    apiVersion,
    kind: raw.kind,
    namespace: typeof meta.namespace === "string" ? meta.namespace : undefined,
    name: typeof meta.name === "string" ? meta.name : undefined,
  };
}

/** One mesh object (an SMI kind or an osm-edge policy kind), validated and normalised, without its position in a file. */
export type SmiValue =
  | { readonly kind: "TrafficSplit"; readonly object: TrafficSplit }
  | { readonly kind: "TrafficTarget"; readonly object: TrafficTarget }
  | { readonly kind: "HTTPRouteGroup"; readonly object: HTTPRouteGroup }
  | { readonly kind: "TCPRoute"; readonly object: TCPRoute }
  | PolicyValue;

/**
 * What normaliseSmiObject found: the object, or every problem with it (as
 * issues with a path into the manifest, so that a file reader can point at a
 * line and the CRD store at a field), plus the kind and namespace/name it
 * could read for the message.
 */
export type SmiNormaliseResult =
  | { readonly ok: true; readonly value: SmiValue; readonly notes?: readonly InputIssue[] }
  | { readonly ok: false; readonly kind: string | undefined; readonly namespace: string; readonly name: string; readonly issues: readonly InputIssue[] };

/**
 * Validates and normalises one SMI manifest given as a plain object (a YAML
 * document's contents, or a custom resource read from the API server: the
 * same manifest as JSON). `origin` becomes the object's `origin`. Pure.
 */
export function normaliseSmiObject(raw: unknown, origin: string, options: PolicyParseOptions = {}): SmiNormaliseResult {
  const rec = isRecord(raw) ? raw : {};
  const kind = typeof rec.kind === "string" ? rec.kind : undefined;
  const apiVersion = typeof rec.apiVersion === "string" ? rec.apiVersion : undefined;
  const meta = isRecord(rec.metadata) ? rec.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : "?";
  const namespace = typeof meta.namespace === "string" ? meta.namespace : DEFAULT_NAMESPACE;

  const fail = (issues: readonly Issue[]): SmiNormaliseResult => ({ ok: false, kind, namespace, name, issues });

  if (!isRecord(raw)) return fail([{ code: SMI_ERROR_CODES.invalid, message: "a manifest must be a mapping with apiVersion, kind, metadata and spec", path: [] }]);
  if (kind !== undefined && isPolicyKind(kind)) return normalisePolicyManifest(raw, kind, apiVersion, { namespace, name, origin }, fail, options);
  const group = apiVersion?.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  if (group === POLICY_GROUP) {
    return fail([{ code: POLICY_ERROR_CODES.unsupported, message: `kind "${kind ?? "(missing)"}" of ${POLICY_GROUP} is not supported; meshfed reads ${Object.keys(POLICY_SCHEMAS).join(", ")}`, path: kind === undefined ? [] : ["kind"] }]);
  }
  if (kind === undefined || !(kind in SCHEMAS)) {
    return fail([{ code: SMI_ERROR_CODES.unknownKind, message: kind === undefined ? "missing kind" : `unknown kind "${kind}"; expected one of ${Object.keys(SCHEMAS).join(", ")}`, path: kind === undefined ? [] : ["kind"] }]);
  }
  const smiKind = kind as SmiKind;
  const versions = SCHEMAS[smiKind];
  const schema = apiVersion === undefined ? undefined : versions[apiVersion];
  if (schema === undefined) {
    return fail([{
      code: SMI_ERROR_CODES.unknownKind,
      message: `unsupported apiVersion ${apiVersion === undefined ? "(missing)" : `"${apiVersion}"`} for ${kind}; supported: ${Object.keys(versions).join(", ")}`,
      path: apiVersion === undefined ? [] : ["apiVersion"],
    }]);
  }
  const shaped = schema.safeParse(raw);
  if (!shaped.success) {
    return fail(issuesFromZod(shaped.error, SMI_ERROR_CODES.invalid));
  }

  const issues: Issue[] = [];
  if (!isDnsSubdomain(name)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `name "${name}" is not a DNS subdomain (RFC 1123)`, path: ["metadata", "name"] });
  if (!isDnsLabel(namespace)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `namespace "${namespace}" is not a DNS label (RFC 1123)`, path: ["metadata", "namespace"] });
  const meta2 = { namespace, name, origin };
  let out: SmiValue;
  switch (smiKind) {
    case "TrafficSplit":
      out = { kind: smiKind, object: { ...meta2, ...normaliseSplit(shaped.data as TrafficSplitManifest, issues) } };
      break;
    case "TrafficTarget":
      out = { kind: smiKind, object: { ...meta2, ...normaliseTarget(shaped.data as TrafficTargetManifest, namespace, issues) } };
      break;
    case "HTTPRouteGroup":
      out = { kind: smiKind, object: { ...meta2, matches: normaliseRouteGroup(shaped.data as HttpRouteGroupManifest, issues) } };
      break;
    case "TCPRoute":
      out = { kind: smiKind, object: { ...meta2, ports: normaliseTcpRoute(shaped.data as TcpRouteManifest, issues) } };
      break;
  }
  return issues.length > 0 ? fail(issues) : { ok: true, value: out };
}

function normalisePolicyManifest(
  raw: Record<string, unknown>,
  kind: keyof typeof POLICY_SCHEMAS,
  apiVersion: string | undefined,
  meta: { namespace: string; name: string; origin: string },
  fail: (issues: readonly Issue[]) => SmiNormaliseResult,
  options: PolicyParseOptions,
): SmiNormaliseResult {
  const versions = POLICY_SCHEMAS[kind];
  const schema = apiVersion === undefined ? undefined : versions[apiVersion];
  if (schema === undefined) {
    return fail([{
      code: POLICY_ERROR_CODES.unsupported,
      message: `unsupported apiVersion ${apiVersion === undefined ? "(missing)" : `"${apiVersion}"`} for ${kind}; supported: ${Object.keys(versions).join(", ")}`,
      path: apiVersion === undefined ? [] : ["apiVersion"],
    }]);
  }
  const shaped = schema.safeParse(raw);
  if (!shaped.success) return fail(issuesFromZod(shaped.error, POLICY_ERROR_CODES.invalid));
  const issues: Issue[] = [];
  const notes: Issue[] = [];
  if (!isDnsSubdomain(meta.name)) issues.push({ code: POLICY_ERROR_CODES.invalid, message: `name "${meta.name}" is not a DNS subdomain (RFC 1123)`, path: ["metadata", "name"] });
  if (!isDnsLabel(meta.namespace)) issues.push({ code: POLICY_ERROR_CODES.invalid, message: `namespace "${meta.namespace}" is not a DNS label (RFC 1123)`, path: ["metadata", "namespace"] });
  const value = normalisePolicy(kind, shaped.data, meta, issues, options, notes);
  return issues.length > 0 ? fail(issues) : { ok: true, value, ...(notes.length === 0 ? {} : { notes }) };
}

function normaliseSplit(m: TrafficSplitManifest, issues: Issue[]): Omit<TrafficSplit, "namespace" | "name" | "origin"> {
  const spec = m.spec;
  if (!isDnsLabel(spec.service)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `service "${spec.service}" is not a DNS label`, path: ["spec", "service"] });
  const backends = spec.backends ?? [];
  if (backends.length === 0) issues.push({ code: SMI_ERROR_CODES.invalidWeight, message: "a TrafficSplit needs at least one backend", path: ["spec"] });
  const seen = new Set<string>();
  backends.forEach((b, i) => {
    if (!isDnsLabel(b.service)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `backend service "${b.service}" is not a DNS label`, path: ["spec", "backends", i, "service"] });
    if (seen.has(b.service)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `backend service "${b.service}" is listed twice`, path: ["spec", "backends", i, "service"] });
    seen.add(b.service);
    if (!Number.isSafeInteger(b.weight) || b.weight < 0) {
      issues.push({ code: SMI_ERROR_CODES.invalidWeight, message: `weight ${b.weight} is not a whole number >= 0`, path: ["spec", "backends", i, "weight"] });
    }
  });
  if (backends.length > 0 && backends.every((b) => b.weight === 0)) {
    issues.push({ code: SMI_ERROR_CODES.invalidWeight, message: "every backend has weight 0: no traffic could be routed", path: ["spec", "backends"] });
  }
  const matches = (spec.matches ?? []).map((ref) => ref.name);
  return { service: spec.service, backends: backends.map((b) => ({ service: b.service, weight: b.weight })), matches };
}

function normaliseTarget(m: TrafficTargetManifest, namespace: string, issues: Issue[]): Omit<TrafficTarget, "namespace" | "name" | "origin"> {
  const spec = m.spec;
  const identity = (id: { name: string; namespace?: string | undefined }, path: PropertyKey[]) => {
    if (!isDnsSubdomain(id.name)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `service account "${id.name}" is not a DNS subdomain`, path: [...path, "name"] });
    if (id.namespace !== undefined && !isDnsLabel(id.namespace)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `namespace "${id.namespace}" is not a DNS label`, path: [...path, "namespace"] });
    return { kind: "ServiceAccount" as const, name: id.name, namespace: id.namespace ?? namespace };
  };
  const d = spec.destination;
  if (d.port !== undefined && !(Number.isInteger(d.port) && d.port >= 1 && d.port <= 65535)) {
    issues.push({ code: SMI_ERROR_CODES.invalid, message: `port ${d.port} is not an integer in 1..65535`, path: ["spec", "destination", "port"] });
  }
  const destination = { ...identity(d, ["spec", "destination"]), ...(d.port === undefined ? {} : { port: d.port }) };
  const sources = (spec.sources ?? []).map((s, i) => identity(s, ["spec", "sources", i]));
  if (sources.length === 0) issues.push({ code: SMI_ERROR_CODES.invalid, message: "a TrafficTarget needs at least one source", path: ["spec"] });
  const rules = (spec.rules ?? []).map((r, i) => {
    const matches = r.matches ?? [];
    if (r.kind === "TCPRoute" && matches.length > 0) {
      issues.push({ code: SMI_ERROR_CODES.invalid, message: "a TCPRoute rule cannot name matches", path: ["spec", "rules", i, "matches"] });
    }
    return { kind: r.kind, name: r.name, matches };
  });
  if (rules.length === 0) issues.push({ code: SMI_ERROR_CODES.invalid, message: "a TrafficTarget needs at least one rule", path: ["spec"] });
  return { destination, sources, rules };
}

function normaliseRouteGroup(m: HttpRouteGroupManifest, issues: Issue[]): HttpMatch[] {
  const seen = new Set<string>();
  return (m.spec.matches ?? []).map((match, i) => {
    const at = ["spec", "matches", i];
    if (match.name === "") issues.push({ code: SMI_ERROR_CODES.invalid, message: "a match needs a name", path: [...at, "name"] });
    if (seen.has(match.name)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `match name "${match.name}" is used twice`, path: [...at, "name"] });
    seen.add(match.name);
    if (match.pathRegex !== undefined) checkRegex(match.pathRegex, [...at, "pathRegex"], issues);
    const headers = mergeHeaders(match.headers, [...at, "headers"], issues);
    const methods = (match.methods ?? []).map((x, j) => {
      const upper = x.toUpperCase();
      if (!METHOD.test(upper)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `"${x}" is not an HTTP method or "*"`, path: [...at, "methods", j] });
      return upper;
    });
    return { name: match.name, ...(match.pathRegex === undefined ? {} : { pathRegex: match.pathRegex }), methods, headers: { ...headers } };
  });
}

/**
 * One header map from either shape. A list (osm-edge's CRD shape, one-entry
 * maps) is merged in order; a name given twice keeps the later pattern, as
 * osm-edge does, and header names compare case-insensitively as HTTP says.
 */
function mergeHeaders(headers: HeaderMatches | null | undefined, at: PropertyKey[], issues: Issue[]): Record<string, string> {
  const entries: [string, string, PropertyKey[]][] = [];
  if (Array.isArray(headers)) headers.forEach((map, i) => { for (const [name, pattern] of Object.entries(map)) entries.push([name, pattern, [...at, i, name]]); });
  else if (headers) for (const [name, pattern] of Object.entries(headers)) entries.push([name, pattern, [...at, name]]);
  const out: Record<string, string> = {};
  const byLower = new Map<string, string>();
  for (const [name, pattern, path] of entries) {
    checkRegex(pattern, path, issues);
    const earlier = byLower.get(name.toLowerCase());
    if (earlier !== undefined) delete out[earlier];
    byLower.set(name.toLowerCase(), name);
    out[name] = pattern;
  }
  return out;
}

function normaliseTcpRoute(m: TcpRouteManifest, issues: Issue[]): number[] {
  const ports = m.spec.matches?.ports ?? [];
  ports.forEach((p, i) => {
    if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) issues.push({ code: SMI_ERROR_CODES.invalid, message: `port ${p} is not an integer in 1..65535`, path: ["spec", "matches", "ports", i] });
  });
  return [...new Set(ports)].sort((a, b) => a - b);
}

function checkRegex(pattern: string, path: PropertyKey[], issues: Issue[]): void {
  try {
    new RegExp(pattern);
  } catch (err) {
    issues.push({ code: SMI_ERROR_CODES.invalidRegex, message: `invalid regular expression "${pattern}": ${err instanceof Error ? err.message : String(err)}`, path });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
