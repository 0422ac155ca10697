// Golden files for the Pipy driver's config, and the properties every render
// must have: entry first, deterministic, key order irrelevant, no keys. The
// goldens hold the merged config (config.json + view.json through /config.js),
// which is byte for byte the single config.json of before the split.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { PipyDriver, PIPY_CONFIG_SCHEMA } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { reverseKeys, splitView, VIEWS } from "./pipy-fixtures.js";
import { effectiveConfig, effectiveConfigJson } from "../helpers/pipyjs.js";

// Goldens live in the source tree (test/golden/pipy), found from dist*/test/unit.
const GOLDEN = fileURLToPath(new URL("../../../test/golden/pipy/", import.meta.url));
const driver = new PipyDriver({ trustDomain: "cluster.local" });

const configJson = effectiveConfigJson;

for (const [name, view] of Object.entries(VIEWS)) {
  test(`golden: ${name} view renders the expected config (config.json + view.json)`, async () => {
    const actual = configJson(driver.render(view).files);
    const file = `${GOLDEN}${name}.config.json`;
    if (process.env.UPDATE_GOLDEN === "1") await writeFile(file, actual);
    assert.equal(actual, await readFile(file, "utf8"), `${file} differs; rerun with UPDATE_GOLDEN=1 if the change is intended`);
  });
}

test("the manifest starts with /main.js and ends with /view.json, /config.json; every module is there", () => {
  const { files, driver: name } = driver.render(splitView);
  assert.equal(name, "pipy");
  assert.deepEqual(files.map((f) => f.path), [
    "/main.js", "/config.js", "/tls.js", "/routing.js", "/balancing.js", "/replies.js", "/retry.js", "/circuit-breaker.js", "/rate-limit.js", "/inbound.js", "/outbound.js", "/tcp.js", "/transparent.js", "/cidr.js", "/egress.js", "/ingress.js", "/metrics.js", "/scrape.js", "/health.js", "/view.json", "/config.json",
  ]);
});

test("rendering is deterministic: same view, same hash; key order does not matter", () => {
  for (const view of Object.values(VIEWS)) {
    const a = driver.render(view);
    const b = driver.render(structuredClone(view));
    const c = driver.render(reverseKeys(view));
    assert.equal(a.hash, b.hash);
    assert.equal(a.hash, c.hash);
    assert.equal(configJson(a.files), configJson(c.files));
    assert.match(a.hash, /^[0-9a-f]{64}$/);
  }
});

test("a change in the view changes the hash; a new driver instance does not", () => {
  const base = driver.render(splitView).hash;
  assert.equal(new PipyDriver({ trustDomain: "cluster.local" }).render(splitView).hash, base);
  const reweighted = structuredClone<typeof splitView>(splitView);
  const split = reweighted.outbound[0]!.split!;
  (split.backends[0] as { weight: number }).weight = 50;
  (split.backends[1] as { weight: number }).weight = 50;
  assert.notEqual(driver.render(reweighted).hash, base);
  assert.notEqual(new PipyDriver({ trustDomain: "example.org" }).render(splitView).hash, base);
});

test("config.json is schema v1, names identities by DNS name and carries no key material", () => {
  for (const view of Object.values(VIEWS)) {
    const { files } = driver.render(view);
    const config = effectiveConfig(files) as { schema: string; proxy: { identity: string } };
    assert.equal(config.schema, PIPY_CONFIG_SCHEMA);
    assert.match(config.proxy.identity, /^[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local$/);
    for (const f of files) assert.doesNotMatch(Buffer.from(f.content).toString("utf8"), /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  }
});

test("ports: inbound = endpoint port + offset on the endpoint address; outbound targets are peers' inbound ports", () => {
  const config = JSON.parse(configJson(new PipyDriver({ trustDomain: "cluster.local", inboundPortOffset: 20000 }).render(splitView).files)) as {
    inbound: { listeners: Array<{ listen: string; target: string }> };
    outbound: { listen: string; services: Array<{ split?: { backends: Array<{ endpoints: string[]; weight: number; identity: string }> } }> };
  };
  assert.deepEqual(config.inbound.listeners.map((l) => [l.listen, l.target]), [["127.0.0.2:28080", "127.0.0.2:8080"]]);
  assert.equal(config.outbound.listen, "127.0.0.2:15001", "a loopback proxy binds its own loopback address");
  const backends = config.outbound.services[0]!.split!.backends;
  assert.deepEqual(backends.map((b) => [b.identity, b.weight, b.endpoints]), [
    ["bookstore-v1.bookstore.svc.cluster.local", 80, ["127.0.0.3:28080", "127.0.0.4:28080"]],
    ["bookstore-v2.bookstore.svc.cluster.local", 20, ["127.0.0.5:28080"]],
  ]);
});
