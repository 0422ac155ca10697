// Real Pipy, end to end (issue 15): TrafficTargets name ServiceAccounts, not
// services. Shaped like osm-edge's bookstore demo: bookstore-v1 and
// bookstore-v2 run under ONE account "bookstore" (declared in the hosts
// file), a name no service has; bookbuyer runs as "buyer" (declared on its
// join token). The target "buyer -> bookstore" admits bookbuyer to both
// versions; bookthief (its own account) is refused at the handshake.
// Runs only with PIPY_BIN set.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Agent as HttpAgent, request } from "node:http";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { loadControllerConfig } from "../../src/controller/config/load.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import { startController } from "../../src/controller/main.js";
import { freePort } from "../helpers/agent-process.js";
import { identityEchoApp } from "../helpers/echo-app.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { waitFor } from "../helpers/wait.js";

const PIPY_BIN = process.env.PIPY_BIN;
const PORT = 14001;
const HOSTS: Record<string, string> = { bookbuyer: "127.0.0.110", bookthief: "127.0.0.111", "bookstore-v1": "127.0.0.121", "bookstore-v2": "127.0.0.131" };
const NS: Record<string, string> = { bookbuyer: "bookbuyer", bookthief: "bookthief", "bookstore-v1": "bookstore", "bookstore-v2": "bookstore" };
/** Accounts declared in the hosts file (the callees); bookbuyer's comes from its token. */
const HOSTS_ACCOUNT: Record<string, string> = { "bookstore-v1": "bookstore", "bookstore-v2": "bookstore" };
const TOKEN_ACCOUNT: Record<string, string> = { bookbuyer: "buyer" };

const hostsYaml = `hosts:\n${Object.entries(HOSTS).map(([name, ip]) => {
  const account = HOSTS_ACCOUNT[name] === undefined ? "" : `, serviceAccount: ${HOSTS_ACCOUNT[name]}`;
  return `  - name: ${name}-1\n    address: ${ip}\n    services: [{ name: ${name}, namespace: ${NS[name]}, port: ${PORT}${account} }]\n`;
}).join("")}`;

const policy = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: { name: bookstore-routes, namespace: bookstore }
spec:
  matches: [{ name: books, pathRegex: "/books.*", methods: ["GET"] }]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: buyer-to-bookstore, namespace: bookstore }
spec:
  destination: { kind: ServiceAccount, name: bookstore, namespace: bookstore }
  rules: [{ kind: HTTPRouteGroup, name: bookstore-routes, matches: [books] }]
  sources: [{ kind: ServiceAccount, name: buyer, namespace: bookbuyer }]
`;

function app(t: TestContext, name: string): Promise<void> {
  return identityEchoApp(t, name, HOSTS[name]!, PORT);
}

function get(ip: string, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: ip, port: 15001, path, headers: { host }, agent: new HttpAgent(), timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.end();
  });
}

test("ServiceAccount identities with a real Pipy: one account behind two services, a token's account, a caller outside the target refused", async (t) => {
  if (PIPY_BIN === undefined) return t.skip("PIPY_BIN not set: real Pipy tests skipped");
  const dir = await mkdtemp(join(tmpdir(), "meshfed-pipy-sa-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const hostsFile = join(dir, "hosts.yaml");
  await writeFile(hostsFile, hostsYaml);
  await mkdir(join(dir, "smi"));
  await writeFile(join(dir, "smi", "policy.yaml"), policy);
  const base = await loadControllerConfig(undefined, {
    dataDir: join(dir, "data"), adminAddress: "127.0.0.1:0", grpcAddress: "127.0.0.1:0", hostsFile, smiDirectory: join(dir, "smi"),
  });
  const config = { ...base, catalog: { ...base.catalog, coalesce: 10 }, providers: { ...base.providers, onprem: { hostsFile, debounce: 20 } } };
  const controller = await startController(config, silentLogger(), { driver: new PipyDriver({ trustDomain: config.trustDomain }) });
  t.after(() => controller.close());
  const api = async <T,>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${controller.adminUrl}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
    return (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as T;
  };

  for (const name of ["bookstore-v1", "bookstore-v2"]) await app(t, name);
  for (const name of Object.keys(HOSTS)) {
    const agentDir = join(dir, "agents", name);
    await mkdir(agentDir, { recursive: true });
    const account = TOKEN_ACCOUNT[name] === undefined ? {} : { serviceAccount: TOKEN_ACCOUNT[name] };
    const { token } = await api<{ token: string }>("/api/v1/tokens", { service: `${NS[name]}/${name}`, ttl: "10m", uses: 1, ...account });
    const agentConfig = await testConfig(agentDir, await api<string>("/api/v1/ca"), controller.grpcAddress, {
      hostAddresses: [HOSTS[name]!], endpoints: [`${HOSTS[name]}:${PORT}`], service: `${NS[name]}/${name}`,
      proxy: { enabled: true, pipy: PIPY_BIN, adminAddress: `127.0.0.1:${await freePort()}`, convergenceTimeout: "30s", stopGrace: "5s" },
    });
    await writeFile(agentConfig.tokenFile!, `${token}\n`);
    const agent = await startAgent(agentConfig, silentLogger());
    t.after(async () => void (await agent.close()));
  }
  for (const name of Object.keys(HOSTS)) {
    await waitFor(async () => (await fetch(`http://${HOSTS[name]}:15021/ready`).then((r) => r.status, () => 0)) === 200, { what: `${name} sidecar ready`, timeoutMs: 60_000 });
  }

  // The participants name the identities the policy matches.
  const report = await api<{ participants: { service: string; identity: string }[] }>("/api/v1/participants");
  const identities = Object.fromEntries(report.participants.map((p) => [p.service, p.identity]));
  assert.deepEqual(identities, {
    "bookbuyer/bookbuyer": "bookbuyer/buyer", "bookthief/bookthief": "bookthief/bookthief",
    "bookstore/bookstore-v1": "bookstore/bookstore", "bookstore/bookstore-v2": "bookstore/bookstore",
  });

  // bookbuyer (account buyer) reaches both services run by account bookstore; the callee's sidecar verified that account.
  for (const service of ["bookstore-v1", "bookstore-v2"]) {
    let reply = { status: 0, body: "" };
    await waitFor(async () => (reply = await get(HOSTS.bookbuyer!, `${service}.bookstore`, "/books/1")).status === 200, { what: `bookbuyer -> ${service}`, timeoutMs: 60_000 });
    assert.deepEqual(JSON.parse(reply.body), { service, peer: "buyer.bookbuyer.svc.cluster.local" });
    // A path the route group leaves out is refused by the callee.
    assert.equal((await get(HOSTS.bookbuyer!, `${service}.bookstore`, "/admin")).status, 403);
  }
  // bookthief runs as its own account, which no TrafficTarget names: its sidecar has no route to bookstore.
  for (const service of ["bookstore-v1", "bookstore-v2"]) {
    assert.notEqual((await get(HOSTS.bookthief!, `${service}.bookstore`, "/books/1")).status, 200, `bookthief -> ${service} refused`);
  }
});
