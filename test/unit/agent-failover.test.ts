import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { waitFor } from "../helpers/wait.js";

// Two replicas of one mesh share the CA and the certificate registry; the
// fakes share the PKI and B is told what A issued, as a shared store would.
test("several controller addresses: a dead first address is skipped, and the agent fails over to another replica without re-enrolling", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const pki = await makePki();
  const a = new FakeController({ pki, tokens: { "good-token": "shop/bookstore" } });
  const b = new FakeController({ pki });
  await a.start();
  await b.start();
  t.after(() => {
    a.stop();
    b.stop();
  });
  const dead = new FakeController({ pki });
  await dead.start();
  const deadAddress = dead.address;
  dead.stop();

  const config = await testConfig(dir, pki.caPem, `${deadAddress},${a.address},${b.address}`, { backoff: { base: "10ms", cap: "50ms", stableAfter: "10s" } });
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  await a.waitForSession(1);
  assert.equal(a.enrollCalls, 1);
  const proxyId = a.sessions[0]!.peerProxyId;

  for (const [serial, entry] of a.issued) b.issued.set(serial, entry);
  a.stop();
  const atB = await b.waitForSession(1);
  await waitFor(() => agent.state === "CONNECTED", { what: "CONNECTED at the second replica", timeoutMs: 5000 });
  assert.equal(atB.peerProxyId, proxyId, "the same proxy identity reached the other replica");
  assert.equal(a.enrollCalls + b.enrollCalls + dead.enrollCalls, 1, "enrolled exactly once across all replicas");
});

test("a controller given by DNS name: resolved by the channel, trusted by its SPIFFE ID rather than the name", async (t) => {
  // grpc-js resolves every record of the name and tries them in order, so one
  // name with a record per replica needs nothing more from the agent.
  const dir = await tempDir("meshfed-agent-");
  const pki = await makePki();
  const ctl = new FakeController({ pki, tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const port = ctl.address.split(":")[1]!;
  const config = await testConfig(dir, pki.caPem, `localhost:${port}`);
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  await ctl.waitForSession(1);
  await waitFor(() => agent.state === "CONNECTED", { what: "CONNECTED through the DNS name", timeoutMs: 5000 });
});
