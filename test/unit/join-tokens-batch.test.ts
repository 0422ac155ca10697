// Uses of one token that arrive together are decided in one batch (issue 17):
// one durable write for many, and still never more uses than the token has,
// a wrong secret or a repeated key inside the batch decided as if alone.
import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { JoinTokens, TOKEN_ERRORS } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { Clock, MemoryStore } from "../helpers/certificates.js";

const service = { namespace: "shop", name: "web" };
const key = (i: number) => ({ keySha256: i.toString(16).padStart(64, "0"), proxyId: `p-${i}` });

async function tokens() {
  const store = new MemoryStore();
  const t = await JoinTokens.load({ store, now: new Clock().now }, (k) => assert.fail(`corrupt ${k}`));
  return { store, tokens: t };
}

test("50 uses at once of a 7-use token: exactly 7 enroll, in arrival order, in fewer writes than uses", async () => {
  const { store, tokens: t } = await tokens();
  const { token } = await t.create({ service, ttlMs: 60_000, uses: 7 });
  const before = store.puts;
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => t.consume(token, key(i))));
  const ok = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
  assert.deepEqual(ok, [0, 1, 2, 3, 4, 5, 6], "the first seven callers, no more");
  for (const r of results) if (r.status === "rejected") assert.equal((r.reason as { code: string }).code, TOKEN_ERRORS.usedUp);
  assert.deepEqual(t.list().map((x) => [x.used, x.state]), [[7, "used-up"]]);
  assert.ok(store.puts - before < 7, `${store.puts - before} writes for 7 uses`);
  const stored = JSON.parse(Buffer.from((await store.get(`tokens/${t.list()[0]!.id}`))!).toString("utf8")) as { used: number; enrollments: unknown[] };
  assert.equal(stored.used, 7);
  assert.equal(stored.enrollments.length, 7);
});

test("inside one batch: a wrong secret is refused alone; the same key twice is one use and a retry", async () => {
  const { tokens: t } = await tokens();
  const { token } = await t.create({ service, ttlMs: 60_000, uses: 5 });
  const wrong = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
  const [a, bad, again, b] = await Promise.allSettled([
    t.consume(token, key(1)), t.consume(wrong, key(2)), t.consume(token, { ...key(1), proxyId: "p-other" }), t.consume(token, key(3)),
  ]);
  assert.equal(a.status === "fulfilled" && a.value.retry, false);
  assert.equal(bad.status === "rejected" && (bad.reason as { code: string }).code, TOKEN_ERRORS.unknown);
  assert.deepEqual(again.status === "fulfilled" && [again.value.proxyId, again.value.retry], ["p-1", true], "the earlier proxy id, nothing spent");
  assert.equal(b.status === "fulfilled" && b.value.proxyId, "p-3");
  assert.equal(t.list()[0]?.used, 2);
});

test("a store that fails the batch's write fails every use in it, and none is counted", async () => {
  const { store, tokens: t } = await tokens();
  const { token } = await t.create({ service, ttlMs: 60_000, uses: 5 });
  const original = store.compareAndPut.bind(store);
  store.compareAndPut = async () => {
    throw new Error("disk full");
  };
  const results = await Promise.allSettled([1, 2, 3].map((i) => t.consume(token, key(i))));
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected", "rejected"]);
  store.compareAndPut = original;
  assert.equal((await t.consume(token, key(4))).retry, false);
  assert.equal(t.list()[0]?.used, 1);
});
