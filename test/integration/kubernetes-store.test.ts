import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { silentLogger } from "../../src/common/logger.js";
import { errorCode } from "../../src/common/errors.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { generateSidecarKey } from "../../src/controller/injector/proxy-key.js";
import { KubernetesStore, STATE_KEY_ANNOTATION, STATE_LABEL } from "../../src/controller/store/kubernetes-store.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";

const NS = "meshfed-system";

test("kubernetes store: one Secret per key; get, put, delete; bytes survive; bad keys refused", async (t) => {
  const { api, kubeConfig } = await kubeHarness(t);
  const store = new KubernetesStore({ kubeConfig, namespace: NS });
  assert.equal(await store.get("ca/cert.pem"), undefined);
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  await store.put("ca/key.bin", bytes, { secret: true });
  assert.deepEqual(new Uint8Array((await store.get("ca/key.bin"))!), bytes);
  const secret = api.get("secrets", NS, store.secretName("ca/key.bin")) as unknown as { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; data: Record<string, string> };
  assert.equal(secret.metadata.annotations[STATE_KEY_ANNOTATION], "ca/key.bin");
  assert.equal(secret.metadata.labels[STATE_LABEL], "meshfed");
  assert.equal(secret.data.value, Buffer.from(bytes).toString("base64"));
  await store.put("ca/key.bin", "second");
  assert.equal(Buffer.from((await store.get("ca/key.bin"))!).toString(), "second");
  await store.delete("ca/key.bin");
  await store.delete("ca/key.bin");
  assert.equal(await store.get("ca/key.bin"), undefined);
  await store.put("ca/key.bin", "after delete");
  assert.equal(Buffer.from((await store.get("ca/key.bin"))!).toString(), "after delete");
  for (const bad of ["", "Upper", "a//b", "../x", "a/./b", "sp ace"]) {
    await assert.rejects(store.get(bad), (err) => errorCode(err) === "MESHFED_STORE_BAD_KEY", bad);
  }
});

test("kubernetes store: list is one level under the prefix, sorted, this store's Secrets only", async (t) => {
  const { kubeConfig } = await kubeHarness(t);
  const store = new KubernetesStore({ kubeConfig, namespace: NS });
  const other = new KubernetesStore({ kubeConfig, namespace: NS, name: "other" });
  for (const key of ["certificates/b", "certificates/a", "certificates/a/nested", "tokens/x"]) await store.put(key, key);
  await other.put("certificates/c", "c");
  const listed = await store.list("certificates");
  assert.deepEqual(listed.map((e) => [e.key, Buffer.from(e.value).toString()]), [["certificates/a", "certificates/a"], ["certificates/b", "certificates/b"]]);
  assert.deepEqual((await other.list("certificates")).map((e) => e.key), ["certificates/c"]);
});

test("kubernetes store: optimistic concurrency: a write based on a stale read is refused, then succeeds after a re-read", async (t) => {
  const { kubeConfig } = await kubeHarness(t);
  const a = new KubernetesStore({ kubeConfig, namespace: NS });
  const b = new KubernetesStore({ kubeConfig, namespace: NS });
  await a.put("registry/k", "v1");
  assert.equal(Buffer.from((await b.get("registry/k"))!).toString(), "v1");
  await a.put("registry/k", "v2");
  await assert.rejects(b.put("registry/k", "stale"), (err) => errorCode(err) === "MESHFED_STORE_CONFLICT");
  assert.equal(Buffer.from((await b.get("registry/k"))!).toString(), "v2", "the other writer's value survived");
  await b.put("registry/k", "v3");
  // A blind write of a key this store never read is a create, and the existing object a conflict.
  const c = new KubernetesStore({ kubeConfig, namespace: NS });
  await assert.rejects(c.put("registry/k", "blind"), (err) => errorCode(err) === "MESHFED_STORE_CONFLICT");
  assert.equal(Buffer.from((await a.get("registry/k"))!).toString(), "v3");
});

test("kubernetes store: the certificate manager keeps its CA and registry across a restart", async (t) => {
  const { kubeConfig } = await kubeHarness(t);
  const first = await createCertificateManager({ store: new KubernetesStore({ kubeConfig, namespace: NS }), logger: silentLogger() });
  const { csrPem } = await generateSidecarKey();
  const proxyId = randomUUID();
  const issued = await first.issueProxyCertificate(csrPem, { proxyId, kind: "sidecar", service: { namespace: "bookstore", name: "bookstore" } });
  const restarted = await createCertificateManager({ store: new KubernetesStore({ kubeConfig, namespace: NS }), logger: silentLogger() });
  assert.equal(restarted.caBundle(), first.caBundle());
  assert.equal(restarted.certificate(issued.record.serial)?.proxyId, proxyId);
  assert.equal((await restarted.claim(issued.record.serial)).state, "claimed");
});
