import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FakeController, makePki } from "../helpers/agent-fake-controller.js";
import { testConfig } from "../helpers/agent-testbed.js";
import { tempDir } from "../helpers/temp-dir.js";

// The lead registers agentCommand in src/cli/main.ts; until then drive it through yargs directly.
const COMMAND = fileURLToPath(new URL("../../src/cli/commands/agent.js", import.meta.url));

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `import yargs from "yargs"; import { agentCommand } from ${JSON.stringify(COMMAND)};
    const cli = yargs(process.argv.slice(1)).strict(); agentCommand(cli); await cli.parseAsync();`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, ...args], { cwd: fileURLToPath(new URL("../../..", import.meta.url)) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("meshfed agent: a refused token prints `meshfed agent: <CODE>: <details>` and exits non-zero by itself", async (t) => {
  const dir = await tempDir("meshfed-agent-");
  const ctl = new FakeController({ pki: await makePki(), tokens: { "good-token": "shop/bookstore" } });
  await ctl.start();
  t.after(() => ctl.stop());
  const config = await testConfig(dir, ctl.pki.caPem, ctl.address);
  const { writeFile } = await import("node:fs/promises");
  await writeFile(config.tokenFile!, "a-token-nobody-issued\n");
  const r = await runCli(["agent", "--controller", ctl.address, "--ca-file", config.caFile, "--token-file", config.tokenFile!, "--data-dir", config.dataDir, "--no-proxy", "--repo-address", "127.0.0.1:0", "--log-level", "silent"]);
  assert.equal(r.code, 78);
  assert.match(r.stderr, /^meshfed agent: MESHFED_TOKEN_UNKNOWN: no such join token$/m);
});

test("meshfed agent: a bad flag is a named config error", async () => {
  const r = await runCli(["agent", "--controller", "c:1", "--ca-file", "/nonexistent", "--repo-address", "10.1.1.1:1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /meshfed agent: MESHFED_AGENT_CONFIG_INVALID: command-line flag --repo-address: must be a loopback address/);
});
