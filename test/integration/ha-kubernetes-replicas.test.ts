/**
 * Two controller replicas in this process on `store: kubernetes`, sharing
 * one fake API server (docs/ha.md "Replicas on Kubernetes"): one CA, one
 * leader on the meshfed-leader Lease, an agent enrolled on A connecting to B
 * with the same certificate, endpoints announced at one replica in the
 * other's catalog, and gone from it when that replica stops.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import { startController, type RunningController } from "../../src/controller/main.js";
import { kubeHarness, type KubeHarness } from "../fakes/kube-api-harness.js";
import { cleanupStack } from "../helpers/cleanup.js";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { failOnLeaks } from "../helpers/leak-guard.js";
import { scaled, waitFor } from "../helpers/wait.js";

// A timer, socket or process left behind fails this file by name instead of hanging it.
failOnLeaks();

const NS = "meshfed-system";

interface ReplicaStatus {
  replicaId: string;
  leader: boolean;
  leaderId: string | null;
  store: string;
}

interface KubeReplica extends RunningController {
  api<T = unknown>(path: string, body?: unknown): Promise<T>;
}

async function startKubeReplicas(t: TestContext, h: KubeHarness, ids: string[]): Promise<KubeReplica[]> {
  const defer = cleanupStack(t);
  const dir = await mkdtemp(join(tmpdir(), "meshfed-kube-ha-"));
  defer(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const file = join(dir, "controller.yaml");
  await writeFile(file, `store: kubernetes\ndriver: json\nha:\n  leaseTtl: 2s\ncatalog:\n  coalesce: 10ms\nproviders:\n  kubernetes:\n    kubeconfig: ${h.kubeconfig}\n    smi: false\n    injector:\n      enabled: false\n`);
  // Started together on an empty namespace: they must still end up with one CA.
  return Promise.all(ids.map(async (replicaId) => {
    const config = await loadControllerConfig(file, { dataDir: join(dir, replicaId), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", logLevel: "silent" });
    const controller = await startController({ ...config, ha: { ...config.ha, replicaId } }, silentLogger());
    defer(() => controller.close());
    return { ...controller, api: (path: string, body?: unknown) => api(controller.adminUrl, path, body) };
  }));
}

async function api<T>(base: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
  return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
}

async function endpointsOf(ctl: KubeReplica, service: string): Promise<string[]> {
  const snapshot = await ctl.api<{ services: Array<{ namespace: string; name: string; endpoints: Array<{ ip: string; port: number }> }> }>("/api/v1/catalog");
  return (snapshot.services.find((s) => `${s.namespace}/${s.name}` === service)?.endpoints ?? []).map((e) => `${e.ip}:${e.port}`).sort();
}

async function statuses(replicas: KubeReplica[]): Promise<ReplicaStatus[]> {
  return Promise.all(replicas.map((r) => r.api<ReplicaStatus>("/api/v1/replica")));
}

test("store: kubernetes, two replicas: one CA, one leader; an agent enrolled on A connects to B; endpoints cross over", { timeout: scaled(120_000) }, async (t) => {
  const h = await kubeHarness(t, { namespace: NS });
  const [a, b] = await startKubeReplicas(t, h, ["replica-a", "replica-b"]) as [KubeReplica, KubeReplica];
  const ca = await a.api<string>("/api/v1/ca");
  assert.equal(await b.api<string>("/api/v1/ca"), ca, "one CA");

  const status = await waitFor(async () => {
    const s = await statuses([a, b]);
    const leaders = s.filter((r) => r.leader);
    return leaders.length === 1 && s.every((r) => r.leaderId === leaders[0]!.replicaId) ? s : undefined;
  }, { what: "one leader both agree on", timeoutMs: 60_000 });
  assert.deepEqual(status.map((s) => s.store), ["kubernetes", "kubernetes"]);
  assert.equal((h.api.get("leases.coordination.k8s.io", NS, "meshfed-leader")?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, status.find((s) => s.leader)!.replicaId);

  // Enrolled on A, announced at A: B's catalog has the endpoint.
  const { token } = await a.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const { keyPem, response } = await enroll(a.grpcAddress, ca, token);
  const atA = new TestStream(a.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => atA.close());
  atA.hello(response.proxyId, ["127.0.0.7"], [{ ip: "127.0.0.7", port: 8080 }]);
  await atA.next((m) => m.message === "config", 10_000);
  assert.deepEqual(await waitFor(async () => ((await endpointsOf(b, "shop/web")).length > 0 ? endpointsOf(b, "shop/web") : undefined), { what: "A's endpoint in B's catalog", timeoutMs: 60_000 }), ["127.0.0.7:8080"]);

  // The agent moves to B with the certificate A issued: no new enrollment.
  atA.close();
  const atB = new TestStream(b.grpcAddress, ca, keyPem, response.certificatePem);
  t.after(() => atB.close());
  atB.hello(response.proxyId, ["127.0.0.7"], [{ ip: "127.0.0.7", port: 9090 }]);
  await atB.next((m) => m.message === "config", 10_000);
  assert.deepEqual(await waitFor(async () => ((await endpointsOf(a, "shop/web")).join() === "127.0.0.7:9090" ? endpointsOf(a, "shop/web") : undefined), { what: "B's announcement in A's catalog", timeoutMs: 60_000 }), ["127.0.0.7:9090"]);

  // B stops gracefully: its registration leaves A's catalog at once, and A leads.
  const stoppedAt = Date.now();
  atB.close();
  await b.close();
  await waitFor(async () => ((await endpointsOf(a, "shop/web")).length === 0 ? true : undefined), { what: "B's endpoint gone from A", timeoutMs: 5_000 });
  const onA = await waitFor(async () => {
    const s = await a.api<ReplicaStatus>("/api/v1/replica");
    return s.leader ? s : undefined;
  }, { what: "A leads after B stopped", timeoutMs: 60_000 });
  assert.equal(onA.leaderId, "replica-a");
  assert.ok(Date.now() - stoppedAt < 10_000);
});
