import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { FileStore } from "../../src/controller/store/file-store.js";
import { getJson, startControllerProcess } from "../helpers/controller-process.js";
import { identity, makeCsr } from "../helpers/certificates.js";
import { cleanupStack } from "../helpers/cleanup.js";

test("after kill -9 a restart on the same data dir serves the same CA and the same certificate registry", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-restart-"));
  const defer = cleanupStack(t);
  defer(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const dataDir = join(dir, "data");
  await writeFile(join(dir, "hosts.yaml"), "hosts:\n  - name: h\n    address: 10.1.0.1\n    services: [{ name: bookstore, namespace: shop, port: 80 }]\n");
  const args = ["--data-dir", dataDir, "--hosts", join(dir, "hosts.yaml")];

  // The first start creates the CA.
  const first = await startControllerProcess(args);
  defer(() => first.stop("SIGKILL"));
  const ca = await (await fetch(`${first.url}/api/v1/ca`)).text();
  assert.match(ca, /^-----BEGIN CERTIFICATE-----/);
  assert.equal(await first.stop("SIGKILL"), "SIGKILL");

  // Issue certificates into that data dir the way the controller does, then
  // restart the controller on it: the registry must show them, under the same CA.
  const store = await FileStore.open(dataDir);
  const manager = await createCertificateManager({ store, logger: silentLogger() });
  assert.equal(manager.caBundle(), ca);
  const issued = await manager.issueProxyCertificate(await makeCsr(), identity);
  await manager.claim(issued.record.serial);
  await manager.serviceCertificate({ namespace: "shop", name: "bookstore" });
  await manager.issueProxyCertificate(await makeCsr({ name: "", extensions: [] }), { ...identity, proxyId: "6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10" });

  const second = await startControllerProcess(args);
  defer(() => second.stop("SIGKILL"));
  const certs = await getJson(`${second.url}/api/v1/certificates`);
  assert.deepEqual(
    (certs as Array<{ kind: string; state: string }>).map((c) => `${c.kind}:${c.state}`).sort(),
    ["controller:claimed", "proxy:claimed", "proxy:unclaimed", "service:claimed"],
    "the controller's own serving certificate is issued once and reused on restart",
  );
  assert.equal(await second.stop("SIGKILL"), "SIGKILL");

  const third = await startControllerProcess(args);
  defer(() => third.stop("SIGKILL"));
  assert.equal(await (await fetch(`${third.url}/api/v1/ca`)).text(), ca, "same CA after kill -9");
  assert.deepEqual(await getJson(`${third.url}/api/v1/certificates`), certs, "same registry after kill -9");
  const participants = (await getJson(`${third.url}/api/v1/participants`)) as { incomplete: Array<{ kind: string; missing: string[] }> };
  assert.deepEqual(
    participants.incomplete.map((r) => `${r.kind}:${r.missing.join(",")}`).sort(),
    ["certificate:connected", "certificate:connected", "endpoint:connected"],
    "with certificates issued for the service, only the connected leg is missing",
  );
});
