import { test } from "node:test";
import assert from "node:assert/strict";
import { captureRestoreInput, inboundChainRules, ipv4Cidr, outputChainRules, readCaptureState, type CaptureRuleOptions } from "../../src/common/capture-rules.js";
import { captureColumn } from "../../src/cli/commands/tokens.js";

const BASE: CaptureRuleOptions = {
  proxyUid: 1500, outboundPort: 15002, inboundOffset: 10000, inboundPorts: [], excludeInboundPorts: [], controllerAddresses: [],
  excludeOutboundIPRanges: [], excludeOutboundPorts: [], includeOutboundIPRanges: [], includeOutboundPorts: [],
};

test("ipv4Cidr: written the way iptables-save prints it; IPv6 and junk refused with a named error", () => {
  assert.equal(ipv4Cidr("10.1.2.3"), "10.1.2.3/32");
  assert.equal(ipv4Cidr("10.1.2.3/8"), "10.0.0.0/8");
  assert.equal(ipv4Cidr("0.0.0.0/0"), "0.0.0.0/0");
  for (const bad of ["fd00::/8", "10.0.0.0/33", "10.0.0.0/", "nope", "10.0.0.0/8/1"]) {
    assert.throws(() => ipv4Cidr(bad), { code: "MESHFED_CAPTURE_INVALID" }, bad);
  }
});

test("ports: more than 15 go into several multiport rules; P + offset past 65535 and excluded ports get no inbound rule", () => {
  const ports = Array.from({ length: 17 }, (_, i) => 1000 + i);
  const out = outputChainRules({ ...BASE, excludeOutboundPorts: ports });
  assert.deepEqual(out.filter((r) => r.includes("RETURN") && r.includes("port")), [
    `-A MESHFED_OUTPUT -p tcp -m multiport --dports ${ports.slice(0, 15).join(",")} -j RETURN`,
    "-A MESHFED_OUTPUT -p tcp -m multiport --dports 1015,1016 -j RETURN",
  ]);
  assert.deepEqual(inboundChainRules({ ...BASE, inboundPorts: [80, 8080, 8080, 60000, 443], excludeInboundPorts: [443] }), [
    "-A MESHFED_INBOUND -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 10080",
    "-A MESHFED_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 18080",
  ]);
  assert.throws(() => outputChainRules({ ...BASE, excludeOutboundPorts: [0] }), { code: "MESHFED_CAPTURE_INVALID" });
});

test("restore input: stale jumps deleted once each, chains declared (created or emptied), one jump each", () => {
  const stale = ["-A OUTPUT -p tcp -j MESHFED_OUTPUT", "-A OUTPUT -p tcp -j MESHFED_OUTPUT"];
  const text = captureRestoreInput(BASE, { outboundActive: true, staleJumps: stale });
  const lines = text.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 7), [
    "*nat", ":MESHFED_INBOUND - [0:0]", ":MESHFED_OUTPUT - [0:0]",
    "-D OUTPUT -p tcp -j MESHFED_OUTPUT", "-D OUTPUT -p tcp -j MESHFED_OUTPUT",
    "-A PREROUTING -p tcp -j MESHFED_INBOUND", "-A OUTPUT -p tcp -j MESHFED_OUTPUT",
  ]);
  assert.equal(lines.at(-1), "COMMIT");
  assert.ok(!captureRestoreInput(BASE, { outboundActive: false, staleJumps: [] }).includes("-A OUTPUT "));
});

test("readCaptureState reads only the nat table, and jumps from any chain", () => {
  const save = "*filter\n:MESHFED_OUTPUT - [0:0]\n-A INPUT -j MESHFED_OUTPUT\nCOMMIT\n*nat\n:MESHFED_INBOUND - [0:0]\n-A PREROUTING -p tcp -j MESHFED_INBOUND\n-A MINE -j MESHFED_INBOUND\n-A MESHFED_INBOUND -p tcp -m tcp --dport 1 -j REDIRECT --to-ports 10001\nCOMMIT\n";
  const s = readCaptureState(save);
  assert.deepEqual([...s.chains], ["MESHFED_INBOUND"]);
  assert.equal(s.inboundJumps, 2);
  assert.equal(s.outputJumps, 0);
  assert.deepEqual(s.rules.get("MESHFED_INBOUND"), ["-A MESHFED_INBOUND -p tcp -m tcp --dport 1 -j REDIRECT --to-ports 10001"]);
});

test("meshfed proxies' CAPTURE column", () => {
  const c = { mode: "transparent", installed: true, outboundActive: true, errorCode: "" };
  assert.equal(captureColumn(undefined), "-");
  assert.equal(captureColumn(null), "-");
  assert.equal(captureColumn({ ...c, mode: "none" }), "none");
  assert.equal(captureColumn(c), "transparent");
  assert.equal(captureColumn({ ...c, outboundActive: false }), "transparent (outbound off)");
  assert.equal(captureColumn({ ...c, installed: false }), "transparent (rules missing)");
  assert.equal(captureColumn({ ...c, installed: false, errorCode: "MESHFED_CAPTURE_IPTABLES_MISSING" }), "transparent: MESHFED_CAPTURE_IPTABLES_MISSING");
});

test("agent config: capture defaults to none; fields and flags go through the schema, a bad range names its place", async () => {
  const { loadAgentConfig, parseAgentConfig } = await import("../../src/agent/config.js");
  const base = "controller: 10.0.0.1:15128\ncaFile: ca.pem\n";
  const plain = parseAgentConfig(base, "/etc/meshfed/agent.yaml");
  assert.equal(plain.capture.mode, "none");
  assert.equal(plain.capture.outboundPort, 15002);
  assert.equal(plain.capture.inboundPortOffset, 10000);
  const c = parseAgentConfig(`${base}proxy: { user: meshfed-proxy }\ncapture: { mode: transparent, excludeOutboundIPRanges: [169.254.169.254/32], excludeOutboundPorts: [22] }\n`, "/etc/meshfed/agent.yaml");
  assert.equal(c.capture.mode, "transparent");
  assert.equal(c.proxy.user, "meshfed-proxy");
  assert.deepEqual(c.capture.excludeOutboundPorts, [22]);
  assert.throws(() => parseAgentConfig(`${base}capture: { excludeOutboundIPRanges: [fd00::/8] }\n`, "/x/agent.yaml"), /agent\.yaml:3:.*IPv4.*capture\.excludeOutboundIPRanges/s);
  assert.throws(() => parseAgentConfig(`${base}capture: { mode: sideways }\n`, "/x/agent.yaml"), { code: "MESHFED_AGENT_CONFIG_INVALID" });
  const flags = await loadAgentConfig(undefined, { controller: "10.0.0.1:15128", caFile: "ca.pem", capture: "transparent", proxyUser: "1500" });
  assert.equal(flags.capture.mode, "transparent");
  assert.equal(flags.proxy.user, "1500");
  await assert.rejects(loadAgentConfig(undefined, { controller: "10.0.0.1:15128", caFile: "ca.pem", capture: "sideways" }), /command-line flag --capture/);
});
