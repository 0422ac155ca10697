// The borders DESIGN.md draws between parts of the controller, checked on the
// source: endpoint providers and the mesh spec never import each other, and
// the shared Kubernetes layer (controller/kube) builds on nothing above it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const CONTROLLER = join(ROOT, "src", "controller");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Relative imports (static, re-exports and dynamic) of a file, as paths under src/controller ("" when outside). */
function importsOf(file: string, text = readFileSync(file, "utf8")): { spec: string; area: string }[] {
  const specs = [...text.matchAll(/(?:from\s+|import\(\s*)"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]!);
  return specs.map((spec) => {
    const target = relative(CONTROLLER, resolve(dirname(file), spec));
    return { spec, area: target.startsWith("..") ? "" : target.split("/")[0]! };
  });
}

const areaOf = (file: string) => relative(CONTROLLER, file).split("/")[0]!;

/** Which areas each area must never import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  providers: ["spec"],
  spec: ["providers"],
  kube: ["providers", "spec", "catalog", "injector", "store", "ha", "proxy-control-plane", "admin", "drivers", "certificates", "main.ts"],
};

function violations(files: readonly string[], read?: (file: string) => string): string[] {
  const found: string[] = [];
  for (const file of files) {
    const banned = FORBIDDEN[areaOf(file)];
    if (!banned) continue;
    for (const { spec, area } of importsOf(file, read?.(file))) if (banned.includes(area)) found.push(`${relative(ROOT, file)} imports ${spec}`);
  }
  return found;
}

test("providers and the spec never import each other; controller/kube imports nothing above it", () => {
  const files = sources(CONTROLLER);
  assert.ok(files.length > 100);
  assert.deepEqual(violations(files), []);
});

test("the rule catches a forbidden import (it can fail)", () => {
  const spec = join(CONTROLLER, "spec", "files", "file-mesh-spec.ts");
  const kube = join(CONTROLLER, "kube", "errors.ts");
  const texts = new Map([[spec, 'import { x } from "../../providers/onprem/index.js";'], [kube, 'const m = await import("../spec/types.js");']]);
  assert.deepEqual(violations([spec, kube], (f) => texts.get(f)!), [
    "src/controller/spec/files/file-mesh-spec.ts imports ../../providers/onprem/index.js",
    "src/controller/kube/errors.ts imports ../spec/types.js",
  ]);
});
