/**
 * Mesh VIPs survive controller restarts (kill -9 included) and every replica
 * on a shared store answers the same ones (docs/dataplane.md "Mesh names").
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanupStack } from "../helpers/cleanup.js";
import { getJson, startControllerProcess } from "../helpers/controller-process.js";
import { etcdAvailable, startEtcd } from "../helpers/etcd-process.js";
import { startReplicaProcess } from "../helpers/replicas.js";
import { scaled, waitFor } from "../helpers/wait.js";

const HOSTS = [
  "hosts:",
  "  - { name: s1, address: 10.1.0.1, services: [{ name: bookstore, namespace: shop, port: 14001 }] }",
  "  - { name: b1, address: 10.1.0.2, services: [{ name: bookbuyer, namespace: shop, port: 8080 }] }",
  "  - { name: w1, address: 10.1.0.3, services: [{ name: warehouse, namespace: shop, port: 9000 }] }",
].join("\n") + "\n";

interface Catalog { services: Array<{ namespace: string; name: string; vip?: string }> }

async function vipsOf(url: string): Promise<Record<string, string> | undefined> {
  const catalog = (await getJson(`${url}/api/v1/catalog`)) as Catalog;
  const out: Record<string, string> = {};
  for (const s of catalog.services) {
    if (s.vip === undefined) return undefined;
    out[`${s.namespace}/${s.name}`] = s.vip;
  }
  return Object.keys(out).length === 3 ? out : undefined;
}

test("GET /api/v1/catalog shows one VIP per service, the same after kill -9 and restart (file store)", { timeout: scaled(120_000) }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mfdns-restart-"));
  const defer = cleanupStack(t);
  defer(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, "hosts.yaml"), HOSTS);
  const args = ["--data-dir", join(dir, "data"), "--hosts", join(dir, "hosts.yaml")];
  const first = await startControllerProcess(args);
  defer(() => first.stop("SIGKILL"));
  const vips = await waitFor(() => vipsOf(first.url), { what: "a VIP for every service", timeoutMs: 60_000 });
  assert.equal(new Set(Object.values(vips)).size, 3, "distinct addresses");
  for (const ip of Object.values(vips)) assert.match(ip, /^24\d\.|^25[0-5]\./, "from the default range 240.0.0.0/4");
  assert.equal(await first.stop("SIGKILL"), "SIGKILL");

  const second = await startControllerProcess(args);
  defer(() => second.stop("SIGKILL"));
  assert.deepEqual(await waitFor(() => vipsOf(second.url), { what: "VIPs after the restart", timeoutMs: 60_000 }), vips);
});

test("two replicas on one etcd answer the same VIPs, and a new replica after both died keeps them", { timeout: scaled(180_000) }, async (t) => {
  if (!etcdAvailable(t)) return;
  const etcd = await startEtcd(t);
  const withHosts = {
    config: async (dir: string) => {
      await writeFile(join(dir, "hosts.yaml"), HOSTS);
      return "providers:\n  onprem:\n    hostsFile: hosts.yaml\n";
    },
  };
  const [a, b] = await Promise.all([startReplicaProcess(etcd, "replica-a", withHosts), startReplicaProcess(etcd, "replica-b", withHosts)]);
  const fromA = await waitFor(() => vipsOf(a.url), { what: "VIPs on replica a", timeoutMs: 60_000 });
  assert.deepEqual(await waitFor(() => vipsOf(b.url), { what: "VIPs on replica b", timeoutMs: 60_000 }), fromA);
  await a.stop("SIGKILL");
  await b.stop("SIGKILL");
  const c = await startReplicaProcess(etcd, "replica-c", withHosts);
  assert.deepEqual(await waitFor(() => vipsOf(c.url), { what: "VIPs on replica c", timeoutMs: 60_000 }), fromA);
});
