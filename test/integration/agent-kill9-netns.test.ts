// The agent as a real process on a "host" (a network namespace with its own
// /etc): transparent capture and mesh names installed, then kill -9 twice
// (docs/dataplane.md "Failure behaviour"). The rules and the resolver hook
// stay while the agent is dead (inbound closed, names still answered by
// nobody: the host's resolver points at a dead address until the next start
// or the cleanup); the next start leaves exactly one rule set and keeps the
// original resolv.conf in its backup; `meshfed agent cleanup` after the
// second kill puts the nat table and resolv.conf back byte for byte. Pipy is
// the fake one (this runs in CI); test/pipy/unchanged-app.test.ts does the
// same with traffic through a real Pipy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFakePipy } from "../helpers/agent-fake-pipy.js";
import { tempDir } from "../helpers/temp-dir.js";
import { netnsAvailable, stripComments } from "../helpers/capture-netns.js";
import { CLI } from "../helpers/controller-process.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { bridgePort, lines, twoHosts, withPrivateEtc, type NetnsHost } from "../helpers/netns.js";
import { scaled, waitFor } from "../helpers/wait.js";

const PROXY_UID = 65534;
// The host's own resolver: a fake upstream on 127.0.0.2 inside the namespace (test/helpers/dns.ts).
const ORIGINAL_RESOLV = "# the host's own resolver\nsearch corp.example\nnameserver 127.0.0.2\noptions ndots:2 timeout:2\n";
const DNS_HELPERS = fileURLToPath(new URL("../helpers/dns.js", import.meta.url));
const JUMPS = ["-A PREROUTING -p tcp -j MESHFED_INBOUND", "-A OUTPUT -p tcp -j MESHFED_OUTPUT"];

const count = (table: string, line: string) => table.split("\n").filter((l) => l === line).length;

test("a killed agent's capture rules and resolver hook: kept while it is dead, one set after a restart, gone byte for byte after cleanup", { timeout: scaled(360_000) }, async (t) => {
  if (!(await netnsAvailable(t))) return;
  const { a: bare, net } = await twoHosts(t, "mfk9");
  const a = await withPrivateEtc(t, bare, ORIGINAL_RESOLV);
  const ctl = await startTestController(t, {
    hosts: `hosts:\n  - { name: s1, address: ${net}.2, services: [{ name: bookstore, namespace: shop, port: 14001 }] }\n`,
    // Permissive: bookstore is an outbound of bookbuyer (a name its DNS answers) without policies.
    patch: (c) => ({ ...c, mesh: { ...c.mesh, permissive: true } }),
  });
  await bridgePort(t, a, Number(ctl.grpcAddress.split(":").pop()));
  const dir = await tempDir("mfk9-");
  await chmod(dir, 0o755); // the fake Pipy runs as the proxy user
  await writeFile(join(dir, "ca.pem"), await ctl.api<string>("/api/v1/ca"));
  await writeFile(join(dir, "token"), (await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/bookbuyer", ttl: "10m", uses: 1 })).token);
  const pipy = await writeFakePipy(dir);

  const upstream = a.spawn([process.execPath, "--input-type=module", "-e",
    `import { fakeUpstream } from ${JSON.stringify(DNS_HELPERS)}; await fakeUpstream("192.0.2.7", "127.0.0.2", 53); console.log("ready");`]);
  await lines(upstream).line((l) => l === "ready", 10_000);
  const lookup = (name: string) => a.exec([process.execPath, "-e", `require('node:dns').lookup(${JSON.stringify(name)},{family:4},(e,ip)=>console.log(e?e.code:ip))`]).then((o) => o.trim());

  const natTable = async () => stripComments(await a.exec(["iptables-save", "-t", "nat"]));
  const resolvConf = () => a.exec(["cat", "/etc/resolv.conf"]);
  const filter6 = async () => stripComments(await a.exec(["ip6tables-save", "-t", "filter"]));
  const pristineNat = await natTable();
  const pristineFilter6 = await filter6();
  assert.equal(await resolvConf(), ORIGINAL_RESOLV);

  const startAgent = (): { child: ReturnType<NetnsHost["spawn"]>; out: ReturnType<typeof lines> } => {
    const child = a.spawn(["env", `FAKE_PIPY_POLL_MS=100`, process.execPath, CLI, "agent",
      "--controller", ctl.grpcAddress, "--ca-file", join(dir, "ca.pem"), "--token-file", join(dir, "token"), "--data-dir", join(dir, "data"),
      "--service", "shop/bookbuyer", "--endpoint", `${net}.1:8080`, "--host-address", `${net}.1`, "--repo-address", "127.0.0.1:15010",
      "--pipy", pipy, "--proxy-user", String(PROXY_UID), "--capture", "transparent", "--dns", "enabled", "--dns-hook", "resolv.conf",
      "--backoff-cap", "1s", "--log-level", "debug"]);
    return { child, out: lines(child) };
  };
  const kill9 = async (agent: ReturnType<typeof startAgent>) => {
    agent.child.kill("SIGKILL");
    if (agent.child.exitCode === null && agent.child.signalCode === null) await new Promise((r) => agent.child.once("exit", r));
  };
  // The agent is fully in place: both jumps (the OUTPUT one follows Pipy's first report) and its resolv.conf.
  const inPlace = async (agent: ReturnType<typeof startAgent>) => waitFor(async () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited ${agent.child.exitCode}:\n${agent.out.all.slice(-20).join("\n")}`);
    const table = await natTable();
    return JUMPS.every((j) => count(table, j) === 1) && (await resolvConf()).includes("nameserver 127.0.0.153") ? table : undefined;
  }, { what: `capture and resolver hook in place\n${agent.out.all.slice(-10).join("\n")}`, timeoutMs: 60_000 });

  const first = startAgent();
  await inPlace(first);
  // Mesh names resolve through the host's own resolver (getaddrinfo reads the hooked resolv.conf).
  const vip = await waitFor(async () => {
    const catalog = await ctl.api<{ services: Array<{ name: string; vip?: string }> }>("/api/v1/catalog");
    return catalog.services.find((s) => s.name === "bookstore")?.vip;
  }, { what: "bookstore's VIP", timeoutMs: 60_000 });
  const resolved = await waitFor(async () => ((await lookup("bookstore.shop.svc.cluster.local")) === vip ? vip : undefined), { what: "the mesh name resolves through the host's resolver", timeoutMs: 60_000 });
  assert.equal(resolved, vip);
  assert.equal(await lookup("www.example.test"), "192.0.2.7", "other names are forwarded to the host's own resolver");

  await kill9(first);
  // Dead agent: everything stays (inbound fail-closed; the next start or the cleanup repairs).
  const afterKill = await natTable();
  for (const j of JUMPS) assert.equal(count(afterKill, j), 1, j);
  assert.match(await resolvConf(), /nameserver 127\.0\.0\.153/);
  // ... and other names still resolve: nothing answers on 127.0.0.153, and the resolver moves on to the original server.
  assert.equal(await lookup("www.example.test"), "192.0.2.7", "a dead agent does not take the host's DNS with it");

  // The next start: one rule set, not two, and the original still in the backup (not our own file over it).
  const second = startAgent();
  const table = await inPlace(second);
  assert.equal((await filter6()).split("\n").filter((l) => l.endsWith("-j MESHFED_INBOUND6")).length, 1, "one IPv6 guard jump");
  assert.equal(table.split("\n").filter((l) => l.startsWith("-A MESHFED_OUTPUT")).length, afterKill.split("\n").filter((l) => l.startsWith("-A MESHFED_OUTPUT")).length);
  const backup = JSON.parse(await readFile(join(a.upper, "resolv.conf.meshfed-backup"), "utf8")) as { kind: string; content: string };
  assert.equal(Buffer.from(backup.content, "base64").toString("utf8"), ORIGINAL_RESOLV);

  await kill9(second);
  const cleanup = await a.exec([process.execPath, CLI, "agent", "cleanup"]);
  assert.match(cleanup, /capture rules removed/);
  assert.match(cleanup, /resolver restored/);
  assert.equal(await natTable(), pristineNat, "the nat table is as before the agent");
  assert.equal(await filter6(), pristineFilter6, "ip6tables' filter table too (the IPv6 inbound guard is gone)");
  assert.equal(await resolvConf(), ORIGINAL_RESOLV, "resolv.conf is back byte for byte");
  await assert.rejects(stat(join(a.upper, "resolv.conf.meshfed-backup")), { code: "ENOENT" });
  // A second cleanup finds nothing and says so.
  assert.match(await a.exec([process.execPath, CLI, "agent", "cleanup"]), /no capture rules found\nno resolver hook found/);
});
