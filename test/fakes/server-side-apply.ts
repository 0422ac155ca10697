/**
 * Server-side apply (PATCH application/apply-patch+yaml) and field ownership
 * for the fake API server, faithful to what `meshfed install` relies on:
 *
 * - every leaf a manager applies is owned by it; applying again replaces those
 *   values, and a leaf it applied before but no longer sends is removed from
 *   the object unless another manager owns it too;
 * - maps merge key by key (labels set by others survive an apply);
 * - a leaf another manager owns with a different value is a conflict (409,
 *   naming the manager and the field) unless the apply is forced, which takes
 *   the field over;
 * - a write that is not an apply (POST, PUT, JSON patch over HTTP) makes its
 *   fieldManager (query parameter; "unknown" without one) own the leaves it
 *   changed, taking them from whoever owned them, as an Update operation;
 * - an apply that changes neither the object nor the ownership is a no-op (no
 *   new resourceVersion, no watch event), as on a real server.
 *
 * Where it differs from a real API server (documented, none matters to the
 * install): lists are atomic (the real server merges associative lists such as
 * containers or ports by their keys, so two managers can own different
 * entries); ownership is kept beside the object, not in metadata.managedFields
 * (reads do not show it; `managers()` does); status is never applied; objects
 * the test puts in through the back door (`apply()`) have no owners, like
 * objects created before server-side apply existed.
 */

export interface FieldManager {
  readonly name: string;
  readonly operation: "Apply" | "Update";
  /** JSON-encoded leaf paths (arrays of keys). */
  readonly fields: ReadonlySet<string>;
}

export interface ApplyConflict {
  readonly manager: string;
  /** Dotted, as the real server prints it: `.spec.replicas`. */
  readonly field: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** Never owned: identity and server-set fields; status is a subresource. */
const SKIPPED_TOP = new Set(["apiVersion", "kind", "status"]);
const SKIPPED_META = new Set(["name", "namespace", "resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"]);

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Leaf paths of an object: scalars, arrays (atomic) and empty maps. */
export function leafPaths(object: unknown): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string[]): void => {
    if (isObject(value) && (Object.keys(value).length > 0 || path.length === 0)) {
      for (const [k, v] of Object.entries(value)) {
        if (path.length === 0 && SKIPPED_TOP.has(k)) continue;
        if (path.length === 1 && path[0] === "metadata" && SKIPPED_META.has(k)) continue;
        walk(v, [...path, k]);
      }
      return;
    }
    if (value !== undefined) out.push(JSON.stringify(path));
  };
  walk(object, []);
  return out;
}

function at(object: unknown, path: readonly string[]): unknown {
  let cur: unknown = object;
  for (const k of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function deleteAt(object: JsonObject, path: readonly string[]): void {
  const parents: JsonObject[] = [object];
  let cur: JsonObject = object;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    if (!isObject(next)) return;
    parents.push(next);
    cur = next;
  }
  delete cur[path[path.length - 1]!];
  // Maps emptied by the removal go too (never the object itself nor metadata).
  for (let i = path.length - 1; i >= 2; i--) {
    const parent = parents[i - 1]!;
    const child = parents[i]!;
    if (Object.keys(child).length > 0) break;
    delete parent[path[i - 1]!];
  }
}

/** Applied values over the object: maps merge key by key, lists and scalars replace; status is never applied. */
function merge(into: JsonObject, applied: JsonObject, top: boolean): void {
  for (const [k, v] of Object.entries(applied)) {
    if (top && k === "status") continue;
    const cur = into[k];
    if (isObject(v) && isObject(cur)) merge(cur, v, false);
    else into[k] = structuredClone(v);
  }
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  const pa = JSON.parse(a) as string[];
  const pb = JSON.parse(b) as string[];
  const n = Math.min(pa.length, pb.length);
  return pa.slice(0, n).every((k, i) => k === pb[i]);
}

export type ApplyResult =
  | { readonly ok: true; readonly object: Record<string, unknown>; readonly managers: FieldManager[]; readonly changed: boolean }
  | { readonly ok: false; readonly conflicts: ApplyConflict[] };

/** The object and owners after `manager` applies `applied` over `existing` (undefined: create). */
export function serverSideApply(
  existing: Record<string, unknown> | undefined,
  applied: Record<string, unknown>,
  managers: readonly FieldManager[],
  manager: string,
  force: boolean,
): ApplyResult {
  const fields = new Set(leafPaths(applied));
  const conflicts: ApplyConflict[] = [];
  const taken = new Map<string, Set<string>>();
  if (existing !== undefined) {
    for (const f of fields) {
      const path = JSON.parse(f) as string[];
      const current = at(existing, path);
      const wanted = at(applied, path);
      // An empty map merges into a map: it changes nothing, so it takes nothing from anyone.
      if (jsonEqual(current, wanted) || (isObject(wanted) && Object.keys(wanted).length === 0 && isObject(current))) continue;
      for (const m of managers) {
        if (m.name === manager) continue;
        for (const owned of m.fields) {
          if (!overlaps(owned, f)) continue;
          conflicts.push({ manager: m.name, field: `.${path.join(".")}` });
          if (!taken.has(m.name)) taken.set(m.name, new Set());
          taken.get(m.name)!.add(owned);
        }
      }
    }
  }
  if (conflicts.length > 0 && !force) return { ok: false, conflicts };

  const others = managers
    .filter((m) => m.name !== manager)
    .map((m) => ({ ...m, fields: new Set([...m.fields].filter((f) => !taken.get(m.name)?.has(f))) }))
    .filter((m) => m.fields.size > 0);
  const before = managers.find((m) => m.name === manager);
  const object = structuredClone((existing ?? {}) as JsonObject);
  for (const f of before?.fields ?? []) {
    if (fields.has(f)) continue;
    if (others.some((m) => [...m.fields].some((o) => overlaps(o, f)))) continue;
    deleteAt(object, JSON.parse(f) as string[]);
  }
  merge(object, structuredClone(applied) as JsonObject, true);
  const after: FieldManager[] = [...others, { name: manager, operation: "Apply", fields }];
  const changed = existing === undefined || !jsonEqual(object, existing) || !sameManagers(managers, after);
  return { ok: true, object, managers: after, changed };
}

/** Ownership after a non-apply write by `manager`: it owns what it changed; leaves gone from the object are owned by no one. */
export function recordUpdate(before: unknown, after: unknown, managers: readonly FieldManager[], manager: string): FieldManager[] {
  const present = new Set(leafPaths(after));
  const changed = [...present].filter((f) => {
    const path = JSON.parse(f) as string[];
    return before === undefined || !jsonEqual(at(before, path), at(after, path));
  });
  const out: FieldManager[] = managers
    .map((m) => ({ ...m, fields: new Set([...m.fields].filter((f) => present.has(f) && !changed.some((c) => overlaps(c, f)))) }))
    .filter((m) => m.fields.size > 0 && m.name !== manager);
  const mine = new Set([...(managers.find((m) => m.name === manager)?.fields ?? [])].filter((f) => present.has(f)));
  for (const c of changed) mine.add(c);
  if (mine.size > 0) out.push({ name: manager, operation: "Update", fields: mine });
  return out;
}

function sameManagers(a: readonly FieldManager[], b: readonly FieldManager[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((m) => {
    const o = b.find((x) => x.name === m.name);
    return o !== undefined && o.operation === m.operation && o.fields.size === m.fields.size && [...m.fields].every((f) => o.fields.has(f));
  });
}
