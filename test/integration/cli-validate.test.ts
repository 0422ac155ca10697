import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../helpers/controller-process.js";

const CONFIG_DIR = fileURLToPath(new URL("../../../config/", import.meta.url));

test("meshfed validate accepts the shipped examples: hosts file, SMI directory, demo config", async () => {
  const r = await runCli(["validate", join(CONFIG_DIR, "hosts.example.yaml"), join(CONFIG_DIR, "smi"), join(CONFIG_DIR, "demo.yaml")]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok\s+.*hosts\.example\.yaml \(hosts\)/);
  assert.match(r.stdout, /ok\s+.*traffic-split\.yaml \(smi\)/);
  assert.match(r.stdout, /ok\s+.*demo\.yaml \(config\)/);
  assert.match(r.stdout, /^\d+ valid, 0 invalid$/m);
});

test("meshfed validate exits 1 and names every problem with its code and position", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-validate-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, "hosts.yaml"), "hosts:\n  - name: a\n    address: 10.0.0.1\n  - name: a\n    address: nope\n");
  await writeFile(join(dir, "split.yaml"), [
    "apiVersion: access.smi-spec.io/v1alpha3",
    "kind: TrafficTarget",
    "metadata: { name: t, namespace: shop }",
    "spec:",
    "  destination: { kind: ServiceAccount, name: db }",
    "  sources: [{ kind: ServiceAccount, name: web }]",
    "  rules: [{ kind: HTTPRouteGroup, name: missing-group }]",
    "",
  ].join("\n"));
  await writeFile(join(dir, "controller.yaml"), "admin:\n  adress: 127.0.0.1:1\n");
  const r = await runCli(["validate", join(dir, "hosts.yaml"), join(dir, "split.yaml"), join(dir, "controller.yaml")]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /MESHFED_HOSTS_DUPLICATE_HOST .*hosts\.yaml:4:/);
  assert.match(r.stdout, /MESHFED_HOSTS_INVALID_ADDRESS .*hosts\.yaml:5:14/);
  assert.match(r.stdout, /MESHFED_SMI_MISSING_ROUTE .*split\.yaml/);
  assert.match(r.stdout, /MESHFED_CONFIG_INVALID .*controller\.yaml:2:3: unknown field "adress"/);
  assert.match(r.stdout, /^0 valid, 3 invalid$/m);

  const json = await runCli(["validate", "-o", "json", join(dir, "controller.yaml")]);
  assert.equal(json.code, 1);
  assert.deepEqual((JSON.parse(json.stdout) as Array<{ kind: string }>).map((x) => x.kind), ["config"]);
});
