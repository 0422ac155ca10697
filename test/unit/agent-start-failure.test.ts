/**
 * Issue 20 item 1, the agent's side: a start that fails at any step leaves
 * nothing running. An agent with a (fake) Pipy and the mesh DNS enrolls and
 * serves a config once, so that the next start has every step (the stored
 * config is restored, Pipy's slot exists). Then each step is made to fail in
 * turn (`failAt`, read only by tests): the error names it, the repo and DNS
 * ports can be bound again, and the event loop holds no more handles than
 * before (no timers, sockets, child processes).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { test } from "node:test";
import { startAgent } from "../../src/agent/index.js";
import type { MeshfedError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { writeFakePipy } from "../helpers/agent-fake-pipy.js";
import { configMessage, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { freePort } from "../helpers/agent-process.js";

failOnLeaks();

async function assertPortsFree(ports: readonly number[], step: string): Promise<void> {
  for (const port of ports) {
    const s = createServer();
    const r = await new Promise<Server | Error>((resolve) => {
      s.once("error", (err) => resolve(err));
      s.listen(port, "127.0.0.1", () => resolve(s));
    });
    assert.ok(!(r instanceof Error), `after a failure at ${step}: port ${port} is still taken`);
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function handleCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of process.getActiveResourcesInfo()) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

async function assertNothingLeft(baseline: Map<string, number>, step: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const excess = [...handleCounts()].filter(([type, n]) => n > (baseline.get(type) ?? 0)).map(([type, n]) => `${type} x${n - (baseline.get(type) ?? 0)}`);
    if (excess.length === 0) return;
    if (Date.now() > deadline) assert.fail(`after a failure at ${step}, still running: ${excess.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("an agent start that fails at any step names the step and leaves no port, timer, socket or child process behind", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const pipy = await writeFakePipy(dir);
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const [repoPort, dnsPort] = [await freePort(), await freePort()];
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, {
    repoAddress: `127.0.0.1:${repoPort}`,
    dns: { enabled: true, listen: `127.0.0.1:${dnsPort}`, hook: "none" },
    proxy: { enabled: true, pipy, adminAddress: "127.0.0.1:0", convergenceTimeout: "10s", stopGrace: "2s", drainDelay: "0s" },
  });
  // Enrolled, with a served config: the next start restores it and runs every step.
  const first = await startAgent(config, silentLogger());
  const s = await ctl.waitForSession(1);
  s.send(configMessage(1, { "/main.js": "v1", "/config.json": "{}" }));
  assert.equal((await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined))).ok, true);
  await first.close();

  const steps: string[] = [];
  const second = await startAgent(config, silentLogger(), { observeStep: (step) => steps.push(step) });
  await second.close();
  for (const expected of ["data-dir", "capture", "trust-reset", "pipy-version", "repo", "dns", "health-probes", "restore"]) {
    assert.ok(steps.includes(expected), `start steps ${steps.join(", ")} lack ${expected}`);
  }
  const baseline = handleCounts();
  for (const step of steps) {
    await assert.rejects(startAgent(config, silentLogger(), { failAt: step }), (err: MeshfedError) => {
      assert.equal(err.code, "MESHFED_START_INJECTED", step);
      assert.equal(err.details.part, step);
      assert.ok(err.message.startsWith(`${step}: `), err.message);
      return true;
    });
    await assertPortsFree([repoPort, dnsPort], step);
    await assertNothingLeft(baseline, step);
  }
});

test("destroy stops a running agent and its Pipy at once; close after it resolves with the same exit", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const pipy = await writeFakePipy(dir);
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const repoPort = await freePort();
  // A long grace: a graceful stop would wait for it; destroy must not.
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, {
    repoAddress: `127.0.0.1:${repoPort}`,
    proxy: { enabled: true, pipy, adminAddress: "127.0.0.1:0", convergenceTimeout: "10s", stopGrace: "60s", drainDelay: "60s" },
  });
  const baseline = handleCounts();
  const agent = await startAgent(config, silentLogger());
  const s = await ctl.waitForSession(1);
  s.send(configMessage(1, { "/main.js": "v1", "/config.json": "{}" }));
  assert.equal((await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined))).ok, true);
  const started = Date.now();
  const exit = await agent.destroy(new Error("test"));
  assert.ok(Date.now() - started < 30_000, "destroy waited for the drain delay or the stop grace");
  assert.equal(agent.state, "STOPPED");
  assert.deepEqual(await agent.close(), exit);
  await assertPortsFree([repoPort], "destroy");
  await assertNothingLeft(baseline, "destroy");
});
