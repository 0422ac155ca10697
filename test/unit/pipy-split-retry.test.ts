// Issue 23 item 1 (a): a TrafficSplit backend that is down. The sidecar's
// retry (outbound.js `choose`, which calls balancing.pick with the endpoints
// this request already failed on) must go to a backend that still has an
// endpoint, never answer "no endpoint" while one is left. Run in Node
// against the rendered config.json; real Pipy: test/pipy/split-backend-down.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { fakeAlgo, loadPipyModule, renderedConfig } from "../helpers/pipyjs.js";
import { splitView } from "./pipy-fixtures.js";

type Pick = (index: number, head: unknown, port: number, skip?: (ep: string) => boolean) => { target: { service: string } | null; endpoint: string };

function balancingFor(view: ProxyView) {
  const config = renderedConfig(view);
  const routing = loadPipyModule("/routing.js", { "/config.js": config });
  const balancing = loadPipyModule("/balancing.js", { "/config.js": config, "/routing.js": routing }, { algo: fakeAlgo });
  return balancing.pick as Pick;
}

const v2Down = "127.0.0.5:18080"; // bookstore-v2's only endpoint (inbound port = 8080 + offset)
const head = { method: "GET", path: "/books/1", headers: {} };

/**
 * Requests as outbound.js runs them, `inFlight` at once: each makes up to
 * 1 + retries attempts, remembering the endpoints it failed on; the attempts
 * of the requests in flight interleave (first attempts, then retries), as they
 * do in a sidecar under load. Returns each request's outcome.
 */
function requests(pick: Pick, dead: ReadonlySet<string>, retries: number, inFlight: number): string[] {
  const out: string[] = [];
  const pending: Array<{ failed: Record<string, boolean>; outcome: string }> = Array.from({ length: inFlight }, () => ({ failed: {}, outcome: "" }));
  for (let attempt = 0; attempt <= retries; attempt++) {
    for (const r of pending) {
      if (r.outcome !== "") continue;
      const { target, endpoint } = pick(0, head, 8080, (ep) => r.failed[ep] === true);
      if (endpoint === "") r.outcome = "503 no endpoint";
      else if (!dead.has(endpoint)) r.outcome = target!.service;
      else r.failed[endpoint] = true;
    }
  }
  for (const r of pending) out.push(r.outcome === "" ? "failed after retries" : r.outcome);
  return out;
}

test("a split backend that is down: every request's retry reaches the live backend (50/50, 200 requests, 4 in flight)", () => {
  const view: ProxyView = {
    ...splitView,
    outbound: [{
      ...splitView.outbound[0]!,
      split: { ...splitView.outbound[0]!.split!, backends: splitView.outbound[0]!.split!.backends.map((b) => ({ ...b, weight: 50 })) },
    }],
  };
  const pick = balancingFor(view);
  const seen: Record<string, number> = {};
  for (let i = 0; i < 50; i++) {
    for (const r of requests(pick, new Set([v2Down]), 1, 4)) seen[r] = (seen[r] ?? 0) + 1;
  }
  assert.deepEqual(seen, { "bookstore/bookstore-v1": 200 }, "no 503: one retry is enough, spent on v1");
});

test("balancing.pick: backends whose endpoints the caller refuses are passed over; with none left the root's own endpoints, else none", () => {
  const pick = balancingFor(splitView);
  const none = () => false;
  const services = new Set(Array.from({ length: 10 }, () => pick(0, head, 8080, none).target?.service));
  assert.deepEqual(services, new Set(["bookstore/bookstore-v1", "bookstore/bookstore-v2"]), "both backends without a refusal");
  const notV1 = (ep: string) => ep === "127.0.0.3:18080" || ep === "127.0.0.4:18080";
  for (let i = 0; i < 10; i++) {
    const p = pick(0, head, 8080, notV1);
    assert.deepEqual([p.target?.service, p.endpoint], ["bookstore/bookstore-v2", v2Down]);
  }
  // Every endpoint of every backend refused: the split root has no endpoint of its own here.
  const all = () => true;
  assert.equal(pick(0, head, 8080, all).endpoint, "");
  // The root's own endpoints, when it has some, are the fallback.
  const withRoot = balancingFor({ ...splitView, outbound: [{ ...splitView.outbound[0]!, endpoints: [{ ip: "127.0.0.9", port: 8080 }] }] });
  const refuseBackends = (ep: string) => ep !== "127.0.0.9:18080";
  assert.deepEqual(withRoot(0, head, 8080, refuseBackends).endpoint, "127.0.0.9:18080");
});
