/** The OpenAPI schemas of meshfed's own CRDs (config/kubernetes/crds), for the fake API server to enforce. */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { OpenApiSchema } from "./openapi-schema.js";

export const CRD_DIR = fileURLToPath(new URL("../../../config/kubernetes/crds/", import.meta.url));

/** `plural.group` -> version -> schema (served versions only: the API server refuses the others). */
export type CrdSchemas = ReadonlyMap<string, ReadonlyMap<string, OpenApiSchema>>;

interface Crd {
  spec: { group: string; names: { plural: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: OpenApiSchema } }[] };
}

export async function loadCrdSchemas(dir = CRD_DIR): Promise<CrdSchemas> {
  const out = new Map<string, Map<string, OpenApiSchema>>();
  for (const f of (await readdir(dir)).filter((n) => n.endsWith(".yaml") && n !== "kustomization.yaml").sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, f), "utf8"))) {
      const crd = doc.toJS() as Crd | null;
      if (crd === null) continue;
      const versions = new Map<string, OpenApiSchema>();
      for (const v of crd.spec.versions) if (v.served) versions.set(v.name, v.schema.openAPIV3Schema);
      out.set(`${crd.spec.names.plural}.${crd.spec.group}`, versions);
    }
  }
  return out;
}
