/**
 * The installer end to end against a real sshd and a real controller, with
 * the "none" service manager (no systemd here): fresh install -> the proxy is
 * connected and a participant; re-run -> unchanged; a config change ->
 * updated; uninstall -> files gone, agent stopped; uninstall again -> absent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { httpControllerAdmin } from "../../src/cli/installer-admin.js";
import type { AgentBundle } from "../../src/installer/bundle.js";
import { agentLayout } from "../../src/installer/layout.js";
import { installFleet, uninstallFleet, type FleetOptions } from "../../src/installer/run.js";
import { jobFromFlags } from "../../src/installer/targets.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { recordingProgress, testBundle, workspace } from "../helpers/installer-testbed.js";
import { requireSshd, startSshd } from "../helpers/sshd.js";

const SERVICE = { namespace: "shop", name: "bookstore" };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("install over SSH: fresh -> connected participant, re-run unchanged, config change updated, newer bundle upgraded, uninstall removes everything", async (t) => {
  if (!(await requireSshd(t))) return;
  const ws = await workspace(t);
  const sshd = await startSshd(t, { address: "127.0.0.31", authorizedKeys: [ws.userKey.publicLine] });
  await ws.trust(sshd);
  const controller = await startTestController(t);
  const { bundle } = await testBundle();
  const admin = httpControllerAdmin({ url: controller.adminUrl });
  const options = (progress = recordingProgress()): FleetOptions => ({
    parallel: 1, progress, installRoot: ws.installRoot, unitDir: ws.unitDir, node: process.execPath, serviceManager: "none", connectTimeoutMs: 30_000,
  });
  const job = (endpoints: string[]) =>
    jobFromFlags(`root@127.0.0.31:${sshd.port}`, "shop/bookstore", endpoints, { controller: [controller.grpcAddress], repoAddress: "127.0.0.1:0", logLevel: "info" }, {
      identityFile: ws.userKey.privateKeyFile, hostKeys: { knownHostsFile: ws.knownHosts, acceptNew: false },
    });
  const layout = agentLayout(ws.installRoot, SERVICE, ws.unitDir);

  const progress = recordingProgress();
  const [first] = await installFleet([job(["127.0.0.31:14001"])], admin, bundle, options(progress));
  assert.equal(first!.outcome, "installed", JSON.stringify(first!.error));
  assert.deepEqual(progress.steps[0], ["connect", "probe", "plan", "token", "upload", "start", "wait"]);
  const proxies = await controller.api<Array<{ proxyId: string; service: string }>>("/api/v1/proxies");
  assert.deepEqual(proxies.map((p) => [p.proxyId, p.service]), [[first!.proxyId, "shop/bookstore"]]);
  const participants = await controller.api<{ participants: Array<{ proxyId: string; service: string }> }>("/api/v1/participants");
  assert.ok(participants.participants.some((p) => p.proxyId === first!.proxyId && p.service === "shop/bookstore"), JSON.stringify(participants));
  // The spent join token is gone; the private key stays private.
  assert.equal(existsSync(layout.tokenFile), false);
  assert.equal((await stat(join(layout.dataDir, "proxy-key.pem"))).mode & 0o777, 0o600);
  const pid = Number(await readFile(layout.pidFile, "utf8"));
  assert.ok(isAlive(pid));
  // Runs with the installer's memory flags (src/installer/agent-command.ts): read from the process itself.
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
  assert.deepEqual(argv.slice(1, 3), ["--max-semi-space-size=1", "--optimize-for-size"], argv.join(" "));

  const [again] = await installFleet([job(["127.0.0.31:14001"])], admin, bundle, options());
  assert.deepEqual([again!.outcome, again!.proxyId], ["unchanged", first!.proxyId]);
  assert.equal(Number(await readFile(layout.pidFile, "utf8")), pid, "an unchanged agent is not restarted");

  const [updated] = await installFleet([job(["127.0.0.31:14001", "127.0.0.31:14002"])], admin, bundle, options());
  assert.deepEqual([updated!.outcome, updated!.proxyId], ["updated", first!.proxyId], JSON.stringify(updated!.error));
  assert.match(await readFile(layout.config, "utf8"), /127\.0\.0\.31:14002/);
  assert.equal(isAlive(pid), false, "the agent was restarted to read its new config");

  // A newer build of the agent: different bytes, different manifest.
  const script = bundle.files.get("meshfed-agent.mjs")!;
  const newer: AgentBundle = {
    manifest: { version: "0.1.1-test", sha256: "f".repeat(64) },
    files: new Map([...bundle.files, ["meshfed-agent.mjs", Buffer.concat([script, Buffer.from("\n// a newer build\n")])]]),
  };
  const updatedPid = Number(await readFile(layout.pidFile, "utf8"));
  const [upgraded] = await installFleet([job(["127.0.0.31:14001", "127.0.0.31:14002"])], admin, newer, options());
  assert.deepEqual([upgraded!.outcome, upgraded!.proxyId, upgraded!.version], ["upgraded", first!.proxyId, "0.1.1-test"], JSON.stringify(upgraded!.error));
  assert.match(await readFile(layout.script, "utf8"), /a newer build/);
  assert.match(await readFile(layout.record, "utf8"), /"version": "0.1.1-test"/);
  assert.equal(isAlive(updatedPid), false, "the old agent process was replaced");

  const newPid = Number(await readFile(layout.pidFile, "utf8"));
  const [removed] = await uninstallFleet([job([])], options(), admin);
  assert.deepEqual([removed!.outcome, removed!.proxyId], ["removed", first!.proxyId], JSON.stringify(removed!.error));
  assert.equal(existsSync(layout.dir), false);
  assert.equal(isAlive(newPid), false);
  // A copy of the key (a backup of the host) can no longer join the mesh.
  const certificates = await controller.api<Array<{ proxyId?: string; state: string; revocationReason?: string }>>("/api/v1/certificates");
  assert.deepEqual(certificates.filter((c) => c.proxyId === first!.proxyId).map((c) => [c.state, c.revocationReason]), [["revoked", "agent of shop/bookstore uninstalled"]]);
  const [absent] = await uninstallFleet([job([])], options());
  assert.equal(absent!.outcome, "absent");
});
