// The agent endpoint's limits (docs/security.md): enrollments per peer,
// concurrent streams, message size; and that a refusal leaves no state behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { classifyRpcError } from "../../src/agent/grpc-errors.js";
import { loadProto } from "../../src/common/proto.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { enroll, EnrollError, serverIdentityCheck, TestStream } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";

const HOSTS = `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
`;
const GUESS = "mfjt.0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

const withLimits = (limits: Partial<ControllerConfig["limits"]>) => (c: ControllerConfig): ControllerConfig => ({ ...c, limits: { ...c.limits, ...limits } });

async function token(ctl: TestController, uses = 1): Promise<string> {
  return (await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses })).token;
}

function enrollClient(t: { after: (fn: () => void) => void }, ctl: TestController, ca: string) {
  const { meshfed } = loadProto();
  const client = new meshfed.v1.ProxyControlPlane(ctl.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca), null, null, { checkServerIdentity: serverIdentityCheck }));
  t.after(() => client.close());
  return client;
}

test("token guessing from one address is rate limited with RESOURCE_EXHAUSTED and MESHFED_ENROLL_RATE_LIMITED; the agent retries it", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS, patch: withLimits({ enrollPerSecond: 0.01, enrollBurst: 3 }) });
  const ca = await ctl.api<string>("/api/v1/ca");
  for (let i = 0; i < 3; i++) await assert.rejects(enroll(ctl.grpcAddress, ca, GUESS), { code: "MESHFED_TOKEN_UNKNOWN" });
  const good = await token(ctl);
  const refused = await enroll(ctl.grpcAddress, ca, good).then(() => undefined, (err: unknown) => err);
  assert.ok(refused instanceof EnrollError);
  assert.equal(refused.status, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(refused.code, "MESHFED_ENROLL_RATE_LIMITED");
  assert.match(refused.message, /^MESHFED_ENROLL_RATE_LIMITED: more than 3 enrollments at 0\.01\/s from this address; retry in \d+ s$/);
  assert.equal(classifyRpcError({ code: refused.status, details: refused.message }).permanent, false, "an agent backs off and retries");
  const tokens = await ctl.api<Array<{ used: number; state: string }>>("/api/v1/tokens");
  assert.deepEqual(tokens.map((x) => [x.used, x.state]), [[0, "active"]], "a refused call spends no use of a real token");
  const metrics = await ctl.api<string>("/metrics");
  assert.match(metrics, /meshfed_enrollments_total\{result="MESHFED_ENROLL_RATE_LIMITED"\} 1/);
  assert.match(metrics, /meshfed_enrollments_total\{result="MESHFED_TOKEN_UNKNOWN"\} 3/);
});

test("Connect streams beyond limits.maxStreams are refused with MESHFED_TOO_MANY_STREAMS; a freed slot is reused", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS, patch: withLimits({ maxStreams: 1 }) });
  const ca = await ctl.api<string>("/api/v1/ca");
  const a = await enroll(ctl.grpcAddress, ca, await token(ctl, 2));
  const first = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  first.hello(a.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);
  await first.next((m) => m.message === "config");

  const second = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  t.after(() => second.close());
  second.hello(a.response.proxyId, ["127.0.0.2"], []);
  const end = await second.ended;
  assert.equal(end.status, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(end.code, "MESHFED_TOO_MANY_STREAMS");
  assert.match(end.details, /at most 1 streams/);
  assert.equal((await ctl.api<Array<{ proxyId: string }>>("/api/v1/proxies")).length, 1, "the refused stream did not replace the connected one");

  first.close();
  let third: TestStream | undefined;
  for (let i = 0; i < 50; i++) {
    third?.close();
    third = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
    third.hello(a.response.proxyId, ["127.0.0.2"], []);
    const got = await Promise.race([third.next((m) => m.message === "config", 2000).then(() => "ok"), third.ended.then((e) => e.code)]);
    if (got === "ok") break;
    assert.equal(got, "MESHFED_TOO_MANY_STREAMS");
    await new Promise((r) => setTimeout(r, 50));
  }
  t.after(() => third?.close());
  assert.equal((await third!.next((m) => m.message === "config")).message, "config", "the slot was released when the first stream went away");
});

test("an oversized Enroll or Connect message is refused by gRPC and the controller keeps serving", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const ca = await ctl.api<string>("/api/v1/ca");
  const client = enrollClient(t, ctl, ca);
  const big = "A".repeat(5 * 1024 * 1024);
  const err = await new Promise<grpc.ServiceError>((resolve) => client.Enroll({ token: GUESS, csrPem: big }, (e) => resolve(e!)));
  assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);

  const a = await enroll(ctl.grpcAddress, ca, await token(ctl));
  const stream = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(a.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);
  await stream.next((m) => m.message === "config");
  stream.send({ health: { proxyState: "x", runningVersion: 1, detail: big } });
  const end = await stream.ended;
  assert.equal(end.status, grpc.status.RESOURCE_EXHAUSTED);
  // Still serving: a new enrollment works.
  await enroll(ctl.grpcAddress, ca, await token(ctl));
});

test("ACKs for versions never sent, with a wrong hash, or repeated out of order never overwrite the recorded state", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS });
  const ca = await ctl.api<string>("/api/v1/ca");
  const a = await enroll(ctl.grpcAddress, ca, await token(ctl));
  const stream = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(a.response.proxyId, ["127.0.0.2"], [{ ip: "127.0.0.2", port: 8080 }]);
  const config = (await stream.next((m) => m.message === "config")).config!;
  stream.send({ ack: { version: config.version + 7, hash: config.hash, ok: false, error: "future" } });
  stream.send({ ack: { version: config.version, hash: "0".repeat(64), ok: false, error: "wrong hash" } });
  stream.send({ ack: { version: 0, hash: "", ok: false, error: "old" } });
  stream.send({ ack: { version: config.version, hash: config.hash, ok: true, error: "" } });
  stream.send({ ack: { version: config.version - 1, hash: config.hash, ok: false, error: "late" } });
  stream.send({ hello: { proxyId: a.response.proxyId, hostAddresses: ["127.0.0.9"], endpoints: [], agentVersion: "x", proxyVersion: "", configVersion: 0, configHash: "" } });
  let proxies: Array<{ lastAck: { version: number; ok: boolean; error: string } | null; addresses: string[] }> = [];
  for (let i = 0; i < 50 && !proxies[0]?.lastAck; i++) {
    await new Promise((r) => setTimeout(r, 20));
    proxies = await ctl.api("/api/v1/proxies");
  }
  await new Promise((r) => setTimeout(r, 100));
  proxies = await ctl.api("/api/v1/proxies");
  assert.deepEqual(proxies[0]?.lastAck && { ...proxies[0].lastAck, at: undefined }, { version: config.version, hash: config.hash, ok: true, error: "", at: undefined });
  assert.deepEqual(proxies[0]?.addresses, ["127.0.0.2"], "a second Hello on the stream changes nothing");
});
