import { test } from "node:test";
import assert from "node:assert/strict";
import { RenderMemo } from "../../src/controller/proxy-control-plane/render-memo.js";

const input = { proxyId: "p1", service: { namespace: "shop", name: "web" }, addresses: ["10.0.0.1"] };
const deps = (...services: string[]) => ({ all: false, services: new Set(services) });

test("render memo: a hit only for the same inputs; a change of a dependency or of the spec drops the entry, others stay", () => {
  const memo = new RenderMemo();
  memo.set(input, { hash: "a", dependencies: deps("shop/web", "shop/db") });
  memo.set({ ...input, proxyId: "p2" }, { hash: "b", dependencies: deps("shop/other") });
  memo.set({ ...input, proxyId: "p3" }, { hash: "c", dependencies: { all: true, services: new Set() } });
  assert.equal(memo.get(input)?.hash, "a");
  for (const changed of [{ ...input, addresses: ["10.0.0.2"] }, { ...input, capture: "transparent" as const }, { ...input, serviceAccount: "other" }, { ...input, service: { namespace: "shop", name: "api" } }]) {
    assert.equal(memo.get(changed), undefined, JSON.stringify(changed));
  }
  memo.invalidate(["shop/unrelated"], false);
  assert.equal(memo.get(input)?.hash, "a", "a change it does not depend on keeps it");
  assert.equal(memo.get({ ...input, proxyId: "p3" }), undefined, "a view that depends on every service is dropped by any change");
  memo.invalidate(["shop/db"], false);
  assert.equal(memo.get(input), undefined);
  assert.equal(memo.get({ ...input, proxyId: "p2" })?.hash, "b");
  memo.invalidate([], true);
  assert.equal(memo.size, 0, "a spec change drops everything");
  memo.set(input, { hash: "a", dependencies: deps() });
  memo.delete("p1");
  assert.equal(memo.get(input), undefined);
});
