import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { parseMeshConfigData, type MeshSettings } from "../../src/controller/spec/kubernetes/mesh-config.js";
import { POLICY_CUSTOM_RESOURCES, SMI_CUSTOM_RESOURCES } from "../../src/controller/spec/kubernetes/crd-mesh-spec.js";
import { POLICY_SCHEMAS } from "../../src/controller/spec/policy-schema.js";
import { SCHEMAS } from "../../src/controller/spec/smi-schema.js";

const DIR = join(process.cwd(), "config", "kubernetes", "crds");

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: { name: string; served: boolean; storage: boolean; schema?: { openAPIV3Schema?: { type?: string } } }[] };
}

async function crds(): Promise<Crd[]> {
  const files = (await readdir(DIR)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  const out: Crd[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(await readFile(join(DIR, f), "utf8"))) {
      assert.deepEqual(doc.errors, [], f);
      out.push(doc.toJS() as Crd);
    }
  }
  return out;
}

test("CRD manifests: apiextensions.k8s.io/v1, one storage version, a structural schema per version", async () => {
  const all = await crds();
  assert.equal(all.length, 9);
  for (const crd of all) {
    assert.equal(crd.apiVersion, "apiextensions.k8s.io/v1");
    assert.equal(crd.kind, "CustomResourceDefinition");
    assert.equal(crd.metadata.name, `${crd.spec.names.plural}.${crd.spec.group}`);
    assert.equal(crd.spec.scope, "Namespaced");
    assert.equal(crd.spec.versions.filter((v) => v.storage).length, 1, crd.metadata.name);
    for (const v of crd.spec.versions) assert.equal(v.schema?.openAPIV3Schema?.type, "object", `${crd.metadata.name} ${v.name}`);
  }
});

test("CRD manifests serve the version the store watches, and only versions meshfed can parse", async () => {
  const all = await crds();
  for (const r of SMI_CUSTOM_RESOURCES) {
    const crd = all.find((c) => c.spec.group === r.group && c.spec.names.plural === r.plural);
    assert.ok(crd, `${r.plural}.${r.group}`);
    assert.equal(crd.spec.names.kind, r.kind);
    assert.ok(crd.spec.versions.some((v) => v.name === r.version && v.served), `${r.plural} serves ${r.version}`);
    for (const v of crd.spec.versions) assert.ok(SCHEMAS[r.kind][`${r.group}/${v.name}`], `${r.kind} ${v.name} is parsed by smi-schema.ts`);
  }
  for (const r of POLICY_CUSTOM_RESOURCES) {
    const crd = all.find((c) => c.spec.group === r.group && c.spec.names.plural === r.plural);
    assert.ok(crd, `${r.plural}.${r.group}`);
    assert.equal(crd.spec.names.kind, r.kind);
    assert.ok(crd.spec.versions.some((v) => v.name === r.version && v.served), `${r.plural} serves ${r.version}`);
    for (const v of crd.spec.versions) assert.ok(POLICY_SCHEMAS[r.kind][`${r.group}/${v.name}`], `${r.kind} ${v.name} is parsed by policy-schema.ts`);
  }
  const kustomization = await readFile(join(DIR, "kustomization.yaml"), "utf8");
  for (const f of (await readdir(DIR)).filter((x) => x.endsWith(".yaml") && x !== "kustomization.yaml")) assert.ok(kustomization.includes(f), f);
});

const DEFAULTS: MeshSettings = { permissive: false, outboundPassthrough: true, proxyValidityMs: 8760 * 3_600_000, serviceValidityMs: 24 * 3_600_000, serviceJitterMs: 3_600_000 };

const meshConfigCases: { data: Record<string, string>; want: Partial<MeshSettings> | RegExp }[] = [
  { data: {}, want: {} },
  { data: { "mesh.permissive": "TRUE" }, want: { permissive: true } },
  { data: { "mesh.permissive": "false", "certificates.serviceValidity": "2h", "certificates.serviceJitter": "10m" }, want: { serviceValidityMs: 7_200_000, serviceJitterMs: 600_000 } },
  { data: { "certificates.proxyValidity": "720h" }, want: { proxyValidityMs: 720 * 3_600_000 } },
  { data: { "mesh.permissive": "yes" }, want: /not true or false/ },
  { data: { "mesh.outboundPassthrough": "False" }, want: { outboundPassthrough: false } },
  { data: { "mesh.outboundPassthrough": "deny" }, want: /mesh.outboundPassthrough: "deny" is not true or false/ },
  { data: { permissive: "true" }, want: /unknown key "permissive"/ },
  { data: { "certificates.serviceValidity": "1h" }, want: /serviceJitter .* must be less than/ },
  { data: { "certificates.serviceValidity": "10s" }, want: /too short/ },
  { data: { "certificates.proxyValidity": "a year" }, want: /is not a duration/ },
];

for (const c of meshConfigCases) {
  test(`MeshConfig data ${JSON.stringify(c.data)}`, () => {
    const r = parseMeshConfigData(c.data, DEFAULTS);
    if (c.want instanceof RegExp) {
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.problems.join("; "), c.want);
    } else {
      assert.deepEqual(r, { ok: true, settings: { ...DEFAULTS, ...c.want } });
    }
  });
}
