// Client certificates at the edge of validity on the Connect stream: signed by
// the mesh's own CA (read from the data directory, as an attacker holding a
// backup would) but expired, not yet valid, or never recorded in the registry.
// The foreign-CA and revoked cases are in control-plane.test.ts.
import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as x509 from "@peculiar/x509";
import { crypto } from "../helpers/certificates.js";
import { enroll, generateKeyPem, TestStream } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";

const HOUR = 3_600_000;

/** A proxy certificate signed with the controller's CA key, for any validity window. */
async function forge(ctl: TestController, notBefore: Date, notAfter: Date): Promise<{ keyPem: string; certPem: string; proxyId: string }> {
  const caPem = await readFile(join(ctl.dir, "data", "ca", "certificate.pem"), "utf8");
  const caKeyPem = await readFile(join(ctl.dir, "data", "ca", "key.pem"), "utf8");
  const caKey = await crypto.subtle.importKey("pkcs8", x509.PemConverter.decode(caKeyPem)[0]!, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const ca = new x509.X509Certificate(caPem);
  const { keys, pem } = await generateKeyPem();
  const proxyId = randomUUID();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "7f0000000000000001", subject: `CN=${proxyId}.agent.web.shop.cluster.local`, issuer: ca.subject, notBefore, notAfter,
    publicKey: keys.publicKey, signingKey: caKey, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://cluster.local/ns/shop/svc/web/proxy/${proxyId}` }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  }, crypto);
  return { keyPem: pem, certPem: cert.toString("pem"), proxyId };
}

const cases = [
  { name: "expired an hour ago", window: () => [new Date(Date.now() - 2 * HOUR), new Date(Date.now() - HOUR)], status: grpc.status.UNAUTHENTICATED, code: "MESHFED_NO_CLIENT_CERT" },
  { name: "not valid for another hour", window: () => [new Date(Date.now() + HOUR), new Date(Date.now() + 2 * HOUR)], status: grpc.status.UNAUTHENTICATED, code: "MESHFED_NO_CLIENT_CERT" },
  // Valid to TLS but never issued by this controller: a stolen CA key does not make one a proxy.
  { name: "valid but absent from the registry", window: () => [new Date(Date.now() - HOUR), new Date(Date.now() + HOUR)], status: grpc.status.UNAUTHENTICATED, code: "MESHFED_CERT_UNKNOWN" },
] as const;

for (const c of cases) {
  test(`a mesh-CA-signed client certificate ${c.name} is refused with ${c.code}`, async (t) => {
    const ctl = await startTestController(t);
    const ca = await ctl.api<string>("/api/v1/ca");
    const [notBefore, notAfter] = c.window();
    const forged = await forge(ctl, notBefore!, notAfter!);
    const stream = new TestStream(ctl.grpcAddress, ca, forged.keyPem, forged.certPem);
    t.after(() => stream.close());
    stream.hello(forged.proxyId, ["127.0.0.2"], []);
    const end = await stream.ended;
    assert.equal(end.status, c.status);
    assert.equal(end.code, c.code);
    assert.deepEqual(await ctl.api("/api/v1/proxies"), []);
    const certs = await ctl.api<Array<{ kind: string }>>("/api/v1/certificates");
    assert.equal(certs.filter((x) => x.kind === "proxy").length, 0, "nothing recorded");
  });
}

test("each proxy receives its own service's certificate and key, never another service's", async (t) => {
  const ctl = await startTestController(t);
  const ca = await ctl.api<string>("/api/v1/ca");
  const streams = new Map<string, TestStream>();
  for (const service of ["shop/web", "shop/db"]) {
    const token = (await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses: 1 })).token;
    const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
    const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
    t.after(() => stream.close());
    stream.hello(response.proxyId, ["127.0.0.2"], []);
    streams.set(service, stream);
  }
  for (const [service, stream] of streams) {
    const pushed = (await stream.next((m) => m.message === "serviceCertificate")).serviceCertificate!;
    const [namespace, name] = service.split("/");
    assert.match(new x509.X509Certificate(pushed.certificatePem).getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => n.value).join(","), new RegExp(`/ns/${namespace}/sa/${name}(,|$)`));
  }
  await new Promise((r) => setTimeout(r, 200));
  const serials = (s: TestStream) => new Set(s.messages.filter((m) => m.message === "serviceCertificate").map((m) => m.serviceCertificate!.serial));
  const [web, db] = [serials(streams.get("shop/web")!), serials(streams.get("shop/db")!)];
  assert.deepEqual([...web].filter((x) => db.has(x)), [], "no serial reached both services");
});
