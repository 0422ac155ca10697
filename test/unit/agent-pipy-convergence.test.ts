import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { writeFakePipyWithEvents } from "../helpers/agent-fake-pipy.js";
import { configMessage, http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { waitFor } from "../helpers/wait.js";

test("with a (fake) Pipy: ACK only once Pipy reports the version running; a version it cannot load is NACKed and the last good one served again", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const { pipy, events } = await writeFakePipyWithEvents(t, dir);
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, { proxy: { enabled: true, pipy, adminAddress: "127.0.0.1:0", convergenceTimeout: "4s", stopGrace: "2s" } });
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  const s = await ctl.waitForSession(1);
  const hello = await s.next((m) => m.hello ?? undefined);
  assert.equal(hello.proxyVersion, "0.0.0-fake");

  // v1: Pipy starts on it (initial load: status version "" = the downloaded ETag).
  s.send(configMessage(1, { "/main.js": "v1", "/config.json": "{}" }));
  const ack1 = await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined));
  assert.equal(ack1.ok, true);
  const loaded = (await readFile(events, "utf8")).split("\n").filter((l) => l.startsWith("loaded "));
  assert.equal(loaded.length, 1, "Pipy had loaded v1 before the ACK");

  // v2: a hot reload, pushed over the admin link.
  s.send(configMessage(2, { "/main.js": "v2", "/config.json": "{}" }));
  const ack2 = await s.next((m) => (m.ack?.version === 2 ? m.ack : undefined));
  assert.equal(ack2.ok, true, ack2.error);
  const ev = (await readFile(events, "utf8")).split("\n");
  assert.ok(ev.includes("reload-pushed"), "reload pushed on the admin link");
  const v2etag = (await http(agent.repoUrl, "HEAD")).headers.etag as string;
  assert.ok(ev.includes(`loaded ${v2etag}`));

  // v3 cannot be loaded: NACK with Pipy's complaint, v2 served again, v2 stays good on disk.
  s.send(configMessage(3, { "/main.js": "FAIL_TO_LOAD", "/config.json": "{}" }));
  const ack3 = await s.next((m) => (m.ack?.version === 3 ? m.ack : undefined));
  assert.equal(ack3.ok, false);
  assert.match(ack3.error, /did not run version 3 within 4000 ms: error: script \/main\.js failed to load/);
  assert.equal((await http(agent.repoUrl, "HEAD")).headers.etag, v2etag, "last good version served again");
  const good = JSON.parse(await readFile(join(config.dataDir, "config", "good.json"), "utf8")) as { version: number };
  assert.equal(good.version, 2);
  const received = JSON.parse(await readFile(join(config.dataDir, "config", "received.json"), "utf8")) as { version: number };
  assert.equal(received.version, 3, "stored before the NACK as well");
  type Status = { configVersion: number; proxy: { state: string; runningVersion: number } };
  const status = await waitFor(async () => {
    const st = JSON.parse((await http(agent.statusUrl)).body) as Status;
    return st.proxy.runningVersion === 2 ? st : undefined;
  }, { what: "Pipy back on v2", timeoutMs: 5000 });
  assert.equal(status.configVersion, 2);
  assert.equal(status.proxy.state, "running");
  // Health goes out on every change of what runs.
  const health = await s.next((m) => (m.health?.proxyState === "running" && m.health.runningVersion === 2 ? m.health : undefined));
  assert.equal(health.runningVersion, 2);

  // Stop: DRAINING stops Pipy with SIGINT; the agent ends STOPPED.
  const exit = await agent.close();
  assert.equal(exit.exitCode, 0);
  assert.ok((await readFile(events, "utf8")).split("\n").includes("sigint"));
});

test("restart with the controller down: Pipy is started on the last good config from disk", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const { pipy, events } = await writeFakePipyWithEvents(t, dir);
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, { proxy: { enabled: true, pipy, adminAddress: "127.0.0.1:0", convergenceTimeout: "3s", stopGrace: "2s" } });
  const first = await startAgent(config, silentLogger());
  const s = await ctl.waitForSession(1);
  s.send(configMessage(5, { "/main.js": "v5" }));
  assert.equal((await s.next((m) => m.ack ?? undefined)).ok, true);
  await first.close();
  ctl.stop();

  const second = await startAgent(config, silentLogger());
  t.after(() => second.close());
  await waitFor(async () => (await readFile(events, "utf8")).split("\n").filter((l) => l.startsWith("start ")).length >= 2, { what: "Pipy restarted", timeoutMs: 10_000 });
  await waitFor(async () => ((JSON.parse((await http(second.statusUrl)).body) as { proxy: { runningVersion: number } }).proxy.runningVersion === 5), { what: "Pipy runs v5 from disk", timeoutMs: 10_000 });
  assert.notEqual(second.state, "CONNECTED");
});
