import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorCode } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { startController } from "../../src/controller/main.js";
import { kubernetesProviderConfigSchema } from "../../src/controller/kube/index.js";
import { kubeHarness } from "../fakes/kube-api-harness.js";
import { applyJsonPatch, type JsonPatchOperation } from "../fakes/json-patch.js";
import { slice } from "../fakes/kube-api-objects.js";
import { appPod, podReview, startInjectorFixture, webhookConfiguration, WEBHOOK_CONFIGURATION, type InjectorFixture } from "./kubernetes-injector-fixture.js";
import { waitFor } from "../helpers/wait.js";

interface Review {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patchType?: string; patch?: string; status?: { code: number; message: string }; warnings?: string[] };
}

interface Container { name: string; image: string; args?: string[]; command?: string[]; volumeMounts?: Array<{ name: string; mountPath: string }> }
interface Pod {
  metadata: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[]; volumes?: Array<{ name: string; secret?: { secretName: string } }> };
  status?: unknown;
}

interface CertificateRow { serial: string; kind: string; state: string; proxyId?: string; service: string }

async function admit(f: InjectorFixture, ns: string, pod: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Review> {
  const r = await f.post(podReview(ns, pod, extra));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Review;
}

function patched(pod: Record<string, unknown>, review: Review): Pod {
  assert.equal(review.response.patchType, "JSONPatch");
  const ops = JSON.parse(Buffer.from(review.response.patch ?? "", "base64").toString("utf8")) as JsonPatchOperation[];
  return applyJsonPatch(pod, ops) as unknown as Pod;
}

function get(url: string, options: { cert: string; key: string; ca: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Chain only, no host name check: what Pipy does (PIPY-NOTES.md "TLS to the repo").
    const req = request(url, { ...options, agent: false, checkServerIdentity: () => undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("webhook: caBundle patched at start, plain pod injected with a bootstrap Secret, its proxy unclaimed → claimed → participant", async (t) => {
  const f = await startInjectorFixture(t);
  const { api } = f.h;

  // The controller set the CA into the webhook configuration at start, with a conditional JSON patch.
  const mwc = api.get("mutatingwebhookconfigurations.admissionregistration.k8s.io", undefined, WEBHOOK_CONFIGURATION) as unknown as { webhooks: Array<{ clientConfig: { caBundle?: string } }> };
  assert.equal(Buffer.from(mwc.webhooks[0]!.clientConfig.caBundle ?? "", "base64").toString("utf8"), f.ca);
  assert.equal(api.count("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io"), 1);

  const pod = appPod();
  const review = await admit(f, "bookstore", pod);
  assert.equal(review.apiVersion, "admission.k8s.io/v1");
  assert.equal(review.kind, "AdmissionReview");
  assert.equal(review.response.allowed, true);
  const out = patched(pod, review);
  const proxyId = out.metadata.annotations?.["meshfed.io/proxy-id"] ?? "";
  assert.match(proxyId, /^[0-9a-f-]{36}$/);
  assert.equal(out.metadata.annotations?.["meshfed.io/service"], "bookstore");
  assert.deepEqual(out.spec.containers.map((c) => c.name), ["app", "meshfed-proxy"]);
  assert.deepEqual(out.spec.initContainers?.map((c) => c.name), ["meshfed-init"]);
  const secretName = `meshfed-proxy-${proxyId}`;
  assert.deepEqual(out.spec.volumes, [{ name: "meshfed-bootstrap", secret: { secretName, defaultMode: 0o444 } }]);
  const sidecar = out.spec.containers[1]!;
  assert.equal(sidecar.args?.[0], `https://meshfed-controller.meshfed-system.svc:${f.controller.repoAddress?.split(":").pop()}/repo/${proxyId}/`);
  assert.ok(sidecar.args?.includes("--tls-trusted=/etc/meshfed/ca.pem"));
  assert.deepEqual(sidecar.volumeMounts, [{ name: "meshfed-bootstrap", mountPath: "/etc/meshfed", readOnly: true }]);
  // 8080 is redirected to the sidecar's inbound listener; 8081 is probed by the kubelet and left alone.
  const script = out.spec.initContainers[0]!.command![2]!;
  assert.match(script, /--dport 8080 -j REDIRECT --to-ports 18080/);
  assert.doesNotMatch(script, /--dport 8081/);

  // The bootstrap Secret, created through the API in the pod's namespace.
  const secret = api.get("secrets", "bookstore", secretName) as unknown as { data: Record<string, string>; metadata: { labels: Record<string, string> } };
  assert.ok(secret, "bootstrap Secret created");
  assert.equal(secret.metadata.labels["meshfed.io/proxy-id"], proxyId);
  const file = (name: string) => Buffer.from(secret.data[name] ?? "", "base64").toString("utf8");
  assert.equal(file("ca.pem"), f.ca);
  assert.match(file("proxy.key"), /BEGIN PRIVATE KEY/);

  const certificate = () => f.controller.api<CertificateRow[]>("/api/v1/certificates").then((rows) => rows.find((c) => c.proxyId === proxyId));
  assert.equal((await certificate())?.state, "unclaimed");
  assert.equal((await certificate())?.service, "bookstore/bookstore");

  // The pod starts (name assigned, IP given) and its endpoint appears in the Service's EndpointSlice.
  const podIp = "10.244.1.7";
  api.apply("pods", { ...(out as unknown as { metadata: Record<string, unknown> }), metadata: { ...out.metadata, name: "bookstore-7d9f-x2x8q", namespace: "bookstore" }, status: { phase: "Running", podIP: podIp, podIPs: [{ ip: podIp }] } });
  // Another (uninjected) replica's endpoint is in the same slice: not this sidecar's inbound.
  api.apply("endpointslices.discovery.k8s.io", slice("bookstore", "bookstore-abc12", "bookstore", [{ addresses: [podIp], pod: "bookstore-7d9f-x2x8q" }, { addresses: ["10.244.2.9"], pod: "bookstore-7d9f-other" }]));

  // Before the sidecar polls: issued and discovered, not connected.
  await waitFor(() => f.controller.catalog.participants().incomplete.some((r) => r.kind === "certificate" && r.proxyId === proxyId && r.missing.join() === "connected"), { what: "certificate row missing only the connection", timeoutMs: 3000 });

  // The sidecar's first poll with the Secret's certificate claims it (from 127.0.0.1; the pod's address comes from the pod cache).
  const repo = `https://127.0.0.1:${f.controller.repoAddress?.split(":").pop()}/repo/${proxyId}/`;
  const tls = { cert: file("proxy.crt"), key: file("proxy.key"), ca: file("ca.pem") };
  assert.equal((await get(repo, tls)).status, 200);
  assert.equal((await certificate())?.state, "claimed");
  // Its config listens only on its own pod's address, at the port the init container redirects to.
  const config = JSON.parse((await get(`${repo}config.json`, tls)).body) as { inbound: { listeners: Array<{ listen: string; target: string }> } };
  assert.deepEqual(config.inbound.listeners.map((l) => [l.listen, l.target]), [[`${podIp}:18080`, `${podIp}:8080`]]);

  const report = await f.controller.api<{ participants: Array<{ service: string; identity: string; proxyId: string; pod?: string; endpoints: Array<{ ip: string; port: number }> }> }>("/api/v1/participants");
  assert.deepEqual(report.participants.find((p) => p.proxyId === proxyId), {
    // The pod runs as ServiceAccount bookstore: that is its identity.
    service: "bookstore/bookstore", identity: "bookstore/bookstore", proxyId, serial: (await certificate())?.serial, endpoints: [{ ip: podIp, port: 8080 }], pod: "bookstore/bookstore-7d9f-x2x8q",
  });

  // Re-admitting the injected pod (reinvocation) changes nothing and issues nothing.
  const again = await admit(f, "bookstore", out as unknown as Record<string, unknown>);
  assert.equal(again.response.allowed, true);
  assert.equal(again.response.patch, undefined);
  assert.equal(api.count("create", "secrets"), 1);
});

test("webhook: a deleted pod's bootstrap Secret is deleted and its proxy certificate revoked by the leader's sweep", async (t) => {
  // The grace period covers admission → pod in the cache, which a loaded machine can stretch.
  const f = await startInjectorFixture(t, { orphanGracePeriod: "2s", orphanSweepInterval: "100ms" });
  const { api } = f.h;
  const certificate = (proxyId: string) => f.controller.api<CertificateRow[]>("/api/v1/certificates").then((rows) => rows.find((c) => c.proxyId === proxyId));
  const injectPod = async (name: string) => {
    const out = patched(appPod(), await admit(f, "bookstore", appPod()));
    const proxyId = out.metadata.annotations?.["meshfed.io/proxy-id"] ?? "";
    api.apply("pods", { ...(out as unknown as Record<string, unknown>), metadata: { ...out.metadata, name, namespace: "bookstore" }, status: { phase: "Running", podIP: "10.244.1.8" } });
    return proxyId;
  };
  const kept = await injectPod("bookstore-7d9f-keep1");
  const deleted = await injectPod("bookstore-7d9f-gone1");
  // Admitted, then refused by something after us (quota, another webhook): the pod never exists.
  const neverCreated = patched(appPod(), await admit(f, "bookstore", appPod())).metadata.annotations?.["meshfed.io/proxy-id"] ?? "";

  api.remove("pods", "bookstore", "bookstore-7d9f-gone1");
  await waitFor(async () => api.get("secrets", "bookstore", `meshfed-proxy-${deleted}`) === undefined && (await certificate(deleted))?.state === "revoked", { what: "the deleted pod's Secret and certificate cleaned up", timeoutMs: 60_000 });
  // The Secret goes first, the certificate right after it.
  await waitFor(async () => api.get("secrets", "bookstore", `meshfed-proxy-${neverCreated}`) === undefined && (await certificate(neverCreated))?.state === "revoked", { what: "the never-created pod's Secret and certificate cleaned up", timeoutMs: 60_000 });
  // Many sweeps later the live pod still has its Secret and its certificate.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(api.get("secrets", "bookstore", `meshfed-proxy-${kept}`), "the live pod keeps its Secret");
  assert.equal((await certificate(kept))?.state, "unclaimed");
  assert.equal(api.count("delete", "secrets"), 2);
});

test("webhook: no patch for opted-out, non-meshed, hostNetwork, unselected pods and non-Pod objects; dry run has no side effects", async (t) => {
  const f = await startInjectorFixture(t);
  const { api } = f.h;
  const cases: Array<{ name: string; ns: string; pod: Record<string, unknown>; extra?: Record<string, unknown>; warning?: RegExp }> = [
    { name: "opted out", ns: "bookstore", pod: appPod({ "meshfed.io/sidecar-injection": "disabled" }) },
    { name: "namespace not meshed", ns: "plain", pod: appPod() },
    { name: "hostNetwork", ns: "bookstore", pod: { ...appPod(), spec: { ...(appPod().spec as object), hostNetwork: true } } },
    { name: "already has the sidecar container", ns: "bookstore", pod: { ...appPod(), spec: { containers: [{ name: "app", image: "a" }, { name: "meshfed-proxy", image: "p" }] } } },
    { name: "UPDATE, not CREATE", ns: "bookstore", pod: appPod(), extra: { operation: "UPDATE" } },
    { name: "not a Pod", ns: "bookstore", pod: { metadata: { name: "x" } }, extra: { kind: { group: "apps", version: "v1", kind: "Deployment" } } },
    {
      name: "no Service selects it, default service account", ns: "bookstore",
      pod: { metadata: { name: "job-1", labels: { app: "batch" } }, spec: { containers: [{ name: "job", image: "j" }] } },
      warning: /no Service selects this pod/,
    },
  ];
  for (const c of cases) {
    const review = await admit(f, c.ns, c.pod, c.extra);
    assert.equal(review.response.allowed, true, c.name);
    assert.equal(review.response.patch, undefined, c.name);
    if (c.warning) assert.match(review.response.warnings?.join("\n") ?? "", c.warning, c.name);
  }
  assert.equal(api.count("create", "secrets"), 0);

  // Dry run: the patch is shown, nothing is issued or created (sideEffects: NoneOnDryRun).
  const before = (await f.controller.api<unknown[]>("/api/v1/certificates")).length;
  const dry = await admit(f, "bookstore", appPod(), { dryRun: true });
  assert.equal(dry.response.allowed, true);
  assert.ok(patched(appPod(), dry).spec.containers.some((c) => c.name === "meshfed-proxy"));
  assert.match(dry.response.warnings?.join() ?? "", /dry run/);
  assert.equal(api.count("create", "secrets"), 0);
  assert.equal((await f.controller.api<unknown[]>("/api/v1/certificates")).length, before);
});

test("webhook: malformed reviews get a clear denial (uid readable) or HTTP 400, never a crash", async (t) => {
  const f = await startInjectorFixture(t);
  const notJson = await f.post("{not json");
  assert.equal(notJson.status, 400);
  assert.equal((notJson.body as { error: { code: string } }).error.code, "MESHFED_ADMISSION_INVALID");
  assert.match((notJson.body as { error: { message: string } }).error.message, /not JSON/);

  const noRequest = await f.post({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" });
  assert.equal(noRequest.status, 400);
  assert.match((noRequest.body as { error: { message: string } }).error.message, /request/);

  const wrongVersion = await f.post({ ...podReview("bookstore", appPod()), apiVersion: "admission.k8s.io/v1beta1" });
  assert.equal(wrongVersion.status, 200);
  const wv = wrongVersion.body as Review;
  assert.equal(wv.apiVersion, "admission.k8s.io/v1");
  assert.equal(wv.response.allowed, false);
  assert.equal(wv.response.status?.code, 400);
  assert.match(wv.response.status?.message ?? "", /apiVersion must be admission\.k8s\.io\/v1/);

  const review = podReview("bookstore", { metadata: {}, spec: { containers: [] } });
  const badPod = await f.post(review);
  assert.equal(badPod.status, 200);
  const bp = badPod.body as Review;
  assert.equal(bp.response.uid, (review.request as { uid: string }).uid);
  assert.equal(bp.response.allowed, false);
  assert.match(bp.response.status?.message ?? "", /not a valid Pod: spec\.containers/);

  const huge = await f.post(`{"pad":"${"x".repeat(5 * 1024 * 1024)}"}`);
  assert.equal(huge.status, 413);
  assert.equal((huge.body as { error: { code: string } }).error.code, "MESHFED_ADMISSION_TOO_LARGE");

  assert.equal((await f.post("{}", { method: "GET" })).status, 405);
  assert.equal((await f.post(podReview("bookstore", appPod()), { path: "/other" })).status, 404);
  assert.equal(f.h.api.count("create", "secrets"), 0);
});

test("controller start: the injector without repo.address, or with the json driver, is a clear config error", async (t) => {
  const h = await kubeHarness(t, { namespace: "meshfed-system" });
  h.api.apply("mutatingwebhookconfigurations.admissionregistration.k8s.io", webhookConfiguration());
  const dir = await mkdtemp(join(tmpdir(), "meshfed-injector-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const base = await loadControllerConfig(undefined, { dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0" });
  const kubernetes = kubernetesProviderConfigSchema.parse({ kubeconfig: h.kubeconfig, smi: false, injector: { enabled: true, address: "127.0.0.1:0" } });
  const cases: Array<{ name: string; config: ControllerConfig; message: RegExp }> = [
    { name: "no repo", config: { ...base, providers: { ...base.providers, kubernetes } }, message: /needs repo\.address/ },
    { name: "json driver", config: { ...base, driver: "json", repo: { address: "127.0.0.1:0" }, providers: { ...base.providers, kubernetes } }, message: /"json" driver has no sidecar/ },
  ];
  for (const c of cases) {
    await assert.rejects(startController(c.config, silentLogger()), (err) => {
      assert.equal(errorCode(err), "MESHFED_INJECTOR_CONFIG", c.name);
      assert.match((err as Error).message, c.message, c.name);
      return true;
    });
  }
});
