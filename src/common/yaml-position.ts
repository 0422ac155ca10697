/**
 * Maps a path into parsed YAML (as a schema validator reports it) back to the
 * line and column of the node, so an operator is told `hosts.yaml:12:9`, not
 * `hosts[3].services[0].port`. Shared by every YAML input: hosts files, SMI
 * manifests, controller configs.
 */
import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type ParsedNode } from "yaml";

export interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

/**
 * The deepest node along `path` starting at `root`. When `keyOf` is set, the
 * last segment names a key of a map and the key node itself is returned
 * (for "unknown field" errors).
 */
export function nodeAtPath(root: ParsedNode | null, path: readonly PropertyKey[], keyOf?: string): Node | null {
  let node: Node | null = root;
  const segments: PropertyKey[] = keyOf === undefined ? [...path] : [...path, keyOf];
  for (let i = 0; i < segments.length && node !== null; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) return node;
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      if (last && keyOf !== undefined) return key;
      // `key:` with no value has a null value node; point at the key instead.
      node = value ?? key;
      if (value === null) return node;
    } else if (isSeq(node)) {
      const item = typeof seg === "number" ? node.items[seg] : undefined;
      if (item === undefined || item === null) return node;
      node = item as Node;
    } else {
      return node;
    }
  }
  return node;
}

export function positionOf(node: Node | null | undefined, lineCounter: LineCounter): Position {
  const offset = node?.range?.[0];
  if (offset === undefined) return { line: 1, column: 1 };
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

export function positionAtOffset(offset: number | undefined, lineCounter: LineCounter): Position {
  if (offset === undefined) return { line: 1, column: 1 };
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** `hosts[2].services[0].port` or `spec.backends[0].weight`, for messages and error details. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out === "" ? "(document)" : out;
}
