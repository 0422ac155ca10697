/**
 * The systemd path on a host without systemd: the rendered unit (from
 * agents/meshfed-agent.service) and the exact service commands issued, with
 * a fake systemd (test/fakes) that runs ExecStart, so the install still ends
 * with the proxy connected at a real controller; uninstall disables the unit
 * and removes it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { httpControllerAdmin } from "../../src/cli/installer-admin.js";
import { agentLayout } from "../../src/installer/layout.js";
import { installFleet, uninstallFleet, type FleetOptions } from "../../src/installer/run.js";
import { jobFromFlags } from "../../src/installer/targets.js";
import { fakeSystemdShell, type FakeSystemd } from "../fakes/fake-systemd-shell.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { recordingProgress, testBundle, workspace } from "../helpers/installer-testbed.js";
import { requireSshd, startSshd } from "../helpers/sshd.js";

test("systemd: unit rendered from agents/, user, enable and restart issued; uninstall disables and removes the unit", async (t) => {
  if (!(await requireSshd(t))) return;
  const ws = await workspace(t);
  const sshd = await startSshd(t, { address: "127.0.0.61", authorizedKeys: [ws.userKey.publicLine] });
  await ws.trust(sshd);
  const controller = await startTestController(t);
  const { bundle } = await testBundle();
  let systemd: FakeSystemd | undefined;
  const options: FleetOptions = {
    parallel: 1, progress: recordingProgress(), installRoot: ws.installRoot, unitDir: ws.unitDir, node: process.execPath, serviceManager: "systemd", connectTimeoutMs: 30_000,
    wrapShell: (shell) => (systemd = fakeSystemdShell(shell, ws.unitDir)),
  };
  const job = jobFromFlags(`root@127.0.0.61:${sshd.port}`, "shop/bookstore", ["127.0.0.61:14001"], { controller: [controller.grpcAddress], repoAddress: "127.0.0.1:0", logLevel: "info" }, {
    identityFile: ws.userKey.privateKeyFile, hostKeys: { knownHostsFile: ws.knownHosts, acceptNew: false },
  });
  const layout = agentLayout(ws.installRoot, { namespace: "shop", name: "bookstore" }, ws.unitDir);

  const [installed] = await installFleet([job], httpControllerAdmin({ url: controller.adminUrl }), bundle, options);
  assert.equal(installed!.outcome, "installed", JSON.stringify(installed!.error));
  const unit = await readFile(layout.unitFile, "utf8");
  assert.match(unit, new RegExp(`^ExecStart=${process.execPath} --max-semi-space-size=1 --optimize-for-size ${layout.script} agent --config ${layout.config}$`, "m"));
  assert.match(unit, /^User=meshfed-agent$/m);
  assert.match(unit, new RegExp(`^ReadWritePaths=${layout.dataDir}$`, "m"));
  assert.match(unit, /^Description=.* for shop\/bookstore$/m);
  assert.match(unit, /^RestartPreventExitStatus=78$/m);
  assert.match(unit, /^ProtectSystem=strict$/m);
  assert.doesNotMatch(unit, /^(StateDirectory|ConfigurationDirectory)=/m);
  const name = "'meshfed-agent-shop_bookstore.service'";
  assert.deepEqual(systemd!.commands, [
    "id -u meshfed-agent >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin meshfed-agent",
    `chown -R meshfed-agent:meshfed-agent '${layout.dataDir}' && (chown meshfed-agent:meshfed-agent '${layout.tokenFile}' 2>/dev/null || true)`,
    "systemctl daemon-reload",
    `systemctl enable ${name}`,
    `systemctl restart ${name}`,
  ]);
  const proxies = await controller.api<Array<{ proxyId: string }>>("/api/v1/proxies");
  assert.deepEqual(proxies.map((p) => p.proxyId), [installed!.proxyId]);

  const [removed] = await uninstallFleet([job], options);
  assert.equal(removed!.outcome, "removed", JSON.stringify(removed!.error));
  assert.deepEqual(systemd!.commands, [`systemctl disable --now ${name}`, "systemctl daemon-reload"]);
  assert.equal(existsSync(layout.unitFile), false);
  assert.equal(existsSync(layout.dir), false);
});
