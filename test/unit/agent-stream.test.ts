import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { startAgent, EXIT_PERMANENT } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, grpc, makeCa, makePki, makeServiceCertificate } from "../helpers/agent-fake-controller.js";
import { connectedAgent } from "../helpers/agent-connected.js";
import { configMessage, http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { waitFor } from "../helpers/wait.js";

test("a config version is written to disk before it is ACKed (no proxy: stored = good)", async (t) => {
  // The ACK handler reads the disk the moment the ACK arrives.
  const seenOnDisk: Array<number | undefined> = [];
  let dataDir = "";
  const { session, agent, config } = await connectedAgent(t, (s) => {
    s.call.on("data", (m: { ack?: { version: number } }) => {
      if (m.ack) {
        void readFile(join(dataDir, "config", "good.json"), "utf8").then(
          (text) => seenOnDisk.push((JSON.parse(text) as { version: number }).version),
          () => seenOnDisk.push(undefined),
        );
      }
    });
  });
  dataDir = config.dataDir;
  session.send(configMessage(7, { "/config.json": '{"a":1}' }));
  const ack = await session.next((m) => m.ack ?? undefined);
  assert.deepEqual({ version: ack.version, hash: ack.hash, ok: ack.ok }, { version: 7, hash: "hash-7", ok: true });
  await waitFor(() => seenOnDisk.length > 0, { what: "seenOnDisk.length > 0" });
  assert.equal(seenOnDisk[0], 7);
  const received = JSON.parse(await readFile(join(config.dataDir, "config", "received.json"), "utf8")) as { version: number; files: Array<{ path: string; content: string }> };
  assert.equal(received.version, 7);
  assert.equal(Buffer.from(received.files[0]!.content, "base64").toString(), '{"a":1}');
  const status = JSON.parse((await http(agent.statusUrl)).body) as { state: string; configVersion: number };
  assert.equal(status.configVersion, 7);
  assert.equal(status.state, "CONNECTED");
  const manifest = await http(agent.repoUrl);
  assert.equal(manifest.body, "/config.json\n");
});

test("a malformed config version is NACKed and not stored", async (t) => {
  const { session, config } = await connectedAgent(t);
  session.send(configMessage(3, { "/../etc/passwd": "x" }));
  const ack = await session.next((m) => m.ack ?? undefined);
  assert.equal(ack.ok, false);
  assert.match(ack.error, /file path/);
  await assert.rejects(stat(join(config.dataDir, "config", "received.json")));
});

test("ca_bundle and service_certificate are persisted (key 0600) and shown in /status", async (t) => {
  const { session, ctl, config, agent } = await connectedAgent(t);
  const other = await makeCa("CN=next root");
  const bundle = ctl.pki.caPem + other.caPem;
  const svc = await makeServiceCertificate(ctl.pki, "5e");
  session.send({ caBundle: { pem: bundle } });
  session.send({ serviceCertificate: { serial: "5e", ...svc, caBundlePem: bundle, renewAt: new Date(Date.now() + 3_600_000).toISOString() } });
  const keyFile = join(config.dataDir, "service", "key.pem");
  // meta.json is written last (key, cert, ca, meta).
  await waitFor(() => stat(join(config.dataDir, "service", "meta.json")).then(() => true, () => false), { what: "service certificate on disk", timeoutMs: 5000 });
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  assert.equal(await readFile(keyFile, "utf8"), svc.privateKeyPem);
  assert.equal(await readFile(join(config.dataDir, "service", "cert.pem"), "utf8"), svc.certificatePem);
  assert.equal(await readFile(join(config.dataDir, "ca.pem"), "utf8"), bundle);
  type Status = { certificates: { proxy: { notAfter: string }; service: { notAfter: string | null } } };
  const status = await waitFor(async () => {
    const st = JSON.parse((await http(agent.statusUrl)).body) as Status;
    return st.certificates.service.notAfter !== null ? st : undefined;
  }, { what: "status shows the service certificate", timeoutMs: 5000 });
  assert.equal(status.certificates.service.notAfter, svc.notAfter);
  assert.ok(Date.parse(status.certificates.proxy.notAfter) > Date.now());
});

test("Shutdown{permanent:true} stops the agent with the code; Shutdown{permanent:false} reconnects", async (t) => {
  const { session, ctl, agent } = await connectedAgent(t);
  session.send({ shutdown: { code: "MESHFED_REPLACED", reason: "a newer stream", permanent: false } });
  const second = await ctl.waitForSession(2);
  assert.equal(second.peerProxyId, session.peerProxyId);
  assert.equal(ctl.enrollCalls, 1);
  second.send({ shutdown: { code: "MESHFED_CERT_REVOKED", reason: "revoked by admin", permanent: true } });
  const exit = await agent.done;
  assert.deepEqual(exit, { exitCode: EXIT_PERMANENT, code: "MESHFED_CERT_REVOKED", message: "revoked by admin" });
  assert.equal(agent.state, "STOPPED");
});

test("a Connect refused with PERMISSION_DENIED + meshfed-code is permanent; a plain stream end reconnects", async (t) => {
  const { session, ctl, agent } = await connectedAgent(t);
  session.end();
  const second = await ctl.waitForSession(2);
  second.end({ status: grpc.status.PERMISSION_DENIED, code: "MESHFED_ENDPOINT_NOT_ALLOWED", details: "10.9.9.9:80 is not shop/bookstore's" });
  const exit = await agent.done;
  assert.equal(exit.code, "MESHFED_ENDPOINT_NOT_ALLOWED");
  assert.equal(exit.message, "10.9.9.9:80 is not shop/bookstore's");
});

test("health is sent periodically", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const agent = await startAgent(await testConfig(dir, ctl.pki.caPem, ctl.address, { healthInterval: "50ms" }), silentLogger());
  t.after(() => agent.close());
  const s = await ctl.waitForSession(1);
  const health = await s.next((m) => m.health ?? undefined);
  assert.equal(health.proxyState, "disabled");
});
