// When disconnected proxies' endpoints are withdrawn (proxy-control-plane/withdrawals.ts):
// the reconnect grace, and the hold during a mass disconnect. Mock timers: every
// instant below is exact, so "not withdrawn yet" is a fact, not a sleep.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Withdrawals, type MassDisconnectSettings } from "../../src/controller/proxy-control-plane/withdrawals.js";
import { captureLogger } from "../helpers/certificates.js";

const GRACE = 10_000;
const MASS: MassDisconnectSettings = { threshold: 0.5, minProxies: 4, maxHoldMs: 60_000 };

/** A controller that knows `total` proxies, all connected; `drop` and `back` move them. */
function setup(t: TestContext, total: number, mass: MassDisconnectSettings = MASS) {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const { logger, lines } = captureLogger();
  const withdrawn: string[] = [];
  const held: number[] = [];
  const connected = new Set(Array.from({ length: total }, (_, i) => `p${i}`));
  const w = new Withdrawals({
    graceMs: GRACE, mass, connected: () => connected.size, withdraw: (id) => withdrawn.push(id), log: logger, onHeld: (n) => held.push(n), now: () => Date.now(),
  });
  t.after(() => w.clear());
  const drop = (...ids: string[]) => ids.forEach((id) => (connected.delete(id), w.later(id)));
  const back = (...ids: string[]) => ids.forEach((id) => (connected.add(id), w.reconnected(id)));
  const codes = () => lines.map((l) => l.code).filter((c) => c !== undefined);
  return { w, withdrawn, held, drop, back, codes, lines, tick: (ms: number) => t.mock.timers.tick(ms) };
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `p${from + i}`);

test("one proxy away: withdrawn when its grace ends, unless it is back first", (t) => {
  const s = setup(t, 10);
  s.drop("p1", "p2");
  s.tick(GRACE - 1);
  s.back("p2");
  assert.deepEqual(s.withdrawn, []);
  s.tick(1);
  assert.deepEqual(s.withdrawn, ["p1"]);
  assert.equal(s.w.has("p1"), false);
  assert.equal(s.w.holding, false);
  assert.deepEqual(s.codes(), [], "no mass disconnect below the threshold");
});

test("a mass disconnect holds the withdrawals while proxies keep coming back; all back: nothing was withdrawn", (t) => {
  const s = setup(t, 10);
  s.drop(...ids(0, 10));
  assert.equal(s.w.holding, true);
  assert.deepEqual(s.codes(), ["MESHFED_MASS_DISCONNECT"]);
  // One back every 5 s: the last one after 45 s, far past the 10 s grace.
  for (let i = 0; i < 10; i++) {
    s.tick(5_000);
    assert.deepEqual(s.withdrawn, [], `nothing withdrawn while the reconnects progress (at ${(i + 1) * 5} s)`);
    s.back(`p${i}`);
  }
  assert.equal(s.w.holding, false);
  assert.deepEqual(s.withdrawn, []);
  assert.ok(s.held.includes(8), "the ones past their grace were counted as held");
  assert.equal(s.held.at(-1), 0);
  const over = s.lines.find((l) => l.code === "MESHFED_MASS_DISCONNECT_OVER")!;
  assert.equal(over.reason, "no proxy is away any more");
  assert.equal(over.reconnected, 10);
});

test("a mass disconnect whose reconnects stall: the ones still away go one grace after the last reconnect", (t) => {
  const s = setup(t, 10);
  s.drop(...ids(0, 10));
  s.tick(3_000);
  s.back(...ids(0, 6));
  s.tick(GRACE - 1); // 13 s: past the grace of p6..p9, one grace after the last reconnect minus 1 ms
  assert.deepEqual(s.withdrawn, []);
  assert.equal(s.held.at(-1), 4);
  s.tick(1);
  assert.deepEqual(s.withdrawn.sort(), ids(6, 10));
  assert.equal(s.w.holding, false);
  const over = s.lines.find((l) => l.code === "MESHFED_MASS_DISCONNECT_OVER")!;
  assert.deepEqual([over.reason, over.withdrawn, over.reconnected], ["no proxy reconnected for a whole grace", 4, 6]);
  // Back after being withdrawn: a plain reconnect, nothing to cancel.
  s.back("p7");
  assert.equal(s.w.has("p7"), false);
});

test("a mass disconnect that keeps trickling back ends at maxHold", (t) => {
  const s = setup(t, 10, { ...MASS, maxHoldMs: 31_000 });
  s.drop(...ids(0, 10));
  for (let i = 0; i < 5; i++) {
    s.tick(6_000); // one back every 6 s: never a whole grace without progress
    s.back(`p${i}`);
  }
  s.tick(999);
  assert.deepEqual(s.withdrawn, [], "1 ms before the cap");
  s.tick(1);
  assert.deepEqual(s.withdrawn.sort(), ids(5, 10));
  assert.equal(s.lines.find((l) => l.code === "MESHFED_MASS_DISCONNECT_OVER")!.reason, "the longest hold (maxHold) passed");
});

test("below minProxies or the threshold there is no episode; threshold 0 turns it off", (t) => {
  const few = setup(t, 6);
  few.drop("p0", "p1", "p2"); // half, but 3 < minProxies 4
  few.tick(GRACE);
  assert.deepEqual(few.withdrawn.sort(), ["p0", "p1", "p2"]);
  assert.deepEqual(few.codes(), []);
  t.mock.timers.reset();

  const minority = setup(t, 20);
  minority.drop(...ids(0, 9)); // 9 of 20 < 0.5
  assert.equal(minority.w.holding, false);
  minority.drop("p9"); // 10 of 20
  assert.equal(minority.w.holding, true);
  t.mock.timers.reset();

  const off = setup(t, 10, { ...MASS, threshold: 0 });
  off.drop(...ids(0, 10));
  off.tick(GRACE);
  assert.equal(off.withdrawn.length, 10);
});

test("now() withdraws a held proxy at once (revoked, Goodbye, seen on another replica); flush() withdraws every one away", (t) => {
  const s = setup(t, 10);
  s.drop(...ids(0, 10));
  s.tick(5_000);
  s.back("p0");
  s.tick(5_000); // p1..p9 past their grace, held
  assert.equal(s.w.has("p3"), true);
  s.w.now("p3");
  assert.deepEqual(s.withdrawn, ["p3"]);
  assert.equal(s.held.at(-1), 8);
  s.w.flush();
  assert.deepEqual(s.withdrawn.sort(), ids(1, 10));
  assert.equal(s.w.holding, false);
  s.tick(120_000);
  assert.equal(s.withdrawn.length, 9, "no timer is left to withdraw anything twice");
});

test("grace 0: withdrawn when the stream ends, even in a mass disconnect", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  const withdrawn: string[] = [];
  const w = new Withdrawals({ graceMs: 0, mass: MASS, connected: () => 0, withdraw: (id) => withdrawn.push(id), log: captureLogger().logger, now: () => Date.now() });
  for (const id of ids(0, 10)) w.later(id);
  assert.equal(withdrawn.length, 10);
  assert.equal(w.holding, false);
});
