import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAgentConfig } from "../../src/agent/config.js";
import { MeshfedError } from "../../src/common/errors.js";
import { renderAgentConfig } from "../../src/installer/agent-files.js";
import { agentLayout } from "../../src/installer/layout.js";
import { renderUnit } from "../../src/installer/service-systemd.js";

const layout = agentLayout("/opt/meshfed", { namespace: "shop", name: "bookstore" });

test("agent.yaml written by the installer is a valid agent config pointing into the agent's directory", () => {
  for (const pipy of [undefined, "/usr/local/bin/pipy"]) {
    const text = renderAgentConfig({
      service: { namespace: "shop", name: "bookstore" }, controller: ["cp-1:15128", "cp-2:15128"], endpoints: ["10.0.0.5:8080"], hostAddresses: ["10.0.0.5"],
      repoAddress: "127.0.0.1:15010", logLevel: "info", ...(pipy ? { pipy, pipyAdminAddress: "127.0.0.1:6061" } : {}),
    }, layout);
    const config = parseAgentConfig(text, layout.config);
    assert.deepEqual(config.controller, ["cp-1:15128", "cp-2:15128"]);
    assert.equal(config.caFile, "/opt/meshfed/agents/shop_bookstore/ca.pem");
    assert.equal(config.tokenFile, "/opt/meshfed/agents/shop_bookstore/token");
    assert.equal(config.dataDir, "/opt/meshfed/agents/shop_bookstore/data");
    assert.equal(config.service, "shop/bookstore");
    assert.deepEqual(config.endpoints, ["10.0.0.5:8080"]);
    assert.equal(config.proxy.enabled, pipy !== undefined);
    if (pipy) assert.deepEqual([config.proxy.pipy, config.proxy.adminAddress], [pipy, "127.0.0.1:6061"]);
  }
});

test("the unit is the template from agents/ with this agent's command and paths; a template without ExecStart is refused", () => {
  const unit = renderUnit(layout, "/usr/bin/node", "shop/bookstore");
  assert.match(unit, /^ExecStart=\/usr\/bin\/node --max-semi-space-size=1 --optimize-for-size \/opt\/meshfed\/agents\/shop_bookstore\/meshfed-agent\.mjs agent --config \/opt\/meshfed\/agents\/shop_bookstore\/agent\.yaml$/m);
  assert.equal(layout.unitName, "meshfed-agent-shop_bookstore.service");
  const spaced = renderUnit(agentLayout("/srv/mesh root", { namespace: "a", name: "b" }), "/usr/bin/node", "a/b");
  assert.match(spaced, /^ExecStart=\/usr\/bin\/node --max-semi-space-size=1 --optimize-for-size "\/srv\/mesh root\/agents\/a_b\/meshfed-agent\.mjs" agent --config "\/srv\/mesh root\/agents\/a_b\/agent\.yaml"$/m);
  assert.throws(() => renderUnit(layout, "node", "shop/bookstore", "[Service]\nUser=x\n"), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_INSTALL_UNIT_TEMPLATE");
});
