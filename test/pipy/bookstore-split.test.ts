// Real Pipy, end to end (issue 4): the in-process controller renders with the
// PipyDriver; one agent per service runs a real Pipy on loopback addresses;
// small HTTP services written here play bookbuyer's callees.
// Runs only with PIPY_BIN set: `PIPY_BIN=/path/to/pipy node --test dist/test/pipy/*.test.js`.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Agent as HttpAgent, request } from "node:http";
import { writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { identityEchoApp } from "../helpers/echo-app.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { freePort } from "../helpers/agent-process.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import { startController } from "../../src/controller/main.js";
import { waitFor } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;
const PORT = 14001;
const OFFSET = 10000;
const HOSTS: Record<string, string> = { bookbuyer: "127.0.0.10", bookthief: "127.0.0.11", "bookstore-v1": "127.0.0.21", "bookstore-v2": "127.0.0.31" };
const NS: Record<string, string> = { bookbuyer: "bookbuyer", bookthief: "bookthief", "bookstore-v1": "bookstore", "bookstore-v2": "bookstore" };

const hostsYaml = `hosts:\n${Object.entries(HOSTS).map(([name, ip]) => `  - name: ${name}-1\n    address: ${ip}\n    services: [{ name: ${name}, namespace: ${NS[name]}, port: ${PORT} }]\n`).join("")}`;
const split = (v1: number, v2: number) => `apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: { name: bookstore-split, namespace: bookstore }
spec:
  service: bookstore
  backends: [{ service: bookstore-v1, weight: ${v1} }, { service: bookstore-v2, weight: ${v2} }]
`;
const access = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: bookstore-routes, namespace: bookstore }
spec:
  matches: [{ name: books, pathRegex: "/books.*", methods: ["GET"] }]
${["bookstore-v1", "bookstore-v2"].map((d) => `---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: bookbuyer-to-${d}, namespace: bookstore }
spec:
  destination: { kind: ServiceAccount, name: ${d}, namespace: bookstore }
  rules: [{ kind: HTTPRouteGroup, name: bookstore-routes, matches: [books] }]
  sources: [{ kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer }]
`).join("")}`;

/** The controller in this process, rendering with the PipyDriver, spec and hosts in a temp dir. */
async function pipyController(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-pipy-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const hostsFile = join(dir, "hosts.yaml");
  await writeFile(hostsFile, hostsYaml);
  await mkdir(join(dir, "smi"));
  await writeFile(join(dir, "smi", "split.yaml"), split(80, 20));
  await writeFile(join(dir, "smi", "access.yaml"), access);
  const base = await loadControllerConfig(undefined, {
    dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", hostsFile, smiDirectory: join(dir, "smi"),
  });
  const config = {
    ...base,
    catalog: { ...base.catalog, coalesce: 10 },
    providers: { ...base.providers, onprem: { hostsFile, debounce: 20 } },
    // Short-lived service certificates so that a rotation happens during the test.
    certificates: { ...base.certificates, serviceValidity: 60_000, serviceJitter: 0, renewBefore: { fraction: 0.75 } },
  };
  const controller = await startController(config, silentLogger(), { driver: new PipyDriver({ trustDomain: config.trustDomain, inboundPortOffset: OFFSET }) });
  t.after(() => controller.close());
  const api = async <T,>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${controller.adminUrl}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
    return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
  };
  return { dir, grpcAddress: controller.grpcAddress, api };
}

interface Reply { status: number; body: string }

function get(ip: string, port: number, host: string, path: string, agent: HttpAgent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, path, headers: { host }, agent, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function app(t: TestContext, name: string): Promise<void> {
  return identityEchoApp(t, name, HOSTS[name]!, PORT);
}

test("bookbuyer -> bookstore through two real Pipy sidecars: 80/20 split, mTLS identities, deny, 50/50 live, rotation, restart", async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const ctl = await pipyController(t);
  for (const name of ["bookstore-v1", "bookstore-v2"]) await app(t, name);

  const agents: Record<string, RunningAgent> = {};
  for (const name of Object.keys(HOSTS)) {
    const dir = join(ctl.dir, "agents", name);
    await mkdir(dir, { recursive: true });
    const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: `${NS[name]}/${name}`, ttl: "10m", uses: 1 });
    const config = await testConfig(dir, await ctl.api<string>("/api/v1/ca"), ctl.grpcAddress, {
      hostAddresses: [HOSTS[name]!], endpoints: [`${HOSTS[name]}:${PORT}`], service: `${NS[name]}/${name}`,
      proxy: { enabled: true, pipy: PIPY_BIN, adminAddress: `127.0.0.1:${await freePort()}`, convergenceTimeout: "30s", stopGrace: "5s" },
    });
    await writeFile(config.tokenFile!, `${token}\n`);
    const agent = await startAgent(config, silentLogger());
    t.after(async () => void (await agent.close()));
    agents[name] = agent;
  }
  for (const name of Object.keys(HOSTS)) {
    await waitFor(async () => (await fetch(`http://${HOSTS[name]}:15021/ready`).then((r) => r.status, () => 0)) === 200, { what: `${name} sidecar ready`, timeoutMs: 60_000 });
  }

  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  t.after(() => keepAlive.destroy());
  const buy = () => get(HOSTS.bookbuyer!, 15001, "bookstore.bookstore", "/books/1", keepAlive);
  const count = async (n: number) => {
    const seen: Record<string, number> = {};
    let failed = 0;
    for (let i = 0; i < n; i++) {
      const r = await buy().catch(() => ({ status: 0, body: "" }));
      if (r.status !== 200) failed++;
      else {
        const { service, peer } = JSON.parse(r.body) as { service: string; peer: string };
        assert.equal(peer, "bookbuyer.bookbuyer.svc.cluster.local", "the callee's sidecar verified bookbuyer's certificate");
        seen[service] = (seen[service] ?? 0) + 1;
      }
    }
    return { seen, failed };
  };

  // 80/20 over 1,000 requests, within ±5 %.
  const first = await count(1000);
  assert.equal(first.failed, 0);
  const v1 = (first.seen["bookstore-v1"] ?? 0) / 1000;
  assert.ok(Math.abs(v1 - 0.8) <= 0.05, `v1 share ${v1}`);

  // bookthief: no TrafficTarget, its sidecar has no route; a plaintext connection to an inbound port gets no HTTP answer.
  const thief = await get(HOSTS.bookthief!, 15001, "bookstore.bookstore", "/books/1", new HttpAgent()).catch(() => ({ status: 0, body: "" }));
  assert.notEqual(thief.status, 200);
  const plain = await get(HOSTS["bookstore-v1"]!, PORT + OFFSET, "bookstore.bookstore", "/books/1", new HttpAgent()).catch(() => ({ status: 0, body: "" }));
  assert.equal(plain.status, 0, "plaintext to an inbound port fails");
  // A path no HTTPRouteGroup admits is refused by the callee's sidecar.
  assert.equal((await get(HOSTS.bookbuyer!, 15001, "bookstore.bookstore", "/admin", keepAlive)).status, 403);

  // 50/50 within 2 s of the policy change.
  await writeFile(join(ctl.dir, "smi", "split.yaml"), split(50, 50));
  const changed = Date.now();
  await waitFor(async () => {
    const { seen } = await count(100);
    return Math.abs((seen["bookstore-v1"] ?? 0) - 50) <= 5;
  }, { what: "50/50 split", timeoutMs: 60_000 });
  assert.ok(Date.now() - changed <= 2000 + 1000, `50/50 took ${Date.now() - changed} ms (2 s + one 100-request window)`);

  // Certificate rotation during a request loop: zero failed requests.
  const before = await fetch(agents.bookbuyer!.statusUrl).then((r) => r.json()) as { certificates: { service: { notAfter: string } } };
  const deadline = Date.now() + 40_000;
  let failed = 0;
  let rotated = false;
  while (Date.now() < deadline && !rotated) {
    failed += (await count(50)).failed;
    const now = await fetch(agents.bookbuyer!.statusUrl).then((r) => r.json()) as { certificates: { service: { notAfter: string } } };
    rotated = now.certificates.service.notAfter !== before.certificates.service.notAfter;
  }
  assert.ok(rotated, "the service certificate rotated");
  failed += (await count(200)).failed;
  assert.equal(failed, 0, "no request failed across the rotation");

  // Killing Pipy: the agent restarts it and traffic resumes.
  const status = await fetch(`http://127.0.0.1:${new URL(agents.bookbuyer!.statusUrl).port}/status`).then((r) => r.json()) as { proxy: { state: string } };
  assert.equal(status.proxy.state, "running");
  const pids = await pidsOf(HOSTS.bookbuyer!);
  assert.ok(pids.length > 0, "found the Pipy process serving bookbuyer's outbound port");
  for (const pid of pids) process.kill(pid, "SIGKILL");
  await waitFor(async () => (await buy().catch(() => ({ status: 0, body: "" }))).status === 200, { what: "traffic after Pipy restart", timeoutMs: 60_000 });
  const restarted = await pidsOf(HOSTS.bookbuyer!);
  assert.ok(restarted.length > 0 && restarted.every((pid) => !pids.includes(pid)), "a new Pipy process serves the port");
});

/** The Pipy listening on bookbuyer's outbound port (ss -p; Linux). */
async function pidsOf(ip: string): Promise<number[]> {
  const { execFile } = await import("node:child_process");
  const out = await new Promise<string>((resolve) => execFile("ss", ["-Hltnp", `src ${ip}:15001`], (_e, stdout) => resolve(stdout)));
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}
