import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../helpers/controller-process.js";

const CORPUS = fileURLToPath(new URL("../../../test/corpus/osm-edge/", import.meta.url));

test("meshfed validate passes over Services, Deployments and MeshConfig next to SMI objects, and counts them", async () => {
  const r = await runCli(["validate", CORPUS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok\s+.*mysql\.yaml \(smi\)$/m);
  assert.match(r.stdout, /^ok\s+.*bookstore-v2\.yaml \(smi\)$/m);
  assert.match(r.stdout, /^ok\s+.*traffic-specs\.yaml \(smi\)$/m);
  assert.match(r.stdout, /^skipped 7 non-mesh objects\n7 valid, 0 invalid\n$/m);
  assert.doesNotMatch(r.stdout, /error/);

  const json = await runCli(["validate", "-o", "json", CORPUS]);
  assert.equal(json.code, 0, json.stderr);
  const reports = JSON.parse(json.stdout) as Array<{ file: string; kind: string; errors: unknown[]; skipped?: number }>;
  assert.deepEqual(reports.map((x) => [x.file.slice(CORPUS.length), x.kind, x.errors.length, x.skipped]), [
    ["bookstore-v2.yaml", "smi", 0, 3],
    ["mesh-config.yaml", "smi", 0, 1],
    ["mysql.yaml", "smi", 0, 3],
    ["policies.yaml", "smi", 0, 0],
    ["traffic-specs.yaml", "smi", 0, 0],
    ["traffic-split.yaml", "smi", 0, 0],
    ["traffic-targets.yaml", "smi", 0, 0],
  ]);
});

test("meshfed validate decides per document what a file is, and never shows the YAML library's advice", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-validate-mixed-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  // Several documents, none with a kind: nothing meshfed reads looks like that.
  await writeFile(join(dir, "nokind.yaml"), "admin:\n  address: 127.0.0.1:1\n---\nhosts: []\n");
  // The first document has no kind, a later one is SMI: a manifest file whose first document is named.
  await writeFile(join(dir, "first-nokind.yaml"), [
    "metadata: { name: orphan }",
    "---",
    "apiVersion: specs.smi-spec.io/v1alpha4",
    "kind: TCPRoute",
    "metadata: { name: mysql, namespace: shop }",
    "spec: { matches: { ports: [3306] } }",
    "",
  ].join("\n"));
  // One Deployment alone: a manifest file with nothing for the mesh.
  await writeFile(join(dir, "deploy.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: shop }\nspec: {}\n");
  const r = await runCli(["validate", join(dir, "nokind.yaml"), join(dir, "first-nokind.yaml"), join(dir, "deploy.yaml")]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^error MESHFED_VALIDATE_NO_KIND .*nokind\.yaml: 2 YAML documents and none has a kind: several documents are read as Kubernetes manifests \(apiVersion, kind, metadata and spec in each, such as SMI policies\); a hosts file or a controller config is a single document$/m);
  assert.match(r.stdout, /^error MESHFED_SMI_UNKNOWN_KIND .*first-nokind\.yaml:1:1: object default\/orphan \(document 1\): missing kind$/m);
  assert.match(r.stdout, /^ok\s+.*deploy\.yaml \(smi\)$/m);
  assert.match(r.stdout, /^skipped 1 non-mesh object\n1 valid, 2 invalid\n$/m);
  assert.doesNotMatch(r.stdout + r.stderr, /parseAllDocuments|YAML\.parse/);

  // Forced to a one-document kind, the same file gets our words too.
  const forced = await runCli(["validate", "--kind", "config", join(dir, "nokind.yaml")]);
  assert.equal(forced.code, 1);
  assert.match(forced.stdout, /MESHFED_CONFIG_INVALID .*nokind\.yaml:\d+:\d+: the file holds several YAML documents \(separated by ---\) where one was expected/);
  assert.doesNotMatch(forced.stdout + forced.stderr, /parseAllDocuments/);
});
