// `meshfed version` against a running controller with one connected agent,
// and against none.
import test from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { startAgent } from "../../src/agent/index.js";
import { countVersions, type VersionReport } from "../../src/cli/commands/version.js";
import { silentLogger } from "../../src/common/logger.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";
import { startTestController } from "../helpers/in-process-controller.js";
import { scaled, waitFor } from "../helpers/wait.js";

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "..", "..", "src", "cli", "main.js");
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "..", "package.json"), "utf8")) as { version: string }).version;

test("agent versions are counted per agent and Pipy version, most common first; missing ones are named", () => {
  assert.deepEqual(countVersions([{ agentVersion: "0.1.0", proxyVersion: "1.5.18" }, { agentVersion: "0.1.0", proxyVersion: "" }, { agentVersion: "0.1.0", proxyVersion: "1.5.18" }, {}]), [
    { agentVersion: "0.1.0", proxyVersion: "1.5.18", count: 2 },
    { agentVersion: "0.1.0", proxyVersion: "none", count: 1 },
    { agentVersion: "unknown", proxyVersion: "none", count: 1 },
  ]);
});

test("meshfed version: the CLI's, the controller's and the connected agents' versions; without a controller, the CLI's and why not", { timeout: scaled(120_000) }, async (t) => {
  const ctl = await startTestController(t, { hosts: "hosts:\n  - { name: b1, address: 127.0.0.10, services: [{ name: bookbuyer, namespace: shop, port: 8080 }] }\n" });
  const { token } = await ctl.api<{ token: string }>("/api/v1/tokens", { service: "shop/bookbuyer", ttl: "10m", uses: 1 });
  const dir = await tempDir("mfversion-");
  const config = await testConfig(dir, await ctl.api<string>("/api/v1/ca"), ctl.grpcAddress, { hostAddresses: ["127.0.0.10"], endpoints: ["127.0.0.10:8080"] });
  await writeFile(join(dir, "token"), `${token}\n`);
  const agent = await startAgent(config, silentLogger());
  t.after(() => agent.close());
  await waitFor(async () => (await ctl.api<unknown[]>("/api/v1/proxies")).length === 1, { what: "the agent's stream", timeoutMs: 60_000 });

  const report = JSON.parse((await run(process.execPath, [CLI, "version", "-o", "json", "--admin", ctl.adminUrl])).stdout) as VersionReport;
  assert.equal(report.cli, PACKAGE_VERSION);
  assert.deepEqual(report.controller, { version: PACKAGE_VERSION, replicaId: ctl.replicaId });
  assert.deepEqual(report.agents, [{ agentVersion: PACKAGE_VERSION, proxyVersion: "none", count: 1 }]);
  const table = (await run(process.execPath, [CLI, "version", "--admin", ctl.adminUrl])).stdout;
  assert.match(table, new RegExp(`controller +${PACKAGE_VERSION.replace(/\./g, "\\.")} \\(replica `));

  const down = await run(process.execPath, [CLI, "version", "-o", "json", "--admin", "http://127.0.0.1:1"]).then(() => undefined, (err: { code: number; stdout: string }) => err);
  assert.equal(down?.code, 1);
  const partial = JSON.parse(down?.stdout ?? "{}") as VersionReport;
  assert.equal(partial.cli, PACKAGE_VERSION);
  assert.ok("error" in partial.controller && partial.controller.error.code.startsWith("MESHFED_"), JSON.stringify(partial.controller));
});
