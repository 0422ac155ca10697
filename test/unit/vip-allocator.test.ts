import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { VipAllocator, VIP_PREFIX } from "../../src/controller/vips/allocator.js";
import { VipRange } from "../../src/controller/vips/vip-range.js";

class Presence {
  readonly services = new Set<string>();
  has(key: string): boolean {
    return this.services.has(key);
  }
  keys(): Iterable<string> {
    return this.services;
  }
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, range = "240.0.0.0/4", releaseAfterMs = 60_000) {
  const dir = await mkdtemp(join(tmpdir(), "mfdns-vips-"));
  const stop = new AbortController();
  t.after(async () => {
    stop.abort();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  const clock = { now: new Date("2026-01-01T00:00:00Z") };
  const presence = new Presence();
  const open = async (leader = true) => {
    const store = await FileStore.open(dir);
    const metrics = new ControllerMetrics();
    const allocator = new VipAllocator({
      store, range: VipRange.parse(range), releaseAfterMs, leadership: { isLeader: () => leader }, presence, logger: silentLogger(), metrics, now: () => clock.now,
    });
    await allocator.start(stop.signal);
    return { allocator, store, metrics };
  };
  return { dir, clock, presence, open };
}

test("VipRange: CIDR parsing, usable addresses, probe order stays inside the range", () => {
  assert.throws(() => VipRange.parse("240.0.0.1/4"), { code: "MESHFED_VIP_RANGE_INVALID" });
  assert.throws(() => VipRange.parse("240.0.0.0/33"), { code: "MESHFED_VIP_RANGE_INVALID" });
  assert.throws(() => VipRange.parse("fd00::/64"), { code: "MESHFED_VIP_RANGE_INVALID" });
  const small = VipRange.parse("240.1.2.0/30");
  assert.equal(small.usable, 2);
  assert.deepEqual([...small.probe("shop/a")].sort(), ["240.1.2.1", "240.1.2.2"], "network and broadcast addresses are never handed out");
  assert.equal(small.contains("240.1.2.0"), false);
  assert.equal(small.contains("240.1.2.2"), true);
  const big = VipRange.parse("240.0.0.0/4");
  const first = big.probe("default/bookstore").next().value!;
  assert.ok(big.contains(first));
  assert.equal(big.probe("default/bookstore").next().value, first, "the starting point is a pure function of the name");
});

test("every present service gets one VIP; the same after a restart on the same store", async (t) => {
  const { presence, open } = await setup(t);
  presence.services.add("shop/bookstore");
  presence.services.add("shop/bookbuyer");
  const { allocator } = await open();
  const changes: string[][] = [];
  allocator.on("change", (keys) => changes.push([...keys]));
  await allocator.sweep();
  const store = allocator.vip("shop/bookstore");
  const buyer = allocator.vip("shop/bookbuyer");
  assert.ok(store && buyer && store !== buyer);
  assert.ok(VipRange.parse("240.0.0.0/4").contains(store));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(changes.flat().sort(), ["shop/bookbuyer", "shop/bookstore"]);

  // A second sweep writes nothing new; a restarted allocator reads the same answers.
  await allocator.sweep();
  const again = await open();
  assert.equal(again.allocator.vip("shop/bookstore"), store);
  assert.equal(again.allocator.vip("shop/bookbuyer"), buyer);
  assert.equal(again.allocator.records().length, 2);
});

test("a follower never writes; it follows the leader's writes through the store", async (t) => {
  const { presence, open } = await setup(t);
  presence.services.add("shop/a");
  const follower = await open(false);
  await follower.allocator.sweep();
  await follower.allocator.observe(["shop/a"]);
  assert.equal(follower.allocator.records().length, 0);
  // The leader shares the follower's store object here (one file store per process): its writes reach the follower's watch.
  const leader = new VipAllocator({
    store: follower.store, range: VipRange.parse("240.0.0.0/4"), releaseAfterMs: 1000, leadership: { isLeader: () => true }, presence, logger: silentLogger(),
  });
  const stop = new AbortController();
  t.after(() => Promise.resolve(stop.abort()));
  await leader.start(stop.signal);
  await leader.observe(["shop/a"]);
  assert.ok(leader.vip("shop/a"));
  assert.equal(follower.allocator.vip("shop/a"), leader.vip("shop/a"));
});

test("a vanished service keeps its VIP through the grace period and loses it after", async (t) => {
  const { presence, open, clock } = await setup(t, "240.0.0.0/4", 60_000);
  presence.services.add("shop/flappy");
  const { allocator, store } = await open();
  await allocator.observe(["shop/flappy"]);
  const vip = allocator.vip("shop/flappy")!;
  presence.services.delete("shop/flappy");
  await allocator.observe(["shop/flappy"]);
  const record = JSON.parse(Buffer.from((await store.get(`${VIP_PREFIX}/${vip}`))!).toString()) as { goneSince?: string };
  assert.equal(record.goneSince, clock.now.toISOString(), "the absence is recorded in the store, so a restart keeps counting");
  clock.now = new Date(clock.now.getTime() + 30_000);
  await allocator.sweep();
  assert.equal(allocator.vip("shop/flappy"), vip, "inside the grace period");
  // Back before the grace period ran out: same VIP, absence cleared.
  presence.services.add("shop/flappy");
  await allocator.observe(["shop/flappy"]);
  assert.equal(allocator.vip("shop/flappy"), vip);
  assert.equal(allocator.records()[0]!.goneSince, undefined);
  // Gone again, now for longer than the grace period.
  presence.services.delete("shop/flappy");
  await allocator.observe(["shop/flappy"]);
  clock.now = new Date(clock.now.getTime() + 60_000);
  await allocator.sweep();
  assert.equal(allocator.vip("shop/flappy"), undefined);
  assert.equal(await store.get(`${VIP_PREFIX}/${vip}`), undefined);
});

test("range exhaustion is counted, the service has no VIP, and it gets one once an address is released", async (t) => {
  const { presence, open, clock } = await setup(t, "240.9.9.0/30", 1000);
  for (const s of ["shop/a", "shop/b", "shop/c"]) presence.services.add(s);
  const { allocator, metrics } = await open();
  await allocator.sweep();
  const got = ["shop/a", "shop/b", "shop/c"].filter((s) => allocator.vip(s) !== undefined);
  assert.equal(got.length, 2, "a /30 has two usable addresses");
  const starved = ["shop/a", "shop/b", "shop/c"].find((s) => allocator.vip(s) === undefined)!;
  const exhausted = await metrics.registry.getSingleMetricAsString("meshfed_vip_range_exhausted_total");
  assert.match(exhausted, /meshfed_vip_range_exhausted_total 1$/m);
  presence.services.delete(got[0]!);
  await allocator.observe([got[0]!]);
  clock.now = new Date(clock.now.getTime() + 1000);
  await allocator.sweep();
  assert.ok(allocator.vip(starved), "the released address went to the service that had none");
  assert.equal(allocator.vip(got[0]!), undefined);
});

test("two records for one service (two leaders for a moment): everyone answers the lowest, the sweep removes the other", async (t) => {
  const { presence, open } = await setup(t);
  presence.services.add("shop/a");
  const { allocator, store } = await open();
  await store.create(`${VIP_PREFIX}/240.0.0.9`, JSON.stringify({ service: "shop/a", allocatedAt: "2026-01-01T00:00:00.000Z" }));
  await store.create(`${VIP_PREFIX}/240.0.0.7`, JSON.stringify({ service: "shop/a", allocatedAt: "2026-01-01T00:00:00.000Z" }));
  assert.equal(allocator.vip("shop/a"), "240.0.0.7");
  await allocator.sweep();
  assert.deepEqual(allocator.records().map((r) => r.ip), ["240.0.0.7"]);
  // An unreadable record is ignored, not fatal.
  await store.put(`${VIP_PREFIX}/240.0.0.8`, "{not json");
  assert.equal(allocator.vip("shop/a"), "240.0.0.7");
});
