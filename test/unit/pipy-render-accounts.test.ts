// The Pipy driver renders every identity a target may prove (issue 15 item
// 4): `identities` next to `identity` (its first), from the view's accounts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { ProxyView } from "../../src/controller/catalog/types.js";
import { CODEBASE } from "../../src/controller/drivers/pipy/codebase/index.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { PipyConfigV1 } from "../../src/controller/drivers/pipy/pipy-config.js";
import { effectiveConfigJson } from "../helpers/pipyjs.js";

const GOLDEN = fileURLToPath(new URL("../../../test/golden/pipy/accounts.config.json", import.meta.url));
const sa = (name: string) => ({ kind: "ServiceAccount" as const, namespace: "bookstore", name });

/** osm-edge's bookstore with one account behind v1 and v2, plus a canary of v1 under a second account. */
const view: ProxyView = {
  proxy: { id: "22222222-2222-4222-8222-222222222222", service: { namespace: "bookstore", name: "bookbuyer" }, identity: sa("bookbuyer") },
  inbound: { permissive: false, endpoints: [{ ip: "127.0.0.2", port: 8080 }], rules: [] },
  outbound: [
    {
      service: { namespace: "bookstore", name: "bookstore" }, identity: sa("bookstore"), ports: [14001], endpoints: [], protocols: { 14001: "grpc" },
      split: {
        trafficSplit: "bookstore/bookstore-split", matches: [],
        backends: [
          { service: { namespace: "bookstore", name: "bookstore-v1" }, weight: 50, endpoints: [{ ip: "127.0.0.3", port: 14001 }, { ip: "127.0.0.6", port: 14001 }], identities: [sa("bookstore"), sa("bookstore-canary")], protocols: { 14001: "grpc" } },
          { service: { namespace: "bookstore", name: "bookstore-v2" }, weight: 50, endpoints: [{ ip: "127.0.0.4", port: 14001 }], identities: [sa("bookstore")], protocols: { 14001: "grpc" } },
          // No identities: the backend's service-named account (the view's contract).
          { service: { namespace: "bookstore", name: "bookstore-v0" }, weight: 0, endpoints: [] },
        ],
      },
    },
    {
      service: { namespace: "bookstore", name: "bookstore-v1" }, identity: sa("bookstore"), identities: [sa("bookstore"), sa("bookstore-canary")],
      ports: [14001], endpoints: [{ ip: "127.0.0.3", port: 14001 }, { ip: "127.0.0.6", port: 14001 }], protocols: { 14001: "grpc" },
    },
    { service: { namespace: "bookstore", name: "bookwarehouse" }, identity: sa("warehouse"), ports: [8080], endpoints: [{ ip: "127.0.0.7", port: 8080 }] },
  ],
};

// The merged config (config.json + view.json through /config.js): the bytes of the single config.json before the split.
const render = (): string => effectiveConfigJson(new PipyDriver({ trustDomain: "cluster.local" }).render(view).files);

test("golden: accounts view renders every identity of each target", async () => {
  const actual = render();
  if (process.env.UPDATE_GOLDEN === "1") await writeFile(GOLDEN, actual);
  assert.equal(actual, await readFile(GOLDEN, "utf8"), `${GOLDEN} differs; rerun with UPDATE_GOLDEN=1 if the change is intended`);
});

test("identities: sorted, deduplicated, first = identity; a backend without a list proves its service name", () => {
  const config = JSON.parse(render()) as PipyConfigV1;
  const [root, v1, warehouse] = config.outbound.services;
  assert.deepEqual(root!.split!.backends.map((b) => [b.service, b.identity, b.identities]), [
    ["bookstore/bookstore-v1", "bookstore.bookstore.svc.cluster.local", ["bookstore-canary.bookstore.svc.cluster.local", "bookstore.bookstore.svc.cluster.local"]],
    ["bookstore/bookstore-v2", "bookstore.bookstore.svc.cluster.local", ["bookstore.bookstore.svc.cluster.local"]],
    ["bookstore/bookstore-v0", "bookstore-v0.bookstore.svc.cluster.local", ["bookstore-v0.bookstore.svc.cluster.local"]],
  ]);
  assert.equal(v1!.direct!.identity, "bookstore.bookstore.svc.cluster.local");
  assert.deepEqual(v1!.direct!.identities, ["bookstore-canary.bookstore.svc.cluster.local", "bookstore.bookstore.svc.cluster.local"]);
  assert.deepEqual(warehouse!.direct!.identities, ["warehouse.bookstore.svc.cluster.local"], "the account, not the service's name");
  assert.equal(config.proxy.identity, "bookbuyer.bookstore.svc.cluster.local");
});

/** Runs a PipyJS module's top level in Node with stub globals (as pipy-codebase.test.ts does). */
function loadModule(path: string, imports: Record<string, unknown>, globals: Record<string, unknown>): Record<string, (...args: unknown[]) => unknown> {
  const source = CODEBASE.find((m) => m.path === path)!.source;
  const names: string[] = [];
  const values: unknown[] = [];
  const body = source
    .replace(/^import (\w+) from '([^']+)'$/gm, (_m, name: string, from: string) => {
      names.push(name);
      values.push(imports[from]);
      return "";
    })
    .replace(/^export default /m, "return ");
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const fn = new Function(...names, ...Object.keys(globals), body) as (...a: unknown[]) => Record<string, (...args: unknown[]) => unknown>;
  return fn(...values, ...Object.values(globals));
}

test("tls.js accepts a peer proving any identity of the target's list; outbound.js verifies against the list", () => {
  const tls = loadModule("/tls.js", { "/config.js": JSON.parse(render()) }, { pipy: { load: () => null }, crypto: {} });
  const cert = (sans: string[]) => ({ subject: { commonName: "x" }, subjectAltNames: sans });
  const list = ["bookstore-canary.bookstore.svc.cluster.local", "bookstore.bookstore.svc.cluster.local"];
  assert.equal(tls.hasIdentity!(cert(["bookstore-canary.bookstore.svc.cluster.local"]), list), true);
  assert.equal(tls.hasIdentity!(cert(["bookstore.bookstore.svc.cluster.local"]), list), true);
  assert.equal(tls.hasIdentity!(cert(["bookthief.bookstore.svc.cluster.local"]), list), false);
  assert.equal(tls.hasIdentity!(cert(["bookstore.bookstore.svc.cluster.local"]), "bookstore.bookstore.svc.cluster.local"), true, "a single name still works");
  assert.match(CODEBASE.find((m) => m.path === "/outbound.js")!.source, /tls\.hasIdentity\(cert, \$target\.identities\)/);
  assert.match(CODEBASE.find((m) => m.path === "/balancing.js")!.source, /identities: t\.identities \|\| \[t\.identity\]/);
});
