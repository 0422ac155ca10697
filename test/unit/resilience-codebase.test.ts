// The pure parts of /rate-limit.js, /circuit-breaker.js and /retry.js, in
// Node with a fake clock (the time is a parameter of each function).
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPipyModule } from "../helpers/pipyjs.js";

type Fn = (...args: unknown[]) => unknown;
const noConfig = { "/config.js": null };
const stats = { Message: class {} };

test("token bucket: starts full (amount + burst), refills continuously, never above capacity", () => {
  const rl = loadPipyModule("/rate-limit.js", noConfig, stats);
  const spec = { ratePerMs: 10 / 1000, capacity: 12 }; // 10/s with a burst of 2
  const b = (rl.create as Fn)(spec, 0);
  const take = (now: number) => (rl.take as Fn)(b, now) as boolean;
  let n = 0;
  while (take(0)) n++;
  assert.equal(n, 12, "a full bucket: one unit's amount plus the burst");
  assert.equal(take(50), false, "half a token after 50 ms");
  assert.equal(take(100), true, "one token after 100 ms");
  assert.equal(take(100), false);
  // Over 10 s of steady demand: 10 per second, exactly.
  let admitted = 0;
  for (let t = 101; t <= 10_100; t++) if (take(t)) admitted++;
  assert.equal(admitted, 100);
  // A long quiet spell fills it to capacity, not beyond.
  let after = 0;
  while (take(1_000_000)) after++;
  assert.equal(after, 12);
});

test("circuit breaker: counts per window, opens at the error amount after minRequestAmount, closes after degradedTimeWindow", () => {
  const cb = loadPipyModule("/circuit-breaker.js", noConfig, stats);
  const spec = { statTimeWindowMs: 10_000, minRequestAmount: 4, degradedTimeWindowMs: 5000, errorAmountThreshold: 3, degradedStatusCode: 409, degradedResponseContent: "" };
  const b = (cb.create as Fn)(spec, 0) as { open: boolean };
  const record = (now: number, status: number, ms = 1) => (cb.record as Fn)(b, now, status, ms) as boolean;
  const allow = (now: number) => (cb.allow as Fn)(b, now) as boolean;
  assert.equal(record(1, 503), false);
  assert.equal(record(2, 503), false);
  assert.equal(record(3, 503), false, "three errors, but fewer answers than minRequestAmount");
  assert.equal(record(4, 200), true, "the fourth answer reaches minRequestAmount with 3 errors: open");
  assert.equal(allow(5), false);
  assert.equal(record(6, 503), false, "answers while open are not counted");
  assert.equal(allow(5003), false, "still open just before degradedTimeWindow");
  assert.equal(allow(5004), true, "closed again after it");
  assert.equal(b.open, false);
  // Fresh counts after closing; a new window forgets the old one.
  record(5005, 503); record(5006, 503); record(5007, 200);
  assert.equal(record(15_006, 503), false, "a new statistics window: one answer counted");
  assert.equal(allow(15_007), true);
});

test("circuit breaker: error and slow ratios", () => {
  const cb = loadPipyModule("/circuit-breaker.js", noConfig, stats);
  const slow = (cb.create as Fn)({ statTimeWindowMs: 1000, minRequestAmount: 10, degradedTimeWindowMs: 1000, slowTimeThresholdMs: 200, slowRatioThreshold: 0.5, degradedStatusCode: 409, degradedResponseContent: "" }, 0);
  const outcomes: boolean[] = [];
  for (let i = 0; i < 10; i++) outcomes.push((cb.record as Fn)(slow, i, 200, i % 2 === 0 ? 250 : 10) as boolean);
  assert.deepEqual(outcomes.map((o, i) => (o ? i : -1)).filter((i) => i >= 0), [9], "5 slow of 10: opens on the tenth answer");
  const errors = (cb.create as Fn)({ statTimeWindowMs: 1000, minRequestAmount: 2, degradedTimeWindowMs: 1000, errorRatioThreshold: 0.6, degradedStatusCode: 409, degradedResponseContent: "" }, 0);
  assert.equal((cb.record as Fn)(errors, 1, 500, 1), false, "below minRequestAmount");
  assert.equal((cb.record as Fn)(errors, 2, 200, 1), false, "1/2 < 0.6");
  assert.equal((cb.record as Fn)(errors, 3, 502, 1), true, "2/3 >= 0.6");
});

test("retry: retryOn ranges and no-answer; jittered exponential backoff capped at 10x the base", () => {
  const config = { outbound: { services: [{ service: "a/b", limits: { maxInFlightHttp1: 2, maxInFlightHttp2: 5, maxRetries: 1, maxConnections: 1 } }] } };
  const r = loadPipyModule("/retry.js", { "/config.js": config });
  const policy = { statuses: [[409, 409], [500, 599]], noResponse: false, numRetries: 3, backoffBaseMs: 100, backoffMaxMs: 1000 };
  const wants = (status: number, synthetic = false) => (r.wants as Fn)(policy, status, synthetic) as boolean;
  assert.deepEqual([409, 429, 500, 599, 404].map((s) => wants(s)), [true, false, true, true, false]);
  assert.equal((r.wants as Fn)({ ...policy, statuses: [] }, 502, true), false, "no answer is retried only with noResponse");
  assert.equal((r.wants as Fn)({ ...policy, statuses: [], noResponse: true }, 502, true), true);
  const backoff = (n: number, x: number) => (r.backoffMs as Fn)(policy, n, () => x) as number;
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoff(n, 0.999999)), [99, 299, 699, 999, 999], "ceilings (2^n - 1) * base, capped at 1000");
  assert.equal(backoff(3, 0), 0, "fully jittered: from 0");
  assert.equal((r.backoffMs as Fn)({ ...policy, backoffBaseMs: 0 }, 2, () => 0.5), 0);
});

test("limits: requests in progress per protocol, the retry budget and TCP connections are held and released once", () => {
  const config = { outbound: { services: [{ service: "a/b", limits: { maxInFlightHttp1: 2, maxInFlightHttp2: 3, maxRetries: 1, maxConnections: 1 } }, { service: "c/d" }] } };
  const r = loadPipyModule("/retry.js", { "/config.js": config });
  const hold = (h2: boolean) => (r.hold as Fn)(0, h2);
  const a = hold(false);
  const b = hold(false);
  assert.ok(a && b);
  assert.equal(hold(false), null, "a third HTTP/1 request is over maxInFlightHttp1");
  const h = hold(true);
  assert.ok(h, "an HTTP/2 request has a larger limit over the same count of requests in progress");
  assert.equal((r.takeRetry as Fn)(a), true);
  assert.equal((r.takeRetry as Fn)(b), false, "the retry budget (maxRetries 1) is spent");
  assert.equal((r.takeRetry as Fn)(a), true, "a request already retrying keeps its unit for its next retry");
  (r.release as Fn)(a);
  (r.release as Fn)(a);
  assert.equal((r.takeRetry as Fn)(b), true, "released once: the budget is back");
  assert.equal(hold(false), null, "b and the HTTP/2 request are still in progress");
  (r.release as Fn)(h);
  assert.ok(hold(false));
  const c = (r.holdConnection as Fn)(0);
  assert.ok(c);
  assert.equal((r.holdConnection as Fn)(0), null, "maxConnections 1");
  (r.release as Fn)(c);
  assert.ok((r.holdConnection as Fn)(0));
  for (let i = 0; i < 100; i++) assert.ok((r.hold as Fn)(1, false), "a service without limits is never refused");
});

test("inbound rate limits: the first route whose path matches decides, else the service's bucket; refusals carry status and headers", () => {
  const perHour = 1 / 3_600_000;
  const config = { inbound: { rateLimit: {
    upstreamTrafficSetting: "a/b",
    tcp: { ratePerMs: perHour, capacity: 1 },
    http: { ratePerMs: perHour, capacity: 2, status: 429, headers: { "x-limited": "yes" } },
    routes: [{ path: "^(?:/books/.*)$", rateLimit: { ratePerMs: perHour, capacity: 1, status: 503, headers: {} } }],
  } } };
  class Message { constructor(readonly head: unknown, readonly body: unknown) {} }
  const rl = loadPipyModule("/rate-limit.js", { "/config.js": config }, { Message });
  const admit = (path: string) => (rl.admitRequest as Fn)({ path }) as { status: number } | null;
  assert.equal(admit("/books/1?x=1"), null, "the route's one token (the query is not part of the path)");
  assert.equal(admit("/books/2")?.status, 503, "the route's bucket is empty; the service's is not asked");
  assert.equal(admit("/other"), null);
  assert.equal(admit("/books"), null, "the route's regex is anchored: /books is the service's");
  const refused = admit("/other");
  assert.equal(refused?.status, 429);
  const answer = (rl.refusal as Fn)(refused) as { head: { status: number; headers: Record<string, string> } };
  assert.deepEqual(answer.head, { status: 429, headers: { "content-type": "text/plain", "x-limited": "yes" } });
  assert.equal((rl.admitConnection as Fn)(), true);
  assert.equal((rl.admitConnection as Fn)(), false, "the connection bucket holds one");
});
