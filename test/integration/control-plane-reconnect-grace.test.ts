// Issue 17, per-connect cost: a proxy's announced endpoints outlive its
// stream for `grpc.reconnectGrace`, so a reconnect storm changes nothing in
// the catalog; a proxy that does not come back is withdrawn after it, a
// revoked one at once, and a reconnect skips the claim's store read without
// letting a revoked certificate back in.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { enroll, TestStream } from "../helpers/grpc-agent.js";
import { startTestController, type TestController } from "../helpers/in-process-controller.js";
import { quietPeriod, waitFor } from "../helpers/wait.js";
import type { ControllerConfig } from "../../src/controller/config/schema.js";
import { WEB_TO_DB } from "../helpers/smi-web-to-db.js";


const grace = (ms: number) => (c: ControllerConfig): ControllerConfig => ({ ...c, driver: "json", grpc: { ...c.grpc, reconnectGrace: ms } });

async function agent(ctl: TestController, service: string, address: string, port: number) {
  const ca = await ctl.api<string>("/api/v1/ca");
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service, ttl: "10m", uses: 1 });
  const { keyPem, response } = await enroll(ctl.grpcAddress, ca, token);
  /** A new stream; `held`: the config the agent says it holds. */
  const open = (held?: { version: number; hash: string }) => {
    const stream = new TestStream(ctl.grpcAddress, ca, keyPem, response.certificatePem);
    stream.hello(response.proxyId, [address], [{ ip: address, port }], held);
    return stream;
  };
  return { response, keyPem, open };
}

type Catalog = { services: Array<{ name: string; endpoints: Array<{ ip: string; sources: string[] }> }> };
const dbSources = async (ctl: TestController) => (await ctl.api<Catalog>("/api/v1/catalog")).services.find((s) => s.name === "db")?.endpoints.map((e) => e.sources.join(",")) ?? [];
const metric = async (ctl: TestController, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(await ctl.api<string>("/metrics"))?.[1] ?? "0");

/** web (which may call db) and db, enrolled with a stream each, once web's view holds db's endpoint. */
async function webCallingDb(t: TestContext, graceMs: number) {
  const ctl = await startTestController(t, { smi: { "policy.yaml": WEB_TO_DB }, patch: grace(graceMs) });
  const web = await agent(ctl, "shop/web", "127.0.0.2", 8080);
  const db = await agent(ctl, "shop/db", "127.0.0.3", 5432);
  const webStream = web.open();
  const dbStream = db.open();
  t.after(() => { webStream.close(); dbStream.close(); });
  // web's view gains db's endpoint once db's announcement is in the catalog.
  await webStream.next((m) => m.message === "config" && Buffer.from(m.config!.files[0]!.content).includes("127.0.0.3"));
  return { ctl, db, webStream, dbStream };
}

test("a proxy back within the reconnect grace changes nothing: endpoints kept, no catalog update, no config to its callers", async (t) => {
  const { ctl, db, webStream, dbStream: first } = await webCallingDb(t, 60_000);
  let dbStream = first;
  await dbStream.next((m) => m.message === "config");
  await waitFor(async () => (await ctl.api<Array<{ lastAck: unknown; config: unknown }>>("/api/v1/proxies")).length === 2, { what: "both proxies listed" });
  // Settled first: the first announcements bring their own updates (VIPs, identities) for a while.
  let updatesBefore = await metric(ctl, "meshfed_catalog_updates_total");
  await waitFor(async () => {
    await quietPeriod(300, "no catalog update for 300 ms: the connects' own updates are over");
    const now = await metric(ctl, "meshfed_catalog_updates_total");
    const quiet = now === updatesBefore;
    updatesBefore = now;
    return quiet;
  }, { what: "the catalog to settle after both connects" });
  const webConfigs = webStream.messages.filter((m) => m.message === "config").length;

  dbStream.close();
  await waitFor(async () => (await ctl.api<Array<{ proxyId: string }>>("/api/v1/proxies")).every((p) => p.proxyId !== db.response.proxyId), { what: "db's proxy to leave the connected set" });
  assert.deepEqual(await dbSources(ctl), ["agents"], "the disconnected proxy's endpoint is kept for the grace");

  dbStream = db.open();
  t.after(() => dbStream.close());
  await dbStream.next((m) => m.message === "config");
  await quietPeriod(300, "a catalog update or a push to web would come within one coalesce period (10 ms here)");
  assert.equal(await metric(ctl, "meshfed_catalog_updates_total"), updatesBefore, "neither the disconnect nor the same announcement again changed the catalog");
  assert.equal(webStream.messages.filter((m) => m.message === "config").length, webConfigs, "the caller got no config");
  assert.deepEqual(await dbSources(ctl), ["agents"]);
});

test("a proxy that does not come back within the grace has its endpoints withdrawn", async (t) => {
  const ctl = await startTestController(t, { smi: { "policy.yaml": WEB_TO_DB }, patch: grace(300) });
  const db = await agent(ctl, "shop/db", "127.0.0.3", 5432);
  const stream = db.open();
  t.after(() => stream.close());
  await stream.next((m) => m.message === "config");
  await waitFor(async () => (await dbSources(ctl)).length === 1, { what: "db's endpoint in the catalog" });
  stream.close();
  await waitFor(async () => (await dbSources(ctl)).length === 0, { what: "db's endpoint withdrawn after the 300 ms grace" });
  assert.deepEqual(await ctl.api("/api/v1/proxies"), []);
});

test("a proxy that says Goodbye (a planned stop) is withdrawn at once, its stream ends cleanly, and it may come back", async (t) => {
  // The grace is 5 minutes: only the Goodbye can explain a withdrawal within the test's deadlines.
  const { ctl, db, webStream, dbStream } = await webCallingDb(t, 300_000);
  await dbStream.next((m) => m.message === "config");

  let end: Awaited<typeof dbStream.ended> | undefined;
  void dbStream.ended.then((e) => (end = e));
  dbStream.send({ goodbye: { reason: "agent stopping" } });
  await waitFor(async () => (await dbSources(ctl)).length === 0, { what: "db's endpoint withdrawn at once, not after the 5-minute grace" });
  const ended = await waitFor(() => end, { what: "the controller to end the stream of a proxy that said goodbye" });
  assert.equal(ended.status, grpc.status.OK);
  const last = () => webStream.messages.filter((m) => m.message === "config").at(-1)!.config!;
  await waitFor(() => !Buffer.from(last().files[0]!.content).includes("127.0.0.3"), { what: "web's config without db's endpoint" });
  assert.ok(!(await ctl.api<Array<{ proxyId: string }>>("/api/v1/proxies")).some((p) => p.proxyId === db.response.proxyId));

  // A goodbye is not a revocation: the same proxy connects again and is announced again.
  const again = db.open();
  t.after(() => again.close());
  await again.next((m) => m.message === "config");
  await waitFor(async () => JSON.stringify(await dbSources(ctl)) === JSON.stringify(["agents"]), { what: "db announced again after its return" });
});

test("revoking the certificate of a proxy within its grace withdraws its endpoints at once, and a reconnect with it is refused", async (t) => {
  const ctl = await startTestController(t, { smi: { "policy.yaml": WEB_TO_DB }, patch: grace(600_000 / 2) });
  const db = await agent(ctl, "shop/db", "127.0.0.3", 5432);
  const stream = db.open();
  t.after(() => stream.close());
  await stream.next((m) => m.message === "config");
  await waitFor(async () => (await dbSources(ctl)).length === 1, { what: "db's endpoint in the catalog" });
  stream.close();
  await waitFor(async () => (await ctl.api<unknown[]>("/api/v1/proxies")).length === 0, { what: "db's proxy to leave the connected set" });
  assert.equal((await dbSources(ctl)).length, 1, "kept: the grace is 5 minutes");
  const serial = (await ctl.api<Array<{ serial: string; proxyId?: string }>>("/api/v1/certificates")).find((c) => c.proxyId === db.response.proxyId)!.serial;
  await ctl.api("/api/v1/certificates/revoke", { serial, reason: "stolen" });
  await waitFor(async () => (await dbSources(ctl)).length === 0, { what: "the revoked proxy's endpoint withdrawn without waiting for the grace" });
  // The claim is skipped on a reconnect of a claimed certificate; the registry's state is still read.
  const again = db.open();
  t.after(() => again.close());
  const end = await again.ended;
  assert.equal(end.status, grpc.status.PERMISSION_DENIED);
  assert.equal(end.code, "MESHFED_CERT_REVOKED");
  assert.equal((await dbSources(ctl)).length, 0);
});

test("a proxy reconnecting with the config it holds gets none; after a change that affects it while it was away, it gets the new one", async (t) => {
  const hosts = "hosts:\n  - name: db-1\n    address: 127.0.0.3\n    services: [{ name: db, namespace: shop, port: 5432 }]\n";
  const ctl = await startTestController(t, { hosts, smi: { "policy.yaml": WEB_TO_DB }, patch: grace(60_000) });
  const web = await agent(ctl, "shop/web", "127.0.0.2", 8080);
  const first = web.open();
  t.after(() => first.close());
  await first.next((m) => m.message === "config" && Buffer.from(m.config!.files[0]!.content).includes("127.0.0.3"));
  // The config it holds is the last one the controller sent it: under load a
  // later render (its own announcement reaching the catalog) can follow the first.
  const held = await waitFor(async () => {
    const last = first.messages.filter((m) => m.message === "config").at(-1)!.config!;
    const proxies = await ctl.api<Array<{ config: { hash: string } | null }>>("/api/v1/proxies");
    const catalog = JSON.stringify(await ctl.api("/api/v1/catalog"));
    return catalog.includes("127.0.0.2") && proxies[0]?.config?.hash === last.hash ? last : undefined;
  }, { what: "web's own endpoint in the catalog and the controller's last config for web received" });
  first.close();

  // Back at once, holding that config: nothing changed, nothing is sent (and nothing rendered: render-memo.ts).
  const again = web.open({ version: held.version, hash: held.hash });
  t.after(() => again.close());
  await again.next((m) => m.message === "serviceCertificate");
  await quietPeriod(300, "a config would follow the service certificate at once");
  // The invariant: the config a proxy says it holds is never sent to it again
  // (a render that really changed, e.g. one still in the debounce, may follow).
  const resent = again.messages.filter((m) => m.message === "config" && m.config!.hash === held.hash);
  assert.equal(resent.length, 0, "no config for a proxy that holds the current one");
  again.close();
  await waitFor(async () => (await ctl.api<unknown[]>("/api/v1/proxies")).length === 0, { what: "web's proxy to leave the connected set" });

  // db moves while web is away; web comes back claiming the old config: it must get the new one, not the memo's verdict.
  await writeFile(ctl.hostsFile, hosts.replace("127.0.0.3", "127.0.0.5"));
  await waitFor(async () => JSON.stringify(await ctl.api("/api/v1/catalog")).includes("127.0.0.5"), { what: "db's move in the catalog" });
  const third = web.open({ version: held.version, hash: held.hash });
  t.after(() => third.close());
  const fresh = (await third.next((m) => m.message === "config")).config!;
  assert.notEqual(fresh.hash, held.hash);
  assert.match(Buffer.from(fresh.files[0]!.content).toString(), /127\.0\.0\.5/);
});

test("a mass disconnect keeps a proxy's endpoints past its grace while the episode lasts, and withdraws it when the reconnects stall", async (t) => {
  // Grace 4 s; a mass disconnect is 2 of the 3 proxies away. db goes first and alone (no episode),
  // the two others 1.5 s later (an episode): db's grace ends inside it, so db is held, not withdrawn.
  const ctl = await startTestController(t, {
    smi: { "policy.yaml": WEB_TO_DB },
    patch: (c) => {
      const g = grace(4_000)(c);
      return { ...g, grpc: { ...g.grpc, massDisconnect: { threshold: 0.5, minProxies: 2, maxHold: 60_000 } } };
    },
  });
  const db = await agent(ctl, "shop/db", "127.0.0.3", 5432);
  const web = await agent(ctl, "shop/web", "127.0.0.2", 8080);
  const other = await agent(ctl, "shop/web", "127.0.0.4", 8080);
  const streams = [db.open(), web.open(), other.open()];
  t.after(() => streams.forEach((s) => s.close()));
  await Promise.all(streams.map((s) => s.next((m) => m.message === "config")));
  await waitFor(async () => (await dbSources(ctl)).length === 1, { what: "db's endpoint in the catalog" });
  const connected = async () => (await ctl.api<Array<{ proxyId: string }>>("/api/v1/proxies")).length;

  streams[0]!.close();
  await waitFor(async () => (await connected()) === 2, { what: "db's proxy to leave the connected set" });
  await quietPeriod(1_500, "db's grace runs alone for a while");
  streams[1]!.close();
  streams[2]!.close();
  await waitFor(async () => (await connected()) === 0, { what: "the two others to leave the connected set" });

  await waitFor(async () => (await metric(ctl, "meshfed_proxies_withdrawal_held")) >= 1, { what: "db held by the mass disconnect once its grace ended", timeoutMs: 20_000 });
  assert.deepEqual(await dbSources(ctl), ["agents"], "past its grace, db's endpoint is kept while the episode lasts");

  // Nobody reconnects: one grace after the episode began it is over, and every held proxy is withdrawn.
  await waitFor(async () => (await dbSources(ctl)).length === 0, { what: "db withdrawn when the reconnects stalled", timeoutMs: 30_000 });
  await waitFor(async () => (await metric(ctl, "meshfed_proxies_withdrawal_held")) === 0, { what: "nothing held after the episode" });
});
