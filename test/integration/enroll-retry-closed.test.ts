// Issue 16, item 1: a spent single-use token must not re-issue certificates.
// The exact sequence of the report: enroll with key K, connect (the
// certificate is claimed), enroll again with the same token and key, revoke
// everything, enroll again. Before the fix the second and the third Enroll
// each returned a fresh, live proxy certificate, so the token and the key
// undid a revocation for as long as the token lived.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { enroll, EnrollError, generateKeyPem, TestStream } from "../helpers/grpc-agent.js";
import { startTestController } from "../helpers/in-process-controller.js";

const RETRY_CLOSED = "MESHFED_TOKEN_RETRY_CLOSED";
const refusedWith = (code: string) => (err: unknown) => err instanceof EnrollError && err.code === code;
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase();

interface CertRow { serial: string; proxyId?: string; state: string; revocationReason?: string }

test("a same-key retry is refused once the proxy's certificate was claimed, and a revocation stays a revocation", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "default/bookbuyer", ttl: "1h", uses: 1 });
  const key = await generateKeyPem();

  // 1. enroll with K and connect: the certificate is claimed.
  const first = await enroll(ctl.grpcAddress, ca, token, key);
  const stream = new TestStream(ctl.grpcAddress, ca, first.keyPem, first.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(first.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);
  await stream.next((m) => m.message === "config");
  const proxyCerts = async () => (await ctl.api<CertRow[]>("/api/v1/certificates")).filter((c) => c.proxyId === first.response.proxyId);
  assert.deepEqual((await proxyCerts()).map((c) => c.state), ["claimed"]);

  // 2. the same token and key again: refused by name, nothing issued.
  await assert.rejects(enroll(ctl.grpcAddress, ca, token, key), refusedWith(RETRY_CLOSED));
  assert.deepEqual((await proxyCerts()).map((c) => c.state), ["claimed"], "no second certificate");

  // 3. revoke the certificate; 4. the token and K cannot undo that.
  await ctl.api("/api/v1/certificates/revoke", { serial: serialOf(first.response.certificatePem) });
  await assert.rejects(enroll(ctl.grpcAddress, ca, token, key), refusedWith(RETRY_CLOSED));
  assert.deepEqual((await proxyCerts()).map((c) => c.state), ["revoked"], "still exactly one certificate, revoked");
  // Neither can another key: the single use is spent.
  await assert.rejects(enroll(ctl.grpcAddress, ca, token), refusedWith("MESHFED_TOKEN_USED_UP"));
  const tokens = await ctl.api<Array<{ used: number; uses: number }>>("/api/v1/tokens");
  assert.deepEqual(tokens.map((x) => `${x.used}/${x.uses}`), ["1/1"]);
});

test("a same-key retry is refused once an unclaimed certificate of the proxy was revoked by an operator", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "default/bookbuyer", ttl: "1h", uses: 1 });
  const key = await generateKeyPem();
  const lost = await enroll(ctl.grpcAddress, ca, token, key);
  // The operator revokes the never-used certificate (a host they no longer trust).
  await ctl.api("/api/v1/certificates/revoke", { serial: serialOf(lost.response.certificatePem) });
  await assert.rejects(enroll(ctl.grpcAddress, ca, token, key), refusedWith(RETRY_CLOSED));
});

test("the lost-answer retry still works more than once while nothing was claimed, and closes at the first Connect", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const key = await generateKeyPem();
  const a = await enroll(ctl.grpcAddress, ca, token, key);
  const b = await enroll(ctl.grpcAddress, ca, token, key);
  const c = await enroll(ctl.grpcAddress, ca, token, key);
  assert.equal(b.response.proxyId, a.response.proxyId);
  assert.equal(c.response.proxyId, a.response.proxyId);
  const rows = (await ctl.api<CertRow[]>("/api/v1/certificates")).filter((r) => r.proxyId === a.response.proxyId);
  assert.deepEqual(rows.map((r) => r.state).sort(), ["revoked", "revoked", "unclaimed"], "one live certificate");
  assert.equal(rows.find((r) => r.state === "unclaimed")?.serial, serialOf(c.response.certificatePem));

  const stream = new TestStream(ctl.grpcAddress, ca, c.keyPem, c.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(c.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);
  await stream.next((m) => m.message === "config");
  await assert.rejects(enroll(ctl.grpcAddress, ca, token, key), refusedWith(RETRY_CLOSED));
});
