// A proxy that stops reading its Connect stream: the session keeps a bounded
// amount for it (newest version wins) and, once it reads again, sends only
// the newest of each kind, certificate before config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MAX_IN_FLIGHT, ProxySession } from "../../src/controller/proxy-control-plane/session.js";
import type { ProxyConfig } from "../../src/controller/drivers/types.js";
import type { CertificateWithKey } from "../../src/controller/certificates/types.js";
import { StuckProxyStream } from "../fakes/stuck-proxy-stream.js";

const service = { namespace: "shop", name: "web" };

function config(n: number): ProxyConfig {
  const content = Buffer.from(JSON.stringify({ n }));
  return { driver: "json", files: [{ path: "/config.json", content }], hash: createHash("sha256").update(content).digest("hex") };
}

function certificate(serial: string): CertificateWithKey {
  const at = new Date("2030-01-01T00:00:00Z");
  return { serial, service, certificatePem: "cert", privateKeyPem: "key", caBundlePem: "ca", notBefore: at, notAfter: at, renewAt: at };
}

function session(stream: StuckProxyStream): ProxySession {
  return new ProxySession({ proxyId: "6f1c2a9e-3b7d-4c1e-9a55-0d2b8c7e4f10", service, serial: "01", peer: "127.0.0.1:1" }, stream.asProxyStream());
}

test("a proxy that stops reading holds at most MAX_IN_FLIGHT written messages and one pending per kind", () => {
  const stream = new StuckProxyStream();
  const s = session(stream);
  for (let n = 1; n <= 500; n++) {
    s.pushConfig(config(n));
    if (n % 50 === 0) s.pushServiceCertificate(certificate(`serial-${n}`));
  }
  assert.equal(stream.written.length, MAX_IN_FLIGHT, "nothing beyond the in-flight bound reaches gRPC");
  assert.ok(s.pendingCount <= 2, `pending ${s.pendingCount}`);
  assert.equal(s.configVersion, 500, "versions keep counting while the proxy is stuck");
});

test("once the proxy reads again it gets the newest certificate, then the newest config; no intermediate version", () => {
  const stream = new StuckProxyStream();
  const s = session(stream);
  for (let n = 1; n <= 100; n++) s.pushConfig(config(n));
  s.pushServiceCertificate(certificate("old"));
  s.pushServiceCertificate(certificate("new"));
  stream.flush();
  const after = stream.written.slice(MAX_IN_FLIGHT);
  assert.deepEqual(after.map((m) => m.serviceCertificate?.serial ?? `config v${String(m.config?.version)}`), ["new", "config v100"]);
  stream.flush();
  assert.equal(s.pendingCount, 0);
  // A free stream sends at once again.
  s.pushConfig(config(101));
  assert.equal(stream.written.at(-1)?.config?.version, 101);
});

test("a stream over its high-water mark blocks writes until it drains, even with flushed callbacks pending", () => {
  const stream = new StuckProxyStream(1);
  const s = session(stream);
  s.pushConfig(config(1));
  s.pushConfig(config(2));
  s.pushConfig(config(3));
  assert.deepEqual(stream.written.map((m) => m.config?.version), [1]);
  stream.flush();
  assert.deepEqual(stream.written.map((m) => m.config?.version), [1, 3]);
});

test("an ended session sends nothing and drops what was pending", () => {
  const stream = new StuckProxyStream();
  const s = session(stream);
  for (let n = 1; n <= 5; n++) s.pushConfig(config(n));
  s.end();
  stream.flush();
  assert.equal(stream.written.length, MAX_IN_FLIGHT);
  assert.equal(s.pushConfig(config(6)), undefined);
});
