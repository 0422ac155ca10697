// The controller's Pipy repo (src/controller/proxy-control-plane/pipy-repo.ts)
// with Node's HTTPS client and real mesh certificates: who may poll, what a
// proxy receives, when its ETag moves, and that a download is never a mix of
// two versions. The same repo with a real Pipy: pipy-repo-real-pipy.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent } from "node:https";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { MemoryStore } from "../helpers/certificates.js";
import { clientTls, repoRequest, startRepoFixture } from "./pipy-repo-fixture.js";

const BOOKSTORE = { namespace: "shop", name: "bookstore" };
const DAY = 24 * 3_600_000;

test("a client without a mesh client certificate fails the TLS handshake", async (t) => {
  const f = await startRepoFixture(t);
  const p = await f.enroll(BOOKSTORE);
  await assert.rejects(repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, { ca: p.caPem }), (err: NodeJS.ErrnoException) => {
    assert.match(String(err.code ?? err.message), /ECONNRESET|CERTIFICATE_REQUIRED|EPIPE|socket hang up/i);
    return true;
  });
  // A certificate from another CA, for the same identity shape, is refused as well.
  const other = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const foreign = await other.serviceCertificate(BOOKSTORE);
  await assert.rejects(repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, { ca: p.caPem, cert: foreign.certificatePem, key: foreign.privateKeyPem }));
  assert.equal(f.events.length, 0, "nothing reached the HTTP layer");
});

test("proxy A's certificate asking for proxy B's repo gets 403 MESHFED_REPO_PROXY_MISMATCH", async (t) => {
  const f = await startRepoFixture(t);
  const a = await f.enroll(BOOKSTORE);
  const b = await f.enroll(BOOKSTORE);
  const r = await repoRequest(f.repo.port, "GET", `/repo/${b.proxyId}/`, clientTls(a));
  assert.equal(r.status, 403);
  assert.equal(r.json().error.code, "MESHFED_REPO_PROXY_MISMATCH");
  const file = await repoRequest(f.repo.port, "GET", `/repo/${b.proxyId}/certs/service.key`, clientTls(a));
  assert.equal(file.status, 403, "no file of another proxy either");
  assert.equal((await repoRequest(f.repo.port, "GET", "/other", clientTls(a))).json().error.code, "MESHFED_REPO_NOT_FOUND");
});

test("revoked and expired proxy certificates are refused with their codes", async (t) => {
  const f = await startRepoFixture(t);
  const p = await f.enroll(BOOKSTORE);
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...clientTls(p) });
  t.after(() => agent.destroy());
  assert.equal((await repoRequest(f.repo.port, "HEAD", `/repo/${p.proxyId}/`, { agent })).status, 200);
  await f.certificates.revoke(p.serial, "test");
  // A fresh connection, and (after the revocation closed it) the kept-alive one alike.
  const r = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, clientTls(p));
  assert.equal(r.status, 403);
  assert.equal(r.json().error.code, "MESHFED_CERT_REVOKED");
  assert.equal((await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, { agent })).json().error.code, "MESHFED_CERT_REVOKED");

  const q = await f.enroll(BOOKSTORE);
  f.advance(400 * DAY); // the registry derives "expired" from the manager's clock
  const e = await repoRequest(f.repo.port, "GET", `/repo/${q.proxyId}/`, clientTls(q));
  assert.equal(e.status, 401);
  assert.equal(e.json().error.code, "MESHFED_CERT_EXPIRED");
});

test("the manifest lists /main.js first and the certificate files; every file is served; POST status is 201; the first request claims", async (t) => {
  const f = await startRepoFixture(t);
  f.provider.set("shop/bookstore", ["127.0.0.2:8080"]);
  f.catalog.flush();
  const p = await f.enroll(BOOKSTORE);
  assert.equal(f.certificates.certificate(p.serial)?.state, "unclaimed");
  const tls = clientTls(p);
  const m = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, tls);
  assert.equal(m.status, 200);
  assert.equal(f.certificates.certificate(p.serial)?.state, "claimed");
  const paths = m.body.toString("utf8").trim().split("\n");
  assert.equal(paths[0], "/main.js");
  for (const c of ["/config.json", "/certs/service.crt", "/certs/service.key", "/certs/ca.pem"]) assert.ok(paths.includes(c), c);
  const etag = m.headers.etag!;
  assert.match(etag, /^"[0-9a-f]{64}"$/);
  const head = await repoRequest(f.repo.port, "HEAD", `/repo/${p.proxyId}/`, tls);
  assert.equal(head.headers.etag, etag);
  assert.equal(head.body.length, 0);

  const svc = await f.certificates.serviceCertificate(BOOKSTORE);
  for (const path of paths) {
    const r = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}${path}`, tls);
    assert.equal(r.status, 200, path);
    if (path === "/certs/service.crt") assert.equal(r.body.toString(), svc.certificatePem);
    if (path === "/certs/service.key") assert.equal(r.body.toString(), svc.privateKeyPem);
    if (path === "/certs/ca.pem") assert.equal(r.body.toString(), f.certificates.caBundle());
    if (path === "/config.json") {
      const config = JSON.parse(r.body.toString()) as { proxy: { id: string; service: string }; inbound: { listeners: Array<{ listen: string }> } };
      assert.deepEqual(config.proxy.id, p.proxyId);
      assert.equal(config.proxy.service, "shop/bookstore");
      assert.deepEqual(config.inbound.listeners.map((l) => l.listen), ["127.0.0.2:18080"], "pods: no address filter");
    }
  }
  assert.equal((await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/nope.js`, tls)).status, 404);
  const status = await repoRequest(f.repo.port, "POST", `/repo/${p.proxyId}/`, tls, Buffer.from(JSON.stringify({ uuid: "x", version: "" })));
  assert.equal(status.status, 201);
  assert.equal((await repoRequest(f.repo.port, "PUT", `/repo/${p.proxyId}/`, tls)).status, 405);
  const big = await repoRequest(f.repo.port, "POST", `/repo/${p.proxyId}/`, tls, Buffer.alloc(9 * 1024 * 1024)).catch(() => undefined);
  if (big) assert.equal(big.status, 413);
});

test("the ETag is stable for an unchanged view and moves after a catalog change or a service-certificate renewal", async (t) => {
  const f = await startRepoFixture(t);
  f.provider.set("shop/bookstore", ["127.0.0.2:8080"]);
  f.catalog.flush();
  const p = await f.enroll(BOOKSTORE);
  const etag = async () => (await repoRequest(f.repo.port, "HEAD", `/repo/${p.proxyId}/`, clientTls(p))).headers.etag;
  const e1 = await etag();
  assert.equal(await etag(), e1, "stable");
  f.provider.set("shop/other", ["127.0.0.3:9090"]); // permissive mesh: a new outbound service of this proxy
  f.catalog.flush();
  const e2 = await etag();
  assert.notEqual(e2, e1, "catalog change");
  assert.equal(await etag(), e2);
  const before = await f.certificates.serviceCertificate(BOOKSTORE);
  f.advance(before.renewAt.getTime() - Date.now() + 60_000);
  const e3 = await etag();
  const after = await f.certificates.serviceCertificate(BOOKSTORE);
  assert.notEqual(after.serial, before.serial);
  assert.notEqual(e3, e2, "service certificate renewal");
  const crt = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/certs/service.crt`, clientTls(p));
  assert.equal(crt.body.toString(), after.certificatePem);
});

test("a download is one version: files on the manifest's connection stay pinned across a change", async (t) => {
  const f = await startRepoFixture(t);
  f.provider.set("shop/bookstore", ["127.0.0.2:8080"]);
  f.catalog.flush();
  const p = await f.enroll(BOOKSTORE);
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...clientTls(p) });
  t.after(() => agent.destroy());
  const m1 = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, { agent });
  f.provider.set("shop/bookstore", ["127.0.0.2:8080", "127.0.0.2:8081"]);
  f.catalog.flush();
  const pinned = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/config.json`, { agent });
  assert.equal(pinned.headers.etag, m1.headers.etag);
  assert.equal(pinned.body.toString().includes("127.0.0.2:18081"), false, "old version on the pinned connection");
  const fresh = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/config.json`, clientTls(p));
  assert.notEqual(fresh.headers.etag, m1.headers.etag);
  assert.ok(fresh.body.toString().includes("127.0.0.2:18081"), "new version elsewhere");
  const m2 = await repoRequest(f.repo.port, "GET", `/repo/${p.proxyId}/`, { agent });
  assert.equal(m2.headers.etag, fresh.headers.etag, "the next manifest GET moves the pin");
});

test("close() stops the server and is idempotent", async (t) => {
  const f = await startRepoFixture(t);
  const p = await f.enroll(BOOKSTORE);
  const agent = new Agent({ keepAlive: true, ...clientTls(p) });
  t.after(() => agent.destroy());
  assert.equal((await repoRequest(f.repo.port, "HEAD", `/repo/${p.proxyId}/`, { agent })).status, 200);
  const port = f.repo.port;
  const started = Date.now();
  await Promise.all([f.repo.close(), f.repo.close()]);
  assert.ok(Date.now() - started < 2_500);
  await assert.rejects(repoRequest(port, "HEAD", `/repo/${p.proxyId}/`, clientTls(p)));
});
