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
