/**
 * The controller's Pipy repo polled by a real Pipy (PIPY_BIN=/path/to/pipy)
 * over mTLS, with exactly the command line docs/pipy.md gives for sidecars:
 * it downloads every file, reports status, becomes ready, and re-downloads
 * after a catalog change. Skipped, visibly, without PIPY_BIN.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { startRepoFixture, type EnrolledProxy, type RepoFixture } from "./pipy-repo-fixture.js";
import { scaled, waitFor } from "../helpers/wait.js";
import { freePort } from "../helpers/agent-process.js";

const PIPY_BIN = process.env.PIPY_BIN;
const BOOKSTORE = { namespace: "shop", name: "bookstore" };

function httpGet(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}


/** Pipy 1.5.18 sometimes ignores its first SIGINT: SIGINT, then SIGKILL after 2 s. */
function stopPipy(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 2_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGINT");
  });
}

/** The sidecar's command line from docs/pipy.md, with files written where a pod would mount them. */
async function runPipy(t: TestContext, f: RepoFixture, p: EnrolledProxy, urlProxyId = p.proxyId): Promise<{ child: ChildProcess; output: () => string }> {
  const files = { cert: join(f.dir, `${p.proxyId}.crt`), key: join(f.dir, `${p.proxyId}.key`), ca: join(f.dir, "ca.pem") };
  await writeFile(files.cert, p.certPem);
  await writeFile(files.key, p.keyPem, { mode: 0o600 });
  await writeFile(files.ca, p.caPem);
  const args = [
    `https://127.0.0.1:${f.repo.port}/repo/${urlProxyId}/`,
    `--tls-cert=${files.cert}`, `--tls-key=${files.key}`, `--tls-trusted=${files.ca}`,
    `--admin-port=127.0.0.1:${await freePort()}`,
  ];
  const child = spawn(PIPY_BIN!, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => void (out = (out + c.toString()).slice(-20_000)));
  child.stderr.on("data", (c: Buffer) => void (out = (out + c.toString()).slice(-20_000)));
  t.after(() => stopPipy(child));
  return { child, output: () => out };
}

test("real Pipy: polls the controller repo over mTLS, loads every file, reports status, is ready, and reloads on a change", { timeout: scaled(180_000) }, async (t) => {
  if (PIPY_BIN === undefined) {
    t.skip("PIPY_BIN not set: real Pipy tests skipped");
    return;
  }
  // A loopback endpoint address of its own, so the sidecar's health and outbound
  // listeners bind there and never collide with other tests.
  const ip = `127.0.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 200) + 20}`;
  const [healthPort, outboundPort] = [await freePort(), await freePort()];
  const appPort = 20_000 + Math.floor(Math.random() * 20_000);
  const f = await startRepoFixture(t, { driver: new PipyDriver({ trustDomain: "cluster.local", healthPort, outboundPort }) });
  f.provider.set("shop/bookstore", [`${ip}:${appPort}`]);
  f.catalog.flush();
  const p = await f.enroll(BOOKSTORE);
  const pipy = await runPipy(t, f, p);

  const base = `/repo/${p.proxyId}/`;
  const manifest = ["/main.js", "/config.js", "/tls.js", "/view.json", "/config.json", "/certs/service.crt", "/certs/service.key", "/certs/ca.pem"];
  await waitFor(() => f.events.some((e) => e.method === "POST" && e.path === base && e.status === 201), { what: "a status POST from Pipy", timeoutMs: 60_000 });
  for (const file of manifest) assert.ok(f.events.some((e) => e.method === "GET" && e.path === `/repo/${p.proxyId}${file}` && e.status === 200), `Pipy fetched ${file}`);
  assert.equal(f.events.filter((e) => e.status >= 400).length, 0, JSON.stringify(f.events.filter((e) => e.status >= 400)));
  await waitFor(async () => (await httpGet(`http://${ip}:${healthPort}/ready`)) === 200, { what: `readiness at ${ip}:${healthPort} (pipy output: ${pipy.output().slice(-2000)})`, timeoutMs: 60_000 });
  assert.equal(f.certificates.certificate(p.serial)?.state, "claimed");

  // A catalog change: the ETag moves, Pipy's next HEAD poll sees it and downloads again.
  const manifests = () => f.events.filter((e) => e.method === "GET" && e.path === base).length;
  const before = manifests();
  f.provider.set("shop/bookstore", [`${ip}:${appPort}`, `${ip}:${appPort + 1}`]);
  f.catalog.flush();
  await waitFor(() => manifests() > before, { what: "a re-download after the change", timeoutMs: 60_000 });
  await waitFor(() => f.events.some((e) => e.method === "HEAD" && e.path === base), { what: "HEAD polling", timeoutMs: 60_000 });
  await stopPipy(pipy.child);
});

test("real Pipy: a sidecar asking for another proxy's repo is refused and never loads", { timeout: scaled(120_000) }, async (t) => {
  if (PIPY_BIN === undefined) {
    t.skip("PIPY_BIN not set: real Pipy tests skipped");
    return;
  }
  const f = await startRepoFixture(t);
  const a = await f.enroll(BOOKSTORE);
  const b = await f.enroll(BOOKSTORE);
  await runPipy(t, f, a, b.proxyId);
  await waitFor(() => f.events.some((e) => e.code === "MESHFED_REPO_PROXY_MISMATCH"), { what: "the mismatch refusal", timeoutMs: 60_000 });
  assert.equal(f.events.filter((e) => e.status === 200).length, 0, "nothing served");
});
