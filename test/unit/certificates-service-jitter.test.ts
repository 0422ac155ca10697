import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { MemoryStore } from "../helpers/certificates.js";

const HOUR = 3_600_000;

test("1,000 service certificates spread their lifetimes over validity ± jitter", async (t) => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const started = performance.now();
  const lifetimes: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const svc = await manager.serviceCertificate({ namespace: "load", name: `svc-${i}` });
    lifetimes.push(svc.notAfter.getTime() - svc.notBefore.getTime());
  }
  const elapsed = performance.now() - started;
  const min = Math.min(...lifetimes);
  const max = Math.max(...lifetimes);
  assert.ok(min >= 23 * HOUR, `min ${min / HOUR} h within bounds`);
  assert.ok(max <= 25 * HOUR, `max ${max / HOUR} h within bounds`);
  assert.ok(max - min > 0.8 * 2 * HOUR, `spread ${(max - min) / HOUR} h covers > 80% of the 2 h window`);
  // Uniform, not clustered at the ends: each quarter of the window gets a share.
  const quarters = [0, 0, 0, 0];
  for (const l of lifetimes) quarters[Math.min(3, Math.floor((l - 23 * HOUR) / (HOUR / 2)))]!++;
  assert.ok(quarters.every((q) => q > 150), `quarters ${quarters.join(",")}`);
  assert.equal(new Set(lifetimes).size > 900, true, "lifetimes differ");
  assert.equal(manager.certificates().length, 1000);
  // A figure, not a pass/fail timing.
  t.diagnostic(`1000 service certificates in ${elapsed.toFixed(0)} ms`);
});

test("the injected random source decides the lifetime: 0 → validity − jitter, →1 → validity + jitter", async () => {
  for (const [r, expected] of [[0, 23 * HOUR], [0.5, 24 * HOUR], [0.999999, 25 * HOUR]] as const) {
    const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), random: () => r });
    const svc = await manager.serviceCertificate({ namespace: "a", name: "b" });
    const lifetime = svc.notAfter.getTime() - svc.notBefore.getTime();
    assert.ok(Math.abs(lifetime - expected) <= 1000, `random ${r}: ${lifetime} vs ${expected}`);
  }
});
