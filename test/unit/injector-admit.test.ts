import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/common/logger.js";
import { createCertificateManager } from "../../src/controller/certificates/index.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { SidecarInjector, type InjectorKubeApi } from "../../src/controller/injector/index.js";
import type { AdmissionRequest } from "../../src/controller/injector/admission-review.js";
import type { BootstrapSecret } from "../../src/controller/injector/kube-api.js";
import { BootstrapRecords } from "../../src/controller/injector/bootstrap-records.js";
import { MemoryStore } from "../helpers/certificates.js";

/** A hand-written fake of the injector's API border: namespaces by name, Secrets recorded. */
class FakeApi implements Pick<InjectorKubeApi, "createSecret" | "getNamespaceLabels"> {
  readonly secrets: BootstrapSecret[] = [];
  readonly namespaceReads: string[] = [];
  constructor(readonly namespaces: Record<string, Record<string, string>>, readonly failReads = false) {}
  async createSecret(secret: BootstrapSecret): Promise<void> {
    this.secrets.push(secret);
  }
  async getNamespaceLabels(name: string): Promise<Record<string, string> | undefined> {
    this.namespaceReads.push(name);
    if (this.failReads) throw new Error("connection refused");
    return this.namespaces[name];
  }
}

async function injector(api: FakeApi, selecting: readonly string[] = ["bookstore"]) {
  const store = new MemoryStore();
  const certificates = await createCertificateManager({ store, logger: silentLogger() });
  return new SidecarInjector({
    records: new BootstrapRecords(store, silentLogger()),
    driver: new PipyDriver({ trustDomain: "cluster.local" }),
    certificates, api, meshName: "meshfed", logger: silentLogger(),
    namespaces: { isMeshed: (ns) => ns === "cached", servicesSelecting: () => selecting },
    bootstrap: { repoUrl: "https://meshfed-controller.meshfed-system.svc:6060", sidecarImage: "pipy", initImage: "init", excludeInboundPorts: [] },
  });
}

function request(namespace: string, annotations?: Record<string, string>): AdmissionRequest {
  return {
    uid: "u1", kind: { group: "", version: "v1", kind: "Pod" }, namespace, operation: "CREATE",
    object: { metadata: { generateName: "web-", labels: { app: "web" }, ...(annotations ? { annotations } : {}) }, spec: { containers: [{ name: "app", ports: [{ containerPort: 8080 }] }] } },
  };
}

test("meshed namespace: the cache answers; on a miss the API is asked, since the label may not have reached the cache yet", async () => {
  const api = new FakeApi({ fresh: { "meshfed.io/monitored-by": "meshfed" }, other: { "meshfed.io/monitored-by": "another-mesh" }, plain: {} });
  const inj = await injector(api);
  const cases: Array<{ ns: string; patched: boolean; reads: number }> = [
    { ns: "cached", patched: true, reads: 0 },
    { ns: "fresh", patched: true, reads: 1 },
    { ns: "other", patched: false, reads: 1 },
    { ns: "plain", patched: false, reads: 1 },
    { ns: "missing", patched: false, reads: 1 },
  ];
  for (const c of cases) {
    const before = api.namespaceReads.length;
    const r = await inj.admit(request(c.ns));
    assert.equal(r.response.allowed, true, c.ns);
    assert.equal(r.response.patch !== undefined, c.patched, c.ns);
    assert.equal(api.namespaceReads.length - before, c.reads, c.ns);
  }
  assert.deepEqual(api.secrets.map((s) => s.namespace), ["cached", "fresh"]);
});

test("a namespace that cannot be read is a denial with the reason, not a pod without its proxy", async () => {
  const api = new FakeApi({}, true);
  const r = await (await injector(api)).admit(request("fresh"));
  assert.equal(r.response.allowed, false);
  assert.equal(r.response.status?.code, 500);
  assert.match(r.response.status?.message ?? "", /could not read namespace fresh: connection refused/);
  assert.equal(api.secrets.length, 0);
});

test("the proxy's service: annotation, else the selecting Service (several: first, with a warning); a bad annotation is denied", async () => {
  const api = new FakeApi({});
  const annotated = await (await injector(api, [])).admit(request("cached", { "meshfed.io/service": "web" }));
  assert.equal(api.secrets.at(-1)?.annotations["meshfed.io/service"], "web");
  assert.equal(annotated.response.warnings, undefined);
  const several = await (await injector(api, ["a-web", "b-web"])).admit(request("cached"));
  assert.equal(api.secrets.at(-1)?.annotations["meshfed.io/service"], "a-web");
  assert.match(several.response.warnings?.join() ?? "", /several Services select this pod \(a-web, b-web\)/);
  const bad = await (await injector(api)).admit(request("cached", { "meshfed.io/service": "Not_A_Name" }));
  assert.equal(bad.response.allowed, false);
  assert.match(bad.response.status?.message ?? "", /meshfed\.io\/service="Not_A_Name" is not a Service name/);
});

test("capture annotations: a pod's outbound exclusions and inclusions add to the configured ones; a malformed one refuses the pod, naming it", async () => {
  const api = new FakeApi({});
  const inj = await injector(api);
  const r = await inj.admit(request("cached", {
    "meshfed.io/outbound-port-exclusion-list": "5432, 6379",
    "meshfed.io/outbound-ip-range-exclusion-list": "10.200.0.0/16",
    "meshfed.io/inbound-port-exclusion-list": "8080",
  }));
  assert.equal(r.response.allowed, true);
  const patch = JSON.parse(Buffer.from(r.response.patch!, "base64").toString("utf8")) as Array<{ path: string; value: unknown }>;
  const init = JSON.stringify(patch.find((op) => op.path.startsWith("/spec/initContainers"))!.value);
  assert.match(init, /--dports 5432,6379 -j RETURN/);
  assert.match(init, /-d 10.200.0.0\/16 -j RETURN/);
  assert.doesNotMatch(init, /--dport 8080 -j REDIRECT/, "the inbound exclusion annotation leaves 8080 plain");
  for (const [key, value] of [["meshfed.io/outbound-port-exclusion-list", "80,http"], ["meshfed.io/outbound-ip-range-inclusion-list", "fd00::/8"]] as const) {
    const denied = await inj.admit(request("cached", { [key]: value }));
    assert.equal(denied.response.allowed, false, key);
    assert.match(denied.response.status?.message ?? "", new RegExp(key.replace(/[./]/g, "\\$&")));
  }
  assert.equal(api.secrets.length, 1, "a refused pod gets no bootstrap Secret");
});
