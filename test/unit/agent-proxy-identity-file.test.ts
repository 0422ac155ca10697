// The agent's renewed proxy key and certificate (CA rotation) are committed
// by one atomic file, proxy-identity.json: a crash before it keeps the old
// pair, after it the new pair, whatever the PEM copies say.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { DataDir } from "../../src/agent/data-dir.js";
import { tempDir } from "../helpers/temp-dir.js";

const enrollment = { proxyId: "3f2a6c1e-8b1d-4c2e-9a7f-0d1e2f3a4b5c", service: { namespace: "shop", name: "web" }, enrolledAt: "2030-01-01T00:00:00.000Z" };

test("a renewed pair wins over the PEM files, survives a crash before the copies, and a new enrollment drops it", async () => {
  const dir = new DataDir(await tempDir("meshfed-agent-"));
  await dir.init();
  await dir.saveKey("old-key");
  await dir.saveEnrollment(enrollment, "old-cert", "");

  await dir.saveProxyIdentity("new-key", "new-cert");
  let loaded = await dir.load();
  assert.deepEqual([loaded.keyPem, loaded.certPem], ["new-key", "new-cert"]);
  assert.equal(await readFile(dir.file.cert(), "utf8"), "new-cert", "the PEM copies follow");
  assert.equal((await stat(dir.file.proxyIdentity())).mode & 0o777, 0o600, "it holds a private key");

  // As if killed after the commit point, before the copies: the PEM files still hold the old pair.
  await writeFile(dir.file.proxyIdentity(), JSON.stringify({ keyPem: "newer-key", certificatePem: "newer-cert" }));
  loaded = await dir.load();
  assert.deepEqual([loaded.keyPem, loaded.certPem], ["newer-key", "newer-cert"], "never a key of one pair with the certificate of another");

  await dir.saveEnrollment(enrollment, "enrolled-cert", "");
  loaded = await dir.load();
  assert.equal(loaded.certPem, "enrolled-cert", "a later enrollment is not shadowed by an older renewal");

  await writeFile(dir.file.proxyIdentity(), "{ torn");
  await assert.rejects(dir.load(), { code: "MESHFED_AGENT_STATE_INVALID" });
});
