// Join tokens as an attacker sees them: a copy of the store, a right id with
// a wrong secret, an expired token, and a single-use token replayed by two
// callers at the same moment.
import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { JoinTokens, TOKEN_ERRORS } from "../../src/controller/proxy-control-plane/join-tokens.js";
import { Clock, MemoryStore } from "../helpers/certificates.js";

const service = { namespace: "shop", name: "web" };

async function tokens(clock = new Clock()) {
  const store = new MemoryStore();
  const t = await JoinTokens.load({ store, now: clock.now }, (key) => assert.fail(`corrupt ${key}`));
  return { store, tokens: t, clock };
}

test("the store holds a sha256 of the secret, never the secret; a token rebuilt from the store is refused", async () => {
  const { store, tokens: t } = await tokens();
  const { token, info } = await t.create({ service, ttlMs: 60_000, uses: 1 });
  const secret = token.split(".")[2]!;
  const stored = Buffer.from((await store.get(`tokens/${info.id}`))!).toString("utf8");
  assert.ok(!stored.includes(secret), "the secret is not stored");
  const hash = createHash("sha256").update(secret).digest("hex");
  assert.equal((JSON.parse(stored) as { secretSha256: string }).secretSha256, hash);
  // What a thief of the data directory could try: the hash in place of the secret.
  await assert.rejects(t.consume(`mfjt.${info.id}.${Buffer.from(hash, "hex").toString("base64url")}`), { code: TOKEN_ERRORS.unknown });
  assert.equal(t.list()[0]?.used, 0);
});

test("a known id with a wrong secret answers exactly like an unknown token", async () => {
  const { tokens: t } = await tokens();
  const { token, info } = await t.create({ service, ttlMs: 60_000, uses: 1 });
  const wrong = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
  const errors = await Promise.all([wrong, "mfjt.0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not-a-token"].map((x) => t.consume(x).then(() => undefined, (e: Error & { code: string }) => [e.code, e.message])));
  assert.deepEqual(new Set(errors.map((e) => JSON.stringify(e))).size, 1, "no oracle: same code and message for all three");
  assert.equal(errors[0]![0], TOKEN_ERRORS.unknown);
  assert.equal(t.list().find((x) => x.id === info.id)?.used, 0);
});

test("an expired token is refused with MESHFED_TOKEN_EXPIRED and spends nothing", async () => {
  const { tokens: t, clock } = await tokens();
  const { token } = await t.create({ service, ttlMs: 60_000, uses: 3 });
  clock.advance(60_000);
  await assert.rejects(t.consume(token), { code: TOKEN_ERRORS.expired });
  assert.deepEqual(t.list().map((x) => [x.used, x.state]), [[0, "expired"]]);
});

test("a single-use token replayed by many callers at once enrolls exactly one of them", async () => {
  const { tokens: t } = await tokens();
  const { token } = await t.create({ service, ttlMs: 60_000, uses: 1 });
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => t.consume(token)));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  for (const r of results) if (r.status === "rejected") assert.equal((r.reason as { code: string }).code, TOKEN_ERRORS.usedUp);
  assert.deepEqual(t.list().map((x) => [x.used, x.state]), [[1, "used-up"]]);
});

// Issue 16, item 1: the end of the same-key retry is stored with the token, so
// a restarted controller or another replica on the same store refuses it too.
test("a closed same-key retry stays closed across a restart and on another replica; other keys and expiry answer as before", async () => {
  const { store, tokens: a, clock } = await tokens();
  const { token } = await a.create({ service, ttlMs: 60_000, uses: 1 });
  const key = { keySha256: "a".repeat(64), proxyId: "p-1" };
  const first = await a.consume(token, key);
  assert.equal(first.retry, false);
  assert.deepEqual(await a.consume(token, { ...key, proxyId: "p-2" }), { ...first, retry: true }, "open while nothing was claimed");
  assert.equal(await a.closeRetry("p-1"), true);
  assert.equal(await a.closeRetry("not-enrolled-by-a-token"), false);
  await assert.rejects(a.consume(token, { ...key, proxyId: "p-3" }), { code: TOKEN_ERRORS.retryClosed });

  const restarted = await JoinTokens.load({ store, now: clock.now }, (k) => assert.fail(`corrupt ${k}`));
  await assert.rejects(restarted.consume(token, { ...key, proxyId: "p-4" }), { code: TOKEN_ERRORS.retryClosed });
  await assert.rejects(restarted.consume(token, { keySha256: "b".repeat(64), proxyId: "p-5" }), { code: TOKEN_ERRORS.usedUp }, "another key");
  await assert.rejects(restarted.consume(token), { code: TOKEN_ERRORS.usedUp }, "no key at all");
  clock.advance(60_000);
  await assert.rejects(restarted.consume(token, { ...key, proxyId: "p-6" }), { code: TOKEN_ERRORS.expired });
  assert.deepEqual(restarted.list().map((x) => x.used), [1], "nothing was spent by the refusals");
});

test("a retry refused by the caller's registry check is closed in the store before it is refused", async () => {
  const { store, tokens: a, clock } = await tokens();
  const { token } = await a.create({ service, ttlMs: 60_000, uses: 5 });
  const key = { keySha256: "c".repeat(64), proxyId: "p-1" };
  await a.consume(token, key);
  let asked = "";
  await assert.rejects(a.consume(token, { ...key, proxyId: "p-2" }, (id) => ((asked = id), false)), { code: TOKEN_ERRORS.retryClosed });
  assert.equal(asked, "p-1", "the check is asked about the earlier proxy id");
  // A replica that does not pass the check (or a registry that lost the record) still refuses.
  const replica = await JoinTokens.load({ store, now: clock.now }, (k) => assert.fail(`corrupt ${k}`));
  await assert.rejects(replica.consume(token, { ...key, proxyId: "p-3" }), { code: TOKEN_ERRORS.retryClosed }, "even with uses left");
  assert.deepEqual(replica.list().map((x) => x.used), [1]);
});
