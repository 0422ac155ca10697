// Property tests against a running controller: raw bytes on the gRPC wire
// (Enroll requests and first Connect messages that are not valid protobuf,
// or valid protobuf with unknown fields) and arbitrary bodies on the admin
// API's POST routes. Every call ends with a status; nothing is enrolled,
// connected or created; the controller keeps serving.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { CODE_METADATA_KEY } from "../../src/common/proto.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { enroll, serverIdentityCheck, TestStream } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";

const ENROLL = "/meshfed.v1.ProxyControlPlane/Enroll";
const CONNECT = "/meshfed.v1.ProxyControlPlane/Connect";
const identity = (b: Buffer) => b;

// A client that sends bytes as they are, so the server's decoder meets them unfiltered.
const RawClient = grpc.makeGenericClientConstructor({
  Enroll: { path: ENROLL, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  Connect: { path: CONNECT, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
}, "ProxyControlPlane");

/** protobuf field helpers: (number << 3 | wire type), then the value. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
function stringField(field: number, text: string): Buffer {
  const bytes = Buffer.from(text);
  return Buffer.from([...varint((field << 3) | 2), ...varint(bytes.length), ...bytes]);
}

// Every call comes from 127.0.0.1: lift the per-peer enrollment limit for this test.
const noEnrollLimit = { patch: (c: ControllerConfig): ControllerConfig => ({ ...c, limits: { ...c.limits, enrollBurst: 10_000 } }) };

async function rawEnroll(client: grpc.Client, bytes: Buffer): Promise<{ status: grpc.status; code: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(ENROLL, identity, identity, bytes, { deadline: Date.now() + 10_000 }, (err) => {
      resolve(err ? { status: err.code, code: String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? "") } : { status: grpc.status.OK, code: "" });
    });
  });
}

async function tokenOf(ctl: TestController): Promise<string> {
  return (await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 5 })).token;
}

test("random bytes and unknown fields on Enroll get a status, enroll nothing, and leave a real token's uses alone", async (t) => {
  const ctl = await startTestController(t, noEnrollLimit);
  const ca = await ctl.api<string>("/api/v1/ca");
  const client = new RawClient(ctl.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca), null, null, { checkServerIdentity: serverIdentityCheck }));
  t.after(() => client.close());
  const real = await tokenOf(ctl);

  // Unknown fields are skipped by the decoder: the request is judged on the fields it knows.
  const unknown = Buffer.concat([stringField(1, "mfjt.0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), stringField(2, "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n"), stringField(99, "extra")]);
  assert.deepEqual(await rawEnroll(client, unknown), { status: grpc.status.PERMISSION_DENIED, code: "MESHFED_TOKEN_UNKNOWN" });

  const allowed = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED, grpc.status.INTERNAL]);
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }).map((b) => Uint8Array.from([...stringField(1, real), ...b]))), async (bytes) => {
      const r = await rawEnroll(client, Buffer.from(bytes));
      assert.ok(allowed.has(r.status), `status ${grpc.status[r.status]} ${r.code}`);
    }),
    { numRuns: 80 },
  );
  const certs = await ctl.api<Array<{ kind: string }>>("/api/v1/certificates");
  assert.equal(certs.filter((c) => c.kind === "proxy").length, 0, "nothing enrolled");
  const [info] = await ctl.api<Array<{ used: number }>>("/api/v1/tokens");
  assert.equal(info?.used, 0, "a refused CSR gives the use back");
  await enroll(ctl.grpcAddress, ca, real); // still serving
});

test("a first Connect message that is not a Hello, or not protobuf at all, ends the stream with a status and connects nothing", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const a = await enroll(ctl.grpcAddress, ca, await tokenOf(ctl));
  const client = new RawClient(ctl.grpcAddress, grpc.credentials.createSsl(Buffer.from(ca), Buffer.from(a.keyPem), Buffer.from(a.response.certificatePem), { checkServerIdentity: serverIdentityCheck }));
  t.after(() => client.close());
  const allowed = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.INTERNAL]);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
      const status = await new Promise<grpc.status>((resolve) => {
        const call = client.makeBidiStreamRequest(CONNECT, identity, identity, { deadline: Date.now() + 10_000 });
        call.on("data", () => undefined);
        call.on("error", (err: grpc.ServiceError) => resolve(err.code));
        call.on("status", (s: grpc.StatusObject) => resolve(s.code));
        call.write(Buffer.from(bytes));
      });
      assert.ok(allowed.has(status), `status ${grpc.status[status]}`);
    }),
    { numRuns: 25 },
  );
  assert.deepEqual(await ctl.api("/api/v1/proxies"), []);
  const stream = new TestStream(ctl.grpcAddress, ca, a.keyPem, a.response.certificatePem);
  t.after(() => stream.close());
  stream.hello(a.response.proxyId, ["127.0.0.2"], []);
  // The config comes after the service certificate, which is issued and stored first:
  // waiting for it means no store write is left running when the controller closes.
  await stream.next((m) => m.message === "config");
});

test("arbitrary bodies on the admin API's POST routes get 4xx with a named code, never 5xx, and create nothing", async (t) => {
  const ctl = await startTestController(t);
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.record({ service: fc.string({ maxLength: 20 }), ttl: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), uses: fc.oneof(fc.integer(), fc.double(), fc.string()) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.record({ id: fc.string({ maxLength: 20 }), serial: fc.string({ maxLength: 40 }), reason: fc.string({ maxLength: 20 }) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary", maxLength: 200 }),
  );
  const route = fc.constantFrom("/api/v1/tokens", "/api/v1/tokens/revoke", "/api/v1/certificates/revoke");
  let created = 0;
  await fc.assert(
    fc.asyncProperty(route, body, async (path, text) => {
      const res = await fetch(`${ctl.adminUrl}${path}`, { method: "POST", body: text, headers: { "content-type": "application/json" } });
      const json = (await res.json()) as { error?: { code: string } };
      if (res.status === 201) {
        created++;
        return;
      }
      assert.ok(res.status >= 400 && res.status < 500, `${path} ${text} -> ${res.status}`);
      assert.match(json.error?.code ?? "", /^MESHFED_[A-Z_]+$/);
    }),
    { numRuns: 120 },
  );
  assert.equal((await ctl.api<unknown[]>("/api/v1/tokens")).length, created, "only well-formed requests created tokens");
});
