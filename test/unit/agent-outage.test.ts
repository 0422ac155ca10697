import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { Backoff } from "../../src/agent/backoff.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { configMessage, http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { waitFor } from "../helpers/wait.js";

test("restart while the controller is down: the last config is served from disk at once", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address);
  const first = await startAgent(config, silentLogger());
  const s = await ctl.waitForSession(1);
  s.send(configMessage(4, { "/main.js": "entry()", "/config.json": '{"v":4}' }));
  await s.next((m) => m.ack ?? undefined);
  await first.close();
  ctl.stop();

  // Controller gone (port closed). The agent must serve v4 before any answer.
  const second = await startAgent(config, silentLogger());
  t.after(() => second.close());
  const manifest = await http(second.repoUrl);
  assert.equal(manifest.status, 200);
  assert.equal(manifest.body, "/main.js\n/config.json\n");
  assert.equal((await http(`${second.repoUrl}config.json`)).body, '{"v":4}');
  const status = JSON.parse((await http(second.statusUrl)).body) as { state: string; configVersion: number };
  assert.equal(status.configVersion, 4);
  assert.ok(["CONNECTING", "BACKOFF"].includes(status.state), status.state);
  await waitFor(() => second.state === "BACKOFF", { what: "BACKOFF", timeoutMs: 5000 });
});

test("transport failures back off with full jitter, capped; the controller's return is picked up", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, { backoff: { base: "10ms", cap: "80ms", stableAfter: "10s" } });
  const delays: Array<[number, number]> = [];
  const agent = await startAgent(config, silentLogger(), { onBackoff: (d, c) => delays.push([d, c]) });
  t.after(() => agent.close());
  await ctl.waitForSession(1);
  const port = Number(ctl.address.split(":")[1]);
  ctl.stop();
  await waitFor(() => delays.length >= 6, { what: "six backoffs", timeoutMs: 10_000 });
  for (const [d, c] of delays) {
    assert.ok(d >= 0 && d < c, `delay ${d} within [0, ${c})`);
    assert.ok(c <= 80, `ceiling ${c} capped`);
  }
  assert.deepEqual(delays.slice(0, 4).map(([, c]) => c), [10, 20, 40, 80]);
  await ctl.start(port);
  t.after(() => ctl.stop());
  await ctl.waitForSession(2);
  await waitFor(() => agent.state === "CONNECTED", { what: "CONNECTED again", timeoutMs: 5000 });
  assert.equal(ctl.enrollCalls, 1, "reconnected without re-enrolling");
});

test("Backoff: full jitter uses the whole window, grows 2^n, caps, resets", () => {
  const cases: Array<{ random: number; expected: number[] }> = [
    { random: 0, expected: [0, 0, 0, 0, 0, 0] },
    { random: 0.5, expected: [50, 100, 200, 400, 500, 500] },
    { random: 0.999, expected: [99, 199, 399, 799, 999, 999] },
  ];
  for (const { random, expected } of cases) {
    const b = new Backoff({ baseMs: 100, capMs: 1000, random: () => random });
    assert.deepEqual(expected.map(() => b.next()), expected);
    b.reset();
    assert.equal(b.next(), expected[0]);
  }
  const huge = new Backoff({ baseMs: 1000, capMs: 30_000, random: () => 0.5 });
  for (let i = 0; i < 2000; i++) huge.next();
  assert.equal(huge.next(), 15_000, "no overflow after many attempts");
});
