/**
 * Controller and agent together: the VIPs the controller allocates reach the
 * agent's DNS as mesh names, and follow the catalog (a new service appears).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { http, testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { query } from "../helpers/dns.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { scaled, waitFor } from "../helpers/wait.js";

const hosts = (extra = "") => `hosts:
  - { name: s1, address: 127.0.0.21, services: [{ name: bookstore, namespace: shop, port: 14001 }] }
  - { name: b1, address: 127.0.0.10, services: [{ name: bookbuyer, namespace: shop, port: 8080 }] }
${extra}`;

interface Catalog { services: Array<{ namespace: string; name: string; vip?: string }> }

test("an agent with DNS on resolves <svc>.<ns>.svc[.cluster.local] to the VIP the catalog shows; new services follow", { timeout: scaled(120_000) }, async (t) => {
  const ctl = await startTestController(t, { hosts: hosts(), patch: (c) => ({ ...c, mesh: { ...c.mesh, permissive: true } }) });
  const vipOf = async (name: string) => (await ctl.api<Catalog>("/api/v1/catalog")).services.find((s) => s.name === name)?.vip;
  const vip = await waitFor(() => vipOf("bookstore"), { what: "bookstore's VIP", timeoutMs: 60_000 });
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/bookbuyer", ttl: "10m", uses: 1 });
  const dir = await tempDir("mfdns-e2e-");
  const ca = await ctl.api<string>("/api/v1/ca");
  const config = await testConfig(dir, ca, ctl.grpcAddress, {
    hostAddresses: ["127.0.0.10"], endpoints: ["127.0.0.10:8080"], dns: { enabled: true, listen: "127.0.0.1:0", hook: "none" },
  });
  await writeFile(join(dir, "token"), `${token}\n`);
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  const status = async () => (JSON.parse((await http(agent.statusUrl)).body) as { dns: { listen: string; names: number } }).dns;
  const port = Number((await status()).listen.split(":").pop());
  await waitFor(async () => (await status()).names >= 2, { what: "the first mesh names", timeoutMs: 60_000 });
  for (const name of ["bookstore.shop.svc.cluster.local", "bookstore.shop.svc"]) {
    assert.deepEqual((await query(port, name, "A")).answers.map((a) => a.data), [vip]);
  }
  assert.equal((await query(port, "bookbuyer.shop.svc", "A")).rcode, "NXDOMAIN", "its own service is not an outbound");

  // The proxies API shows what the agent's DNS holds.
  const proxies = await ctl.api<Array<{ dns?: { state: string; names: number } | null }>>("/api/v1/proxies");
  assert.equal(proxies[0]?.dns?.state, "serving");

  await writeFile(ctl.hostsFile, hosts("  - { name: w1, address: 127.0.0.31, services: [{ name: warehouse, namespace: shop, port: 9000 }] }\n"));
  const warehouse = await waitFor(() => vipOf("warehouse"), { what: "warehouse's VIP", timeoutMs: 60_000 });
  await waitFor(async () => (await query(port, "warehouse.shop.svc.cluster.local", "A")).answers[0]?.data === warehouse, { what: "warehouse resolves", timeoutMs: 60_000 });
  assert.notEqual(warehouse, vip);
});
