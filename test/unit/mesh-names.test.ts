import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMeshNames } from "../../src/controller/proxy-control-plane/mesh-names.js";
import { ProxySession, type ProxyStream } from "../../src/controller/proxy-control-plane/session.js";
import type { OutboundService, ProxyView } from "../../src/controller/catalog/types.js";

function view(outbound: Array<Partial<OutboundService> & { name: string }>): ProxyView {
  return {
    proxy: { id: "p", service: { namespace: "shop", name: "bookbuyer" }, identity: { kind: "ServiceAccount", namespace: "shop", name: "bookbuyer" } },
    inbound: { permissive: true, endpoints: [], rules: [] },
    outbound: outbound.map(({ name, ...rest }) => ({
      service: { namespace: "Shop", name }, identity: { kind: "ServiceAccount", namespace: "shop", name }, ports: [80], endpoints: [], ...rest,
    })),
  };
}

test("the name table: both names per outbound service with a VIP, lower case, sorted; services without a VIP are left out; the hash follows content only", () => {
  const table = buildMeshNames(view([{ name: "warehouse", vip: "240.0.0.9" }, { name: "Bookstore", vip: "240.0.0.7" }, { name: "novip" }]), "Cluster.Local");
  assert.deepEqual(table.zones, ["svc.cluster.local", "svc"]);
  assert.deepEqual(table.records, [
    { name: "bookstore.shop.svc", ipv4: ["240.0.0.7"] },
    { name: "bookstore.shop.svc.cluster.local", ipv4: ["240.0.0.7"] },
    { name: "warehouse.shop.svc", ipv4: ["240.0.0.9"] },
    { name: "warehouse.shop.svc.cluster.local", ipv4: ["240.0.0.9"] },
  ]);
  assert.match(table.hash, /^[0-9a-f]{64}$/);
  assert.equal(buildMeshNames(view([{ name: "Bookstore", vip: "240.0.0.7" }, { name: "warehouse", vip: "240.0.0.9" }]), "cluster.local").hash, table.hash, "order of the view does not matter");
  assert.notEqual(buildMeshNames(view([{ name: "Bookstore", vip: "240.0.0.8" }, { name: "warehouse", vip: "240.0.0.9" }]), "cluster.local").hash, table.hash);
});

test("a session sends the table only to an agent whose DNS asked for it, and only when its hash changes", () => {
  const written: unknown[] = [];
  const stream = { on: () => undefined, write: (m: unknown, cb?: () => void) => { written.push(m); cb?.(); return true; }, destroyed: false, writableEnded: false } as unknown as ProxyStream;
  const session = new ProxySession({ proxyId: "p", service: { namespace: "shop", name: "bookbuyer" }, serial: "1", peer: "x" }, stream);
  const table = buildMeshNames(view([{ name: "bookstore", vip: "240.0.0.7" }]), "cluster.local");
  assert.equal(session.wantsMeshNames, false, "an agent without DNS");
  assert.equal(session.pushMeshNames(table), false);
  session.dns = { state: "disabled", listen: "", hook: "none", namesHash: "", names: 0, detail: "" };
  assert.equal(session.wantsMeshNames, false);
  session.dns = { state: "serving", listen: "127.0.0.153:53", hook: "resolved", namesHash: table.hash, names: 2, detail: "" };
  assert.equal(session.pushMeshNames(table), false, "the agent already holds this table (from its Hello)");
  session.dns = { ...session.dns, namesHash: "" };
  assert.equal(session.pushMeshNames(table), true);
  assert.equal(session.pushMeshNames(table), false, "unchanged: not resent");
  assert.equal(written.length, 1);
  assert.deepEqual((written[0] as { meshNames: { hash: string } }).meshNames.hash, table.hash);
  assert.equal(session.info().dns?.namesHash, table.hash);
});
