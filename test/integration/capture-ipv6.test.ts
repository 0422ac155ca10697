// The IPv6 inbound guard (docs/dataplane.md "IPv6"): an app listening on
// `::` answers IPv6 as well, which the IPv4 nat capture never sees. Two
// namespaces with IPv6 on their veth: with the IPv4 set alone, a client on
// the other host reaches the app's mesh port in plaintext over IPv6 (the
// hole); with the guard it gets a reset (ECONNREFUSED at the client), loopback and ports outside the mesh
// still answer, and removal leaves ip6tables as it was.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CaptureManager, Iptables, removeCapture } from "../../src/agent/capture/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { netnsAvailable, stripComments } from "../helpers/capture-netns.js";
import { lines, twoHosts, type NetnsHost } from "../helpers/netns.js";
import { scaled } from "../helpers/wait.js";

const RULES = {
  proxyUid: 65534, outboundPort: 15002, inboundOffset: 10000, inboundPorts: [8080], excludeInboundPorts: [],
  controllerAddresses: [], excludeOutboundIPRanges: [], excludeOutboundPorts: [], includeOutboundIPRanges: [], includeOutboundPorts: [],
};

/** Connects and returns the first line the server wrote, or "error <code>". */
async function dial(host: NetnsHost, address: string, port: number): Promise<string> {
  const script = `const s=require("node:net").connect({host:${JSON.stringify(address)},port:${port}});let d="";s.on("data",(c)=>{d+=c;if(d.includes("\\n")){console.log(d.split("\\n")[0]);s.destroy()}});s.on("error",(e)=>console.log("error "+e.code));setTimeout(()=>{console.log("timeout");process.exit(0)},5000).unref();`;
  return (await host.exec([process.execPath, "-e", script])).trim();
}

test("IPv6: the mesh port of an app on :: is open in plaintext with the IPv4 set alone, refused with the guard, as before after removal", { timeout: scaled(120_000) }, async (t) => {
  if (!(await netnsAvailable(t))) return;
  const { a, b } = await twoHosts(t, "mfv6");
  const [va, vb] = [await vethOf(a), await vethOf(b)];
  await a.exec(["ip", "-6", "addr", "add", "fd00:77::1/64", "dev", va, "nodad"]);
  await b.exec(["ip", "-6", "addr", "add", "fd00:77::2/64", "dev", vb, "nodad"]);
  const app = b.spawn([process.execPath, "-e",
    `const net=require("node:net");let n=2;for(const p of [8080,9090])net.createServer((s)=>s.end("app"+p+"\\n")).listen(p,"::",()=>{if(--n===0)console.log("ready")})`]);
  await lines(app).line((l) => l === "ready", 10_000);
  assert.equal(await dial(a, "fd00:77::2", 8080), "app8080", "the app answers IPv6 from the other host");

  const prefix = ["ip", "netns", "exec", b.name];
  const ip6 = new Iptables({ family: 6, prefix });
  const filter6 = async () => stripComments(await ip6.save("filter"));
  const pristine6 = await filter6();

  // The IPv4 set alone: the hole.
  const v4only = new CaptureManager({ rules: RULES, iptables: new Iptables({ prefix }), logger: silentLogger() });
  await v4only.install(false);
  assert.equal(await dial(a, "fd00:77::2", 8080), "app8080", "IPv4 capture alone leaves the mesh port open over IPv6");
  await v4only.remove();

  const guarded = new CaptureManager({ rules: RULES, iptables: new Iptables({ prefix }), ip6tables: ip6, logger: silentLogger() });
  await guarded.install(false);
  t.after(() => removeCapture(new Iptables({ prefix }), ip6).catch(() => undefined));
  assert.equal(guarded.status().installed, true);
  assert.match(await filter6(), /^-A MESHFED_INBOUND6 -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset$/m);
  assert.equal(await dial(a, "fd00:77::2", 8080), "error ECONNREFUSED", "refused over IPv6 from another host");
  assert.equal(await dial(a, "fd00:77::2", 9090), "app9090", "a port outside the mesh is untouched");
  assert.equal(await dial(b, "::1", 8080), "app8080", "processes on the host still reach the app on loopback");
  // Installing again changes nothing (one jump, same chain), and drift is repaired.
  await guarded.install(false);
  assert.equal((await filter6()).split("\n").filter((l) => l.endsWith("-j MESHFED_INBOUND6")).length, 1);
  await b.exec(["ip6tables", "-F", "MESHFED_INBOUND6"]);
  await guarded.check();
  assert.equal(await dial(a, "fd00:77::2", 8080), "error ECONNREFUSED", "the flushed guard was put back by the drift check");

  await guarded.remove();
  assert.equal(await filter6(), pristine6, "ip6tables as before");
  assert.equal(await dial(a, "fd00:77::2", 8080), "app8080");
});

test("IPv6: a host with IPv6 addresses where ip6tables cannot run is a named error, one without IPv6 needs no guard", { timeout: scaled(120_000) }, async (t) => {
  if (!(await netnsAvailable(t))) return;
  const { a } = await twoHosts(t, "mfv6");
  const prefix = ["ip", "netns", "exec", a.name];
  const broken = new Iptables({ family: 6, prefix, binDir: "/nonexistent" });
  // The veth has a link-local IPv6 address: this namespace has IPv6.
  const manager = new CaptureManager({ rules: RULES, iptables: new Iptables({ prefix }), ip6tables: broken, logger: silentLogger() });
  await assert.rejects(manager.install(false), { code: "MESHFED_CAPTURE_IPV6_UNGUARDED" });
  assert.equal(manager.status().lastErrorCode, "MESHFED_CAPTURE_IPV6_UNGUARDED");
  await removeCapture(new Iptables({ prefix }));

  await a.exec(["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]);
  const noIpv6 = new CaptureManager({ rules: RULES, iptables: new Iptables({ prefix }), ip6tables: broken, logger: silentLogger() });
  await noIpv6.install(false);
  assert.equal(noIpv6.status().installed, true);
  await noIpv6.remove();
});

async function vethOf(host: NetnsHost): Promise<string> {
  const out = await host.exec(["ip", "-o", "link", "show", "type", "veth"]);
  return /^\d+: ([^@:]+)/.exec(out)![1]!;
}
