import { test } from "node:test";
import assert from "node:assert/strict";
import { MeshCatalog } from "../../src/controller/catalog/catalog.js";
import { silentLogger } from "../../src/common/logger.js";
import type { CertificateRecord } from "../../src/controller/certificates/types.js";
import { FakeConnected, FakeProvider, FakeSpec } from "../helpers/fake-sources.js";

const cert = (serial: string, service: string, state: CertificateRecord["state"], proxyId = `proxy-${serial}`): CertificateRecord => ({
  serial, kind: "proxy", identity: `spiffe://cluster.local/ns/x/svc/y/proxy/${proxyId}`, service, proxyId,
  notBefore: "2026-01-01T00:00:00.000Z", notAfter: "2027-01-01T00:00:00.000Z", state,
});

test("participants are issued ∩ connected ∩ discovered; everything else names its missing legs", (t) => {
  const onprem = new FakeProvider("onprem");
  onprem.set("shop/web", ["10.0.0.1:80", "10.0.0.2:80"], false);
  onprem.set("shop/db", ["10.0.0.3:5432"], false);
  const certs = [cert("aa", "shop/web", "claimed"), cert("bb", "shop/api", "unclaimed"), cert("cc", "shop/web", "revoked")];
  const connected = new FakeConnected();
  connected.proxies = [
    { proxyId: "proxy-aa", service: { namespace: "shop", name: "web" }, serial: "aa", addresses: ["10.0.0.1"], connectedAt: "now" },
    { proxyId: "proxy-cc", service: { namespace: "shop", name: "web" }, serial: "cc", addresses: ["10.9.9.9"], connectedAt: "now" },
  ];
  const catalog = new MeshCatalog({
    providers: [onprem], spec: new FakeSpec(), certificates: { certificates: () => certs }, connected,
    providerPriority: [], permissive: false, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());

  const report = catalog.participants();
  assert.deepEqual(report.participants, [{ service: "shop/web", identity: "shop/web", proxyId: "proxy-aa", serial: "aa", endpoints: [{ ip: "10.0.0.1", port: 80 }] }]);
  const rows = report.incomplete.map((r) => `${r.kind} ${r.service} ${r.ip ?? r.serial} ${r.missing.join(",")}`);
  assert.deepEqual(rows.sort(), [
    "certificate shop/api bb connected,discovered",
    "endpoint shop/db 10.0.0.3 issued,connected",
    "endpoint shop/web 10.0.0.2 connected",
    "proxy shop/web cc issued,discovered",
  ]);
});

test("with nobody connected, every discovered endpoint lacks the connected leg", (t) => {
  const onprem = new FakeProvider("onprem");
  onprem.set("shop/web", ["10.0.0.1:80"], false);
  const catalog = new MeshCatalog({
    providers: [onprem], spec: new FakeSpec(), certificates: { certificates: () => [] }, connected: new FakeConnected(),
    providerPriority: [], permissive: false, logger: silentLogger(),
  });
  const ac = new AbortController();
  catalog.start(ac.signal);
  t.after(() => ac.abort());
  assert.deepEqual(catalog.participants(), {
    participants: [],
    incomplete: [{ kind: "endpoint", service: "shop/web", ip: "10.0.0.1", port: 80, sources: ["onprem"], missing: ["issued", "connected"] }],
  });
});
