// A real agent enrolled with a fake controller and holding its stream: the
// starting point of the agent's stream tests. Both are closed after the test.
import type { TestContext } from "node:test";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { FakeController, makePki, type FakeSession } from "./agent-fake-controller.js";
import { testConfig } from "./agent-testbed.js";
import { tempDir } from "./temp-dir.js";

export async function connectedAgent(t: TestContext, onSession?: (s: FakeSession) => void) {
  const dir = await tempDir("meshfed-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" }, ...(onSession ? { onSession } : {}) });
  await ctl.start();
  t.after(() => ctl.stop());
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address);
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  const session = await ctl.waitForSession(1);
  return { dir, ctl, config, agent, session };
}
