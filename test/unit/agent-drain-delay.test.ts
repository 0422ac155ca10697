// Issue 23 item 1: on a graceful stop the agent says goodbye and ends its
// stream first (the controller then takes this host's endpoints out of its
// callers' configs at once, not after its reconnect grace)
// and tells Pipy to drain only proxy.drainDelay later, so callers are not
// cut off mid-request by a draining Pipy (test/pipy/split-backend-down.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { writeFakePipyWithEvents } from "../helpers/agent-fake-pipy.js";
import { configMessage, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { waitFor } from "../helpers/wait.js";
import { connectedAgent } from "../helpers/agent-connected.js";

test("graceful stop: the stream ends first, Pipy gets SIGINT only proxy.drainDelay later", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const { pipy, events } = await writeFakePipyWithEvents(t, dir);
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address, { proxy: { enabled: true, pipy, adminAddress: "127.0.0.1:0", convergenceTimeout: "10s", stopGrace: "2s", drainDelay: "1s" } });
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  const s = await ctl.waitForSession(1);
  s.send(configMessage(1, { "/main.js": "v1", "/config.json": "{}" }));
  assert.equal((await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined))).ok, true);

  let streamEndedAt: number | undefined;
  for (const e of ["cancelled", "end", "close", "error"]) s.call.once(e, () => (streamEndedAt ??= Date.now()));
  // As the controller does: a Goodbye withdraws the host's endpoints and ends the stream.
  let goodbyeAt: number | undefined;
  s.call.on("data", (m: { message?: string }) => {
    if (m.message !== "goodbye") return;
    goodbyeAt ??= Date.now();
    s.end();
  });
  const sigint = async () => (await readFile(events, "utf8").catch(() => "")).split("\n").includes("sigint");
  const closing = Date.now();
  const done = agent.close();
  const sigintAt = await waitFor(async () => ((await sigint()) ? Date.now() : undefined), { what: "Pipy got SIGINT", timeoutMs: 20_000 });
  await done;
  assert.deepEqual(await s.next((m) => m.goodbye ?? undefined), { reason: "agent stopping" }, "a planned stop says goodbye: the controller withdraws now, not after its reconnect grace");
  assert.ok(goodbyeAt !== undefined && goodbyeAt < sigintAt, "the goodbye came before Pipy was told to drain");
  assert.ok(streamEndedAt !== undefined && streamEndedAt < sigintAt, "the controller saw the stream end before Pipy was told to drain");
  // A lower bound only: a loaded machine makes it later, never earlier.
  assert.ok(sigintAt - closing >= 1000, `SIGINT ${sigintAt - closing} ms after close(), expected >= 1000`);
});

test("a controller that does not answer the goodbye (an older one) holds the stop up for a bounded time only", async (t) => {
  const { agent, session: s } = await connectedAgent(t);
  s.send(configMessage(1, { "/main.js": "v1", "/config.json": "{}" }));
  await s.next((m) => (m.ack?.version === 1 ? m.ack : undefined));
  let cancelled = false;
  s.call.once("cancelled", () => (cancelled = true));
  // The fake ignores the goodbye, as a controller of the previous version skips the unknown message.
  const exit = await agent.close();
  assert.equal(exit.exitCode, 0);
  assert.ok(s.messages.some((m) => m.message === "goodbye"), "the goodbye was sent");
  await waitFor(() => cancelled, { what: "the agent to cancel the unanswered stream" });
});
