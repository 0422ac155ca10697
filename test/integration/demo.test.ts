import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI } from "../helpers/controller-process.js";

async function runDemo(dataDir: string): Promise<{ stdout: string; code: number | null }> {
  const child = spawn(process.execPath, [CLI, "demo", "--data-dir", dataDir, "--admin-address", "127.0.0.1:0", "--grpc-address", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.resume();
  const exited = once(child, "exit");
  const deadline = Date.now() + 60_000;
  while (!/demo agents are full participants/.test(stdout) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  child.kill("SIGINT");
  const [code] = (await exited) as [number | null];
  return { stdout, code };
}

test("the demo starts the controller and two agents that become full participants, and stops cleanly on SIGINT; a second run reuses the enrollment", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "meshfed-demo-"));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const first = await runDemo(join(dir, "controller"));
  assert.match(first.stdout, /meshfed controller ready/);
  assert.match(first.stdout, /^2 of 2 demo agents are full participants/m);
  assert.equal(first.code, 0, "SIGINT stops everything and the process exits by itself");
  const second = await runDemo(join(dir, "controller"));
  assert.match(second.stdout, /^2 of 2 demo agents are full participants/m, "agents reconnect with their stored certificates");
  assert.equal(second.code, 0);
});
