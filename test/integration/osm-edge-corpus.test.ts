// osm-edge's demo SMI objects and policy objects (test/corpus/osm-edge), written out as a user
// applies them, through both stores: the file store reads the directory as it
// is; the CRD store gets the SMI objects POSTed, at the apiVersion each was
// written in, to a fake API server that enforces meshfed's own CRD schemas.
// Both must give the same spec and the proxy views osm-edge would give.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { silentLogger } from "../../src/common/logger.js";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { FileMeshSpec } from "../../src/controller/spec/files/file-mesh-spec.js";
import { KubernetesMeshSpec } from "../../src/controller/spec/kubernetes/crd-mesh-spec.js";
import type { MeshSpec, MeshSpecSnapshot } from "../../src/controller/spec/types.js";
import { captureLogger } from "../helpers/certificates.js";
import { FakeConnected, FakeProvider } from "../helpers/fake-sources.js";
import { loadCrdSchemas } from "../fakes/crd-schemas.js";
import { kubeHarness, type KubeHarness } from "../fakes/kube-api-harness.js";
import { FAKE_TOKEN, RESOURCES } from "../fakes/kube-api-server.js";

const CORPUS = fileURLToPath(new URL("../../../test/corpus/osm-edge/", import.meta.url));
const SMI_KINDS = new Set(["TrafficSplit", "TrafficTarget", "HTTPRouteGroup", "TCPRoute"]);
const POLICY_KINDS = new Set(["Egress", "IngressBackend", "UpstreamTrafficSetting", "Retry"]);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  [k: string]: unknown;
}

async function corpus(): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const name of (await readdir(CORPUS)).filter((n) => n.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(await readFile(`${CORPUS}${name}`, "utf8"))) {
      assert.deepEqual(doc.errors, [], name);
      const obj = doc.toJS() as Manifest | null;
      if (obj !== null) out.push(obj);
    }
  }
  return out;
}

/** `kubectl create -f` for one custom resource: POST at the version it was written in. */
async function post(api: KubeHarness["api"], obj: Manifest): Promise<{ status: number; body: { message?: string } }> {
  const type = Object.values(RESOURCES).find((r) => r.kind === obj.kind)!;
  const res = await fetch(`${api.url}/apis/${obj.apiVersion}/namespaces/${obj.metadata.namespace}/${type.plural}`, {
    method: "POST",
    headers: { authorization: `Bearer ${FAKE_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(obj),
  });
  return { status: res.status, body: (await res.json()) as { message?: string } };
}

const withoutOrigin = (s: MeshSpecSnapshot): unknown => JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === "origin" ? undefined : v)));

/** The demo's workloads; on VMs a service's identity is its own name, as the demo's per-version ServiceAccounts. */
function catalogFor(t: { after: (fn: () => unknown) => void }, spec: MeshSpec): MeshCatalog {
  const hosts = new FakeProvider("onprem");
  hosts.set("bookbuyer/bookbuyer", ["10.1.0.1:8080"], false);
  hosts.set("bookthief/bookthief", ["10.1.0.2:8080"], false);
  hosts.set("bookstore/bookstore-v1", ["10.1.0.11:14001"], false);
  hosts.set("bookstore/bookstore-v2", ["10.1.0.12:14001"], false);
  hosts.set("bookwarehouse/bookwarehouse", ["10.1.0.21:14001"], false);
  hosts.set("bookwarehouse/mysql", ["10.1.0.31:3306"], false);
  const catalog = new MeshCatalog({
    providers: [hosts], spec, certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: false, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  return catalog;
}

const view = (catalog: MeshCatalog, key: string): ProxyView => {
  const [namespace, name] = key.split("/") as [string, string];
  return catalog.proxyView({ proxyId: `p-${name}`, service: { namespace, name } });
};

/** Who may call whom, over what, with which weights: what osm-edge gives for the demo. */
function assertOsmEdgeViews(catalog: MeshCatalog): void {
  const buyer = view(catalog, "bookbuyer/bookbuyer");
  assert.deepEqual(buyer.outbound.map((o) => `${o.service.namespace}/${o.service.name}`), ["bookstore/bookstore", "bookstore/bookstore-v1", "bookstore/bookstore-v2"]);
  assert.deepEqual(buyer.outbound[0]!.split?.backends.map((b) => [b.service.name, b.weight, b.endpoints.length]), [["bookstore-v1", 75, 1], ["bookstore-v2", 25, 1]]);
  assert.deepEqual(view(catalog, "bookthief/bookthief").outbound, [], "deny by default: bookthief is in no TrafficTarget");

  for (const version of ["bookstore-v1", "bookstore-v2"]) {
    const store = view(catalog, `bookstore/${version}`);
    assert.deepEqual(store.inbound.rules.map((r) => [r.trafficTarget, r.sources.map((s) => `${s.namespace}/${s.name}`)]), [[`bookstore/bookbuyer-access-${version}`, ["bookbuyer/bookbuyer"]]]);
    // The target names two of the group's three matches; update-books-bought stays closed.
    assert.deepEqual(store.inbound.rules[0]!.httpMatches, [
      { name: "books-bought", pathRegex: "/books-bought", methods: ["GET"], headers: { "user-agent": ".*-http-client/*.*", "client-app": "bookbuyer" } },
      { name: "buy-a-book", pathRegex: ".*a-book.*new", methods: ["GET"], headers: {} },
    ]);
    assert.deepEqual(store.outbound.map((o) => `${o.service.namespace}/${o.service.name}`), ["bookwarehouse/bookwarehouse"]);
  }

  const warehouse = view(catalog, "bookwarehouse/bookwarehouse");
  assert.deepEqual(warehouse.inbound.rules.map((r) => r.sources.map((s) => s.name)), [["bookstore-v1", "bookstore-v2"]]);
  assert.deepEqual(warehouse.inbound.rules[0]!.httpMatches, [{ name: "restock-books", methods: ["POST"], headers: {} }]);
  assert.deepEqual(warehouse.outbound.map((o) => `${o.service.namespace}/${o.service.name}`), ["bookwarehouse/mysql"]);

  const mysql = view(catalog, "bookwarehouse/mysql");
  assert.deepEqual(mysql.inbound.rules.map((r) => ({ target: r.trafficTarget, sources: r.sources.map((s) => s.name), http: r.httpMatches.length, tcp: r.tcpPorts, any: r.anyTcpPort })), [
    { target: "bookwarehouse/mysql", sources: ["bookwarehouse"], http: 0, tcp: [3306], any: false },
  ]);
  assert.deepEqual(mysql.outbound, []);
}

test("osm-edge corpus through the file store: every mesh object loads, the rest is passed over with a note", async (t) => {
  const { logger, lines } = captureLogger();
  const files = new FileMeshSpec({ dir: CORPUS, logger });
  const ac = new AbortController();
  t.after(() => ac.abort());
  await files.start(ac.signal);
  assert.deepEqual(files.errors(), []);
  assert.equal(files.status().state, "synced");
  const s = files.snapshot();
  assert.deepEqual([s.trafficSplits.length, s.trafficTargets.length, s.httpRouteGroups.length, s.tcpRoutes.length], [1, 4, 3, 1]);
  assert.deepEqual([s.egresses.length, s.ingressBackends.length, s.upstreamTrafficSettings.length, s.retries.length], [4, 3, 3, 1]);
  const note = lines.find((l) => l.msg === "non-mesh objects skipped");
  assert.ok(note, "an info line names the non-mesh objects");
  assert.equal(note.level, 30, "info, not a warning");
  assert.equal(note.nonMesh, 7);
  assert.ok((note.objects as string[]).includes("MeshConfig osm-system/osm-mesh-config (" + CORPUS + "mesh-config.yaml#1)"), JSON.stringify(note.objects));
  assert.equal(lines.filter((l) => (l.level as number) >= 40).length, 0, "no warning or error");
  assertOsmEdgeViews(catalogFor(t, files));
});

test("osm-edge corpus as custom resources: our CRD schemas admit each object as written, the spec equals the file store's", async (t) => {
  const h = await kubeHarness(t, { crdSchemas: await loadCrdSchemas() });
  const objects = (await corpus()).filter((o) => SMI_KINDS.has(o.kind) || POLICY_KINDS.has(o.kind));
  assert.equal(objects.length, 20);
  for (const obj of objects) {
    const r = await post(h.api, obj);
    assert.equal(r.status, 201, `${obj.kind} ${obj.metadata.name}: ${r.body.message ?? ""}`);
  }
  // The enforcement is real: what no schema allows is refused, as the API server would.
  const bad = structuredClone(objects.find((o) => o.kind === "TrafficSplit")!);
  bad.metadata.name = "bad-split";
  (bad.spec as { backends: { weight: unknown }[] }).backends[0]!.weight = "75";
  const refused = await post(h.api, bad);
  assert.equal(refused.status, 422);
  assert.match(refused.body.message ?? "", /spec\.backends\[0\]\.weight: Invalid value: "string": must be of type number/);

  const spec = new KubernetesMeshSpec({ kubeConfig: h.kubeConfig, logger: silentLogger(), backoff: { initialMs: 20, maxMs: 80 } });
  await spec.start(h.ac.signal);
  t.after(() => spec.stopped());
  assert.deepEqual(spec.errors(), []);
  assert.equal(spec.status().state, "synced");

  const files = new FileMeshSpec({ dir: CORPUS, logger: silentLogger() });
  const ac = new AbortController();
  t.after(() => ac.abort());
  await files.start(ac.signal);
  assert.deepEqual(withoutOrigin(spec.snapshot()), withoutOrigin(files.snapshot()));
  assertOsmEdgeViews(catalogFor(t, spec));
});
