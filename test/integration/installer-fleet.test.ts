/**
 * `meshfed agent install --inventory` over five hosts (five sshd on their own
 * loopback addresses), the inventory being the controller's own hosts file.
 * One host refuses our key: the other four are installed and connected, the
 * summary names the failed host and why, and the exit status is 1. Then
 * `agent uninstall --inventory` removes the four agents.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateKey, requireSshd, startSshd, type TestSshd } from "../helpers/sshd.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { runCli } from "../helpers/controller-process.js";
import { testBundle, workspace } from "../helpers/installer-testbed.js";

test("fleet: one host of five failing -> the others succeed, the summary names it, exit 1; uninstall removes the rest", async (t) => {
  if (!(await requireSshd(t))) return;
  const ws = await workspace(t);
  const stranger = await generateKey(join(ws.dir, "stranger"));
  const hosts: TestSshd[] = [];
  for (let i = 1; i <= 5; i++) {
    // Host 3 only accepts some other key: our installs there fail authentication.
    hosts.push(await startSshd(t, { address: `127.0.0.5${i}`, authorizedKeys: [i === 3 ? stranger.publicLine : ws.userKey.publicLine] }));
  }
  await ws.trust(...hosts);
  const inventory = `hosts:\n${hosts.map((h, i) => `  - name: vm-${i + 1}
    address: ${h.address}
    services: [{ namespace: shop, name: app-${i + 1}, port: 8080 }]
    ssh: { user: root, port: ${h.port}, key: ${ws.userKey.privateKeyFile} }\n`).join("")}`;
  const controller = await startTestController(t, { hosts: inventory });
  const inventoryFile = join(ws.dir, "hosts.yaml");
  await writeFile(inventoryFile, inventory);
  const { dir: bundleDir } = await testBundle();
  const common = ["--inventory", inventoryFile, "--known-hosts", ws.knownHosts, "--install-root", ws.installRoot, "--unit-dir", ws.unitDir,
    "--node", process.execPath, "--service-manager", "none", "--parallel", "5"];

  const install = await runCli(["agent", "install", ...common, "--controller", controller.grpcAddress, "--admin", controller.adminUrl,
    "--no-proxy", "--repo-address", "127.0.0.1:0", "--bundle", bundleDir, "--timeout", "60s"]);
  assert.equal(install.code, 1, install.stdout + install.stderr);
  const rows = install.stdout.split("\n").filter((l) => l.startsWith("vm-"));
  assert.equal(rows.length, 5, install.stdout);
  for (const [i, row] of rows.entries()) {
    if (i === 2) assert.match(row, /^vm-3\s+shop\/app-3\s+failed\s+\S+\s+MESHFED_SSH_AUTH_FAILED: root@\[127\.0\.0\.53\]/);
    else assert.match(row, new RegExp(`^vm-${i + 1}\\s+shop/app-${i + 1}\\s+installed\\s+`));
  }
  assert.match(install.stdout, /1 of 5 failed/);
  // Plain progress lines (stderr is not a terminal here), never the token.
  assert.match(install.stderr, /^vm-1 shop\/app-1: upload$/m);
  assert.doesNotMatch(install.stderr, /[A-Za-z0-9_-]{32,}/, "no secret-looking string in the progress log");

  const proxies = await controller.api<Array<{ service: string }>>("/api/v1/proxies");
  assert.deepEqual(proxies.map((p) => p.service).sort(), ["shop/app-1", "shop/app-2", "shop/app-4", "shop/app-5"]);
  const participants = await controller.api<{ participants: Array<{ service: string }> }>("/api/v1/participants");
  assert.deepEqual(participants.participants.map((p) => p.service).sort(), ["shop/app-1", "shop/app-2", "shop/app-4", "shop/app-5"]);

  const uninstall = await runCli(["agent", "uninstall", ...common, "--admin", controller.adminUrl]);
  assert.equal(uninstall.code, 1, "host 3 still refuses us");
  assert.equal(uninstall.stdout.split("\n").filter((l) => /^vm-\d\s+\S+\s+removed/.test(l)).length, 4, uninstall.stdout);
  for (const i of [1, 2, 4, 5]) assert.equal(existsSync(join(ws.installRoot, "agents", `shop_app-${i}`)), false);
  // Every removed agent's certificate is revoked; nothing else was issued.
  const certificates = await controller.api<Array<{ kind: string; service: string; state: string }>>("/api/v1/certificates");
  assert.deepEqual(certificates.filter((c) => c.kind === "proxy").map((c) => `${c.service} ${c.state}`).sort(),
    ["shop/app-1 revoked", "shop/app-2 revoked", "shop/app-4 revoked", "shop/app-5 revoked"]);
});
