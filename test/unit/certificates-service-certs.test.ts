import { test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { Clock, MemoryStore, tempFileStore } from "../helpers/certificates.js";

const HOUR = 3_600_000;
const cart = { namespace: "shop", name: "cart" };

test("a service certificate has the service's names, its own P-256 key, and chains to the CA", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const svc = await manager.serviceCertificate(cart);
  const cert = new X509Certificate(svc.certificatePem);
  assert.equal(cert.subject, "CN=cart.shop.svc.cluster.local");
  assert.equal(cert.subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/cart, DNS:cart.shop.svc.cluster.local");
  assert.equal(cert.checkIssued(new X509Certificate(manager.caBundle())), true);
  assert.ok(cert.verify(new X509Certificate(manager.caBundle()).publicKey));
  assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  const key = createPrivateKey(svc.privateKeyPem);
  assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.deepEqual(createPublicKey(key).export({ format: "der", type: "spki" }), cert.publicKey.export({ format: "der", type: "spki" }));
  assert.equal(svc.caBundlePem, manager.caBundle());
  const record = manager.certificate(svc.serial);
  assert.equal(record?.kind, "service");
  assert.equal(record?.state, "claimed", "service certificates have no claim step");
  assert.equal(record?.service, "shop/cart");
});

test("concurrent calls for one service share one issuance", async () => {
  const metrics = new ControllerMetrics();
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), metrics });
  const results = await Promise.all(Array.from({ length: 25 }, () => manager.serviceCertificate(cart)));
  assert.equal(new Set(results.map((r) => r.serial)).size, 1);
  assert.equal(manager.certificates().length, 1);
  assert.equal((await metrics.certificatesIssued.get()).values.find((v) => v.labels.kind === "service")?.value, 1);
});

test("the cached certificate is kept until renewAt, then replaced by a new serial", async () => {
  const clock = new Clock();
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger(), now: clock.now });
  const first = await manager.serviceCertificate(cart);
  const lifetime = first.notAfter.getTime() - first.notBefore.getTime();
  assert.equal(first.renewAt.getTime(), first.notAfter.getTime() - Math.round(lifetime / 3), "default rule: renew after 2/3");

  clock.advance(first.renewAt.getTime() - clock.now().getTime() - 1);
  assert.equal((await manager.serviceCertificate(cart)).serial, first.serial, "just before renewAt: cached");
  clock.advance(1);
  const second = await manager.serviceCertificate(cart);
  assert.notEqual(second.serial, first.serial, "at renewAt: a new certificate");
  assert.equal(second.notBefore.getTime(), Math.floor(first.renewAt.getTime() / 1000) * 1000, "issued at renewAt (whole seconds)");
  assert.equal((await manager.serviceCertificate(cart)).serial, second.serial);
  assert.equal(manager.certificates().length, 2, "the old one stays on record until it expires");
});

test("a restart hands out the same service certificate and key; the key is stored 0600", async (t) => {
  const { dir, store } = await tempFileStore(t);
  const clock = new Clock();
  const first = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  const a = await first.serviceCertificate(cart);
  const mode = (await stat(join(dir, "service-certificates", "shop.cart"))).mode & 0o777;
  assert.equal(mode, 0o600);

  clock.advance(HOUR);
  const second = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  const b = await second.serviceCertificate(cart);
  assert.deepEqual(b, a);
  assert.equal(second.certificates().length, 1, "nothing re-issued");

  // A restart after renewAt issues a new one.
  clock.advance(a.renewAt.getTime() - clock.now().getTime());
  const third = await createCertificateManager({ store, logger: silentLogger(), now: clock.now });
  assert.notEqual((await third.serviceCertificate(cart)).serial, a.serial);
});

test("revoking a service certificate replaces it on the next call", async () => {
  const store = new MemoryStore();
  const manager = await createCertificateManager({ store, logger: silentLogger() });
  const a = await manager.serviceCertificate(cart);
  await manager.revoke(a.serial, "key leaked");
  const b = await manager.serviceCertificate(cart);
  assert.notEqual(b.serial, a.serial);
  // Also after a restart: the stored copy is not revived.
  const again = await createCertificateManager({ store, logger: silentLogger() });
  assert.equal((await again.serviceCertificate(cart)).serial, b.serial);
});

test("a corrupt stored service certificate is replaced, not fatal", async () => {
  const store = new MemoryStore();
  const manager = await createCertificateManager({ store, logger: silentLogger() });
  const a = await manager.serviceCertificate(cart);
  await store.put("service-certificates/shop.cart", "garbage", { secret: true });
  const restarted = await createCertificateManager({ store, logger: silentLogger() });
  assert.notEqual((await restarted.serviceCertificate(cart)).serial, a.serial);
});

test("an invalid service name is refused", async () => {
  const manager = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  await assert.rejects(manager.serviceCertificate({ namespace: "shop", name: "Cart!" }), { code: "MESHFED_INVALID_IDENTITY" });
});

test("settled() waits for a service certificate write under way, so a close does not cut it off", async () => {
  // The store's create of the service certificate is held until released: the write under way at close.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let writing!: () => void;
  const started = new Promise<void>((resolve) => (writing = resolve));
  class HeldStore extends MemoryStore {
    override async create(key: string, value: Uint8Array | string): Promise<boolean> {
      if (key.startsWith("service-certificates/")) {
        writing();
        await held;
      }
      return super.create(key, value);
    }
  }
  const store = new HeldStore();
  const manager = await createCertificateManager({ store, logger: silentLogger() });
  const issuing = manager.serviceCertificate(cart);
  await started;
  let settled = false;
  const waiting = manager.settled().then(() => (settled = true));
  // Turns of the event loop, not time: nothing but the held write stands between settled() and resolving.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, "settled() resolved while the write was still under way");
  release();
  await waiting;
  assert.ok(store.data.has("service-certificates/shop.cart"), "the write completed before settled() resolved");
  assert.equal((await issuing).serial, manager.certificates().find((c) => c.kind === "service")?.serial);
  await manager.settled(); // nothing under way: at once
});
