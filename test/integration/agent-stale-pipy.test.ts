// kill -9 of a real agent process leaves its Pipy child running (outside a
// systemd unit nothing else stops it) with the proxy's ports held. The next
// agent start on the same data dir must stop that orphan before it spawns
// its own (docs/dataplane.md "Failure behaviour"), and must never signal a
// process that only reuses the recorded pid.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { processStart, ProxyPidFile } from "../../src/agent/stale-proxy.js";
import { silentLogger } from "../../src/common/logger.js";
import { writeFakePipy } from "../helpers/agent-fake-pipy.js";
import { startAgentProcess } from "../helpers/agent-process.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { scaled, waitFor } from "../helpers/wait.js";

async function recordedPid(file: string): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(file, "utf8")) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

test("an agent restarted after kill -9 stops the Pipy the killed one left, then runs exactly one of its own", { timeout: scaled(240_000) }, async (t) => {
  const ctl = await startTestController(t, { hosts: "hosts:\n  - { name: web-1, address: 127.0.0.2, services: [{ name: web, namespace: shop, port: 8080 }] }\n" });
  const dir = await tempDir("mfstale-");
  await writeFile(join(dir, "ca.pem"), await ctl.api<string>("/api/v1/ca"));
  await writeFile(join(dir, "token"), (await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 })).token);
  const pipy = await writeFakePipy(dir);
  const events = join(dir, "events.log");
  const pidFile = join(dir, "data", "pipy.pid");
  const started = new Set<number>();
  t.after(() => {
    // Whatever the outcome, no fake Pipy outlives the test.
    for (const pid of started) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  const args = [
    "--controller", ctl.grpcAddress, "--ca-file", join(dir, "ca.pem"), "--token-file", join(dir, "token"), "--data-dir", join(dir, "data"),
    "--service", "shop/web", "--endpoint", "127.0.0.2:8080", "--host-address", "127.0.0.2", "--pipy", pipy,
  ];
  const env = { FAKE_PIPY_EVENTS: events, FAKE_PIPY_POLL_MS: "100" };
  const first = await startAgentProcess(args, undefined, env);
  t.after(() => first.stop("SIGKILL"));
  await first.waitFor((s) => s.state === "CONNECTED" && s.configVersion >= 1, 60_000);
  const orphan = await waitFor(() => recordedPid(pidFile), { what: "the first Pipy recorded", timeoutMs: 60_000 });
  started.add(orphan);

  assert.equal(await first.stop("SIGKILL"), "SIGKILL");
  assert.notEqual(await processStart(orphan), undefined, "kill -9 of the agent leaves its Pipy running");

  const second = await startAgentProcess(args, undefined, env);
  t.after(() => second.stop());
  const replacement = await waitFor(async () => {
    const pid = await recordedPid(pidFile);
    return pid !== undefined && pid !== orphan ? pid : undefined;
  }, { what: "a new Pipy recorded", timeoutMs: 60_000 });
  started.add(replacement);
  assert.equal(await processStart(orphan), undefined, "the orphan was stopped");
  assert.notEqual(await processStart(replacement), undefined);
  await second.waitFor((s) => s.state === "CONNECTED", 60_000);
  assert.match(second.stderr(), /a Pipy left by a killed agent is still running/);
  // Two starts in all: the orphan's and its one replacement (no restart loop).
  const starts = async () => (await readFile(events, "utf8")).split("\n").filter((l) => l.startsWith("start "));
  await waitFor(async () => (await starts()).length === 2, { what: "the replacement announced itself", timeoutMs: 60_000 });
  assert.deepEqual(await starts(), [`start ${orphan}`, `start ${replacement}`]);

  // A graceful stop clears the record: nothing for a later start to kill.
  assert.equal(await second.stop(), 0);
  assert.equal(await recordedPid(pidFile), undefined);
});

test("a recorded pid that now belongs to another process (other start time) is never signalled", async () => {
  const dir = await tempDir("mfstale-");
  const file = join(dir, "pipy.pid");
  // This test process stands in for an unrelated process that reused the pid.
  await writeFile(file, JSON.stringify({ pid: process.pid, startTime: "1", pipy: "/usr/bin/pipy" }));
  const pids = new ProxyPidFile(file, silentLogger());
  assert.equal(await pids.reapStale(), undefined);
  assert.equal(await recordedPid(file), undefined, "the stale record is dropped");
  // A torn file names nobody.
  await writeFile(file, "{\"pid\": 12");
  assert.equal(await pids.reapStale(), undefined);
});
