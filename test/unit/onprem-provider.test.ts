import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile, rename, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { MeshfedError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/logger.js";
import { ControllerMetrics } from "../../src/common/metrics.js";
import { OnPremProvider } from "../../src/controller/providers/onprem/provider.js";
import { scaled, waitFor } from "../helpers/wait.js";

const HOSTS = (bookstorePort = 14001, extra = "") => `hosts:
  - name: db-1
    address: 10.0.0.21
    services:
      - { name: bookstore, namespace: bookstore, port: ${bookstorePort} }
      - { name: bookwarehouse, namespace: bookwarehouse, port: 14002 }
  - name: db-2
    address: 10.0.0.22
    services:
      - { name: bookwarehouse, namespace: bookwarehouse, port: 14001 }
${extra}`;

async function setup(t: { after: (fn: () => unknown) => void }, text = HOSTS()) {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-onprem-"));
  const file = join(dir, "hosts.yaml");
  await writeFile(file, text);
  const ac = new AbortController();
  const metrics = new ControllerMetrics();
  const provider = new OnPremProvider({ file, logger: silentLogger(), metrics, debounceMs: 30 });
  t.after(async () => {
    ac.abort();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });
  return { dir, file, ac, metrics, provider };
}

function nextChange(provider: OnPremProvider, timeoutMs = 1000): Promise<readonly string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no change event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = provider.on("change", (keys) => {
      clearTimeout(timer);
      off();
      resolve(keys);
    });
  });
}


async function counterValue(metrics: ControllerMetrics, name: "providerErrors" | "providerSyncs", labels: Record<string, string>): Promise<number> {
  const m = await metrics[name].get();
  const v = m.values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
}

test("start() loads the view with provenance and sets status and gauges", async (t) => {
  const { file, ac, metrics, provider } = await setup(t);
  await provider.start(ac.signal);
  const view = [...provider.services()];
  assert.deepEqual(view.map((s) => `${s.service.namespace}/${s.service.name}`), ["bookstore/bookstore", "bookwarehouse/bookwarehouse"]);
  assert.deepEqual(provider.endpoints("bookwarehouse/bookwarehouse"), [
    { ip: "10.0.0.21", port: 14002, source: `${file}#db-1` },
    { ip: "10.0.0.22", port: 14001, source: `${file}#db-2` },
  ]);
  assert.equal(provider.endpoints("nope/nope"), undefined);
  const st = provider.status();
  assert.equal(st.id, "onprem");
  assert.equal(st.kind, "endpoints");
  assert.equal(st.state, "synced");
  assert.equal(st.lastError, null);
  assert.ok(st.lastSync !== null);
  assert.deepEqual(st.counts, { hosts: 2, services: 2, endpoints: 3 });
  assert.equal(await counterValue(metrics, "providerSyncs", { provider: "onprem" }), 1);
  assert.equal((await metrics.providerEndpoints.get()).values[0]?.value, 3);
  await assert.rejects(provider.start(ac.signal), { code: "MESHFED_PROVIDER_STARTED" });
});

test("an in-place edit emits only the changed service", async (t) => {
  const { file, ac, provider } = await setup(t);
  await provider.start(ac.signal);
  const change = nextChange(provider);
  await writeFile(file, HOSTS(14003));
  assert.deepEqual(await change, ["bookstore/bookstore"]);
  assert.deepEqual(provider.endpoints("bookstore/bookstore")?.map((e) => e.port), [14003]);
});

test("a save by rename (vim style) is picked up; additions and removals are reported", async (t) => {
  const { dir, file, ac, provider } = await setup(t);
  await provider.start(ac.signal);
  let change = nextChange(provider);
  const tmp = join(dir, ".hosts.yaml.swp");
  await writeFile(tmp, HOSTS(14001, "  - name: db-3\n    address: 2001:db8::3\n    services:\n      - { name: bookbuyer, namespace: bookbuyer, port: 80 }\n"));
  await rename(tmp, file);
  assert.deepEqual(await change, ["bookbuyer/bookbuyer"]);
  assert.deepEqual(provider.endpoints("bookbuyer/bookbuyer"), [{ ip: "2001:db8::3", port: 80, source: `${file}#db-3` }]);
  // Edits after the rename reach the new inode too.
  change = nextChange(provider);
  await writeFile(file, HOSTS());
  assert.deepEqual(await change, ["bookbuyer/bookbuyer"]);
  assert.equal(provider.endpoints("bookbuyer/bookbuyer"), undefined);
});

test("rewriting the same content emits nothing", async (t) => {
  const { file, ac, provider } = await setup(t);
  await provider.start(ac.signal);
  let events = 0;
  provider.on("change", () => events++);
  const syncedAt = provider.status().lastSync;
  await sleep(5);
  await writeFile(file, `# a comment only\n${HOSTS()}`);
  await waitFor(() => provider.status().lastSync !== syncedAt, { what: "provider.status().lastSync !== syncedAt", timeoutMs: 5000 });
  await sleep(50);
  assert.equal(events, 0);
});

test("a malformed write keeps the last good view; a fix recovers", async (t) => {
  const { file, ac, metrics, provider } = await setup(t);
  await provider.start(ac.signal);
  let events = 0;
  provider.on("change", () => events++);
  const before = [...provider.services()];

  await writeFile(file, "hosts:\n  - name: db-1\n    address: 10.0.0.300\n");
  await waitFor(() => provider.status().state === "degraded", { what: "provider.status().state === \"degraded\"", timeoutMs: 5000 });
  const st = provider.status();
  assert.equal(st.lastError?.code, "MESHFED_HOSTS_INVALID_ADDRESS");
  assert.equal(st.lastError?.file, file);
  assert.equal(st.lastError?.line, 3);
  assert.equal(st.lastError?.column, 14);
  assert.match(st.lastError?.message ?? "", /:3:14: address "10\.0\.0\.300"/);
  assert.deepEqual([...provider.services()], before);
  assert.equal(events, 0);
  assert.equal(await counterValue(metrics, "providerErrors", { provider: "onprem", code: "MESHFED_HOSTS_INVALID_ADDRESS" }), 1);

  await writeFile(file, "hosts: [ {name: x\n");
  await waitFor(() => provider.status().lastError?.code === "MESHFED_HOSTS_YAML", { what: "provider.status().lastError?.code === \"MESHFED_HOSTS_YAML\"", timeoutMs: 5000 });
  assert.deepEqual([...provider.services()], before);

  const change = nextChange(provider);
  await writeFile(file, HOSTS(15000));
  assert.deepEqual(await change, ["bookstore/bookstore"]);
  const ok = provider.status();
  assert.equal(ok.state, "synced");
  assert.equal(ok.lastError, null);
});

test("a deleted file keeps the last good view (degraded) until it returns", async (t) => {
  const { file, ac, provider } = await setup(t);
  await provider.start(ac.signal);
  await unlink(file);
  await waitFor(() => provider.status().state === "degraded", { what: "provider.status().state === \"degraded\"", timeoutMs: 5000 });
  assert.equal(provider.status().lastError?.code, "MESHFED_HOSTS_NOT_FOUND");
  assert.equal([...provider.services()].length, 2);
  await writeFile(file, HOSTS());
  await waitFor(() => provider.status().state === "synced", { what: "provider.status().state === \"synced\"", timeoutMs: 5000 });
});

test("an empty file is a valid, empty view and removes every service", async (t) => {
  const { file, ac, provider } = await setup(t);
  await provider.start(ac.signal);
  const change = nextChange(provider);
  await writeFile(file, "hosts: []\n");
  assert.deepEqual(await change, ["bookstore/bookstore", "bookwarehouse/bookwarehouse"]);
  assert.equal([...provider.services()].length, 0);
});

test("start() rejects on a missing or invalid file", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-onprem-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const ac = new AbortController();
  t.after(() => ac.abort());
  const missing = new OnPremProvider({ file: join(dir, "nope.yaml"), logger: silentLogger() });
  await assert.rejects(missing.start(ac.signal), (err: unknown) => err instanceof MeshfedError && err.code === "MESHFED_HOSTS_NOT_FOUND" && err.message.includes("nope.yaml"));
  assert.equal(missing.status().lastError?.code, "MESHFED_HOSTS_NOT_FOUND");
  const badFile = join(dir, "bad.yaml");
  await writeFile(badFile, "hosts:\n  - name: a\n    address: 10.0.0.1\n  - name: a\n    address: 10.0.0.2\n");
  const bad = new OnPremProvider({ file: badFile, logger: silentLogger() });
  await assert.rejects(bad.start(ac.signal), { code: "MESHFED_HOSTS_DUPLICATE_HOST" });
});

test("after abort the process exits by itself (no leaked handles)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-onprem-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const file = join(dir, "hosts.yaml");
  await writeFile(file, HOSTS());
  const providerUrl = new URL("../../src/controller/providers/onprem/provider.js", import.meta.url).href;
  const loggerUrl = new URL("../../src/common/logger.js", import.meta.url).href;
  const script = `
    const { OnPremProvider } = await import(${JSON.stringify(providerUrl)});
    const { silentLogger } = await import(${JSON.stringify(loggerUrl)});
    const ac = new AbortController();
    const p = new OnPremProvider({ file: ${JSON.stringify(file)}, logger: silentLogger() });
    await p.start(ac.signal);
    ac.abort();
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "inherit", cwd: fileURLToPath(new URL(".", import.meta.url)) });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  // With a leaked handle the child never exits, so any bound shows it; a loaded
  // machine has taken over 5 s just to start node and import the provider.
  const timeout = sleep(scaled(60_000), "timeout" as const, { ref: false });
  const result = await Promise.race([exited, timeout]);
  if (result === "timeout") child.kill();
  assert.equal(result, 0);
});
