// Where the sidecar's scrape port comes from and who is told about it
// (docs/operations.md "Sidecar metrics"): the pod patch and the pod repo's
// /scrape.json, the injector's prometheus.io annotations, the agent's
// proxy.metricsAddress. The port itself is proven with a real Pipy in
// test/pipy/sidecar-metrics.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkMetricsAddress, scrapeFiles } from "../../src/agent/scrape-file.js";
import { scrapeTargets } from "../../src/cli/scrape-targets.js";
import { agentConfig } from "../../src/agent/config.js";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { PipyDriver, SCRAPE_FILE } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { interceptedPorts, SIDECAR_ADMIN_PORT, SIDECAR_METRICS_PORT } from "../../src/controller/drivers/pipy/pipy-pod-patch.js";
import type { PodBootstrap } from "../../src/controller/drivers/types.js";
import { SidecarInjector, type InjectorKubeApi } from "../../src/controller/injector/index.js";
import type { AdmissionRequest } from "../../src/controller/injector/admission-review.js";
import { BootstrapRecords } from "../../src/controller/injector/bootstrap-records.js";
import { RepoVersions } from "../../src/controller/proxy-control-plane/pipy-repo-versions.js";
import { MemoryStore } from "../helpers/certificates.js";
import { applyJsonPatch } from "../fakes/json-patch.js";
import { noOutboundView } from "./pipy-fixtures.js";

const driver = new PipyDriver({ trustDomain: "cluster.local" });
const BOOTSTRAP: PodBootstrap = {
  proxyId: "0b7c5a1e-4c38-4f3e-9a57-2f0b1a9c0d11", secretName: "meshfed-proxy-x", repoUrl: "https://meshfed-controller.meshfed-system.svc:6060/",
  sidecarImage: "flomesh/pipy:1.5.18", initImage: "init:1", excludeInboundPorts: [],
};

interface Container { name: string; args?: string[]; ports?: Array<{ name?: string; containerPort: number }> }

test("pod: the sidecar declares its scrape port by name, keeps the admin port on loopback, and the port is never redirected", () => {
  const pod = { metadata: {}, spec: { containers: [{ name: "app", ports: [{ containerPort: 8080 }, { containerPort: SIDECAR_METRICS_PORT }] }] } };
  const patched = applyJsonPatch(structuredClone(pod), driver.patchPod(pod, BOOTSTRAP)) as { spec: { containers: Container[] } };
  const sidecar = patched.spec.containers.find((c) => c.name === "meshfed-proxy")!;
  assert.deepEqual(sidecar.ports, [{ name: "meshfed-metrics", containerPort: 15010, protocol: "TCP" }]);
  assert.ok(sidecar.args!.includes(`--admin-port=127.0.0.1:${SIDECAR_ADMIN_PORT}`), sidecar.args!.join(" "));
  assert.deepEqual(interceptedPorts(pod, BOOTSTRAP, { inboundPortOffset: 10000 }), [8080], "an app port of 15010 is not redirected to the inbound listeners");
});

test("pod: /scrape.json tells the sidecar the pod's ports, and the pod repo serves it with every version", async () => {
  const [file] = driver.podFiles();
  assert.equal(file!.path, SCRAPE_FILE);
  assert.deepEqual(JSON.parse(Buffer.from(file!.content).toString("utf8")), { admin: "127.0.0.1:15000", listen: "0.0.0.0:15010" });
  assert.equal(driver.podFiles()[0], file, "one frozen object, shared by every pod's version");

  const certificates = await createCertificateManager({ store: new MemoryStore(), logger: silentLogger() });
  const versions = new RepoVersions({
    driver, certificates,
    catalog: { proxyView: () => noOutboundView, proxyIdentity: () => ({ identity: noOutboundView.proxy.identity }) } as never,
  });
  const v = await versions.current(noOutboundView.proxy.id, noOutboundView.proxy.service);
  const manifest = v.manifest.trim().split("\n");
  assert.equal(manifest[0], "/main.js", "the entry stays first");
  assert.ok(manifest.includes(SCRAPE_FILE), v.manifest);
  assert.deepEqual(v.byPath.get(SCRAPE_FILE), Buffer.from(file!.content));
  // Cached until the next catalog change: the pod's own files (config.json, certificates) own their memory, no pool slices
  // that would keep an 8 KiB slab each resident; the shared scripts stay views of the driver's one copy.
  for (const path of ["/config.json", "/certs/service.crt", "/certs/service.key", "/certs/ca.pem"]) {
    const bytes = v.byPath.get(path)!;
    assert.ok(bytes.length > 0 && bytes.length < Buffer.poolSize / 2, `${path}: small enough for the pool`);
    assert.equal(bytes.buffer.byteLength, bytes.length, `${path} owns its buffer`);
  }
  const main = driver.render(noOutboundView).files.find((f) => f.path === "/main.js")!;
  assert.equal(v.byPath.get("/main.js")!.buffer, main.content.buffer, "the script is the driver's bytes, not a copy");
});

/** The injector's API border: namespaces by name (labels), Secrets accepted. */
class FakeApi implements Pick<InjectorKubeApi, "createSecret" | "getNamespaceLabels"> {
  reads = 0;
  constructor(readonly namespaces: Record<string, Record<string, string>>) {}
  async createSecret(): Promise<void> {}
  async getNamespaceLabels(name: string): Promise<Record<string, string> | undefined> {
    this.reads++;
    return this.namespaces[name];
  }
}

const MESHED = { "meshfed.io/monitored-by": "meshfed" };

async function injector(api: FakeApi, cachedWithMetrics: readonly string[]) {
  const store = new MemoryStore();
  return new SidecarInjector({
    records: new BootstrapRecords(store, silentLogger()),
    driver, certificates: await createCertificateManager({ store, logger: silentLogger() }), api, meshName: "meshfed", logger: silentLogger(),
    namespaces: { isMeshed: (ns) => ns.startsWith("cached"), wantsMetrics: (ns) => cachedWithMetrics.includes(ns), servicesSelecting: () => ["web"] },
    bootstrap: { repoUrl: "https://c:6060", sidecarImage: "pipy", initImage: "init", excludeInboundPorts: [] },
  });
}

function request(namespace: string, annotations?: Record<string, string>): AdmissionRequest {
  return {
    uid: "u1", kind: { group: "", version: "v1", kind: "Pod" }, namespace, operation: "CREATE",
    object: { metadata: { generateName: "web-", labels: { app: "web" }, ...(annotations ? { annotations } : {}) }, spec: { containers: [{ name: "app", ports: [{ containerPort: 8080 }] }] } },
  };
}

const patchOf = (patch: string | undefined) => JSON.parse(Buffer.from(patch ?? "", "base64").toString("utf8")) as Parameters<typeof applyJsonPatch>[1];

const PROMETHEUS = { "prometheus.io/scrape": "true", "prometheus.io/port": "15010", "prometheus.io/path": "/stats/prometheus" };

test("injector: prometheus.io annotations when the pod or its namespace asks for metrics, from the cache or the read that found the namespace", async () => {
  const api = new FakeApi({ "fresh-on": { ...MESHED, "meshfed.io/metrics": "enabled" }, "fresh-off": MESHED });
  const inj = await injector(api, ["cached-on"]);
  const cases: Array<{ name: string; ns: string; annotations?: Record<string, string>; want: boolean }> = [
    { name: "namespace label, from the cache", ns: "cached-on", want: true },
    { name: "no label, from the cache", ns: "cached-off", want: false },
    { name: "namespace label, read on a cache miss", ns: "fresh-on", want: true },
    { name: "no label, read on a cache miss", ns: "fresh-off", want: false },
    { name: "the pod opts in", ns: "cached-off", annotations: { "meshfed.io/metrics": "enabled" }, want: true },
    { name: "the pod opts out of its namespace's choice", ns: "cached-on", annotations: { "meshfed.io/metrics": "disabled" }, want: false },
  ];
  for (const c of cases) {
    const r = await inj.admit(request(c.ns, c.annotations));
    assert.equal(r.response.allowed, true, c.name);
    const pod = applyJsonPatch(structuredClone(request(c.ns, c.annotations).object), patchOf(r.response.patch)) as { metadata: { annotations: Record<string, string> } };
    const got = Object.fromEntries(Object.entries(pod.metadata.annotations).filter(([k]) => k.startsWith("prometheus.io/")));
    assert.deepEqual(got, c.want ? PROMETHEUS : {}, c.name);
    assert.ok(pod.metadata.annotations["meshfed.io/proxy-id"], c.name);
  }
  assert.equal(api.reads, 2, "the namespace is read only when the cache does not know it as meshed");
});

test("injector: a pod's own prometheus.io annotations are kept (with a warning); a malformed meshfed.io/metrics refuses the pod", async () => {
  const inj = await injector(new FakeApi({}), ["cached-on"]);
  const own = { "prometheus.io/scrape": "true", "prometheus.io/port": "9102" };
  const r = await inj.admit(request("cached-on", own));
  const pod = applyJsonPatch(structuredClone(request("cached-on", own).object), patchOf(r.response.patch)) as { metadata: { annotations: Record<string, string> } };
  assert.equal(pod.metadata.annotations["prometheus.io/port"], "9102");
  assert.equal(pod.metadata.annotations["prometheus.io/path"], undefined);
  assert.match((r.response.warnings ?? []).join("\n"), /own prometheus\.io\/port, prometheus\.io\/scrape annotations are kept/);

  const bad = await inj.admit(request("cached-on", { "meshfed.io/metrics": "yes" }));
  assert.equal(bad.response.allowed, false);
  assert.match(bad.response.status?.message ?? "", /meshfed\.io\/metrics: "yes" is neither "enabled" nor "disabled"/);
});

test("agent: proxy.metricsAddress defaults to every address, port 15090; \"off\" serves none; a collision with the repo or admin port is refused", () => {
  const base = { controller: "c:15128", caFile: "/ca.pem", service: "shop/web" };
  const config = agentConfig(base);
  assert.equal(config.proxy.metricsAddress, "0.0.0.0:15090");
  const [file] = scrapeFiles(config.proxy);
  assert.equal(file!.path, "/scrape.json");
  assert.deepEqual(JSON.parse(file!.content.toString("utf8")), { admin: "127.0.0.1:6060", listen: "0.0.0.0:15090" });
  assert.deepEqual(scrapeFiles({ ...config.proxy, metricsAddress: "off" }), []);
  assert.equal(agentConfig({ ...base, proxy: { metricsAddress: "off" } }).proxy.metricsAddress, "off");
  assert.throws(() => agentConfig({ ...base, proxy: { metricsAddress: "metrics.example:15090" } }), /expected IP:PORT/);

  const cases: Array<{ metrics: string; admin: string; ok: boolean }> = [
    { metrics: "0.0.0.0:15090", admin: "127.0.0.1:6060", ok: true },
    { metrics: "0.0.0.0:15010", admin: "127.0.0.1:6060", ok: false },
    { metrics: "10.0.0.5:15010", admin: "127.0.0.1:6060", ok: true },
    { metrics: "0.0.0.0:6060", admin: "127.0.0.1:6060", ok: false },
    { metrics: "127.0.0.1:6060", admin: "127.0.0.1:6060", ok: false },
    { metrics: "off", admin: "127.0.0.1:15010", ok: true },
  ];
  for (const c of cases) {
    const run = () => checkMetricsAddress({ metricsAddress: c.metrics, adminAddress: c.admin }, "127.0.0.1:15010");
    if (c.ok) assert.doesNotThrow(run, c.metrics);
    else assert.throws(run, { code: "MESHFED_AGENT_CONFIG_INVALID" }, c.metrics);
  }
});

test("meshfed proxies --scrape-targets: one file_sd group per agent, on its first address, sorted; proxies without an address left out", () => {
  const rows = [
    { proxyId: "b", service: "shop/web", addresses: ["10.0.0.6", "192.168.1.6"] },
    { proxyId: "a", service: "shop/db", addresses: ["fd00::5"] },
    { proxyId: "c", service: "shop/batch", addresses: [] },
  ];
  assert.deepEqual(scrapeTargets(rows, 15090), [
    { targets: ["[fd00::5]:15090"], labels: { meshfed_proxy: "a", meshfed_service: "shop/db" } },
    { targets: ["10.0.0.6:15090"], labels: { meshfed_proxy: "b", meshfed_service: "shop/web" } },
  ]);
});
