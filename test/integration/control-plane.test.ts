import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { writeFile } from "node:fs/promises";
import { enroll, EnrollError, generateKeyPem, proxyIdOf, TestStream } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";
import { runCli } from "../helpers/controller-process.js";
import { waitFor } from "../helpers/wait.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import * as x509 from "@peculiar/x509";
import { crypto } from "../helpers/certificates.js";
import { WEB_TO_DB } from "../helpers/smi-web-to-db.js";

const HOSTS = `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
  - name: db-1
    address: 127.0.0.3
    services: [{ name: db, namespace: shop, port: 5432 }]
`;


async function token(ctl: TestController, service: string, uses = 1): Promise<string> {
  return (await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses })).token;
}

// The transport must not know which driver rendered a config; these tests use
// the JSON driver because its file is the ProxyView itself, easy to assert on.
const jsonDriver = (c: ControllerConfig): ControllerConfig => ({ ...c, driver: "json" });

async function connected(ctl: TestController, service: string, address: string, port: number) {
  const ca = await ctl.api<string>("/api/v1/ca");
  const { keyPem, response } = await enroll(ctl.grpcAddress, ca, await token(ctl, service));
  const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
  stream.hello(response.proxyId, [address], [{ ip: address, port }]);
  return { ca, keyPem, response, stream };
}

test("enroll + connect: certificate claimed, CA, service certificate and config arrive, ACK recorded, full participant", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS, patch: jsonDriver });
  const { response, stream } = await connected(ctl, "shop/web", "127.0.0.2", 8080);
  t.after(() => stream.close());
  assert.equal(response.serviceNamespace, "shop");
  assert.equal(proxyIdOf(response.certificatePem), response.proxyId);

  const ca = await stream.next((m) => m.message === "caBundle");
  assert.match(ca.caBundle!.pem, /BEGIN CERTIFICATE/);
  const svc = await stream.next((m) => m.message === "serviceCertificate");
  assert.match(svc.serviceCertificate!.privateKeyPem, /BEGIN PRIVATE KEY/);
  const config = await stream.next((m) => m.message === "config");
  assert.equal(config.config!.driver, "json");
  assert.equal(config.config!.version, 1);
  const view = JSON.parse(Buffer.from(config.config!.files[0]!.content).toString("utf8")) as { view: { inbound: { endpoints: unknown[] } } };
  assert.deepEqual(view.view.inbound.endpoints, [{ ip: "127.0.0.2", port: 8080 }]);
  stream.send({ ack: { version: 1, hash: config.config!.hash, ok: true, error: "" } });

  let proxies: Array<{ proxyId: string; lastAck: { ok: boolean; version: number } | null }> = [];
  for (let i = 0; i < 50 && !proxies[0]?.lastAck; i++) {
    proxies = await ctl.api("/api/v1/proxies");
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(proxies[0]?.proxyId, response.proxyId);
  assert.deepEqual(proxies[0]?.lastAck && { ok: proxies[0].lastAck.ok, version: proxies[0].lastAck.version }, { ok: true, version: 1 });

  const certs = await ctl.api<Array<{ proxyId?: string; state: string }>>("/api/v1/certificates");
  assert.equal(certs.find((c) => c.proxyId === response.proxyId)?.state, "claimed");
  const participants = await ctl.api<{ participants: Array<{ proxyId: string; endpoints: unknown[] }>; incomplete: Array<{ service: string; missing: string[] }> }>("/api/v1/participants");
  assert.deepEqual(participants.participants.map((p) => [p.proxyId, p.endpoints]), [[response.proxyId, [{ ip: "127.0.0.2", port: 8080 }]]]);
  assert.deepEqual(participants.incomplete.map((r) => `${r.service}:${r.missing.join(",")}`), ["shop/db:issued,connected"]);
  const catalog = await ctl.api<{ services: Array<{ name: string; endpoints: Array<{ sources: string[] }> }> }>("/api/v1/catalog");
  assert.deepEqual(catalog.services.find((s) => s.name === "web")?.endpoints[0]?.sources, ["agents", "onprem"]);
});

test("a single-use token is refused the second time, with its reason code", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const ca = await ctl.api<string>("/api/v1/ca");
  const tok = await token(ctl, "shop/web");
  await enroll(ctl.grpcAddress, ca, tok);
  await assert.rejects(enroll(ctl.grpcAddress, ca, tok), (err: unknown) => {
    assert.ok(err instanceof EnrollError);
    assert.equal(err.status, grpc.status.PERMISSION_DENIED);
    assert.equal(err.code, "MESHFED_TOKEN_USED_UP");
    assert.match(err.message, /^MESHFED_TOKEN_USED_UP: join token [0-9a-f]{16} has been used 1 of 1 time/);
    return true;
  });
  await assert.rejects(enroll(ctl.grpcAddress, ca, "mfjt.0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), { code: "MESHFED_TOKEN_UNKNOWN" });
  const revoked = await token(ctl, "shop/web");
  await ctl.api("/api/v1/tokens/revoke", { id: revoked.split(".")[1] });
  await assert.rejects(enroll(ctl.grpcAddress, ca, revoked), { code: "MESHFED_TOKEN_REVOKED" });
  const tokens = await ctl.api<Array<{ state: string }>>("/api/v1/tokens");
  assert.deepEqual(tokens.map((x) => x.state).sort(), ["revoked", "used-up"]);
});

test("a malformed CSR is refused and gives the token's use back", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const ca = await ctl.api<string>("/api/v1/ca");
  const tok = await token(ctl, "shop/web");
  const { meshfed } = (await import("../../src/common/proto.js")).loadProto();
  const { serverIdentityCheck } = await import("../helpers/grpc-agent.js");
  const client = new meshfed.v1.ProxyControlPlane(ctl.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca), null, null, { checkServerIdentity: serverIdentityCheck }));
  t.after(() => client.close());
  const err = await new Promise<grpc.ServiceError>((resolve) => client.Enroll({ token: tok, csrPem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }, (e) => resolve(e!)));
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  assert.match(err.details, /^MESHFED_CSR_MALFORMED/);
  await enroll(ctl.grpcAddress, ca, tok); // the use was refunded
});

test("a proxy may announce only its own host's endpoints of its own service", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const ca = await ctl.api<string>("/api/v1/ca");
  const a = await enroll(ctl.grpcAddress, ca, await token(ctl, "shop/web"));
  const other = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  other.hello(a.response.proxyId, ["127.0.0.3"], [{ ip: "127.0.0.3", port: 5432 }]);
  const end = await other.ended;
  assert.equal(end.status, grpc.status.INVALID_ARGUMENT);
  assert.equal(end.code, "MESHFED_ENDPOINT_OTHER_SERVICE");
  assert.match(end.details, /127\.0\.0\.3:5432 belongs to shop\/db, not to shop\/web/);

  const notLocal = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  notLocal.hello(a.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.9", port: 1 }]);
  assert.equal((await notLocal.ended).code, "MESHFED_ENDPOINT_NOT_LOCAL");

  const wrongId = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  wrongId.hello("6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10", ["127.0.0.2"], []);
  assert.equal((await wrongId.ended).code, "MESHFED_PROXY_ID_MISMATCH");
  const proxies = await ctl.api<unknown[]>("/api/v1/proxies");
  assert.deepEqual(proxies, []);
});

test("a client certificate from a foreign CA is refused", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const ca = await ctl.api<string>("/api/v1/ca");
  const { keys, pem } = await generateKeyPem();
  const foreignCaKeys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const foreign = await x509.X509CertificateGenerator.create({
    serialNumber: "01", subject: "CN=proxy", issuer: "CN=foreign CA", notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
    publicKey: keys.publicKey, signingKey: foreignCaKeys.privateKey, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://cluster.local/ns/shop/svc/web/proxy/6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10" }])],
  }, crypto);
  const stream = new TestStream(ctl.grpcAddress, ca, pem, foreign.toString("pem"));
  stream.hello("6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10", ["127.0.0.2"], []);
  const end = await stream.ended;
  assert.equal(end.status, grpc.status.UNAUTHENTICATED);
  assert.equal(end.code, "MESHFED_NO_CLIENT_CERT");
});

test("revoking a connected proxy's certificate closes its stream for good and refuses it afterwards", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const { ca, keyPem, response, stream } = await connected(ctl, "shop/web", "127.0.0.2", 8080);
  t.after(() => stream.close());
  await stream.next((m) => m.message === "config");
  const serial = (await ctl.api<Array<{ serial: string; proxyId?: string }>>("/api/v1/certificates")).find((c) => c.proxyId === response.proxyId)!.serial;
  await ctl.api("/api/v1/certificates/revoke", { serial, reason: "host decommissioned" });
  const shutdown = await stream.next((m) => m.message === "shutdown");
  assert.deepEqual({ ...shutdown.shutdown }, { code: "MESHFED_CERT_REVOKED", reason: `certificate ${serial} was revoked (host decommissioned)`, permanent: true });
  await stream.ended;
  assert.deepEqual(await ctl.api("/api/v1/proxies"), []);

  const again = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
  again.hello(response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);
  const end = await again.ended;
  assert.equal(end.status, grpc.status.PERMISSION_DENIED);
  assert.equal(end.code, "MESHFED_CERT_REVOKED");
});

test("a catalog change pushes a new version only to the proxies it affects; an unchanged view pushes nothing", async (t) => {
  const hosts = `${HOSTS}  - name: other-1\n    address: 127.0.0.4\n    services: [{ name: other, namespace: shop, port: 9000 }]\n`;
  const ctl = await startTestController(t, { hosts, smi: { "policy.yaml": WEB_TO_DB }, patch: jsonDriver });
  const web = await connected(ctl, "shop/web", "127.0.0.2", 8080);
  const other = await connected(ctl, "shop/other", "127.0.0.4", 9000);
  t.after(() => { web.stream.close(); other.stream.close(); });
  await web.stream.next((m) => m.config?.version === 1);
  await other.stream.next((m) => m.config?.version === 1);

  // db moves: web may call db, so web's view changes; other's does not.
  await writeFile(ctl.hostsFile, hosts.replace("127.0.0.3", "127.0.0.5"));
  const v2 = await web.stream.next((m) => m.config?.version === 2);
  assert.match(Buffer.from(v2.config!.files[0]!.content).toString(), /127\.0\.0\.5/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(other.stream.messages.filter((m) => m.message === "config").length, 1, "an unaffected proxy gets nothing");

  // Reconnecting with the held version and hash gets no config at all.
  const held = v2.config!;
  web.stream.close();
  const again = new TestStream(ctl.grpcAddress, web.ca, web.keyPem, web.response.certificatePem);
  t.after(() => again.close());
  again.hello(web.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }], { version: held.version, hash: held.hash });
  await again.next((m) => m.message === "serviceCertificate");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(again.messages.filter((m) => m.message === "config").length, 0);
});

test("a service certificate renewal reaches every proxy of that service without a reconnect", async (t) => {
  const ctl = await startTestController(t, {
    hosts: `${HOSTS}  - name: web-2\n    address: 127.0.0.6\n    services: [{ name: web, namespace: shop, port: 8080 }]\n`,
    patch: (c) => ({ ...c, certificates: { ...c.certificates, serviceValidity: 60_000, serviceJitter: 0, renewBefore: { fraction: 0.97 } } }),
  });
  const a = await connected(ctl, "shop/web", "127.0.0.2", 8080);
  const b = await connected(ctl, "shop/web", "127.0.0.6", 8080);
  t.after(() => { a.stream.close(); b.stream.close(); });
  const first = (await a.stream.next((m) => m.message === "serviceCertificate")).serviceCertificate!;
  assert.equal((await b.stream.next((m) => m.message === "serviceCertificate")).serviceCertificate!.serial, first.serial, "one certificate per service");
  const renewedA = (await a.stream.next((m) => m.message === "serviceCertificate" && m.serviceCertificate!.serial !== first.serial, 8000)).serviceCertificate!;
  const renewedB = (await b.stream.next((m) => m.message === "serviceCertificate" && m.serviceCertificate!.serial !== first.serial, 8000)).serviceCertificate!;
  assert.equal(renewedA.serial, renewedB.serial);
  assert.ok(Date.parse(renewedA.notAfter) > Date.parse(first.notAfter));
});

test("proxy config shows the exact files a proxy receives and, with --explain, where each part comes from", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS, smi: { "policy.yaml": WEB_TO_DB } });
  const { response, stream } = await connected(ctl, "shop/web", "127.0.0.2", 8080);
  t.after(() => stream.close());
  type Report = { driver: string; hash: string; sentVersion: number | null; files: Array<{ path: string; content: string }>; explain: Array<{ part: string; from: string[] }> };
  // The first render can come before the agent's announcement is merged (CI saw it): wait for
  // the view that has both sources, then for the config the stream carried for it.
  const report = await waitFor(async () => {
    const r = await ctl.api<Report>(`/api/v1/proxies/config?id=${response.proxyId}&explain=1`);
    const inbound = r.explain.find((e) => e.part === "inbound endpoint 127.0.0.2:8080")?.from ?? [];
    return inbound.length === 2 && r.sentVersion !== null ? r : undefined;
  }, { what: "the inbound endpoint seen by the hosts file and announced by the agent, and sent" });
  const pushed = (await stream.next((m) => m.message === "config" && m.config!.hash === report.hash)).config!;
  assert.equal(report.driver, "pipy");
  assert.equal(report.sentVersion, pushed.version, "the same content the stream carried");
  assert.deepEqual(report.files.map((f) => f.path), pushed.files.map((f) => f.path));
  assert.equal(report.files[0]!.path, "/main.js");
  const parts = new Map(report.explain.map((e) => [e.part, e.from]));
  const inbound = parts.get("inbound endpoint 127.0.0.2:8080")!;
  assert.match(inbound[0]!, /^agents proxy\/[0-9a-f-]{36}$/);
  assert.match(inbound[1]!, /^onprem .*hosts\.yaml#web-1$/);
  assert.match(parts.get("outbound shop/db")![0]!, /^TrafficTarget shop\/web-to-db \(.*policy\.yaml#1\)$/);
  assert.match(parts.get("outbound shop/db endpoint 127.0.0.3:5432")![0]!, /^onprem .*#db-1$/);

  const cli = await runCli(["proxy", "config", response.proxyId, "--explain", "--admin", ctl.adminUrl]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(String.raw`^# proxy [0-9a-f-]{36} \(shop\/web, identity shop\/web\), driver pipy, hash [0-9a-f]{16}, connected, holds v${pushed.version}$`, "m"));
  assert.match(cli.stdout, /^==> \/config\.json \(\d+ bytes\) <==$/m);
  assert.match(cli.stdout, /^outbound shop\/db\n {4}<- TrafficTarget shop\/web-to-db/m);
  const unknown = await fetch(`${ctl.adminUrl}/api/v1/proxies/config?id=6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, "MESHFED_PROXY_UNKNOWN");
});

test("a proxy whose stream goes away leaves the connected set and, after the reconnect grace, the agents provider's endpoints", async (t) => {
  // The grace (default 5 s) is control-plane-reconnect-grace.test.ts's subject; short here.
  const ctl = await startTestController(t, { hosts: HOSTS, patch: (c) => ({ ...c, grpc: { ...c.grpc, reconnectGrace: 200 } }) });
  const { stream } = await connected(ctl, "shop/web", "127.0.0.2", 8080);
  await stream.next((m) => m.message === "config");
  assert.equal((await ctl.api<unknown[]>("/api/v1/proxies")).length, 1);
  stream.close();
  let proxies: unknown[] = [1];
  const started = Date.now();
  while (proxies.length > 0 && Date.now() - started < 5000) {
    await new Promise((r) => setTimeout(r, 25));
    proxies = await ctl.api<unknown[]>("/api/v1/proxies");
  }
  assert.deepEqual(proxies, [], "removed within 5 s of the stream ending");
  const sources = async () => (await ctl.api<{ services: Array<{ name: string; endpoints: Array<{ sources: string[] }> }> }>("/api/v1/catalog")).services.find((s) => s.name === "web")?.endpoints[0]?.sources;
  await waitFor(async () => JSON.stringify(await sources()) === JSON.stringify(["onprem"]), { what: "the agent's announcement withdrawn after the 200 ms grace" });
});
