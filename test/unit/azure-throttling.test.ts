import { test } from "node:test";
import assert from "node:assert/strict";
import { armHarness, TAGS } from "../fakes/arm/harness.js";

test("429 with Retry-After: the request is retried no sooner than asked, and the sync succeeds", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "vm", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  h.arm.throttle(1, { status: 429, retryAfter: "1", match: "/virtualmachines" });
  const p = h.provider({ resourceGroups: ["rg"] });
  await p.start(h.ac.signal);
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1"]);
  const vmList = h.arm.armRequests().filter((r) => r.path.endsWith("/virtualMachines"));
  assert.deepEqual(vmList.map((r) => r.status), [429, 200]);
  const waited = vmList[1]!.at - vmList[0]!.at;
  assert.ok(waited >= 950, `retried after ${waited} ms, Retry-After asked 1000`);
  assert.equal(p.status().state, "synced");
  assert.ok(h.logs.some((l) => l.msg === "ARM throttled a request" && l.status === 429 && l.waitMs === 1000 && l.retrying === true));
});

test("503 without Retry-After is retried with bounded backoff", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "vm", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  h.arm.throttle(3, { status: 503, match: "/networkinterfaces" });
  const p = h.provider({ resourceGroups: ["rg"] }, { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 4 } });
  await p.start(h.ac.signal);
  assert.deepEqual(h.arm.armRequests().filter((r) => r.path.endsWith("/networkInterfaces")).map((r) => r.status), [503, 503, 503, 200]);
  assert.equal(p.status().state, "synced");
});

test("retries exhausted: the scope fails as throttled and keeps its last good view", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "vm", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg"] }, { retry: { baseDelayMs: 1, maxDelayMs: 2, maxRetries: 2 } });
  await p.start(h.ac.signal);
  h.arm.throttle(100, { status: 503 });
  const events: unknown[] = [];
  p.on("change", (k) => events.push(k));
  await p.syncNow();
  const st = p.status();
  assert.equal(st.state, "degraded");
  assert.equal(st.lastError?.code, "MESHFED_AZURE_THROTTLED");
  assert.deepEqual(p.endpoints("default/a")?.map((e) => e.ip), ["10.0.0.1"]);
  assert.deepEqual(events, []);
});

test("a Retry-After longer than we sleep inside a sync is not slept: the scope fails and the next sync waits for it", async (t) => {
  const h = await armHarness(t);
  h.arm.inventory.addVm({ resourceGroup: "rg", name: "vm", power: "running", ip: "10.0.0.1", tags: TAGS("a", "80") });
  const p = h.provider({ resourceGroups: ["rg"], interval: 20 }, { retry: { maxRetryAfterMs: 500 } });
  await p.start(h.ac.signal);
  h.arm.throttle(1, { status: 429, retryAfter: "3600" });
  const before = Date.now();
  await p.syncNow();
  assert.ok(Date.now() - before < 2000, "did not sleep for an hour");
  const st = p.status();
  assert.equal(st.scopes[0]!.lastError?.code, "MESHFED_AZURE_THROTTLED");
  assert.ok(st.throttledUntil !== null && Date.parse(st.throttledUntil) > Date.now() + 3_500_000, String(st.throttledUntil));
  // The 20 ms timer would have polled many times by now; throttledUntil holds it back.
  const count = h.arm.armRequests().length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(h.arm.armRequests().length, count);
});
