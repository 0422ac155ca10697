import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager, renewAt } from "../../src/controller/certificates/index.js";
import { MemoryStore } from "../helpers/certificates.js";

const HOUR = 3_600_000;
const t0 = new Date("2030-01-01T00:00:00Z");
const at = (h: number) => new Date(t0.getTime() + h * HOUR);

test("renewAt follows the documented rule", () => {
  const cases = [
    { rule: { fraction: 1 / 3 }, notAfter: at(24), expected: at(16) },
    { rule: { fraction: 1 / 3 }, notAfter: at(25), expected: new Date(t0.getTime() + Math.round((25 * HOUR * 2) / 3)) },
    { rule: { fraction: 0.5 }, notAfter: at(24), expected: at(12) },
    { rule: { ms: 2 * HOUR }, notAfter: at(23), expected: at(21) },
    { rule: { ms: 100 * HOUR }, notAfter: at(24), expected: t0 }, // never before notBefore
  ];
  for (const c of cases) assert.equal(renewAt(t0, c.notAfter, c.rule).toISOString(), c.expected.toISOString(), JSON.stringify(c));
});

test("an ms rule renews at notAfter − ms", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), renewBefore: { ms: 4 * HOUR } });
  const svc = await manager.serviceCertificate({ namespace: "a", name: "b" });
  assert.equal(svc.notAfter.getTime() - svc.renewAt.getTime(), 4 * HOUR);
});

test("options that cannot work are refused up front", async () => {
  const bad = [
    { serviceJitter: 12 * HOUR },
    { serviceValidity: 1000 },
    { renewBefore: { fraction: 1 } },
    { renewBefore: { ms: 23 * HOUR } }, // not shorter than the shortest lifetime (24 h − 1 h)
    { trustDomain: "Not A Domain" },
    { proxyValidity: -1 },
    { csrKeyTypes: [] },
  ];
  for (const options of bad) {
    await assert.rejects(createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), ...options }), { code: "MESHFED_CERT_CONFIG" }, JSON.stringify(options));
  }
});
