import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { MeshfedError } from "../../src/common/errors.js";
import { jobsFromInventory, parseSshHost } from "../../src/installer/targets.js";

test("--host user@address[:port]", () => {
  assert.deepEqual(parseSshHost("root@10.0.0.5"), { user: "root", host: "10.0.0.5", port: 22 });
  assert.deepEqual(parseSshHost("ops@db-1.example.com:2222"), { user: "ops", host: "db-1.example.com", port: 2222 });
  assert.deepEqual(parseSshHost("ops@[fd00::5]:2222"), { user: "ops", host: "fd00::5", port: 2222 });
  assert.deepEqual(parseSshHost("ops@[fd00::5]"), { user: "ops", host: "fd00::5", port: 22 });
  for (const bad of ["10.0.0.5", "@10.0.0.5", "root@", "root@10.0.0.5:0", "root@10.0.0.5:x"]) {
    assert.throws(() => parseSshHost(bad), (err: unknown) => err instanceof MeshfedError, bad);
  }
});

test("inventory: one job per service of each host with ssh:, ports grouped, repo ports offset per host, ~ expanded", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-inv-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const file = join(dir, "hosts.yaml");
  await writeFile(file, `hosts:
  - name: db-1
    address: 10.0.0.21
    services:
      - { namespace: shop, name: bookstore, port: 14001 }
      - { namespace: shop, name: bookstore, port: 14002, protocol: grpc }
      - { namespace: shop, name: orders, port: 9000 }
    ssh: { user: ops, port: 2222, key: ~/.ssh/db }
  - name: web-1
    address: 10.0.0.22
    services: [{ namespace: shop, name: web, port: 80 }]
  - name: idle
    address: 10.0.0.23
    ssh: { user: root }
`);
  const { jobs, skipped } = await jobsFromInventory(file, { controller: ["cp:15128"], repoAddress: "127.0.0.1:15010", logLevel: "info" }, {
    identityFile: "/keys/default", hostKeys: { knownHostsFile: "/kh", acceptNew: false },
  });
  assert.deepEqual(skipped, ["web-1", "idle"]);
  assert.deepEqual(jobs.map((j) => [j.host, `${j.spec.service.namespace}/${j.spec.service.name}`, j.spec.endpoints, j.spec.repoAddress]), [
    ["db-1", "shop/bookstore", ["10.0.0.21:14001", "10.0.0.21:14002/grpc"], "127.0.0.1:15010"], // the declared protocol reaches the agent,
    ["db-1", "shop/orders", ["10.0.0.21:9000"], "127.0.0.1:15011"],
  ]);
  assert.deepEqual(jobs[0]!.target, { host: "10.0.0.21", port: 2222, user: "ops", identityFile: join(homedir(), ".ssh/db"), hostKeys: { knownHostsFile: "/kh", acceptNew: false } });
  assert.deepEqual(jobs[0]!.spec.hostAddresses, ["10.0.0.21"]);
  assert.deepEqual(jobs.map((j) => j.spec.pipyAdminAddress), [undefined, "127.0.0.1:6061"]);
});
