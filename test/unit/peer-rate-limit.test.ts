// The per-peer token bucket behind limits.enrollPerSecond / enrollBurst, on a
// hand-moved clock, and the `limits` section of the controller config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseControllerConfig } from "../../src/controller/config/load.js";
import { PeerRateLimit, peerAddress } from "../../src/controller/proxy-control-plane/peer-rate-limit.js";
import { DEFAULT_LIMITS } from "../../src/controller/proxy-control-plane/server.js";

function limiter(options: { ratePerSecond: number; burst: number; maxPeers?: number }) {
  let now = 1_000_000;
  const limit = new PeerRateLimit({ ...options, now: () => now });
  return { limit, advance: (ms: number) => void (now += ms) };
}

test("a peer spends its burst, then waits for the refill; the wait is reported", () => {
  const { limit, advance } = limiter({ ratePerSecond: 2, burst: 3 });
  for (let i = 0; i < 3; i++) assert.equal(limit.take("10.0.0.1:5000"), 0);
  assert.equal(limit.take("10.0.0.1:5001"), 500, "a new source port is the same peer");
  advance(499);
  assert.ok(limit.take("10.0.0.1:5002") > 0);
  advance(1);
  assert.equal(limit.take("10.0.0.1:5003"), 0);
  advance(60_000);
  for (let i = 0; i < 3; i++) assert.equal(limit.take("10.0.0.1:1"), 0, "refills up to the burst, no further");
  assert.ok(limit.take("10.0.0.1:1") > 0);
});

test("peers have separate buckets", () => {
  const { limit } = limiter({ ratePerSecond: 1, burst: 1 });
  assert.equal(limit.take("10.0.0.1:1"), 0);
  assert.ok(limit.take("10.0.0.1:2") > 0);
  assert.equal(limit.take("10.0.0.2:1"), 0);
  assert.equal(limit.take("[fd00::1]:1"), 0);
  assert.ok(limit.take("ipv6:[FD00::1]:7") > 0, "one IPv6 host however it is written");
});

test("a clock stepped backwards does not drain or overfill a bucket", () => {
  const { limit, advance } = limiter({ ratePerSecond: 1, burst: 2 });
  assert.equal(limit.take("a:1"), 0);
  advance(-3_600_000);
  assert.equal(limit.take("a:1"), 0);
  assert.ok(limit.take("a:1") > 0);
});

test("the table of buckets stays bounded when addresses are sprayed", () => {
  const { limit, advance } = limiter({ ratePerSecond: 1, burst: 1, maxPeers: 100 });
  for (let i = 0; i < 10_000; i++) {
    limit.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:1`);
    if (i % 1000 === 0) advance(10);
  }
  assert.ok(limit.size <= 100, `size ${limit.size}`);
});

test("peer strings from grpc-js name the host without the port", () => {
  assert.deepEqual(
    ["ipv4:10.0.0.1:5000", "10.0.0.1:5000", "[::1]:5000", "ipv6:[::1]:5000", "[FD00::A]:1", "unix:/tmp/x"].map(peerAddress),
    ["10.0.0.1", "10.0.0.1", "::1", "::1", "fd00::a", "unix:/tmp/x"],
  );
});

test("limits: documented defaults, and out-of-range values are named config errors", () => {
  const c = parseControllerConfig("", "/etc/meshfed/controller.yaml");
  assert.deepEqual(c.limits, DEFAULT_LIMITS);
  const custom = parseControllerConfig("limits: { maxStreams: 5, enrollPerSecond: 0.5, enrollBurst: 2 }\n", "/x/c.yaml");
  assert.deepEqual(custom.limits, { maxStreams: 5, enrollPerSecond: 0.5, enrollBurst: 2 });
  for (const bad of ["limits: { maxStreams: 0 }", "limits: { enrollPerSecond: 0 }", "limits: { enrollBurst: 1.5 }", "limits: { maxConnections: 3 }"]) {
    assert.throws(() => parseControllerConfig(`${bad}\n`, "/x/c.yaml"), { code: "MESHFED_CONFIG_INVALID" }, bad);
  }
});
