// The token-free metrics port and the fleet gauges, against a running
// controller with one connected agent.
import test from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startAgent } from "../../src/agent/index.js";
import { silentLogger } from "../../src/common/logger.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { scaled, waitFor } from "../helpers/wait.js";

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("metrics.address serves /metrics without the admin token: standard process metrics, proxies by version, ACK latency, certificates", { timeout: scaled(120_000) }, async (t) => {
  const ctl = await startTestController(t, {
    hosts: "hosts:\n  - { name: b1, address: 127.0.0.10, services: [{ name: bookbuyer, namespace: shop, port: 8080 }] }\n",
    // The admin API off loopback needs its token; the metrics port does not.
    patch: (c) => ({ ...c, admin: { address: "0.0.0.0:0" }, metrics: { address: "127.0.0.1:0" } }),
  });
  assert.ok(ctl.metricsUrl, "metricsUrl");
  const adminPort = new URL(ctl.adminUrl).port;
  assert.equal((await fetch(`http://127.0.0.1:${adminPort}/metrics`)).status, 401);
  assert.equal((await fetch(ctl.metricsUrl.replace(/\/metrics$/, "/api/v1/catalog"))).status, 404);

  const adminToken = (await readFile(join(ctl.dir, "data", "admin-token"), "utf8")).trim();
  const auth = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  const created = await fetch(`http://127.0.0.1:${adminPort}/api/v1/tokens`, { method: "POST", headers: auth, body: JSON.stringify({ service: "shop/bookbuyer", ttl: "10m", uses: 1 }) });
  const joinToken = ((await created.json()) as { token: string }).token;
  const ca = await (await fetch(`http://127.0.0.1:${adminPort}/api/v1/ca`, { headers: auth })).text();
  const dir = await tempDir("mfmetrics-");
  const config = await testConfig(dir, ca, ctl.grpcAddress, { hostAddresses: ["127.0.0.10"], endpoints: ["127.0.0.10:8080"] });
  await writeFile(join(dir, "token"), `${joinToken}\n`);
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());

  const text = await waitFor(async () => {
    const body = await (await fetch(ctl.metricsUrl!)).text();
    return (sample(body, 'meshfed_config_ack_duration_seconds_count{result="ack"}') ?? 0) >= 1 ? body : undefined;
  }, { what: "the agent's first ACK in the metrics", timeoutMs: 60_000 });
  assert.ok(sample(text, "process_cpu_user_seconds_total") !== undefined, "process_* under its standard name");
  assert.ok(!text.includes("meshfed_process_"), "no prefixed copies");
  assert.equal(sample(text, 'meshfed_proxies_by_version{agent_version="0.1.0",proxy_version="none"}'), 1);
  assert.equal(sample(text, 'meshfed_proxies_config_behind{reason="pending"}'), 0);
  assert.equal(sample(text, 'meshfed_proxies_config_behind{reason="nack"}'), 0);
  assert.equal(sample(text, 'meshfed_certificates{kind="proxy",state="claimed"}'), 1);
  const earliest = sample(text, 'meshfed_certificate_earliest_expiry_timestamp_seconds{kind="service"}');
  assert.ok(earliest !== undefined && earliest * 1000 > Date.now() && earliest * 1000 < Date.now() + 2 * 86_400_000, `service certificate expiry ${earliest}`);
  assert.ok(!text.includes(adminToken), "the admin token never appears in metrics");
});
