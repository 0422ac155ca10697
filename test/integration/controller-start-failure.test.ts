/**
 * Issue 20 item 1: a start that fails at any step leaves nothing running.
 * The controller is started with every part this machine can run without a
 * platform (file store, hosts file, SMI directory, metrics listener, Pipy
 * repo), once to learn the start steps, then once per step with that step
 * made to fail (`failAt`, read only by tests). After each failure: the error
 * names the step, every port the controller had asked for can be bound again,
 * and the event loop holds no more handles than before (no timers, sockets,
 * watchers). A real failure (the admin port taken) is checked the same way.
 * Finally a normal start on the same data directory and ports proves the store
 * and the ports were released.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MeshfedError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { startController } from "../../src/controller/main.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { freePort } from "../helpers/agent-process.js";

failOnLeaks();

async function listen(port: number): Promise<Server | Error> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once("error", (err) => resolve(err));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/** Every port can be bound again (a leftover listener would refuse with EADDRINUSE). */
async function assertPortsFree(ports: readonly number[], step: string): Promise<void> {
  for (const port of ports) {
    const s = await listen(port);
    assert.ok(!(s instanceof Error), `after a failure at ${step}: port ${port} is still taken (${s instanceof Error ? s.message : ""})`);
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function handleCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of process.getActiveResourcesInfo()) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

/** Waits (bounded) until the loop holds no more of any resource type than `baseline`; fails naming the excess. */
async function assertNothingLeft(baseline: Map<string, number>, step: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const excess = [...handleCounts()].filter(([type, n]) => n > (baseline.get(type) ?? 0)).map(([type, n]) => `${type} x${n - (baseline.get(type) ?? 0)}`);
    if (excess.length === 0) return;
    if (Date.now() > deadline) assert.fail(`after a failure at ${step}, still running: ${excess.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function fixture(t: { after: (fn: () => Promise<void>) => void }): Promise<{ config: ControllerConfig; ports: number[] }> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-start-failure-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const hostsFile = join(dir, "hosts.yaml");
  await writeFile(hostsFile, "hosts: []\n");
  await mkdir(join(dir, "smi"));
  const [admin, grpc, repo, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const base = await loadControllerConfig(undefined, {
    dataDir: join(dir, "data"), adminAddress: `127.0.0.1:${admin}`, grpcAddress: `127.0.0.1:${grpc}`, hostsFile, smiDirectory: join(dir, "smi"),
  });
  const config: ControllerConfig = {
    ...base,
    repo: { ...base.repo, address: `127.0.0.1:${repo}` },
    metrics: { ...base.metrics, address: `127.0.0.1:${metrics}` },
    providers: { ...base.providers, onprem: { hostsFile, debounce: 20 } },
  };
  return { config, ports: [admin, grpc, repo, metrics] };
}

test("a start that fails at any step names the step and leaves no port, handle or store behind", async (t) => {
  const { config, ports } = await fixture(t);
  const baseline = handleCounts();
  // A first start learns the steps (and warms the lazy imports, so the baseline holds).
  const steps: string[] = [];
  const first = await startController(config, silentLogger(), { observeStep: (s) => steps.push(s) });
  await first.close();
  await assertNothingLeft(baseline, "a normal close");
  for (const expected of ["store", "leadership", "certificates", "join-tokens", "admin", "metrics", "source:onprem", "source:smi-files", "vips", "catalog", "grpc", "pipy-repo"]) {
    assert.ok(steps.includes(expected), `start steps ${steps.join(", ")} lack ${expected}`);
  }
  for (const step of steps) {
    await assert.rejects(startController(config, silentLogger(), { failAt: step }), (err: MeshfedError) => {
      assert.equal(err.code, "MESHFED_START_INJECTED", step);
      assert.equal(err.details.part, step);
      assert.ok(err.message.startsWith(`${step}: `), err.message);
      return true;
    });
    await assertPortsFree(ports, step);
    await assertNothingLeft(baseline, step);
  }
  // The same data directory and ports start normally: the store and every listener were released.
  const again = await startController(config, silentLogger());
  await again.close();
  await assertNothingLeft(baseline, "the last close");
});

test("a taken admin port fails the start naming the admin API, and the parts started before it are closed", async (t) => {
  const { config, ports } = await fixture(t);
  const baseline = handleCounts();
  const squatter = await listen(ports[0]!);
  assert.ok(!(squatter instanceof Error));
  await assert.rejects(startController(config, silentLogger()), (err: MeshfedError) => {
    assert.equal(err.details.part, "admin");
    assert.match(err.message, /^admin: .*EADDRINUSE/);
    return true;
  });
  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  await assertPortsFree(ports, "admin (taken)");
  await assertNothingLeft(baseline, "admin (taken)");
});

test("destroy stops a running controller at once, and a close after it resolves", async (t) => {
  const { config, ports } = await fixture(t);
  const baseline = handleCounts();
  const c = await startController(config, silentLogger());
  await Promise.all([c.destroy(new Error("test")), c.destroy()]);
  await c.close();
  await assertPortsFree(ports, "destroy");
  await assertNothingLeft(baseline, "destroy");
});
