/**
 * Against a real Pipy binary (PIPY_BIN=/path/to/pipy): start, hot reload,
 * ACK on the real status reports, SIGINT drain. Skipped, visibly, without it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { configMessage, http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { scaled, waitFor } from "../helpers/wait.js";
import { freePort } from "../helpers/agent-process.js";

const PIPY_BIN = process.env.PIPY_BIN;

const script = (port: number, text: string) => `pipy().listen('127.0.0.1:${port}').serveHTTP(new Message('${text}'))\n`;

test("real Pipy: runs the served config, hot-reloads a new version, ACKs it from Pipy's status reports", { timeout: scaled(240_000) }, async (t) => {
  if (PIPY_BIN === undefined) {
    t.skip("PIPY_BIN not set: real Pipy tests skipped");
    return;
  }
  const dir = await tempDir("meshfed-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const [adminPort, port] = [await freePort(), await freePort()];
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, { proxy: { enabled: true, pipy: PIPY_BIN, adminAddress: `127.0.0.1:${adminPort}`, convergenceTimeout: "30s", stopGrace: "10s" } });
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  const s = await ctl.waitForSession(1);
  assert.match((await s.next((m) => m.hello ?? undefined)).proxyVersion, /^\d|^[a-z0-9.-]+$/i);
  s.send(configMessage(1, { "/main.js": script(port, "one"), "/config.json": "{}" }));
  assert.equal((await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined), 40_000)).ok, true);
  assert.equal((await http(`http://127.0.0.1:${port}/`)).body, "one");
  s.send(configMessage(2, { "/main.js": script(port, "two"), "/config.json": "{}" }));
  const ack2 = await s.next((m) => (m.ack?.version === 2 ? m.ack : undefined), 40_000);
  assert.equal(ack2.ok, true, ack2.error);
  await waitFor(async () => (await http(`http://127.0.0.1:${port}/`)).body === "two", { what: "new version answering", timeoutMs: 10_000 });
  assert.equal((await agent.close()).exitCode, 0);
});
