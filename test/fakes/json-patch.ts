/**
 * A small RFC 6902 JSON Patch applier (add, remove, replace, test) for the
 * fake API server's PATCH and for tests that apply an admission response's
 * patch to the pod they sent. Strict: a path that does not exist (except as
 * the last segment of an add) or a failed test throws, as the API server
 * refuses such patches.
 */
export interface JsonPatchOperation {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
}

export class JsonPatchError extends Error {}

export function applyJsonPatch<T>(document: T, operations: readonly JsonPatchOperation[]): T {
  let doc: unknown = structuredClone(document);
  for (const operation of operations) doc = applyOne(doc, operation);
  return doc as T;
}

function applyOne(doc: unknown, operation: JsonPatchOperation): unknown {
  const segments = parsePointer(operation.path);
  if (segments.length === 0) {
    if (operation.op === "test") {
      if (!deepEqual(doc, operation.value)) throw new JsonPatchError(`test failed at ""`);
      return doc;
    }
    if (operation.op === "add" || operation.op === "replace") return structuredClone(operation.value);
    throw new JsonPatchError(`cannot ${operation.op} the whole document`);
  }
  const parent = resolve(doc, segments.slice(0, -1), operation.path);
  const last = segments[segments.length - 1]!;
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0) throw new JsonPatchError(`bad array index "${last}" in ${operation.path}`);
    switch (operation.op) {
      case "add":
        if (index > parent.length) throw new JsonPatchError(`index ${index} out of range in ${operation.path}`);
        parent.splice(index, 0, structuredClone(operation.value));
        return doc;
      case "remove":
      case "replace":
        if (index >= parent.length) throw new JsonPatchError(`index ${index} out of range in ${operation.path}`);
        if (operation.op === "remove") parent.splice(index, 1);
        else parent[index] = structuredClone(operation.value);
        return doc;
      case "test":
        if (!deepEqual(parent[index], operation.value)) throw new JsonPatchError(`test failed at ${operation.path}`);
        return doc;
      default:
        throw new JsonPatchError(`unsupported op "${operation.op}"`);
    }
  }
  if (parent === null || typeof parent !== "object") throw new JsonPatchError(`${operation.path}: parent is not a container`);
  const object = parent as Record<string, unknown>;
  switch (operation.op) {
    case "add":
      object[last] = structuredClone(operation.value);
      return doc;
    case "remove":
    case "replace":
      if (!(last in object)) throw new JsonPatchError(`${operation.path} does not exist`);
      if (operation.op === "remove") delete object[last];
      else object[last] = structuredClone(operation.value);
      return doc;
    case "test":
      if (!deepEqual(object[last], operation.value)) throw new JsonPatchError(`test failed at ${operation.path}`);
      return doc;
    default:
      throw new JsonPatchError(`unsupported op "${operation.op}"`);
  }
}

function parsePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new JsonPatchError(`JSON pointer "${path}" must start with "/"`);
  return path.slice(1).split("/").map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function resolve(doc: unknown, segments: readonly string[], path: string): unknown {
  let node = doc;
  for (const s of segments) {
    if (node === null || typeof node !== "object") throw new JsonPatchError(`${path}: "${s}" is not reachable`);
    const next: unknown = Array.isArray(node) ? node[Number(s)] : (node as Record<string, unknown>)[s];
    if (next === undefined) throw new JsonPatchError(`${path}: "${s}" does not exist`);
    node = next;
  }
  return node;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
