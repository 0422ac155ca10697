import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { captureLogger, Clock, identity, makeCsr, tempFileStore } from "../helpers/certificates.js";

test("the registry survives a restart with its states", async (t) => {
  const { dir, store } = await tempFileStore(t);
  const clock = new Clock();
  const first = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  const a = (await first.issueProxyCertificate(await makeCsr(), identity)).record.serial;
  const b = (await first.issueProxyCertificate(await makeCsr(), identity)).record.serial;
  const c = (await first.issueProxyCertificate(await makeCsr(), identity)).record.serial;
  await first.claim(b);
  await first.revoke(c, "lost host");
  const svc = await first.serviceCertificate({ namespace: "shop", name: "cart" });
  const before = first.certificates();

  const file = JSON.parse(await readFile(join(dir, "certificates", a), "utf8")) as Record<string, unknown>;
  assert.equal(file.serial, a, "one file per certificate, named by serial");

  const second = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  assert.deepEqual(second.certificates(), before);
  assert.equal(second.certificate(a)?.state, "unclaimed");
  assert.equal(second.certificate(b)?.state, "claimed");
  assert.equal(second.certificate(c)?.state, "revoked");
  assert.equal(second.certificate(svc.serial)?.kind, "service");
  await assert.rejects(second.claim(c), { code: "MESHFED_CERT_REVOKED" });
});

test("a corrupt record is logged by name and skipped, never deleted", async (t) => {
  const { dir, store } = await tempFileStore(t);
  const first = await createCertificateManager({ store, logger: silentLogger() });
  const good = (await first.issueProxyCertificate(await makeCsr(), identity)).record.serial;
  const bad = (await first.issueProxyCertificate(await makeCsr(), identity)).record.serial;
  const badPath = join(dir, "certificates", bad);
  await writeFile(badPath, "{ not json");
  const wrongShapePath = join(dir, "certificates", "0123abcd");
  await writeFile(wrongShapePath, JSON.stringify({ serial: "0123abcd", kind: "proxy", state: "sleeping" }));

  const { logger, lines } = captureLogger();
  const second = await createCertificateManager({ store, logger });
  assert.deepEqual(second.certificates().map((r) => r.serial), [good]);
  const errors = lines.filter((l) => l.code === "MESHFED_CERT_RECORD_CORRUPT");
  assert.deepEqual(errors.map((l) => l.key).sort(), [`certificates/0123abcd`, `certificates/${bad}`]);
  assert.ok(errors.every((l) => (l.err as { type?: string }).type === "MeshfedError"));
  assert.equal(await readFile(badPath, "utf8"), "{ not json", "left for an operator");
  assert.ok((await stat(wrongShapePath)).isFile());
});
