import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, rename, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getJson, runCli, startControllerProcess } from "../helpers/controller-process.js";
import { cleanupStack } from "../helpers/cleanup.js";

const HOSTS = `hosts:
  - name: web-1
    address: 10.10.0.1
    services:
      - { name: web, namespace: shop, port: 8080 }
  - name: db-1
    address: 10.10.0.2
    services:
      - { name: db, namespace: shop, port: 5432 }
`;

const SMI = `apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: { name: web-to-db, namespace: shop }
spec:
  destination: { kind: ServiceAccount, name: db, namespace: shop }
  sources:
    - { kind: ServiceAccount, name: web, namespace: shop }
  rules:
    - { kind: TCPRoute, name: db-port }
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: { name: db-port, namespace: shop }
spec:
  matches: { ports: [5432] }
`;

async function workspace(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-it-"));
  const defer = cleanupStack(t);
  defer(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await mkdir(join(dir, "smi"));
  await writeFile(join(dir, "hosts.yaml"), HOSTS);
  await writeFile(join(dir, "smi", "policy.yaml"), SMI);
  const args = ["--data-dir", join(dir, "data"), "--hosts", join(dir, "hosts.yaml"), "--smi", join(dir, "smi")];
  return { dir, args, defer };
}

interface CatalogJson {
  services: Array<{ namespace: string; name: string; endpoints: Array<{ ip: string; port: number; sources: string[] }> }>;
  conflicts: unknown[];
}

test("the controller gets ready, serves the catalog and its providers, and stops on SIGTERM with exit 0", async (t) => {
  const { args, defer } = await workspace(t);
  const ctl = await startControllerProcess(args);
  defer(() => ctl.stop("SIGKILL"));
  const ready = await fetch(`${ctl.url}/readyz`);
  assert.equal(ready.status, 200);
  const catalog = (await getJson(`${ctl.url}/api/v1/catalog`)) as CatalogJson;
  assert.deepEqual(
    catalog.services.map((s) => [`${s.namespace}/${s.name}`, s.endpoints.map((e) => `${e.ip}:${e.port}:${e.sources.join(",")}`)]),
    [["shop/db", ["10.10.0.2:5432:onprem"]], ["shop/web", ["10.10.0.1:8080:onprem"]]],
  );
  const providers = (await getJson(`${ctl.url}/api/v1/providers`)) as Array<{ id: string; state: string }>;
  assert.deepEqual(providers.map((p) => [p.id, p.state]), [["agents", "synced"], ["onprem", "synced"], ["smi-files", "synced"]]);
  const metrics = await (await fetch(`${ctl.url}/metrics`)).text();
  assert.match(metrics, /^meshfed_catalog_services 2$/m);
  assert.match(metrics, /^meshfed_provider_syncs_total\{provider="onprem"\} 1$/m);
  assert.equal(await ctl.stop("SIGTERM"), 0);
});

test("an edit of the hosts file (write-and-rename) reaches the catalog within 1 s", async (t) => {
  const { dir, args, defer } = await workspace(t);
  const ctl = await startControllerProcess(args);
  defer(() => ctl.stop("SIGKILL"));
  const tmp = join(dir, ".hosts.yaml.swp");
  await writeFile(tmp, HOSTS.replace("10.10.0.1", "10.10.0.9"));
  const started = Date.now();
  await rename(tmp, join(dir, "hosts.yaml"));
  let ips: string[] = [];
  while (Date.now() - started < 3000) {
    const catalog = (await getJson(`${ctl.url}/api/v1/catalog`)) as CatalogJson;
    ips = catalog.services.find((s) => s.name === "web")!.endpoints.map((e) => e.ip);
    if (ips[0] === "10.10.0.9") break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const elapsed = Date.now() - started;
  assert.deepEqual(ips, ["10.10.0.9"]);
  assert.ok(elapsed < 1000, `hot reload took ${elapsed} ms`);
});

test("a broken hosts file keeps the last good catalog and is reported with its position", async (t) => {
  const { dir, args, defer } = await workspace(t);
  const ctl = await startControllerProcess(args);
  defer(() => ctl.stop("SIGKILL"));
  await writeFile(join(dir, "hosts.yaml"), HOSTS.replace("10.10.0.2", "10.10.0.300"));
  let provider: { state: string; lastError: { code: string; line?: number; column?: number } | null } | undefined;
  const started = Date.now();
  while (Date.now() - started < 3000) {
    const providers = (await getJson(`${ctl.url}/api/v1/providers`)) as Array<typeof provider & { id: string }>;
    provider = providers.find((p) => p.id === "onprem");
    if (provider?.state === "degraded") break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(provider?.state, "degraded");
  assert.equal(provider?.lastError?.code, "MESHFED_HOSTS_INVALID_ADDRESS");
  assert.equal(provider?.lastError?.line, 7);
  const catalog = (await getJson(`${ctl.url}/api/v1/catalog`)) as CatalogJson;
  assert.equal(catalog.services.length, 2, "the last good view stays");
});

test("a hosts file that does not exist fails the start with a named error and exit code 1", async (t) => {
  const { dir } = await workspace(t);
  const r = await runCli(["controller", "--admin-address", "127.0.0.1:0", "--grpc-address", "127.0.0.1:0", "--data-dir", join(dir, "d"), "--hosts", join(dir, "missing.yaml")]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MESHFED_HOSTS_NOT_FOUND/);
});

test("the CLI's JSON output equals the admin API's JSON", async (t) => {
  const { args, defer } = await workspace(t);
  const ctl = await startControllerProcess(args);
  defer(() => ctl.stop("SIGKILL"));
  for (const [command, path] of [[["catalog"], "catalog"], [["participants"], "participants"], [["certs", "list"], "certificates"], [["ca", "status"], "ca/rotation"]] as const) {
    const r = await runCli([...command, "-o", "json", "--admin", ctl.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), await getJson(`${ctl.url}/api/v1/${path}`));
  }
  const table = await runCli(["participants", "--explain", "--admin", ctl.url]);
  assert.match(table.stdout, /^shop\/db\s+endpoint\s+-\s+-\s+10\.10\.0\.2:5432\s+issued,connected$/m);
  assert.match(table.stdout, /connected: no proxy is connected/);
});

test("the CLI says clearly when the controller cannot be reached", async () => {
  const r = await runCli(["catalog", "--admin", "http://127.0.0.1:1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MESHFED_ADMIN_UNREACHABLE: cannot reach the admin API at http:\/\/127\.0\.0\.1:1/);
});
