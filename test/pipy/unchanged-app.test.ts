// Issue 14's user story, end to end, with nothing done by hand: an app that
// knows nothing about the mesh calls
// `http://bookstore.shop.svc.cluster.local:14001/books` with plain http.get
// and is served through mTLS. Every part is the real one: the controller
// (this process, bridged into the hosts over a Unix socket), `meshfed agent`
// processes with `--capture transparent` (their own iptables chains) and, on
// the client host, `--dns enabled` (its resolver hook rewrites the host's
// resolv.conf), each supervising a real Pipy as uid 65534. Three network
// namespaces: bookbuyer's host a (with its own /etc), bookstore's host b,
// and host c outside the mesh. Then kill -9 of bookbuyer's agent and a
// restart (its Pipy serves on while the agent is dead; the new agent
// stops it and runs its own: one rule set, traffic again), and a graceful stop that puts the
// nat table and resolv.conf back byte for byte.
// Needs root, iproute2, iptables and PIPY_BIN; skipped (visibly) otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/temp-dir.js";
import { stripComments } from "../helpers/capture-netns.js";
import { CLI } from "../helpers/controller-process.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { bridgePort, lines, netnsUnavailable, outsideHost, twoHosts, withPrivateEtc, type NetnsHost } from "../helpers/netns.js";
import { scaled, waitFor } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;
const PEER = fileURLToPath(new URL("../helpers/netns-peer.js", import.meta.url));
const PROXY_UID = 65534;
const PORT = 14001;
const OUTSIDE_PORT = 7070;
const ORIGINAL_RESOLV = "# host a's own resolver\nnameserver 192.0.2.53\noptions ndots:1\n";
const JUMPS = ["-A PREROUTING -p tcp -j MESHFED_INBOUND", "-A OUTPUT -p tcp -j MESHFED_OUTPUT"];
const URL_BY_NAME = `http://bookstore.shop.svc.cluster.local:${PORT}/books`;

const POLICIES = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: bookstore-routes, namespace: shop }
spec:
  matches: [{ name: books, pathRegex: "/books.*", methods: ["GET"] }]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-bookstore, namespace: shop }
spec:
  destination: { kind: ServiceAccount, name: bookstore, namespace: shop }
  rules: [{ kind: HTTPRouteGroup, name: bookstore-routes, matches: [books] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: shop }]
`;

interface HttpRun { statuses: Record<string, number>; bodies: Record<string, number>; error?: string }
interface Status { state: string; configVersion: number | null; proxy: { state: string }; capture: { installed: boolean; outboundActive: boolean } | null }

const count = (table: string, line: string) => table.split("\n").filter((l) => l === line).length;

/** Runs netns-peer.js in `host` (the unchanged app) and returns its JSON line. */
async function app<T>(host: NetnsHost, mode: Record<string, unknown>): Promise<T> {
  const out = await host.exec([process.execPath, PEER, JSON.stringify(mode)]).catch((e: Error) => JSON.stringify({ error: e.message }));
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as T;
}

async function agentStatus(host: NetnsHost): Promise<Status | undefined> {
  const out = await host.exec([process.execPath, "-e", "fetch('http://127.0.0.1:15010/status').then((r)=>r.text()).then(console.log,()=>console.log('null'))"]).catch(() => "null");
  return JSON.parse(out) as Status | undefined;
}

test("an unchanged app calls a mesh name with plain http.get and is served through mTLS; outsiders are refused; kill -9 and restart; uninstall restores the host", { timeout: scaled(540_000) }, async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const why = await netnsUnavailable();
  if (why !== undefined) return t.skip(why);

  const { a: bareA, b, net } = await twoHosts(t, "mfua");
  const a = await withPrivateEtc(t, bareA, ORIGINAL_RESOLV);
  const { c } = await outsideHost(t, b, "mfua");
  const ctl = await startTestController(t, { smi: { "bookstore.yaml": POLICIES } });
  const grpcPort = Number(ctl.grpcAddress.split(":").pop());
  for (const host of [a, b]) await bridgePort(t, host, grpcPort);
  const dir = await tempDir("mfua-");
  await chmod(dir, 0o755);
  await writeFile(join(dir, "ca.pem"), await ctl.api<string>("/api/v1/ca"));

  // bookstore's app on b, and a server outside the mesh next to it; neither knows the mesh.
  const servers = b.spawn([process.execPath, PEER, JSON.stringify({
    mode: "serve", http: [{ host: `${net}.2`, port: PORT, name: "bookstore" }, { host: `${net}.2`, port: OUTSIDE_PORT, name: "outside" }],
  })]);
  await lines(servers).line((l) => l === "listening");

  const natTable = async (host: NetnsHost) => stripComments(await host.exec(["iptables-save", "-t", "nat"]));
  const pristineNatA = await natTable(a);
  const startAgent = async (host: NetnsHost, service: string, endpoint: string, extra: readonly string[]) => {
    const home = join(dir, service.replace("/", "-"));
    const token = join(home, "token");
    // A restart finds its enrollment in the data dir; only the first start uses a token.
    await mkdir(home, { recursive: true });
    if (!(await stat(token).then(() => true, () => false))) await writeFile(token, (await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses: 1 })).token);
    const child = host.spawn([process.execPath, CLI, "agent",
      "--controller", ctl.grpcAddress, "--ca-file", join(dir, "ca.pem"), "--token-file", token, "--data-dir", join(home, "data"),
      "--service", service, "--endpoint", endpoint, "--host-address", endpoint.split(":")[0]!,
      "--pipy", PIPY_BIN, "--proxy-user", String(PROXY_UID), "--capture", "transparent", "--backoff-cap", "1s", "--log-level", "info", ...extra]);
    const out = lines(child);
    const ready = await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`${service}'s agent exited ${child.exitCode}:\n${out.all.slice(-20).join("\n")}`);
      const s = await agentStatus(host);
      return s?.state === "CONNECTED" && s.proxy.state === "running" && s.capture?.installed === true && s.capture.outboundActive ? s : undefined;
    }, { what: `${service}'s agent connected, Pipy running, capture in place`, timeoutMs: 60_000 });
    return { child, out, ready };
  };

  const bookstore = await startAgent(b, "shop/bookstore", `${net}.2:${PORT}`, []);
  let bookbuyer = await startAgent(a, "shop/bookbuyer", `${net}.1:8080`, ["--dns", "enabled", "--dns-hook", "resolv.conf"]);
  const logs = () => `--- bookbuyer\n${bookbuyer.out.all.slice(-15).join("\n")}\n--- bookstore\n${bookstore.out.all.slice(-15).join("\n")}`;
  assert.match(await a.exec(["cat", "/etc/resolv.conf"]), /^nameserver 127\.0\.0\.153$/m, "the agent hooked host a's resolver");

  // The user story: plain http.get to the mesh name. The server saw bookbuyer's verified identity.
  const served = JSON.stringify({ service: "bookstore", peer: "bookbuyer.shop.svc.cluster.local" });
  const byName = await waitFor(async () => {
    const r = await app<HttpRun>(a, { mode: "http", url: URL_BY_NAME, count: 1 });
    return r.statuses["200"] === 1 ? r : undefined;
  }, { what: `the first request by name succeeds\n${logs()}`, timeoutMs: 60_000 });
  assert.deepEqual(byName.bodies, { [served]: 1 });
  const many = await app<HttpRun>(a, { mode: "http", url: URL_BY_NAME, count: 50 });
  assert.deepEqual(many.statuses, { 200: 50 }, `${JSON.stringify(many)}\n${logs()}`);
  assert.deepEqual(many.bodies, { [served]: 50 });
  // The peer's real address works the same way.
  const byAddress = await app<HttpRun>(a, { mode: "http", url: `http://${net}.2:${PORT}/books`, count: 10 });
  assert.deepEqual(byAddress.bodies, { [served]: 10 }, JSON.stringify(byAddress));
  // A path the HTTPRouteGroup leaves out is refused by bookstore's sidecar.
  const denied = await app<HttpRun>(a, { mode: "http", url: `http://bookstore.shop.svc.cluster.local:${PORT}/admin`, count: 3 });
  assert.deepEqual(denied.statuses, { 403: 3 }, JSON.stringify(denied));
  // Not a mesh destination: passes through in plaintext (the server sees no identity).
  const outside = await app<HttpRun>(a, { mode: "http", url: `http://${net}.2:${OUTSIDE_PORT}/`, count: 3 });
  assert.deepEqual(outside.bodies, { [JSON.stringify({ service: "outside", peer: null })]: 3 }, JSON.stringify(outside));

  // Host c is outside the mesh: bookstore's app port no longer answers it in plaintext.
  const intruder = await app<HttpRun>(c, { mode: "http", url: `http://${net}.2:${PORT}/books`, count: 3 });
  assert.equal(intruder.statuses["200"], undefined, `a plaintext client outside the mesh was served: ${JSON.stringify(intruder)}`);
  // ... while a port the mesh does not own still does.
  const intruderOutside = await app<HttpRun>(c, { mode: "http", url: `http://${net}.2:${OUTSIDE_PORT}/`, count: 1 });
  assert.deepEqual(intruderOutside.statuses, { 200: 1 });

  // The controller's view: both proxies with their rules in place.
  const proxies = await ctl.api<Array<{ service: string; capture?: { mode: string; installed: boolean } | null }>>("/api/v1/proxies");
  assert.deepEqual(proxies.map((p) => [p.service, p.capture?.mode, p.capture?.installed]).sort(), [["shop/bookbuyer", "transparent", true], ["shop/bookstore", "transparent", true]]);

  // kill -9 of bookbuyer's agent: its Pipy is left running with the rules, and the next start takes over with one rule set.
  bookbuyer.child.kill("SIGKILL");
  await new Promise((r) => (bookbuyer.child.exitCode === null && bookbuyer.child.signalCode === null ? bookbuyer.child.once("exit", r) : r(undefined)));
  // While it is dead, its Pipy keeps serving the host's captured traffic (by address: the names were the agent's).
  const whileDead = await app<HttpRun>(a, { mode: "http", url: `http://${net}.2:${PORT}/books`, count: 10 });
  assert.deepEqual(whileDead.bodies, { [served]: 10 }, `while the agent is dead: ${JSON.stringify(whileDead)}`);
  bookbuyer = await startAgent(a, "shop/bookbuyer", `${net}.1:8080`, ["--dns", "enabled", "--dns-hook", "resolv.conf"]);
  assert.ok(bookbuyer.out.all.some((l) => l.includes("a Pipy left by a killed agent")), "the new agent stopped the Pipy the killed one left");
  const table = await natTable(a);
  for (const j of JUMPS) assert.equal(count(table, j), 1, `${j} once after the restart\n${table}`);
  const again = await waitFor(async () => {
    const r = await app<HttpRun>(a, { mode: "http", url: URL_BY_NAME, count: 20 });
    return r.statuses["200"] === 20 ? r : undefined;
  }, { what: `requests by name succeed after the restart\n${logs()}`, timeoutMs: 60_000 });
  assert.deepEqual(again.bodies, { [served]: 20 });

  // A graceful stop is the uninstall's first step: host a is exactly as before.
  bookbuyer.child.kill("SIGTERM");
  await new Promise((r) => (bookbuyer.child.exitCode === null && bookbuyer.child.signalCode === null ? bookbuyer.child.once("exit", r) : r(undefined)));
  assert.equal(bookbuyer.child.exitCode, 0, logs());
  assert.equal(await natTable(a), pristineNatA, "host a's nat table is as before the agent");
  assert.equal(await a.exec(["cat", "/etc/resolv.conf"]), ORIGINAL_RESOLV, "host a's resolv.conf is back byte for byte");
  bookstore.child.kill("SIGTERM");
});
