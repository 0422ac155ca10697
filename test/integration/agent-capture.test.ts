// The agent owning its capture rules (docs/dataplane.md "Capture", "Failure
// behaviour"): an in-process agent whose iptables commands run inside a
// network namespace, with a fake Pipy run as the proxy user. Inbound is in
// place from the start (fail-closed), the OUTPUT jump follows Pipy's
// readiness (fail-open), Hello/Health and GET /status report it, a start
// repairs what a killed agent left, and a graceful stop restores the table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, readdir, readFile } from "node:fs/promises";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { writeFakePipy } from "../helpers/agent-fake-pipy.js";
import { configMessage, http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { Netns, netnsAvailable } from "../helpers/capture-netns.js";
import { waitFor } from "../helpers/wait.js";

const PROXY_UID = 1500;
const INBOUND_JUMP = "-A PREROUTING -p tcp -j MESHFED_INBOUND";
const OUTPUT_JUMP = "-A OUTPUT -p tcp -j MESHFED_OUTPUT";

const count = (table: string, line: string) => table.split("\n").filter((l) => l === line).length;

/** The pid and uid of the (fake) Pipy started from `script`, found in /proc. */
async function pipyProcess(script: string): Promise<{ pid: number; uid: number } | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      if (!cmdline.split("\0").includes(script)) continue;
      const status = await readFile(`/proc/${entry}/status`, "utf8");
      return { pid: Number(entry), uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) };
    } catch {
      // The process went away while we looked.
    }
  }
  return undefined;
}

test("transparent capture: inbound closed from the start, outbound follows Pipy, status reported, table restored on stop", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  const dir = await tempDir("meshfed-agent-");
  // The fake Pipy runs as the proxy uid: it must be able to read its script.
  await chmod(dir, 0o755);
  process.env.FAKE_PIPY_POLL_MS = "100";
  t.after(() => {
    delete process.env.FAKE_PIPY_POLL_MS;
  });
  const pipy = await writeFakePipy(dir);
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  // What a killed agent left: the set twice over, half of it stale.
  await ns.restore(`*nat\n:MESHFED_OUTPUT - [0:0]\n${OUTPUT_JUMP}\n${OUTPUT_JUMP}\n-A MESHFED_OUTPUT -d 10.0.0.0/8 -j RETURN\nCOMMIT\n`);
  const pristine = (await ns.natTable()).split("\n").filter((l) => !l.includes("MESHFED")).join("\n");

  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, {
    proxy: { enabled: true, pipy, adminAddress: "127.0.0.1:0", convergenceTimeout: "5s", stopGrace: "2s", user: String(PROXY_UID) },
    capture: { mode: "transparent", checkInterval: "1h" },
  });
  const agent = await startAgent(config, silentLogger(), { captureCommandPrefix: ns.prefix });
  t.after(() => agent.close());

  // Before any config: inbound redirect in place, no OUTPUT jump (Pipy not ready).
  let table = await ns.natTable();
  assert.equal(count(table, INBOUND_JUMP), 1);
  assert.equal(count(table, OUTPUT_JUMP), 0, "outbound stays open while Pipy is not ready");
  assert.ok(table.includes("-A MESHFED_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 18080"));
  assert.ok(table.includes(`-A MESHFED_OUTPUT -m owner --uid-owner ${PROXY_UID} -j RETURN`));
  assert.ok(!table.includes("10.0.0.0/8"), "the stale rule of the killed agent is gone");

  const s = await ctl.waitForSession(1);
  const hello = await s.next((m) => m.hello ?? undefined);
  assert.deepEqual(hello.capture, { mode: "transparent", installed: true, outboundActive: false, errorCode: "", error: "" });

  // Pipy loads a config and reports status: the OUTPUT jump goes in, Health says so.
  s.send(configMessage(1, { "/main.js": "v1", "/config.json": "{}" }));
  assert.equal((await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined))).ok, true);
  await s.next((m) => (m.health?.capture?.outboundActive === true ? m.health : undefined));
  table = await ns.natTable();
  assert.equal(count(table, OUTPUT_JUMP), 1);
  type Status = { capture: { mode: string; installed: boolean; outboundActive: boolean } };
  const status = JSON.parse((await http(agent.statusUrl)).body) as Status;
  assert.deepEqual({ mode: status.capture.mode, installed: status.capture.installed, outboundActive: status.capture.outboundActive }, { mode: "transparent", installed: true, outboundActive: true });
  const proc = await pipyProcess(pipy);
  assert.equal(proc?.uid, PROXY_UID, "Pipy runs as the proxy user");

  // Pipy dies: the OUTPUT jump goes while it is down (fail-open), inbound stays (fail-closed), and comes back once it reports again.
  const from = s.messages.length;
  const healthSince = () => s.messages.slice(from).flatMap((m) => (m.health?.capture ? [m.health.capture.outboundActive] : []));
  process.kill(proc.pid, "SIGKILL");
  await waitFor(async () => count(await ns.natTable(), OUTPUT_JUMP) === 0, { what: "OUTPUT jump removed while Pipy is down", timeoutMs: 60_000 });
  assert.equal(count(await ns.natTable(), INBOUND_JUMP), 1, "inbound stays closed while Pipy is down");
  await waitFor(async () => count(await ns.natTable(), OUTPUT_JUMP) === 1, { what: "OUTPUT jump back once the restarted Pipy reported", timeoutMs: 60_000 });
  await waitFor(() => healthSince().join(",").includes("false,true"), { what: "Health reported outbound off, then on", timeoutMs: 60_000 });
  const restarted = await pipyProcess(pipy);
  assert.ok(restarted !== undefined && restarted.pid !== proc.pid, "a new Pipy process");

  // Graceful stop: the nat table is as before the agent, minus what the killed agent had left.
  assert.equal((await agent.close()).exitCode, 0);
  assert.equal(await ns.natTable(), pristine);
});

test("capture refuses to start without a proxy user, and with a proxy that is off", async () => {
  const dir = await tempDir("meshfed-agent-");
  const config = await testConfig(dir, "unused", "127.0.0.1:1", { proxy: { enabled: true, pipy: "/bin/true", adminAddress: "127.0.0.1:0" }, capture: { mode: "transparent" } });
  await assert.rejects(startAgent(config, silentLogger()), { code: "MESHFED_CAPTURE_PROXY_USER_REQUIRED" });
  const off = await testConfig(dir, "unused", "127.0.0.1:1", { proxy: { enabled: false, user: "1500" }, capture: { mode: "transparent" } });
  await assert.rejects(startAgent(off, silentLogger()), { code: "MESHFED_AGENT_CONFIG_INVALID" });
  const root = await testConfig(dir, "unused", "127.0.0.1:1", { proxy: { enabled: true, pipy: "/bin/true", adminAddress: "127.0.0.1:0", user: "root" }, capture: { mode: "transparent" } });
  await assert.rejects(startAgent(root, silentLogger()), { code: "MESHFED_CAPTURE_PROXY_USER_REQUIRED" });
  const unknown = await testConfig(dir, "unused", "127.0.0.1:1", { proxy: { enabled: true, pipy: "/bin/true", adminAddress: "127.0.0.1:0", user: "no-such-user-mfcap" }, capture: { mode: "transparent" } });
  await assert.rejects(startAgent(unknown, silentLogger()), { code: "MESHFED_CAPTURE_PROXY_USER_UNKNOWN" });
});
