import { test } from "node:test";
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { MeshDns } from "../../src/agent/dns/mesh-dns.js";
import type { NameTable } from "../../src/agent/dns/name-table.js";
import { ResolverHook } from "../../src/agent/dns/resolver-hook.js";
import { fakeUpstream, query } from "../helpers/dns.js";

const TABLE: NameTable = {
  hash: "a".repeat(64),
  zones: ["svc.cluster.local", "svc"],
  records: [
    { name: "bookstore.shop.svc", ipv4: ["240.1.2.3"] },
    { name: "bookstore.shop.svc.cluster.local", ipv4: ["240.1.2.3"] },
  ],
};

async function setup(t: { after: (fn: () => Promise<void>) => void }, options: { maxInFlight?: number; timeoutMs?: number; upstreamPort?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "mfdns-server-"));
  const upstream = await fakeUpstream();
  let saved: NameTable | undefined;
  const hook = new ResolverHook({
    mode: "none", listen: { host: "127.0.0.1", port: 0 }, logger: silentLogger(),
    paths: { resolvConf: join(dir, "resolv.conf"), backup: join(dir, "backup"), resolvedDropIn: join(dir, "meshfed.conf"), resolvedUpstreams: join(dir, "up") },
  });
  const dns = new MeshDns({
    listen: { host: "127.0.0.1", port: 0 }, hook, logger: silentLogger(), forwardTimeoutMs: options.timeoutMs ?? 1500, maxInFlight: options.maxInFlight ?? 64,
    upstreams: [{ host: "127.0.0.1", port: options.upstreamPort ?? upstream.port }],
    store: { load: async () => TABLE, save: async (table) => { saved = table; } },
  });
  await dns.start();
  t.after(async () => {
    await dns.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { dns, upstream, port: dns.port, saved: () => saved };
}

test("mesh names: A answers the VIP (any case, trailing dot), AAAA is an empty NOERROR, an unknown name under a mesh zone is NXDOMAIN", async (t) => {
  const { port, upstream, dns } = await setup(t);
  for (const transport of ["udp", "tcp"] as const) {
    const a = await query(port, "BookStore.Shop.SVC.Cluster.Local.", "A", transport);
    assert.equal(a.rcode, "NOERROR");
    assert.equal(a.flag_aa, true);
    assert.deepEqual(a.answers.map((r) => [r.type, r.data]), [["A", "240.1.2.3"]]);
    const short = await query(port, "bookstore.shop.svc", "A", transport);
    assert.deepEqual(short.answers.map((r) => r.data), ["240.1.2.3"]);
    const aaaa = await query(port, "bookstore.shop.svc.cluster.local", "AAAA", transport);
    assert.equal(aaaa.rcode, "NOERROR");
    assert.deepEqual(aaaa.answers, []);
    const unknown = await query(port, "nosuch.shop.svc.cluster.local", "A", transport);
    assert.equal(unknown.rcode, "NXDOMAIN");
    assert.equal((await query(port, "nosuch.shop.svc", "AAAA", transport)).rcode, "NXDOMAIN");
  }
  assert.deepEqual(upstream.seen, [], "mesh names never leave the host");
  // A real stub resolver (c-ares, Node's dns.Resolver) agrees.
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  assert.deepEqual(await resolver.resolve4("bookstore.shop.svc.cluster.local"), ["240.1.2.3"]);
  await assert.rejects(resolver.resolve4("nosuch.shop.svc.cluster.local"), { code: "ENOTFOUND" });
  const status = dns.status();
  assert.equal(status.state, "serving");
  assert.equal(status.names, 2);
  assert.equal(status.namesHash, TABLE.hash);
  assert.ok(status.stats!.meshAnswers >= 6 && status.stats!.nxdomain >= 4);
});

test("other names are forwarded to the host's resolver over UDP and TCP; a truncated UDP answer makes the client retry over TCP", async (t) => {
  const { port, upstream, dns } = await setup(t);
  const udp = await query(port, "www.example.test", "A", "udp");
  assert.deepEqual(udp.answers.map((r) => r.data), ["192.0.2.7"]);
  const tcp = await query(port, "api.example.test", "A", "tcp");
  assert.deepEqual(tcp.answers.map((r) => r.data), ["192.0.2.7"]);
  const truncated = await query(port, "big.example.test", "A", "udp");
  assert.equal(truncated.flag_tc, true, "the upstream's truncation reaches the client unchanged");
  // Node's resolver (c-ares) retries over TCP on TC, as every stub resolver does: through us, over TCP upstream.
  const resolver = new Resolver({ timeout: 3000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  assert.equal((await resolver.resolve4("big.example.test")).length, 40);
  assert.ok(upstream.seen.includes("udp:www.example.test"));
  assert.ok(upstream.seen.includes("tcp:api.example.test"));
  assert.ok(upstream.seen.includes("tcp:big.example.test"));
  assert.ok(dns.status().stats!.forwarded >= 4);
});

test("an unreachable upstream gives SERVFAIL after the timeout", async (t) => {
  const { port } = await setup(t, { timeoutMs: 300, upstreamPort: 9 });
  const started = Date.now();
  const r = await query(port, "www.example.test", "A", "udp");
  assert.equal(r.rcode, "SERVFAIL");
  assert.ok(Date.now() - started < 4000);
});

test("a flood of forwarded queries is bounded: beyond maxInFlight they are dropped and counted", async (t) => {
  const { port, dns } = await setup(t, { maxInFlight: 2, timeoutMs: 1000 });
  // "silent." names are never answered upstream: every forward holds its slot until the timeout.
  const queries = Array.from({ length: 40 }, (_, i) => query(port, `silent.q${i}.example.test`, "A", "udp", "127.0.0.1", 2500).catch(() => undefined));
  await Promise.all(queries);
  const stats = dns.status().stats!;
  assert.ok(stats.dropped.forwardLimit >= 35, `dropped ${stats.dropped.forwardLimit} of 40 with 2 slots`);
  assert.ok(stats.forwardFailures <= 5);
  // Mesh names are answered locally even while the forward slots are full.
  assert.equal((await query(port, "bookstore.shop.svc", "A", "udp")).answers.length, 1);
});

test("setTable validates, stores and serves a new table; the same hash is not stored again; a bad one keeps the old", async (t) => {
  const { port, dns, saved } = await setup(t);
  assert.equal(await dns.setTable(TABLE), false, "same hash");
  assert.equal(await dns.setTable({ ...TABLE, hash: "nothex", records: [] }), false);
  assert.equal((await query(port, "bookstore.shop.svc", "A")).answers.length, 1);
  const next: NameTable = { hash: "b".repeat(64), zones: TABLE.zones, records: [{ name: "warehouse.shop.svc", ipv4: ["240.1.2.4"] }] };
  assert.equal(await dns.setTable(next), true);
  assert.deepEqual(saved(), next);
  assert.equal((await query(port, "bookstore.shop.svc", "A")).rcode, "NXDOMAIN");
  assert.deepEqual((await query(port, "warehouse.shop.svc", "A")).answers.map((a) => a.data), ["240.1.2.4"]);
});
