import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MeshfedError } from "../../src/common/errors.js";
import { contextNamespace, kubernetesProviderConfigSchema, loadKubeConfig } from "../../src/controller/kube/index.js";

const kubeconfig = (server: string, contexts: string[], current = contexts[0]!) => [
  "apiVersion: v1",
  "kind: Config",
  "clusters:",
  `- name: c`,
  `  cluster: { server: "${server}", insecure-skip-tls-verify: true }`,
  "users:",
  "- name: u",
  "  user: { token: t }",
  "contexts:",
  ...contexts.map((c) => `- name: ${c}\n  context: { cluster: c, user: u, namespace: ns-${c} }`),
  `current-context: ${current}`,
  "",
].join("\n");

async function tmp(t: { after: (fn: () => unknown) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-kubeconfig-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}

const isConfigError = (pattern: RegExp) => (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_KUBE_CONFIG" && pattern.test(err.message);

test("schema defaults: inCluster auto, mesh name meshfed, SMI and MeshConfig on", () => {
  const c = kubernetesProviderConfigSchema.parse({});
  assert.deepEqual(c, {
    inCluster: "auto",
    meshName: "meshfed",
    backoff: { initial: 500, max: 30_000 },
    smi: true,
    meshConfig: { enabled: true, name: "meshfed-config", customResource: { enabled: true, name: "osm-mesh-config" } },
    injector: {
      enabled: false, address: "0.0.0.0:9443", path: "/mutate-pods", service: { name: "meshfed-controller" }, webhookConfiguration: "meshfed-sidecar-injector",
      patchCaBundle: true, sidecarImage: "flomesh/pipy:1.5.18", initImage: "openservicemesh/init:v1.2.0", excludeInboundPorts: [],
      excludeOutboundIPRanges: [], excludeOutboundPorts: [], includeOutboundIPRanges: [], includeOutboundPorts: [], controllerAddresses: [],
      orphanGracePeriod: 300_000, orphanSweepInterval: 60_000,
    },
  });
  assert.equal(kubernetesProviderConfigSchema.parse({ backoff: { initial: "1s" } }).backoff.initial, 1000);
});

test("schema rejects bad values and unknown fields", () => {
  for (const bad of [{ meshName: "-bad-" }, { meshName: "x".repeat(64) }, { inCluster: "yes" }, { kubeconfig: "" }, { meshConfig: { namespace: "Bad_NS" } }, { injector: { repoUrl: "http://plain:6060" } }, { injector: { address: "nowhere" } }, { injector: { path: "relative" } }, { typo: 1 }, { backoff: { max: "soon" } }]) {
    assert.equal(kubernetesProviderConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test("an explicit kubeconfig path, with and without a context", async (t) => {
  const dir = await tmp(t);
  const file = join(dir, "config");
  await writeFile(file, kubeconfig("http://127.0.0.1:1", ["a", "b"]));
  const kc = loadKubeConfig({ kubeconfig: file }, { env: {} });
  assert.equal(kc.getCurrentContext(), "a");
  assert.equal(kc.getCurrentCluster()?.server, "http://127.0.0.1:1");
  assert.equal(contextNamespace(kc), "ns-a");
  assert.equal(loadKubeConfig({ kubeconfig: file, context: "b" }, { env: {} }).getCurrentContext(), "b");
  assert.throws(() => loadKubeConfig({ kubeconfig: file, context: "nope" }, { env: {} }), isConfigError(/context "nope" not found \(known: a, b\)/));
  assert.throws(() => loadKubeConfig({ kubeconfig: join(dir, "missing") }, { env: {} }), isConfigError(/not found/));
  await writeFile(join(dir, "broken"), "clusters: [ {");
  assert.throws(() => loadKubeConfig({ kubeconfig: join(dir, "broken") }, { env: {} }), isConfigError(/broken/));
});

test("KUBECONFIG: a path list merged as kubectl does (first file's current-context wins)", async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, "one"), kubeconfig("http://127.0.0.1:1", ["one"]));
  await writeFile(join(dir, "two"), kubeconfig("http://127.0.0.1:2", ["two"]).replace(/name: c\b/g, "name: c2").replace(/cluster: c,/, "cluster: c2,").replace(/- name: u\b/, "- name: u2").replace(/user: u,/, "user: u2,"));
  const env = { KUBECONFIG: [join(dir, "one"), join(dir, "missing"), join(dir, "two")].join(":") };
  const kc = loadKubeConfig({}, { env, home: dir });
  assert.equal(kc.getCurrentContext(), "one");
  assert.deepEqual(kc.getContexts().map((c) => c.name), ["one", "two"]);
  assert.equal(loadKubeConfig({ context: "two" }, { env, home: dir }).getCurrentCluster()?.server, "http://127.0.0.1:2");
  // An explicit path beats KUBECONFIG.
  assert.equal(loadKubeConfig({ kubeconfig: join(dir, "two") }, { env, home: dir }).getCurrentContext(), "two");
});

test("in-cluster: the service account, chosen by inCluster true or auto in a pod", async (t) => {
  const dir = await tmp(t);
  const sa = join(dir, "var/run/secrets/kubernetes.io/serviceaccount");
  await mkdir(sa, { recursive: true });
  await writeFile(join(sa, "token"), "sa-token");
  await writeFile(join(sa, "ca.crt"), "");
  await writeFile(join(sa, "namespace"), "meshfed-system");
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  t.after(() => {
    for (const [k, v] of [["KUBERNETES_SERVICE_HOST", saved.host], ["KUBERNETES_SERVICE_PORT", saved.port]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
  process.env.KUBERNETES_SERVICE_PORT = "443";
  for (const inCluster of [true, "auto"] as const) {
    const kc = loadKubeConfig({ inCluster }, { env: process.env, inClusterPathPrefix: dir, home: dir });
    assert.equal(kc.getCurrentCluster()?.server, "https://10.96.0.1:443");
    assert.equal(contextNamespace(kc), "meshfed-system");
  }
  // A named kubeconfig wins over "auto".
  await writeFile(join(dir, "config"), kubeconfig("http://127.0.0.1:1", ["a"]));
  assert.equal(loadKubeConfig({ kubeconfig: join(dir, "config") }, { env: process.env, inClusterPathPrefix: dir }).getCurrentContext(), "a");
  delete process.env.KUBERNETES_SERVICE_HOST;
  assert.throws(() => loadKubeConfig({ inCluster: true }, { env: process.env, inClusterPathPrefix: dir }), isConfigError(/not running in a pod/));
});

test("nothing configured: an error naming the options, never a silent localhost:8080", async (t) => {
  const dir = await tmp(t);
  assert.throws(() => loadKubeConfig({ inCluster: false }, { env: {}, home: dir }), isConfigError(/--kubeconfig.*KUBECONFIG/));
  await mkdir(join(dir, ".kube"));
  await writeFile(join(dir, ".kube", "config"), kubeconfig("http://127.0.0.1:9", ["home"]));
  assert.equal(loadKubeConfig({}, { env: {}, home: dir }).getCurrentContext(), "home");
});
