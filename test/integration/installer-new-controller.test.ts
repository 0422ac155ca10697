/**
 * Issue 16 item 2: a host installed against controller A, then the same
 * `meshfed agent install` against controller B, rebuilt with a new data
 * directory (a new CA) on the same address. The agent must adopt B (a new
 * enrollment with B's token and CA); and when trust is really broken (the
 * agent dials a controller whose CA is not the one it was installed with)
 * it must say MESHFED_AGENT_CA_MISMATCH, the install must fail with that
 * code at once, and the previous enrollment must be restored.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { httpControllerAdmin } from "../../src/cli/installer-admin.js";
import { agentLayout } from "../../src/installer/layout.js";
import { installFleet, type FleetOptions } from "../../src/installer/run.js";
import { summaryRows } from "../../src/installer/summary.js";
import { jobFromFlags } from "../../src/installer/targets.js";
import { freePort } from "../helpers/agent-process.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";
import { recordingProgress, testBundle, workspace } from "../helpers/installer-testbed.js";
import { requireSshd, startSshd } from "../helpers/sshd.js";
import { waitFor } from "../helpers/wait.js";

const SERVICE = { namespace: "shop", name: "bookstore" };
const HOST = "127.0.0.36";

test("re-install against a rebuilt controller (new CA): the agent re-enrolls with it; a controller from another CA is named MESHFED_AGENT_CA_MISMATCH and the install rolls back", async (t) => {
  if (!(await requireSshd(t))) return;
  const ws = await workspace(t);
  const sshd = await startSshd(t, { address: HOST, authorizedKeys: [ws.userKey.publicLine] });
  await ws.trust(sshd);
  const { bundle } = await testBundle();
  const grpcPort = await freePort();
  const repoPort = await freePort();
  const onPort = (port: number) => (c: ControllerConfig): ControllerConfig => ({ ...c, grpc: { ...c.grpc, address: `127.0.0.1:${port}` } });
  const options = (connectTimeoutMs = 20_000): FleetOptions => ({
    parallel: 1, progress: recordingProgress(), installRoot: ws.installRoot, unitDir: ws.unitDir, node: process.execPath, serviceManager: "none", connectTimeoutMs,
  });
  const job = (controllerAddress: string) =>
    jobFromFlags(`root@${HOST}:${sshd.port}`, "shop/bookstore", [`${HOST}:14001`], { controller: [controllerAddress], repoAddress: `127.0.0.1:${repoPort}`, logLevel: "info" }, {
      identityFile: ws.userKey.privateKeyFile, hostKeys: { knownHostsFile: ws.knownHosts, acceptNew: false },
    });
  const layout = agentLayout(ws.installRoot, SERVICE, ws.unitDir);
  const connected = async (c: TestController, proxyId: string) => (await c.api<Array<{ proxyId: string }>>("/api/v1/proxies")).some((p) => p.proxyId === proxyId);

  const a = await startTestController(t, { patch: onPort(grpcPort) });
  const [first] = await installFleet([job(a.grpcAddress)], httpControllerAdmin({ url: a.adminUrl }), bundle, options());
  assert.equal(first!.outcome, "installed", JSON.stringify(first!.error));
  await a.close();

  // Controller B: same address, new data directory, so a new CA.
  const b = await startTestController(t, { patch: onPort(grpcPort) });
  assert.notEqual(await b.api<string>("/api/v1/ca"), await readFile(layout.caFile, "utf8"));
  const [second] = await installFleet([job(b.grpcAddress)], httpControllerAdmin({ url: b.adminUrl }), bundle, options());
  assert.equal(second!.outcome, "re-enrolled", JSON.stringify(second!.error));
  assert.ok(second!.proxyId !== undefined && second!.proxyId !== first!.proxyId, "a new proxy id from controller B");
  assert.ok(await connected(b, second!.proxyId));
  assert.equal(existsSync(layout.tokenFile), false, "the spent token is removed");
  assert.equal(existsSync(`${layout.dataDir}.previous`), false, "the previous enrollment is dropped once the new one is connected");
  const status = (await (await fetch(`http://127.0.0.1:${repoPort}/status`)).json()) as { state: string; proxyId: string; trust: unknown };
  assert.deepEqual([status.state, status.proxyId, status.trust], ["CONNECTED", second!.proxyId, null]);

  // Trust really broken: the admin API of controller C (another CA) mints the token
  // and the CA bundle, but the agent dials B. The agent names the problem, the
  // installer reports it without waiting for its timeout, and B's enrollment is restored.
  const c = await startTestController(t);
  const started = performance.now();
  const [third] = await installFleet([job(b.grpcAddress)], httpControllerAdmin({ url: c.adminUrl }), bundle, options(60_000));
  assert.equal(third!.outcome, "failed");
  assert.equal(third!.error?.code, "MESHFED_AGENT_CA_MISMATCH", JSON.stringify(third!.error));
  assert.ok(performance.now() - started < 45_000, "reported from the agent's log, not after the connect timeout");
  assert.match(third!.error.message, /rolled back/);
  const row = summaryRows([third!]).rows[0]!;
  assert.match(row.at(-1)!, /^MESHFED_AGENT_CA_MISMATCH: /);
  assert.match(await readFile(layout.logFile, "utf8"), /"code":"MESHFED_AGENT_CA_MISMATCH"/);
  assert.equal(JSON.parse(await readFile(layout.stateFile, "utf8")).proxyId, second!.proxyId, "B's enrollment is back in place");
  await waitFor(() => connected(b, second!.proxyId!), { what: "the restored agent reconnects to B", timeoutMs: 60_000 });
  assert.equal(existsSync(join(layout.dir, "token")), false, "no token is left behind");
});
