// Shared pieces of the test/fuzz/ property tests: arbitraries that produce
// hostile input (random text, random YAML structures, small mutations of a
// valid file) and the one property every parser must keep: it returns a
// value or fails with a MeshfedError whose code is one of its own.
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { MeshfedError } from "../../src/common/errors.js";

/** Runs per property: enough to find shallow crashes, bounded so every file stays within a few seconds. */
export const RUNS = 200;

/** Fails unless `err` is a MeshfedError whose code (and every issue's code) is in `codes`. */
export function assertNamedError(err: unknown, codes: Iterable<string>): void {
  const allowed = new Set(codes);
  assert.ok(err instanceof MeshfedError, `not a MeshfedError: ${String(err instanceof Error ? err.stack : err)}`);
  assert.ok(allowed.has(err.code), `unexpected code ${err.code}: ${err.message}`);
  const issues = err.details.issues;
  if (Array.isArray(issues)) for (const i of issues as Array<{ code: string }>) assert.ok(allowed.has(i.code), `unexpected issue code ${i.code}`);
}

/** Calls `parse`; a thrown error must be a named one. */
export function parsesOrNamedError(parse: () => unknown, codes: Iterable<string>): void {
  try {
    parse();
  } catch (err) {
    assertNamedError(err, codes);
  }
}

/** Arbitrary text, including control characters, lone surrogates and YAML punctuation. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({ unit: fc.constantFrom(..."{}[]:,-?&*!|>'\"%@`#\n\t \\0123456789abcxyz."), maxLength: 200 }),
);

/** YAML text of an arbitrary JSON-like structure (the right syntax, the wrong shapes). */
export const hostileYamlStructure: fc.Arbitrary<string> = fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v));

/** A valid file with a few characters inserted, deleted or replaced at random places. */
export function mutationsOf(valid: string): fc.Arbitrary<string> {
  const edit = fc.record({ at: fc.nat({ max: valid.length }), remove: fc.nat({ max: 8 }), insert: fc.string({ maxLength: 8 }) });
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let text = valid;
    for (const e of edits) {
      const at = Math.min(e.at, text.length);
      text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
    }
    return text;
  });
}

/** A shape-preserving variant of a valid value: some leaves replaced by arbitrary JSON. */
export function corruptedValuesOf(valid: unknown): fc.Arbitrary<unknown> {
  const leaves: string[][] = [];
  const walk = (v: unknown, path: string[]): void => {
    leaves.push(path);
    if (v !== null && typeof v === "object") for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
  };
  walk(valid, []);
  return fc.tuple(fc.constantFrom(...leaves), fc.jsonValue({ maxDepth: 2 })).map(([path, replacement]) => {
    if (path.length === 0) return replacement;
    const copy = structuredClone(valid) as Record<string, unknown>;
    let at: Record<string, unknown> = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    at[path.at(-1)!] = replacement;
    return copy;
  });
}

/** "Billion laughs": `depth` levels of aliases, each multiplying the one below by ten. */
export function aliasBomb(depth = 9): string {
  const lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i <= depth; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(", ")}]`);
  return `${lines.join("\n")}\n`;
}
