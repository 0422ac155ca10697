// `meshfed agent install --bootstrap azure-imds`: the agent.yaml the installer
// writes enrolls by the IMDS attested document and names no token file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAgentConfig } from "../../src/agent/config.js";
import { renderAgentConfig } from "../../src/installer/agent-files.js";
import { agentLayout } from "../../src/installer/layout.js";

const layout = agentLayout("/opt/meshfed", { namespace: "shop", name: "web" });
const spec = { service: { namespace: "shop", name: "web" }, controller: ["cp:15128"], endpoints: ["10.0.0.5:8080"], repoAddress: "127.0.0.1:15010", logLevel: "info" };

test("install --bootstrap azure-imds writes an agent.yaml with bootstrap azure-imds and no token file; the default keeps the token", () => {
  const imds = parseAgentConfig(renderAgentConfig({ ...spec, bootstrap: "azure-imds" }, layout), layout.config);
  assert.equal(imds.bootstrap, "azure-imds");
  assert.equal(imds.tokenFile, undefined);
  assert.equal(imds.service, "shop/web", "the enrollment must still match the service the installer was told");
  const token = parseAgentConfig(renderAgentConfig(spec, layout), layout.config);
  assert.equal(token.bootstrap, "token");
  assert.equal(token.tokenFile, "/opt/meshfed/agents/shop_web/token");
});
