import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/controller-process.js";

test("meshfed validate names a bad protocol and a bad serviceAccount in a hosts file, with their positions", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mfpi-validate-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, "hosts.yaml"), [
    "hosts:",
    "  - name: a",
    "    address: 10.0.0.1",
    "    services:",
    "      - { name: web, namespace: shop, port: 80, protocol: grpc, serviceAccount: web.v2 }",
    "      - { name: db, namespace: shop, port: 3306, protocol: mysql }",
    "      - { name: api, namespace: shop, port: 81, serviceAccount: Api_Account }",
    "",
  ].join("\n"));
  const r = await runCli(["validate", join(dir, "hosts.yaml")]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /MESHFED_HOSTS_INVALID_PROTOCOL .*hosts\.yaml:6:/);
  assert.match(r.stdout, /MESHFED_HOSTS_INVALID_SERVICE_ACCOUNT .*hosts\.yaml:7:/);
  assert.doesNotMatch(r.stdout, /hosts\.yaml:5:/, "valid declarations are not errors");
});
