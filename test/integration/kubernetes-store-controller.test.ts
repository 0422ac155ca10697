/**
 * `store: kubernetes` end to end: the controller keeps its CA, registry and
 * join tokens in Secrets of its namespace, so a controller started afresh
 * (new pod, empty data directory) against the same cluster keeps them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import { startController } from "../../src/controller/main.js";
import { KubernetesStore, STATE_LABEL } from "../../src/controller/store/kubernetes-store.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";
import { cleanupStack } from "../helpers/cleanup.js";

const NS = "meshfed-system";

test("store: kubernetes: a controller started afresh on the same cluster keeps the CA, the registry and the tokens", async (t) => {
  const h = await kubeHarness(t, { namespace: NS });
  const dir = await mkdtemp(join(tmpdir(), "meshfed-kstore-"));
  const defer = cleanupStack(t);
  defer(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const file = join(dir, "controller.yaml");
  await writeFile(file, `store: kubernetes\nproviders:\n  kubernetes:\n    kubeconfig: ${h.kubeconfig}\n    smi: false\n`);
  const start = async (dataDir: string) => {
    const config = await loadControllerConfig(file, { dataDir: join(dir, dataDir), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", logLevel: "silent" });
    const controller = await startController(config, silentLogger());
    defer(() => controller.close());
    return controller;
  };

  const first = await start("pod-1");
  const ca = await (await fetch(`${first.adminUrl}/api/v1/ca`)).text();
  const created = await fetch(`${first.adminUrl}/api/v1/tokens`, { method: "POST", body: JSON.stringify({ service: "shop/web", ttl: "1h", uses: 1 }), headers: { "content-type": "application/json" } });
  assert.equal(created.status, 201, await created.clone().text());
  const info = (await created.json()) as { id: string };
  const certificates = (await (await fetch(`${first.adminUrl}/api/v1/certificates`)).json()) as Array<{ serial: string }>;
  assert.ok(certificates.length > 0, "the controller's own serving certificate is on record");
  const caSecret = h.api.get("secrets", NS, new KubernetesStore({ kubeConfig: h.kubeConfig, namespace: NS }).secretName("ca/key.pem")) as { metadata: { labels: Record<string, string> } } | undefined;
  assert.equal(caSecret?.metadata.labels[STATE_LABEL], "meshfed", `the CA key is a labelled Secret in ${NS}`);
  await first.close();

  // A new pod: another, empty data directory; the same cluster.
  const second = await start("pod-2");
  assert.equal(await (await fetch(`${second.adminUrl}/api/v1/ca`)).text(), ca, "same CA");
  const again = (await (await fetch(`${second.adminUrl}/api/v1/certificates`)).json()) as Array<{ serial: string }>;
  for (const c of certificates) assert.ok(again.some((r) => r.serial === c.serial), `certificate ${c.serial} still on record`);
  const tokens = (await (await fetch(`${second.adminUrl}/api/v1/tokens`)).json()) as Array<{ id: string }>;
  assert.ok(tokens.some((tk) => tk.id === info.id), "the join token survived");
});

test("store: kubernetes without the providers.kubernetes block is a named configuration error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-kstore-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const config = await loadControllerConfig(undefined, { dataDir: join(dir, "d"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", logLevel: "silent", store: "kubernetes" });
  await assert.rejects(startController(config, silentLogger()), (err: Error & { code?: string }) => err.code === "MESHFED_STORE_BAD_URL" && /providers\.kubernetes/.test(err.message));
});
