import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshfedError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { RENEWAL_LEAD_MS, survivableOutageMs } from "../../src/controller/certificates/outage-budget.js";
import { parseControllerConfig } from "../../src/controller/config/load.js";
import { MemoryStore } from "../helpers/certificates.js";

const HOUR = 3_600_000;

test("outageBudget derives the service lifetime and renewal point; without it the defaults stay", () => {
  const cases = [
    { yaml: "", validity: 24 * HOUR, renewBefore: { fraction: 1 / 3 }, budget: undefined },
    { yaml: "certificates:\n  outageBudget: 24h\n", validity: 50 * HOUR, renewBefore: { ms: 25 * HOUR }, budget: 24 * HOUR },
    { yaml: "certificates:\n  outageBudget: 72h\n  serviceJitter: 2h\n", validity: 146 * HOUR, renewBefore: { ms: 73 * HOUR }, budget: 72 * HOUR },
    // Explicit lifetimes that keep the promise are taken as given.
    { yaml: "certificates:\n  outageBudget: 24h\n  serviceValidity: 72h\n", validity: 72 * HOUR, renewBefore: { ms: 25 * HOUR }, budget: 24 * HOUR },
    { yaml: "certificates:\n  outageBudget: 24h\n  serviceValidity: 60h\n  serviceRenewBefore: 0.5\n", validity: 60 * HOUR, renewBefore: { fraction: 0.5 }, budget: 24 * HOUR },
  ];
  for (const c of cases) {
    const { certificates } = parseControllerConfig(c.yaml, "c.yaml");
    assert.equal(certificates.serviceValidity, c.validity, c.yaml);
    assert.deepEqual(certificates.renewBefore, c.renewBefore, c.yaml);
    assert.equal(certificates.outageBudget, c.budget, c.yaml);
    if (c.budget !== undefined) {
      const lifetime = { validity: certificates.serviceValidity, jitter: certificates.serviceJitter, renewBefore: certificates.renewBefore };
      assert.ok(survivableOutageMs(lifetime) >= c.budget, c.yaml);
    }
  }
});

test("a budget the lifetimes cannot keep is refused at load, naming the setting and the numbers", () => {
  const cases: Array<[string, number, number, RegExp]> = [
    ["certificates:\n  outageBudget: 24h\n  serviceValidity: 24h\n", 3, 20, /serviceValidity 24h ± serviceJitter 1h .* survives an outage of 22h only .* less than outageBudget 24h.*\(50h, renewed 25h before expiry\)/],
    ["certificates:\n  outageBudget: 24h\n  serviceValidity: 72h\n  serviceRenewBefore: 0.3\n", 3, 20, /serviceRenewBefore 0.3 of the shortest lifetime 71h .* less than outageBudget 24h/],
    ["certificates:\n  outageBudget: 30s\n", 2, 17, /outageBudget 30s must be at least 1m/],
    ["certificates:\n  outageBudget: 24h\n  proxyValidity: 20h\n", 2, 17, /proxyValidity 20h is shorter than outageBudget 24h/],
    ["certificates:\n  outageBudget: 24h\n  serviceJitter: 30h\n", 3, 18, /serviceJitter 30h must be shorter than outageBudget 24h plus the 1h renewal lead/],
  ];
  for (const [yaml, line, column, message] of cases) {
    assert.throws(() => parseControllerConfig(yaml, "c.yaml"), (err: unknown) => {
      assert.ok(err instanceof MeshfedError);
      assert.equal(err.code, "MESHFED_CONFIG_INVALID");
      assert.match(err.message, message);
      assert.equal(`${String(err.details.line)}:${String(err.details.column)}`, `${line}:${column}`, err.message);
      return true;
    }, yaml);
  }
});

test("with the derived lifetime, the certificate handed out at any moment outlives the budget (injected clock, real CA)", async () => {
  const budget = 24 * HOUR;
  const { certificates: c } = parseControllerConfig("certificates:\n  outageBudget: 24h\n", "c.yaml");
  let now = Date.parse("2030-01-01T00:00:00Z");
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const manager = await createCertificateManager({
    store: new MemoryStore(), logger: silentLogger(), now: () => new Date(now), random,
    serviceValidity: c.serviceValidity, serviceJitter: c.serviceJitter, renewBefore: c.renewBefore, outageBudget: c.outageBudget,
  });
  const serials = new Set<string>();
  // Ten days in 20-minute steps: what the controller would push at that moment
  // is what an agent holds when the controller vanishes right after.
  for (let step = 0; step < 10 * 72; step++) {
    const svc = await manager.serviceCertificate({ namespace: "shop", name: "web" });
    serials.add(svc.serial);
    const left = svc.notAfter.getTime() - now;
    assert.ok(left - RENEWAL_LEAD_MS >= budget, `at step ${step} the certificate has ${left / HOUR} h left`);
    now += HOUR / 3;
  }
  // Renewed about once per budget + lead, not at every step.
  assert.ok(serials.size >= 8 && serials.size <= 11, `${serials.size} certificates in ten days`);
});

test("MeshConfig lifetimes that break the budget are refused and nothing changes", async () => {
  const manager = await createCertificateManager({
    store: new MemoryStore(), logger: silentLogger(), serviceValidity: 50 * HOUR, serviceJitter: HOUR, renewBefore: { ms: 25 * HOUR }, outageBudget: 24 * HOUR,
  });
  assert.throws(() => manager.setLifetimes({ proxyValidity: 365 * 24 * HOUR, serviceValidity: 80 * HOUR, serviceJitter: HOUR, renewBefore: { fraction: 0.2 } }), { code: "MESHFED_CERT_CONFIG" });
  manager.setLifetimes({ proxyValidity: 365 * 24 * HOUR, serviceValidity: 80 * HOUR, serviceJitter: HOUR, renewBefore: { ms: 25 * HOUR } });
  const svc = await manager.serviceCertificate({ namespace: "shop", name: "web" });
  assert.equal(svc.notAfter.getTime() - svc.renewAt.getTime(), 25 * HOUR);
  await assert.rejects(createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), outageBudget: 24 * HOUR }), { code: "MESHFED_CERT_CONFIG" }, "the 24 h default lifetime cannot keep a 24 h budget");
});
