/**
 * EndpointIndex.service() keeps its answers until replace() says the service
 * may have changed: the same frozen object meanwhile, a fresh one after any
 * change that reaches it, including a change to another service that wins or
 * gives up a conflicting address.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EndpointIndex } from "../../src/controller/catalog/endpoint-index.js";
import type { ProviderEndpoint } from "../../src/controller/providers/types.js";

function eps(...addresses: string[]): ProviderEndpoint[] {
  return addresses.map((a) => {
    const [ip, port] = a.split(":");
    return { ip: ip!, port: Number(port), source: `src/${a}` };
  });
}

test("an answer is shared and frozen until its service changes", () => {
  const index = new EndpointIndex(["kubernetes", "onprem"]);
  index.replace("shop/web", [{ provider: "onprem", endpoints: eps("10.0.0.2:80", "10.0.0.1:80") }]);
  index.replace("shop/db", [{ provider: "onprem", endpoints: eps("10.0.1.1:5432") }]);
  const first = index.service("shop/web")!;
  assert.equal(index.service("shop/web"), first, "the same object while nothing changed");
  assert.deepEqual(first.endpoints.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"]);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.endpoints) && Object.isFrozen(first.endpoints[0]));
  assert.ok(Object.isFrozen(first.endpoints[0]!.provenance) && Object.isFrozen(first.endpoints[0]!.sources));
  assert.throws(() => (first.endpoints as unknown as unknown[]).sort(), TypeError, "a caller cannot reorder the shared list");

  index.replace("shop/db", [{ provider: "onprem", endpoints: eps("10.0.1.2:5432") }]);
  assert.equal(index.service("shop/web"), first, "another service's change leaves it");

  index.replace("shop/web", [{ provider: "onprem", endpoints: eps("10.0.0.1:80") }]);
  const second = index.service("shop/web")!;
  assert.notEqual(second, first);
  assert.deepEqual(second.endpoints.map((e) => e.ip), ["10.0.0.1"]);
  assert.deepEqual(first.endpoints.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"], "an earlier answer is never edited");

  index.replace("shop/web", [{ provider: "onprem", endpoints: undefined }]);
  assert.equal(index.service("shop/web"), undefined, "a service no provider knows any more has no answer");
});

test("a conflict won or lost through another service's change renews the answer", () => {
  const index = new EndpointIndex(["kubernetes", "onprem"]);
  index.replace("shop/web", [{ provider: "onprem", endpoints: eps("10.0.0.1:80", "10.0.0.2:80") }]);
  const before = index.service("shop/web")!;
  assert.equal(before.endpoints.length, 2);

  // kubernetes outranks onprem: shop/api takes 10.0.0.1:80 away from shop/web.
  const affected = index.replace("shop/api", [{ provider: "kubernetes", endpoints: eps("10.0.0.1:80") }]);
  assert.ok(affected.has("shop/web"));
  const lost = index.service("shop/web")!;
  assert.deepEqual(lost.endpoints.map((e) => e.ip), ["10.0.0.2"]);
  assert.deepEqual(index.service("shop/api")!.endpoints.map((e) => e.ip), ["10.0.0.1"]);

  index.replace("shop/api", [{ provider: "kubernetes", endpoints: [] }]);
  assert.deepEqual(index.service("shop/web")!.endpoints.map((e) => e.ip), ["10.0.0.1", "10.0.0.2"], "the address comes back when the winner lets go");
});

test("answers equal a fresh index's for the same state, over random changes", () => {
  const cached = new EndpointIndex(["kubernetes", "onprem", "agents"]);
  const providers = ["kubernetes", "onprem", "agents"];
  const services = ["ns/a", "ns/b", "ns/c", "ns/d"];
  const state = new Map<string, Map<string, ProviderEndpoint[] | undefined>>();
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let step = 0; step < 400; step++) {
    const key = services[random(services.length)]!;
    const views = state.get(key) ?? new Map<string, ProviderEndpoint[] | undefined>();
    const provider = providers[random(providers.length)]!;
    const count = random(4);
    views.set(provider, random(5) === 0 ? undefined : eps(...Array.from({ length: count }, () => `10.0.0.${random(6)}:${80 + random(2)}`)));
    state.set(key, views);
    cached.replace(key, [...views].map(([p, endpoints]) => ({ provider: p, endpoints })));
    // Read every service after every step, so stale answers would be served if any survived a change that reached them.
    const fresh = new EndpointIndex(["kubernetes", "onprem", "agents"]);
    for (const [k, v] of state) fresh.replace(k, [...v].map(([p, endpoints]) => ({ provider: p, endpoints })));
    for (const s of services) assert.deepEqual(cached.service(s), fresh.service(s), `step ${step}: ${s}`);
  }
});
