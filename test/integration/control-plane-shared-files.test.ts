// Content-addressed files (issue 17) against the real controller with the
// Pipy driver: an agent of the previous version (no FileCache in its Hello)
// keeps getting every file in full, exactly as before (the codebase, the
// shared /view.json and its /config.json, which /config.js merges); an agent
// with FileCache gets the shared codebase and view once with their hashes,
// then by reference, and a reconnect that lists the hashes gets references
// only. Two proxies of one service get the very same view.json.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";
import { CODEBASE } from "../../src/controller/drivers/pipy/codebase/index.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { ControllerMessage__Output } from "../../src/common/proto.js";
import { effectiveConfig } from "../helpers/pipyjs.js";
import { WEB_TO_DB } from "../helpers/smi-web-to-db.js";

const HOSTS = (dbAddress: string) => `hosts:
  - name: web-1
    address: 127.0.0.2
    services: [{ name: web, namespace: shop, port: 8080 }]
  - name: db-1
    address: ${dbAddress}
    services: [{ name: db, namespace: shop, port: 5432 }]
`;


const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const CODEBASE_HASHES = CODEBASE.map((m) => sha256(Buffer.from(m.source, "utf8")));

async function start(t: TestContext, driver?: PipyDriver) {
  const ctl = await startTestController(t, { hosts: HOSTS("127.0.0.3"), smi: { "access.yaml": WEB_TO_DB }, ...(driver ? { driver } : {}) });
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 1 });
  const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
  const open = (fileCache?: { supported: boolean; sha256: string[] }, held = { version: 0, hash: "" }) => {
    const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
    t.after(() => stream.close());
    stream.send({ hello: {
      proxyId: response.proxyId, hostAddresses: ["127.0.0.2"], endpoints: [{ ip: "127.0.0.2", port: 8080 }],
      agentVersion: "test", proxyVersion: "", configVersion: held.version, configHash: held.hash, ...(fileCache ? { fileCache } : {}),
    } });
    return stream;
  };
  return { ctl, open, proxyId: response.proxyId };
}

const configs = (s: TestStream) => s.messages.filter((m) => m.message === "config").map((m) => m.config!);
const ack = (s: TestStream, c: NonNullable<ControllerMessage__Output["config"]>) => s.send({ ack: { version: c.version, hash: c.hash, ok: true, error: "" } });

async function moveDb(ctl: TestController, address: string): Promise<void> {
  await writeFile(ctl.hostsFile, HOSTS(address));
}

test("an agent of the previous version (no FileCache) gets every file in full, without hashes, at every push", async (t) => {
  const { ctl, open } = await start(t);
  const stream = open();
  const first = (await stream.next((m) => m.message === "config", 10_000)).config!;
  ack(stream, first);
  await moveDb(ctl, "127.0.0.4");
  const second = (await stream.next((m) => m.message === "config" && m.config!.version > first.version, 10_000)).config!;
  for (const c of [first, second]) {
    assert.deepEqual(c.files.slice(0, CODEBASE.length).map((f) => f.path), CODEBASE.map((m) => `/${m.path.replace(/^\//, "")}`));
    for (const [i, m] of CODEBASE.entries()) assert.equal(Buffer.from(c.files[i]!.content).toString("utf8"), m.source, `${m.path} in version ${c.version}`);
    for (const f of c.files) {
      assert.equal(f.byReference, false);
      assert.equal(f.sha256, "");
      assert.ok(f.content.length > 0);
    }
  }
  for (const c of [first, second]) assert.deepEqual(c.files.slice(CODEBASE.length).map((f) => f.path), ["/view.json", "/config.json"]);
  // The db's new address is in the shared part; the scripts (config.js, as Pipy runs it) see it merged with the proxy's own part.
  assert.ok(Buffer.from(second.files.at(-2)!.content).includes("127.0.0.4"));
  const merged = effectiveConfig(second.files) as { proxy: { service: string }; inbound: { listeners: Array<{ target: string }> }; outbound: { services: Array<{ service: string; direct: { endpoints: string[] } }> } };
  assert.equal(merged.proxy.service, "shop/web");
  assert.deepEqual(merged.inbound.listeners.map((l) => l.target), ["127.0.0.2:8080"]);
  assert.deepEqual(merged.outbound.services.map((x) => [x.service, x.direct.endpoints]), [["shop/db", ["127.0.0.4:15432"]]]);
});

test("an agent with FileCache gets the codebase once with its hashes, then by reference; a reconnect listing them gets references only", async (t) => {
  const { ctl, open } = await start(t);
  const stream = open({ supported: true, sha256: [] });
  const first = (await stream.next((m) => m.message === "config", 10_000)).config!;
  ack(stream, first);
  const shared = first.files.slice(0, CODEBASE.length);
  assert.deepEqual(shared.map((f) => f.sha256), CODEBASE_HASHES, "shared files carry their sha256");
  for (const f of shared) {
    assert.equal(f.byReference, false);
    assert.equal(sha256(f.content), f.sha256);
  }
  const view = first.files.at(-2)!;
  assert.equal(view.path, "/view.json");
  assert.equal(sha256(view.content), view.sha256, "the shared view carries its sha256");
  const own = first.files.at(-1)!;
  assert.equal(own.path, "/config.json");
  assert.equal(own.sha256, "", "the per-proxy file is not content-addressed");
  assert.ok(JSON.parse(Buffer.from(own.content).toString("utf8")).view === view.sha256, "config.json names its view by hash");

  await moveDb(ctl, "127.0.0.4");
  const second = (await stream.next((m) => m.message === "config" && m.config!.version > first.version, 10_000)).config!;
  ack(stream, second);
  assert.deepEqual(second.files.slice(0, CODEBASE.length).map((f) => [f.byReference, f.sha256, f.content.length]), CODEBASE_HASHES.map((h) => [true, h, 0]));
  // A new view (the db moved): in full with its hash; the agent holds the old one too.
  const newView = second.files.at(-2)!;
  assert.equal(newView.byReference, false);
  assert.notEqual(newView.sha256, view.sha256);
  assert.ok(Buffer.from(newView.content).includes("127.0.0.4"));
  // The config's hash is over the files' contents: the same whether they travel in full or by reference.
  stream.close();

  // A restarted agent: it holds the files (and not this config): references only, and the same hash as a full render.
  const held = [newView.sha256, ...CODEBASE_HASHES];
  const again = open({ supported: true, sha256: held });
  const third = (await again.next((m) => m.message === "config", 10_000)).config!;
  assert.equal(third.hash, second.hash);
  assert.ok(third.files.slice(0, -1).every((f) => f.byReference && f.content.length === 0));
  assert.equal(configs(again).length, 1);

  // One that lists only some of them (one was corrupted and deleted) gets exactly that one in full.
  const missing = CODEBASE_HASHES[2]!;
  const partial = open({ supported: true, sha256: held.filter((h) => h !== missing) });
  const fourth = (await partial.next((m) => m.message === "config", 10_000)).config!;
  const full = fourth.files.filter((f) => !f.byReference);
  assert.deepEqual(full.map((f) => f.sha256), [missing, ""]);
  assert.equal(sha256(full[0]!.content), missing);
});

test("two proxies of one service get the very same view.json (one render) and their own config.json", async (t) => {
  const ctl = await startTestController(t, { hosts: HOSTS("127.0.0.3"), smi: { "access.yaml": WEB_TO_DB } });
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/web", ttl: "10m", uses: 2 });
  const firsts = [];
  for (const address of ["127.0.0.2", "127.0.0.5"]) {
    const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
    const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
    t.after(() => stream.close());
    stream.send({ hello: {
      proxyId: response.proxyId, hostAddresses: [address], endpoints: [{ ip: address, port: 8080 }],
      agentVersion: "test", proxyVersion: "", configVersion: 0, configHash: "", fileCache: { supported: true, sha256: CODEBASE_HASHES },
    } });
    firsts.push({ address, stream });
  }
  // The first config may come before the agents provider has its endpoint: wait for the one with its own listener.
  const listening = async (x: { address: string; stream: TestStream }) => {
    const m = await x.stream.next((c) => c.message === "config" && Buffer.from(c.config!.files.at(-1)!.content).includes(`${x.address}:8080`), 15_000);
    return { address: x.address, config: m.config! };
  };
  const latest = [await listening(firsts[0]!), await listening(firsts[1]!)];
  const [a, b] = latest.map((x) => ({ address: x.address, view: x.config.files.at(-2)!, own: x.config.files.at(-1)! }));
  assert.equal(a!.view.path, "/view.json");
  assert.equal(a!.view.sha256, b!.view.sha256, "one shared view");
  // Each stream got it in full once (with its hash), later pushes of the same view by reference.
  const inFull = (x: { stream: TestStream }, sha: string) => configs(x.stream).flatMap((c) => c.files).find((f) => f.sha256 === sha && !f.byReference)!;
  const [fullA, fullB] = [inFull(firsts[0]!, a!.view.sha256), inFull(firsts[1]!, a!.view.sha256)];
  assert.equal(sha256(fullA.content), a!.view.sha256);
  assert.ok(Buffer.from(fullA.content).equals(Buffer.from(fullB.content)), "byte-equal shared parts");
  for (const x of [a!, b!]) {
    const own = JSON.parse(Buffer.from(x.own.content).toString("utf8")) as { view: string; inbound: { listeners: Array<{ target: string }> } };
    assert.equal(own.view, a!.view.sha256);
    assert.deepEqual(own.inbound.listeners.map((l) => l.target), [`${x.address}:8080`], "each config.json holds its own listeners");
  }
});

test("a Hello listing malformed hashes is refused at the edge (MESHFED_HELLO_INVALID)", async (t) => {
  const { open } = await start(t);
  const stream = open({ supported: true, sha256: ["not-a-hash"] });
  const end = await stream.ended;
  assert.equal(end.code, "MESHFED_HELLO_INVALID");
});

test("views two catalog updates old leave the controller's cache; one asked for again renders to the same bytes and goes by reference", async (t) => {
  const driver = new PipyDriver({ trustDomain: "cluster.local" });
  const { ctl, open } = await start(t, driver);
  const stream = open({ supported: true, sha256: [] });
  let last = (await stream.next((m) => m.message === "config", 10_000)).config!;
  ack(stream, last);
  const viewAt = (c: typeof last) => c.files.find((f) => f.path === "/view.json")!;
  const firstView = viewAt(last);
  for (const address of ["127.0.0.4", "127.0.0.5", "127.0.0.6"]) {
    await moveDb(ctl, address);
    const before = last.version;
    last = (await stream.next((m) => m.message === "config" && m.config!.version > before, 10_000)).config!;
    ack(stream, last);
    assert.ok(Buffer.from(viewAt(last).content).includes(address));
  }
  // One proxy, so at most one view per generation: the current one and the one before it.
  const stats = driver.viewCacheStats();
  assert.ok(stats.staleEvictions >= 2, `views of earlier generations dropped (${JSON.stringify(stats)})`);
  assert.ok(stats.entries <= 2, `only the last two generations kept (${JSON.stringify(stats)})`);
  // Back to the first address: rendered again (its entry went), to the same bytes, so the agent gets it by reference.
  const renders = stats.renders;
  await moveDb(ctl, "127.0.0.3");
  const back = (await stream.next((m) => m.message === "config" && m.config!.version > last.version, 10_000)).config!;
  assert.ok(driver.viewCacheStats().renders > renders, "the evicted view was rendered again");
  assert.deepEqual([viewAt(back).byReference, viewAt(back).sha256, viewAt(back).content.length], [true, firstView.sha256, 0]);
});
