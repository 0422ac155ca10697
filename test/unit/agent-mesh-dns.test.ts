import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { query } from "../helpers/dns.js";
import { scaled, waitFor } from "../helpers/wait.js";

const records = [
  { name: "bookstore.shop.svc", ipv4: ["240.7.7.7"] },
  { name: "bookstore.shop.svc.cluster.local", ipv4: ["240.7.7.7"] },
];
const zones = ["svc.cluster.local", "svc"];
const hash = createHash("sha256").update(JSON.stringify({ zones, records })).digest("hex");

interface DnsStatusBody { dns: { state: string; listen: string; namesHash: string; names: number; hook: string } }

test("the agent's DNS answers the names the controller sends, reports them in Hello and /status, and keeps answering from disk after a restart without the controller", { timeout: scaled(120_000) }, async (t) => {
  const dir = await tempDir("mfdns-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookbuyer" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, { dns: { enabled: true, listen: "127.0.0.1:0", hook: "none" } });
  const agent = await startAgent(config, silentLogger());
  const session = await ctl.waitForSession(1);
  const hello = await session.next((m) => m.hello ?? undefined);
  assert.equal(hello.dns?.state, "serving");
  assert.equal(hello.dns?.namesHash, "", "nothing held yet");

  session.send({ meshNames: { hash, zones, records } });
  const status = await waitFor(async () => {
    const s = JSON.parse((await http(agent.statusUrl)).body) as DnsStatusBody;
    return s.dns.names === 2 ? s : undefined;
  }, { what: "the table in /status", timeoutMs: 10_000 });
  assert.equal(status.dns.namesHash, hash);
  assert.equal(status.dns.hook, "none");
  const port = Number(status.dns.listen.split(":").pop());
  assert.deepEqual((await query(port, "bookstore.shop.svc.cluster.local", "A")).answers.map((a) => a.data), ["240.7.7.7"]);
  await agent.close();

  // Controller gone, agent restarted: the table comes from the data directory.
  ctl.stop();
  const again = await startAgent(config, silentLogger());
  t.after(() => again.close());
  const s2 = JSON.parse((await http(again.statusUrl)).body) as DnsStatusBody;
  assert.equal(s2.dns.namesHash, hash);
  const port2 = Number(s2.dns.listen.split(":").pop());
  assert.deepEqual((await query(port2, "BOOKSTORE.shop.svc", "A")).answers.map((a) => a.data), ["240.7.7.7"]);
  assert.equal((await query(port2, "other.shop.svc", "A")).rcode, "NXDOMAIN");
});

test("with --dns disabled (the default) Hello says so and /status shows it", async (t) => {
  const dir = await tempDir("mfdns-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookbuyer" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const agent = await startAgent(await testConfig(dir, ctl.pki.caPem, ctl.address), silentLogger());
  t.after(() => agent.close());
  const session = await ctl.waitForSession(1);
  const hello = await session.next((m) => m.hello ?? undefined);
  assert.equal(hello.dns?.state, "disabled");
  assert.equal((JSON.parse((await http(agent.statusUrl)).body) as DnsStatusBody).dns.state, "disabled");
});
