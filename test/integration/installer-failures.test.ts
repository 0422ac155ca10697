/**
 * Failures part-way leave the host as it was: a host without a usable Node.js,
 * or asked for a capture it cannot have, is refused before anything is written; an agent that never connects is
 * rolled back (files removed, process stopped) and the error says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { httpControllerAdmin } from "../../src/cli/installer-admin.js";
import { installFleet, type FleetOptions } from "../../src/installer/run.js";
import { jobFromFlags } from "../../src/installer/targets.js";
import { freePort } from "../helpers/agent-process.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { recordingProgress, testBundle, workspace } from "../helpers/installer-testbed.js";
import { requireSshd, startSshd } from "../helpers/sshd.js";

test("no Node.js on the host, or an agent that never connects: clear error, nothing left behind", async (t) => {
  if (!(await requireSshd(t))) return;
  const ws = await workspace(t);
  const sshd = await startSshd(t, { address: "127.0.0.71", authorizedKeys: [ws.userKey.publicLine] });
  await ws.trust(sshd);
  const controller = await startTestController(t);
  const { bundle } = await testBundle();
  const admin = httpControllerAdmin({ url: controller.adminUrl });
  const options = (node: string): FleetOptions => ({
    parallel: 1, progress: recordingProgress(), installRoot: ws.installRoot, unitDir: ws.unitDir, node, serviceManager: "none", connectTimeoutMs: 4_000,
  });
  const job = (controllerAddress: string, capture?: "transparent") =>
    jobFromFlags(`root@127.0.0.71:${sshd.port}`, "shop/bookstore", [], { controller: [controllerAddress], repoAddress: "127.0.0.1:0", logLevel: "info", ...(capture ? { capture } : {}) }, {
      identityFile: ws.userKey.privateKeyFile, hostKeys: { knownHostsFile: ws.knownHosts, acceptNew: false },
    });

  const [noNode] = await installFleet([job(controller.grpcAddress)], admin, bundle, options("/nonexistent/node"));
  assert.equal(noNode!.error?.code, "MESHFED_HOST_NODE_MISSING");
  assert.match(noNode!.error.message, /Node >= 20/);
  assert.equal(existsSync(ws.installRoot), false, "refused before writing anything");

  // --capture transparent for an agent without a proxy: refused by name, before anything is written.
  const [noCapture] = await installFleet([job(controller.grpcAddress, "transparent")], admin, bundle, options(process.execPath));
  assert.equal(noCapture!.error?.code, "MESHFED_INSTALL_CAPTURE_UNAVAILABLE", JSON.stringify(noCapture));
  assert.match(noCapture!.error.message, /without a proxy/);
  assert.equal(existsSync(ws.installRoot), false, "refused before writing anything");

  // Nothing listens there: the agent keeps retrying and never connects.
  const [never] = await installFleet([job(`127.0.0.1:${await freePort()}`)], admin, bundle, options(process.execPath));
  assert.equal(never!.error?.code, "MESHFED_INSTALL_NOT_CONNECTED", JSON.stringify(never));
  assert.match(never!.error.message, /did not enroll.*rolled back: nothing is left on the host/);
  assert.equal(existsSync(`${ws.installRoot}/agents/shop_bookstore`), false);
});
