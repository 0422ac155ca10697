// The agent's capture chains applied for real with iptables-restore inside
// network namespaces (docs/dataplane.md "Capture"): exact iptables-save
// output, idempotent re-apply, repair of a half-written set, removal that
// restores the table byte for byte, fail-open outbound, uid exclusion and the
// inbound redirect proven with real connections.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CaptureManager, Iptables } from "../../src/agent/capture/index.js";
import type { CaptureRuleOptions } from "../../src/common/capture-rules.js";
import { fileURLToPath } from "node:url";
import { silentLogger } from "../../src/common/logger.js";
import { labelServer, Netns, netnsAvailable, sh } from "../helpers/capture-netns.js";

const RULES: CaptureRuleOptions = {
  proxyUid: 1500,
  outboundPort: 15002,
  inboundOffset: 10000,
  inboundPorts: [8080, 14001],
  excludeInboundPorts: [14001],
  controllerAddresses: ["10.9.0.1", "fd00::1"],
  excludeOutboundIPRanges: ["169.254.169.254/32"],
  excludeOutboundPorts: [22],
  includeOutboundIPRanges: [],
  includeOutboundPorts: [],
};

const EXPECTED = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MESHFED_INBOUND - [0:0]
:MESHFED_OUTPUT - [0:0]
-A PREROUTING -p tcp -j MESHFED_INBOUND
-A OUTPUT -p tcp -j MESHFED_OUTPUT
-A MESHFED_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 18080
-A MESHFED_OUTPUT -m owner --uid-owner 1500 -j RETURN
-A MESHFED_OUTPUT -d 127.0.0.0/8 -j RETURN
-A MESHFED_OUTPUT -d 10.9.0.1/32 -j RETURN
-A MESHFED_OUTPUT -d 169.254.169.254/32 -j RETURN
-A MESHFED_OUTPUT -p tcp -m tcp --dport 22 -j RETURN
-A MESHFED_OUTPUT -p tcp -j REDIRECT --to-ports 15002
COMMIT
`;

/** Some rules of another owner (a container runtime, say) that must survive every step untouched. */
const FOREIGN = `*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
`;

function manager(ns: Netns, rules: CaptureRuleOptions = RULES): CaptureManager {
  return new CaptureManager({ rules, iptables: new Iptables({ prefix: ns.prefix }), logger: silentLogger() });
}

test("install writes exactly the expected chains and jumps", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  const m = manager(ns);
  await m.install(true);
  assert.equal(await ns.natTable(), EXPECTED);
  assert.deepEqual({ ...m.status(), appliedAt: "" }, { mode: "transparent", installed: true, outboundActive: true, lastError: "", lastErrorCode: "", appliedAt: "" });
});

test("applying twice, or from a second manager after a restart, equals applying once", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  await manager(ns).install(true);
  await manager(ns).install(true);
  const again = manager(ns);
  await again.install(true);
  await again.install(true);
  assert.equal(await ns.natTable(), EXPECTED);
});

test("a start repairs a half-written set: stray rules, a missing chain, duplicated jumps", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  await ns.restore(`*nat
:MESHFED_OUTPUT - [0:0]
-A OUTPUT -p tcp -j MESHFED_OUTPUT
-A OUTPUT -p tcp -j MESHFED_OUTPUT
-A OUTPUT -j MESHFED_OUTPUT
-A MESHFED_OUTPUT -d 10.0.0.0/8 -j RETURN
COMMIT
`);
  const m = manager(ns);
  await m.install(true);
  assert.equal(await ns.natTable(), EXPECTED);
  assert.equal(m.status().installed, true);
});

test("outbound fails open: the OUTPUT jump goes and comes back, the inbound jump stays", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  const m = manager(ns);
  await m.install(false);
  const closed = await ns.natTable();
  assert.equal(closed, EXPECTED.replace("-A OUTPUT -p tcp -j MESHFED_OUTPUT\n", ""));
  assert.equal(m.status().outboundActive, false);
  assert.equal(m.status().installed, true);
  await m.setOutbound(true);
  assert.equal(await ns.natTable(), EXPECTED);
  await m.setOutbound(false);
  assert.equal(await ns.natTable(), closed);
});

test("removal restores the nat table byte for byte, other owners' rules included", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  await ns.restore(FOREIGN);
  const before = await ns.natTable();
  const m = manager(ns);
  await m.install(true);
  await m.setOutbound(false);
  await m.setOutbound(true);
  assert.notEqual(await ns.natTable(), before);
  await m.remove();
  assert.equal(await ns.natTable(), before);
  assert.equal(m.status().installed, false);
  // After a kill -9 the next agent removes what the dead one left, the same way.
  await manager(ns).install(true);
  await manager(ns).remove();
  assert.equal(await ns.natTable(), before);
  // Removing when nothing is there changes nothing.
  await manager(ns).remove();
  assert.equal(await ns.natTable(), before);
});

test("check() puts back rules someone deleted", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  const m = manager(ns);
  await m.install(true);
  await ns.exec("iptables", "-t", "nat", "-F", "MESHFED_OUTPUT");
  await ns.exec("iptables", "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "-j", "MESHFED_INBOUND");
  await m.check();
  assert.equal(await ns.natTable(), EXPECTED);
});

test("include lists: only the listed ports and ranges are redirected", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  const m = manager(ns, { ...RULES, inboundPorts: [], includeOutboundPorts: [80, 443], includeOutboundIPRanges: ["10.1.2.3/16"] });
  await m.install(true);
  const chain = (await ns.natTable()).split("\n").filter((l) => l.startsWith("-A MESHFED_OUTPUT")).slice(5);
  assert.deepEqual(chain, [
    "-A MESHFED_OUTPUT -p tcp -m multiport --dports 80,443 -j REDIRECT --to-ports 15002",
    "-A MESHFED_OUTPUT -d 10.1.0.0/16 -p tcp -j REDIRECT --to-ports 15002",
    "-A MESHFED_OUTPUT -j RETURN",
  ]);
});

test("a missing iptables is a named error, not a crash", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const m = new CaptureManager({ rules: RULES, iptables: new Iptables({ binDir: "/nonexistent" }), logger: silentLogger() });
  await assert.rejects(m.install(true), (err: { code?: string }) => err.code === "MESHFED_CAPTURE_IPTABLES_MISSING" || err.code === "MESHFED_CAPTURE_NFTABLES_ONLY");
  assert.equal(m.status().installed, false);
  assert.match(m.status().lastErrorCode, /^MESHFED_CAPTURE_(IPTABLES_MISSING|NFTABLES_ONLY)$/);
});

test("uid exclusion with real connections: the proxy's uid goes out directly, every other uid lands on 15002", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  // A destination that is not loopback: an address of the namespace itself.
  await ns.exec("ip", "addr", "add", "10.77.0.1/32", "dev", "lo");
  await ns.node(t, labelServer([{ host: "127.0.0.1", port: 15002, label: "proxy-outbound" }, { host: "10.77.0.1", port: 80, label: "destination" }]));
  await manager(ns).install(true);
  assert.equal(await ns.dial("10.77.0.1", 80, 1500), "destination", "the proxy's own uid is not redirected");
  assert.equal(await ns.dial("10.77.0.1", 80, 1501), "proxy-outbound", "another uid is redirected");
  assert.equal(await ns.dial("10.77.0.1", 80), "proxy-outbound", "root is redirected");
  assert.equal(await ns.dial("127.0.0.1", 15002, 1501), "proxy-outbound");
  const m = manager(ns);
  await m.install(false);
  assert.equal(await ns.dial("10.77.0.1", 80, 1501), "destination", "fail-open: without the OUTPUT jump nothing is redirected");
});

test("inbound: another host's connection to P lands on P+10000; loopback on the host still reaches P", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const host = await Netns.create(t);
  const peer = await Netns.create(t);
  const suffix = host.name.slice(-6);
  const [a, b] = [`mfa${suffix}`, `mfb${suffix}`];
  await sh("ip", "link", "add", a, "netns", host.name, "type", "veth", "peer", "name", b, "netns", peer.name);
  await host.exec("ip", "addr", "add", "10.78.0.1/24", "dev", a);
  await peer.exec("ip", "addr", "add", "10.78.0.2/24", "dev", b);
  await host.exec("ip", "link", "set", a, "up");
  await peer.exec("ip", "link", "set", b, "up");
  await host.node(t, labelServer([{ host: "0.0.0.0", port: 8080, label: "app" }, { host: "10.78.0.1", port: 18080, label: "proxy-inbound" }]));
  await manager(host).install(true);
  assert.equal(await peer.dial("10.78.0.1", 8080), "proxy-inbound", "a client on another host meets the mTLS listener");
  assert.equal(await host.dial("127.0.0.1", 8080), "app", "a process on the host reaches the app on loopback");
  assert.equal(await peer.dial("10.78.0.1", 18080), "proxy-inbound");
});

test("`meshfed-agent agent cleanup` (the bundle the uninstaller runs) removes what a killed agent left, with no config", async (t) => {
  if (!(await netnsAvailable(t))) return;
  const ns = await Netns.create(t);
  await ns.restore(FOREIGN);
  const before = await ns.natTable();
  await manager(ns).install(true);
  const bundle = fileURLToPath(new URL("../../agent-bundle/meshfed-agent.mjs", import.meta.url));
  assert.match(await ns.exec(process.execPath, bundle, "agent", "cleanup"), /capture rules removed/);
  assert.equal(await ns.natTable(), before);
  assert.match(await ns.exec(process.execPath, bundle, "agent", "cleanup"), /no capture rules found/);
});
