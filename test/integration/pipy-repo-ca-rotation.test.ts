// Root CA rotation as polling sidecars see it (docs/certificates.md, "Pods"):
// the repo's /certs/ca.pem follows the phase, sidecars enrolled under the new
// root are trusted by the repo's TLS from `reissue` on, and after `retire`
// the old root's sidecars no longer pass the handshake.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { Agent } from "node:https";
import { clientTls, repoRequest, startRepoFixture } from "./pipy-repo-fixture.js";
import { waitFor } from "../helpers/wait.js";

const BOOKSTORE = { namespace: "shop", name: "bookstore" };
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function roots(bundlePem: string): string[] {
  return (bundlePem.match(PEM_BLOCK) ?? []).map((b) => new X509Certificate(b).serialNumber.toLowerCase());
}

test("sidecars through a rotation: the served bundle follows each phase, new-root sidecars are trusted, old-root ones are cut off at retire", async (t) => {
  const f = await startRepoFixture(t);
  f.provider.set("shop/bookstore", ["127.0.0.2:8080"]);
  f.catalog.flush();
  const oldSidecar = await f.enroll(BOOKSTORE);
  const file = async (p: typeof oldSidecar, path: string) => {
    // A fresh connection per request: the repo pins a connection to the version its manifest
    // answer named (a download sees one version), and each step here starts a new one.
    const r = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}${path}`, { ...clientTls(p), agent: new Agent({ keepAlive: false }) });
    assert.equal(r.status, 200, `${path}: ${r.body.toString()}`);
    return r.body.toString("utf8");
  };
  const [r1] = roots(await file(oldSidecar, "/certs/ca.pem"));

  const introduced = await f.certificates.rotateCa("introduce");
  const r2 = introduced.roots.find((r) => r.role === "next")!.serial;
  assert.deepEqual(roots(await file(oldSidecar, "/certs/ca.pem")), [r1, r2], "both roots before any certificate from the new one");

  await f.certificates.rotateCa("reissue");
  const newSidecar = await f.enroll(BOOKSTORE);
  assert.deepEqual(roots(newSidecar.caPem), [r2, r1]);
  // The repo reloads its TLS trust and serving certificate on the step.
  await waitFor(async () => repoRequest(f.repo.port, "GET", `/repo/${newSidecar.proxyId}/`, { ...clientTls(newSidecar), agent: new Agent({ keepAlive: false }) }).then((r) => r.status === 200, () => false), { what: "new-root sidecar accepted", timeoutMs: 5_000 });
  const serviceCert = new X509Certificate(await file(newSidecar, "/certs/service.crt"));
  const bundle = (await file(newSidecar, "/certs/ca.pem")).match(PEM_BLOCK)!.map((b) => new X509Certificate(b));
  assert.equal(bundle.find((r) => serviceCert.verify(r.publicKey))?.serialNumber.toLowerCase(), r2, "service certificate from the new root");
  // Old-root sidecars trust only the old root (their bootstrap Secret): the repo still serves a certificate from it.
  assert.equal((await repoRequest(f.repo.port, "GET", `/repo/${oldSidecar.proxyId}/`, { ...clientTls(oldSidecar), agent: new Agent({ keepAlive: false }) })).status, 200, "old-root sidecars still served while reissuing");

  const retired = await f.certificates.rotateCa("retire", { force: true });
  assert.ok(retired.stragglers.some((s) => s.serial === oldSidecar.serial), "the old sidecar's certificate is a listed straggler");
  const fresh = (p: typeof oldSidecar) => ({ ...clientTls(p), agent: new Agent({ keepAlive: false }) });
  await waitFor(async () => repoRequest(f.repo.port, "GET", `/repo/${oldSidecar.proxyId}/`, fresh(oldSidecar)).then(() => false, () => true), { what: "old-root sidecar refused at the handshake", timeoutMs: 5_000 });
  // Even one that trusts the new root: the repo no longer accepts the old root's client certificate.
  await assert.rejects(repoRequest(f.repo.port, "GET", `/repo/${oldSidecar.proxyId}/`, { ...fresh(oldSidecar), ca: newSidecar.caPem }));
  assert.deepEqual(roots(await file(newSidecar, "/certs/ca.pem")), [r2]);
});
